// libFuzzer target: arbitrary bytes as what a client sends on one connection.
//
// The request handling of ingest without sockets or storage: the server's request parser (with
// the server's header and per-route body limits, pipelined requests parsed one after another
// into the same reused buffers; each request checked against what Beast's own
// request_parser<string_body> reads from the same bytes),
// route(), then the connection's own steps: the refusal before the endpoint (codings, tokens),
// the endpoints answered on the spot, the vote path (VoteBatch: single votes and NDJSON batch
// lines through VoteParser and the engine) and the campaign PUT's checks, over the in-memory
// log of fuzz_world.h, which commits as the storage writer would. Besides crashes, leaks and
// hangs it checks that every JSON answer is valid JSON, that the serialized answer parses
// back as the same HTTP response, and that a campaign definition survives its own JSON.
// Run: scripts/fuzz.sh; docs/INGEST.md "Fuzzing".
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "tally/base/json.h"
#include "tally/engine/campaign.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/batch.h"
#include "tally/ingest/route.h"
#include "tally/ingest/server.h"
#include "tally/ingest/tokens.h"
#include "tally/ingest/vote_parser.h"
#include "endpoints.h"
#include "fuzz_world.h"
#include "request_parser.h"
#include "vote_batch.h"

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

// What the server does with a request once read: the connection's own steps (the refusal
// before the endpoint, the endpoints answered on the spot, the vote path, a campaign PUT), over
// a world whose log commits at once.
class Handler {
 public:
  Handler() : tokens_(token_set()) {}

  Answer handle(const ingest::internal::Request& request) {
    const ingest::Route r =
        ingest::route(ingest::internal::method_of(request.method), request.target);
    // Reads are public, as by default.
    if (auto refusal = ingest::internal::refusal_before_endpoint(tokens_, false, r, request)) {
      return std::move(*refusal);
    }
    switch (r.endpoint) {
      case Endpoint::vote: return votes(request.body, /*batch=*/false);
      case Endpoint::vote_batch: return votes(request.body, /*batch=*/true);
      case Endpoint::campaign_put: return campaign_put(request.body, r.campaign_id);
      case Endpoint::tally_stream:
        return ingest::error_answer(ingest::HttpError::not_implemented, "not in the fuzz target");
      case Endpoint::vote_event:
        if (r.seq == 0) fail("route: vote_event with seq 0");
        break;
      default: break;
    }
    return ingest::internal::answer_now(backends(), request, r);
  }

 private:
  static ingest::TokenSet token_set() {
    ingest::TokenSet set;
    set.ingest.emplace_back(kIngestToken);
    set.admin.emplace_back(kAdminToken);
    return set;
  }

  ingest::internal::Backends backends() {
    return {world_.engine, log_, nullptr, nullptr, nullptr, nullptr, nullptr};
  }

  // Heard only when the log answers later; this one answers at once.
  struct Owner final : ingest::internal::VoteBatch::Owner {
    void votes_committed() override { fail("vote batch: completed outside its pass"); }
  };

  Answer votes(std::string_view body, bool batch) {
    Owner owner;
    ingest::internal::VoteBatch votes(owner);
    if (!votes.start(body, batch, fuzz_limits().max_batch_lines)) {
      return ingest::error_answer(VoteStatus::too_large, "body: more than the batch's line limit");
    }
    const ingest::internal::VoteBatch::Tools tools{world_.engine, log_, parsers_, kPeerIp,
                                                   fuzz_limits().max_pending_retries};
    // A twin waits for its first's commit, which this log makes at the end of each pass.
    auto progress = votes.decide_all(tools);
    for (int pass = 0; progress == ingest::internal::VoteBatch::Progress::retry; ++pass) {
      if (pass > 2) fail("vote batch: a twin still waits after its first was committed");
      progress = votes.decide_all(tools);
    }
    if (progress != ingest::internal::VoteBatch::Progress::answered) {
      fail("vote batch: not answered although every vote was committed");
    }
    return votes.answer({});
  }

  Answer campaign_put(std::string_view body, std::string_view path_id) {
    auto parsed = engine::parse_campaign(body);
    if (parsed.ok()) {
      // The canonical JSON is what events store and recovery reads back: it must give back
      // the same definition.
      const std::string canonical = engine::campaign_to_json(*parsed);
      check_json(canonical);
      auto reparsed = engine::parse_campaign(canonical);
      if (!reparsed.ok()) fail("campaign_to_json: its output does not parse");
      if (!(*reparsed == *parsed)) fail("campaign_to_json: the definition changed on the way back");
    } else if (parsed.message().empty()) {
      fail("parse_campaign: an error without a message");
    }
    auto to_put = ingest::internal::campaign_to_put(body, path_id);
    if (auto* answer = std::get_if<Answer>(&to_put)) return std::move(*answer);
    engine::Campaign next = std::get<engine::Campaign>(std::move(to_put));
    next.expected_voters = std::min(next.expected_voters, kMaxInstalledExpectedVoters);
    struct Waiter final : engine::CommitWaiter {
      void committed(const engine::CommitOutcome& outcome) override { heard = outcome; }
      std::optional<engine::CommitOutcome> heard;
    } waiter;
    const engine::CampaignPut put = engine::put_campaign(world_.engine, log_, next, waiter);
    if (auto answer = ingest::internal::campaign_put_now(put, next.id)) return std::move(*answer);
    if (!waiter.heard) fail("submit_campaign: the memory log did not commit at once");
    return ingest::internal::campaign_put_answer(*waiter.heard);
  }

  FuzzWorld world_;
  MemoryLog log_{world_};
  ingest::Tokens tokens_;
  std::array<ingest::VoteParser, 2> parsers_;
};

// What the server's parser kept must be what Beast's full parser read from the same bytes.
// `chunked`: the reference parser framed the body as chunked (its message's chunked() reads
// only the first Transfer-Encoding field, not the framing).
void check_same_request(const ingest::internal::Request& request,
                        const http::request<http::string_body>& reference, bool chunked) {
  const auto first = [&](auto name) {
    const auto it = reference.find(name);
    return it == reference.end() ? std::string_view() : std::string_view(it->value());
  };
  if (request.method != reference.method()) fail("RequestParser: method differs from Beast's");
  if (request.target != std::string_view(reference.target())) {
    fail("RequestParser: target differs from Beast's");
  }
  // Beast's message also holds a chunked body's trailer fields, after the header's, and the
  // server ignores them: a field the header section had is Beast's first and must match; one
  // only a trailer sent is in Beast's message and not in the server's request.
  const bool trailer = chunked;
  const auto same = [&](std::string_view kept, std::string_view beasts) {
    return kept == beasts || (trailer && kept.empty());
  };
  const bool has_last_event_id = reference.find("Last-Event-ID") != reference.end();
  if (!same(request.authorization, first(http::field::authorization)) ||
      !same(request.expect, first(http::field::expect)) ||
      !same(request.last_event_id, first("Last-Event-ID")) ||
      (request.has_last_event_id != has_last_event_id &&
       !(trailer && !request.has_last_event_id))) {
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
        const ingest::Route r =
            ingest::route(ingest::internal::method_of(request.method), request.target);
        const std::size_t limit = ingest::internal::body_limit(limits, r.endpoint);
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
    check_same_request(request, reference.get(), reference.chunked());
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
