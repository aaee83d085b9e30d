// libFuzzer target: arbitrary bytes as what a client sends on one connection.
//
// The request handling of ingest without sockets or storage: the server's request parser (with
// the server's header and per-route body limits, pipelined requests parsed one after another
// into the same reused buffers; each request checked against what Beast's own
// request_parser<string_body> reads from the same bytes),
// route(), token checks, then per endpoint the body handling (single votes and NDJSON batch
// lines through VoteParser and the engine, campaign PUTs through engine::parse_campaign and
// Engine::check_campaign), and the answer builders. A committed vote is committed to the
// in-memory engine of fuzz_world.h, as the storage writer would. Besides crashes, leaks and
// hangs it checks that every JSON answer is valid JSON, that the serialized answer parses
// back as the same HTTP response, and that a campaign definition survives its own JSON.
// Run: scripts/fuzz.sh; docs/INGEST.md "Fuzzing".
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "tally/base/json.h"
#include "tally/engine/campaign.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/batch.h"
#include "tally/ingest/route.h"
#include "tally/ingest/server.h"
#include "tally/ingest/tokens.h"
#include "tally/ingest/vote_parser.h"
#include "fuzz_world.h"
#include "request_parser.h"

namespace tally::fuzz {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using engine::VoteStatus;
using ingest::Answer;
using ingest::Endpoint;

constexpr std::string_view kPeerIp = "192.0.2.1";
constexpr std::string_view kIngestToken = "ingest-token-0123456789abcdef";
constexpr std::string_view kAdminToken = "admin-token-0123456789abcdef";
// Requests handled per input; the rest of a long pipeline adds nothing new.
constexpr int kMaxRequestsPerInput = 16;
// The server's limits, scaled down so that inputs of a few KiB reach every limit: the checks
// are the same at any size, and small inputs keep the fuzzer fast.
ingest::Limits fuzz_limits() {
  ingest::Limits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 4096;
  limits.max_batch_body_bytes = 16384;
  limits.max_campaign_body_bytes = 16384;
  limits.max_batch_lines = 64;
  return limits;
}
// A fuzzed PUT may ask for tables sized for up to a billion voters; the sizing hint is capped
// so that an input explores the rules, not the allocator.
constexpr std::uint64_t kMaxInstalledExpectedVoters = 1024;

ingest::Method method_of(http::verb verb) {
  switch (verb) {
    case http::verb::get: return ingest::Method::get;
    case http::verb::head: return ingest::Method::head;
    case http::verb::post: return ingest::Method::post;
    case http::verb::put: return ingest::Method::put;
    default: return ingest::Method::other;
  }
}

// Every JSON answer must parse as JSON; NDJSON answers line by line.
void check_json(std::string_view json) {
  static simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(json.data(), json.size()).get(element) != simdjson::SUCCESS) {
    fail("answer: body is not valid JSON");
  }
}

void check_answer(const Answer& answer, ingest::Framing framing) {
  if (answer.content_type == "application/json") {
    check_json(answer.body);
  } else if (answer.content_type == "application/x-ndjson") {
    ingest::for_each_batch_line(answer.body, [&](const ingest::BatchLine& line) {
      check_json(std::string_view(answer.body).substr(line.begin, line.size));
      return true;
    });
  }
  std::string wire;
  ingest::serialize_answer(answer, framing, wire);
  http::response_parser<http::string_body> parser;
  parser.skip(framing.head);  // the answer to a HEAD has no body, whatever its length says
  parser.body_limit(wire.size());
  boost::beast::error_code ec;
  const std::size_t used = parser.put(asio::buffer(wire.data(), wire.size()), ec);
  if (!ec && !parser.is_done())
    parser.put(asio::buffer(wire.data() + used, wire.size() - used), ec);
  if (ec || !parser.is_done()) fail("serialize_answer: not a valid HTTP response");
  const auto& response = parser.get();
  if (response.result_int() != static_cast<unsigned>(answer.http_code)) {
    fail("serialize_answer: wrong status code");
  }
  if (response.body() != (framing.head ? std::string() : answer.body)) {
    fail("serialize_answer: body changed on the wire");
  }
  if (response.keep_alive() != (framing.keep_alive && !answer.close)) {
    fail("serialize_answer: keep-alive changed on the wire");
  }
}

class Handler {
 public:
  Handler() : tokens_(token_set()) {}

  Answer handle(const ingest::internal::Request& request) {
    const ingest::Route r = ingest::route(method_of(request.method), request.target);
    if (request.unsupported_coding) {
      return ingest::error_answer(ingest::HttpError::not_implemented,
                                  "request: no transfer coding but chunked is supported");
    }
    if (auto auth = auth_error(r.endpoint, request)) return std::move(*auth);
    switch (r.endpoint) {
      case Endpoint::not_found:
      case Endpoint::method_not_allowed:
        return ingest::route_error(r, request.method == http::verb::unknown);
      case Endpoint::vote: return vote(request.body);
      case Endpoint::vote_batch: return batch(request.body);
      case Endpoint::campaign_put: return campaign_put(request.body, r.campaign_id);
      case Endpoint::campaign_get: {
        const auto campaign = world_.engine.campaign(r.campaign_id);
        if (!campaign) return ingest::error_answer(VoteStatus::unknown_campaign, {});
        return ingest::json_answer(engine::campaign_to_json(*campaign));
      }
      case Endpoint::campaign_list: {
        std::string body = R"({"campaigns":[)";
        bool first = true;
        for (const auto& campaign : world_.engine.campaigns()) {
          if (!first) body += ',';
          first = false;
          body += engine::campaign_to_json(*campaign);
        }
        body += "]}";
        return ingest::json_answer(std::move(body));
      }
      case Endpoint::tally: {
        const auto tally = world_.engine.tally(r.campaign_id);
        if (!tally) return ingest::error_answer(VoteStatus::unknown_campaign, {});
        return ingest::json_answer(engine::tally_to_json(*tally));
      }
      case Endpoint::vote_event:
        if (r.seq == 0) fail("route: vote_event with seq 0");
        return ingest::error_answer(ingest::HttpError::not_found, "seq: no such event");
      case Endpoint::healthz:
      case Endpoint::readyz: return ingest::json_answer(R"({"status":"ok"})");
      case Endpoint::tally_stream:
      case Endpoint::fraud:
      case Endpoint::metrics:
      case Endpoint::dashboard:
        return ingest::error_answer(ingest::HttpError::not_implemented, "not in the fuzz target");
    }
    fail("route: endpoint out of range");
  }

 private:
  static ingest::TokenSet token_set() {
    ingest::TokenSet set;
    set.ingest.emplace_back(kIngestToken);
    set.admin.emplace_back(kAdminToken);
    return set;
  }

  // The server's precedence: auth first (reads are public, as by default).
  std::optional<Answer> auth_error(Endpoint endpoint,
                                   const ingest::internal::Request& request) const {
    if (endpoint == Endpoint::not_found || endpoint == Endpoint::method_not_allowed) {
      return std::nullopt;
    }
    const ingest::Access access = ingest::access_of(endpoint);
    if (access == ingest::Access::open || access == ingest::Access::read) return std::nullopt;
    const ingest::TokenKind kind = tokens_.check(request.authorization);
    if (kind == ingest::TokenKind::none || kind == ingest::TokenKind::wrong) {
      return ingest::error_answer(VoteStatus::unauthorized, {});
    }
    if (access == ingest::Access::admin && kind != ingest::TokenKind::admin) {
      return ingest::error_answer(VoteStatus::forbidden, "authorization: needs an admin token");
    }
    return std::nullopt;
  }

  engine::Decision decide(std::string_view json) {
    const ingest::ParsedBallot parsed = parser_.parse(json, kPeerIp);
    if (!parsed.ok()) {
      engine::Decision decision;
      decision.status = VoteStatus::invalid;
      decision.error = parsed.error;
      return decision;
    }
    return world_.decide_and_settle(parsed.ballot, /*release=*/false);
  }

  Answer vote(std::string_view body) {
    const engine::Decision decision = decide(body);
    return ingest::vote_answer(decision.status, decision.seq, true, decision.error);
  }

  Answer batch(std::string_view body) {
    const ingest::Limits limits = fuzz_limits();
    Answer answer;
    answer.content_type = "application/x-ndjson";
    std::size_t lines = 0;
    std::uint32_t last_number = 0;
    const bool within_limit = ingest::for_each_batch_line(body, [&](const ingest::BatchLine& line) {
      if (lines >= limits.max_batch_lines) return false;
      if (line.size == 0 || line.begin + line.size > body.size()) fail("batch: line out of range");
      if (line.number <= last_number) fail("batch: line numbers not increasing");
      last_number = line.number;
      ++lines;
      const engine::Decision decision = decide(body.substr(line.begin, line.size));
      ingest::append_vote_json(answer.body, decision.status, decision.seq, true, decision.error,
                               line.number);
      answer.body += '\n';
      return true;
    });
    if (!within_limit) {
      return ingest::error_answer(VoteStatus::too_large, "body: more than the batch's line limit");
    }
    return answer;
  }

  Answer campaign_put(std::string_view body, std::string_view path_id) {
    auto parsed = engine::parse_campaign(body);
    if (!parsed.ok()) {
      if (parsed.message().empty()) fail("parse_campaign: an error without a message");
      return ingest::error_answer(VoteStatus::invalid, parsed.message());
    }
    // The canonical JSON is what events store and recovery reads back: it must give back the
    // same definition.
    const std::string canonical = engine::campaign_to_json(*parsed);
    check_json(canonical);
    auto reparsed = engine::parse_campaign(canonical);
    if (!reparsed.ok()) fail("campaign_to_json: its output does not parse");
    if (!(*reparsed == *parsed)) fail("campaign_to_json: the definition changed on the way back");
    if (parsed->id != path_id) {
      return ingest::error_answer(VoteStatus::invalid, "id: must match the id in the path");
    }
    engine::Campaign next = std::move(*parsed);
    next.expected_voters = std::min(next.expected_voters, kMaxInstalledExpectedVoters);
    const engine::PutOutcome checked = world_.engine.check_campaign(next);
    if (checked == engine::PutOutcome::conflict) {
      return ingest::error_answer(ingest::HttpError::conflict, "campaign has votes");
    }
    if (checked == engine::PutOutcome::unchanged) {
      return ingest::json_answer(R"({"status":"unchanged"})");
    }
    const std::uint64_t seq = ++world_.last_seq;
    const engine::PutOutcome installed = world_.engine.install_campaign(next, seq);
    world_.engine.publish(seq);
    if (installed != checked) fail("install_campaign: differs from check_campaign");
    return ingest::json_answer(R"({"status":"updated"})",
                               installed == engine::PutOutcome::created ? 201 : 200);
  }

  FuzzWorld world_;
  ingest::Tokens tokens_;
  ingest::VoteParser parser_;
};

// What the server's parser kept must be what Beast's full parser read from the same bytes.
void check_same_request(const ingest::internal::Request& request,
                        const http::request<http::string_body>& reference) {
  const auto first = [&](auto name) {
    const auto it = reference.find(name);
    return it == reference.end() ? std::string_view() : std::string_view(it->value());
  };
  if (request.method != reference.method()) fail("RequestParser: method differs from Beast's");
  if (request.target != std::string_view(reference.target())) {
    fail("RequestParser: target differs from Beast's");
  }
  // Beast's message also holds a chunked body's trailer fields, which the server ignores.
  const bool trailer = reference.chunked();
  if ((!trailer && request.authorization != first(http::field::authorization)) ||
      request.expect != first(http::field::expect) ||
      request.last_event_id != first("Last-Event-ID") ||
      (!trailer &&
       request.has_last_event_id != (reference.find("Last-Event-ID") != reference.end()))) {
    fail("RequestParser: a header differs from Beast's");
  }
  if (request.body != reference.body()) fail("RequestParser: body differs from Beast's");
}

void run(std::string_view input) {
  const ingest::Limits limits = fuzz_limits();
  const std::size_t largest_body = std::max(
      {limits.max_body_bytes, limits.max_batch_body_bytes, limits.max_campaign_body_bytes});
  Handler handler;
  // One request's buffers for every request of the input, as a session reuses them.
  ingest::internal::Request request;
  for (int requests = 0; requests < kMaxRequestsPerInput && !input.empty(); ++requests) {
    ingest::internal::RequestParser parser(request);
    http::request_parser<http::string_body> reference;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(largest_body);
    reference.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    reference.body_limit(largest_body);
    // Both parsers take the same bytes, but for the empty lines before a request line, which
    // the server's parser skips (RFC 9112 2.2); they must agree on how many and on the
    // outcome, except where the server's parser refuses a framing that Beast takes.
    const auto put = [&](boost::beast::error_code& ec) {
      const std::size_t used = parser.put(asio::buffer(input.data(), input.size()), ec);
      // Still among empty lines (a CR waiting for its LF): nothing of a request to compare.
      if (ec == http::error::need_more && !parser.in_request()) return used;
      std::size_t skipped = 0;
      while (!reference.got_some() && input.substr(skipped, 2) == "\r\n") skipped += 2;
      if (skipped > limits.max_header_bytes) {
        if (ec != http::error::header_limit) fail("RequestParser: endless empty lines taken");
        return used;
      }
      boost::beast::error_code reference_ec;
      const std::size_t reference_used =
          reference.put(asio::buffer(input.data() + skipped, input.size() - skipped), reference_ec);
      const bool stricter =
          ec == http::error::bad_obs_fold || ec == http::error::multiple_content_length ||
          ec == http::error::bad_transfer_encoding || ec == http::error::bad_target;
      if (stricter && ec != reference_ec) return used;
      if (used != skipped + reference_used || ec != reference_ec) {
        fail("RequestParser: took the bytes differently from Beast's parser");
      }
      return used;
    };
    boost::beast::error_code ec;
    // Headers first, as the session reads them, then the route's body limit, then the body.
    bool routed = false;
    while (!ec && !parser.is_done()) {
      std::size_t used = 0;
      if (input.empty()) {
        ec = http::error::need_more;  // Beast's put() of no bytes inside a body returns 0
      } else {
        used = put(ec);
        input.remove_prefix(used);
      }
      if (ec == http::error::need_more) {
        // The input ends inside a request: the session would wait for more bytes, then time
        // out or see the end of the stream.
        // Empty lines alone are no request: the stream ended between requests.
        if (!parser.in_request()) return;
        reference.put_eof(ec);
        if (!ec) fail("request_parser: a cut request parsed as complete");
        return;
      }
      if (ec) break;
      if (parser.is_header_done() && !routed) {
        routed = true;
        const ingest::Route r = ingest::route(method_of(request.method), request.target);
        const std::size_t limit = r.endpoint == Endpoint::vote_batch ? limits.max_batch_body_bytes
                                  : r.endpoint == Endpoint::campaign_put
                                      ? limits.max_campaign_body_bytes
                                      : limits.max_body_bytes;
        const auto content_length = parser.content_length();
        if (content_length && *content_length > limit) {
          check_answer(ingest::error_answer(VoteStatus::too_large, "body: over the size limit"),
                       {.keep_alive = false});
          return;  // the session closes: the body is not read
        }
        parser.body_limit(limit);
        reference.body_limit(limit);
      }
      if (used == 0 && !parser.is_done()) fail("request_parser: no progress");
    }
    if (ec) {
      // A header or body over its limit, or bytes that are not HTTP/1.x: one answer, close.
      const bool too_large = ec == http::error::header_limit || ec == http::error::body_limit;
      check_answer(
          ingest::error_answer(too_large ? VoteStatus::too_large : VoteStatus::invalid,
                               "request: rejected", ec == http::error::header_limit ? 431 : 0),
          {.keep_alive = false});
      return;
    }
    if (!reference.is_done()) fail("RequestParser: done before Beast's parser");
    check_same_request(request, reference.get());
    // The parser combines every Connection field (and Proxy-Connection), as RFC 9110 reads
    // a list; the message's keep_alive() reads the first Connection field only. They must
    // agree when there is one field to read.
    const auto& fields = reference.get();
    if (fields.count(http::field::connection) <= 1 &&
        fields.count(http::field::proxy_connection) == 0 &&
        parser.keep_alive() != fields.keep_alive()) {
      fail("RequestParser: keep-alive differs from the message's");
    }
    const Answer answer = handler.handle(request);
    check_answer(answer, {.keep_alive = parser.keep_alive(),
                          .http10 = request.version == 10,
                          .head = request.method == http::verb::head});
    if (!parser.keep_alive()) return;
  }
}

}  // namespace
}  // namespace tally::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tally::fuzz::run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
