// The endpoints answered on the spot. See endpoints.h.
#include "endpoints.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <utility>

#include "tally/base/json_writer.h"
#include "conditional.h"
#include "decisions.h"
#include "tally_stream.h"
#include "web.h"

namespace tally::ingest::internal {
namespace {

using engine::VoteStatus;

// A campaign's definition plus its state at the server's time.
std::string campaign_json(const engine::Engine& engine, const engine::Campaign& campaign) {
  return engine::campaign_to_json(campaign, campaign.state_at(engine.clock().now_ms()));
}

// A read whose tag is its body's digest, answered 304 when the request holds that tag.
Answer tagged_by_body(std::string body, const Request& request) {
  Answer answer = json_answer(std::move(body));
  answer.etag = body_etag(answer.body);
  revalidate(answer, request.if_none_match);
  return answer;
}

Answer campaign_list(const engine::Engine& engine, const Request& request) {
  std::string body;
  JsonWriter json(body);
  json.begin_object().key("campaigns").begin_array();
  for (const auto& campaign : engine.campaigns()) json.raw(campaign_json(engine, *campaign));
  json.end_array().end_object();
  return tagged_by_body(std::move(body), request);
}

Answer campaign_get(const engine::Engine& engine, std::string_view id, const Request& request) {
  auto campaign = engine.campaign(id);
  if (!campaign) return error_answer(VoteStatus::unknown_campaign, {});
  return tagged_by_body(campaign_json(engine, *campaign), request);
}

// Tagged by as_of_seq: a reader that holds the current tally costs no JSON at all.
Answer tally(const Backends& backends, std::string_view campaign_id, const Request& request) {
  auto tally = backends.engine.tally(campaign_id);
  if (!tally) return error_answer(VoteStatus::unknown_campaign, {});
  std::string etag = tally_etag(tally->as_of_seq);
  if (none_match_holds(request.if_none_match, etag)) return not_modified(std::move(etag));
  Answer answer = json_answer(tally_document(*tally, backends.public_log));
  answer.etag = std::move(etag);
  return answer;
}

// ---- the public log (DESIGN.md "Public verification") ----

Answer log_refusal(publog::LogError error, const std::string& reason) {
  switch (error) {
    case publog::LogError::bad_request: return error_answer(VoteStatus::invalid, reason);
    case publog::LogError::not_found: return error_answer(HttpError::not_found, reason);
    case publog::LogError::none:
    case publog::LogError::unavailable: break;
  }
  return error_answer(VoteStatus::unavailable, reason);
}

Answer no_public_log() {
  return error_answer(HttpError::not_implemented, "the server keeps no public log");
}

// A query parameter that must be a decimal number: nullopt when absent (`present` false), or
// an answer that refuses a malformed one.
struct QueryNumber {
  std::uint64_t value = 0;
  bool present = false;
  std::optional<Answer> refusal;
};
QueryNumber query_number(std::string_view target, std::string_view name) {
  QueryNumber out;
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) != name) continue;
    const std::string_view digits =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    const auto [end, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), out.value);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      out.refusal =
          error_answer(VoteStatus::invalid, std::string(name) + ": must be a decimal number");
    }
    out.present = true;
    return out;
  }
  return out;
}

Answer log_key(publog::PublicLog* log) {
  if (log == nullptr) return no_public_log();
  Answer answer = json_answer(publog::key_json(log->key()));
  answer.cache_control = "public, max-age=3600";
  return answer;
}

Answer log_checkpoint(publog::PublicLog* log) {
  if (log == nullptr) return no_public_log();
  auto checkpoint = log->checkpoint(0);
  if (!checkpoint.ok()) return log_refusal(checkpoint.error, checkpoint.reason);
  return json_answer(publog::checkpoint_json(checkpoint.value));
}

Answer log_proof(publog::PublicLog* log, std::string_view target) {
  if (log == nullptr) return no_public_log();
  const QueryNumber seq = query_number(target, "seq");
  if (seq.refusal) return *seq.refusal;
  if (!seq.present) return error_answer(VoteStatus::invalid, "seq: required");
  const QueryNumber size = query_number(target, "size");
  if (size.refusal) return *size.refusal;
  if (size.present && size.value == 0) {
    return error_answer(VoteStatus::invalid, "size: must be 1 or more");
  }
  auto proof = log->inclusion(seq.value, size.value);
  if (!proof.ok()) return log_refusal(proof.error, proof.reason);
  return json_answer(publog::inclusion_json(proof.value));
}

Answer log_consistency(publog::PublicLog* log, std::string_view target) {
  if (log == nullptr) return no_public_log();
  const QueryNumber from = query_number(target, "from");
  if (from.refusal) return *from.refusal;
  if (!from.present) return error_answer(VoteStatus::invalid, "from: required");
  const QueryNumber to = query_number(target, "to");
  if (to.refusal) return *to.refusal;
  if (!to.present) return error_answer(VoteStatus::invalid, "to: required");
  auto proof = log->consistency(from.value, to.value);
  if (!proof.ok()) return log_refusal(proof.error, proof.reason);
  return json_answer(publog::consistency_json(proof.value));
}

Answer vote_receipt(publog::PublicLog* log, std::uint64_t seq) {
  if (log == nullptr) return no_public_log();
  auto receipt = log->receipt(seq);
  if (!receipt.ok()) return log_refusal(receipt.error, receipt.reason);
  return json_answer(publog::receipt_json(receipt.value));
}

Answer stored_event(const engine::EventLog& log, std::uint64_t seq) {
  auto event = log.event_json(seq);
  if (!event) return error_answer(HttpError::not_found, "seq: no such event");
  return json_answer(std::move(*event));
}

// Not writable: alone, storage is not ready; in a replica group, this node is not the primary
// (or not yet, or no longer, sure that it is).
Answer not_writable(const Backends& backends) {
  if (backends.cluster == nullptr)
    return error_answer(VoteStatus::unavailable, "storage: not ready");
  Answer answer = error_answer(VoteStatus::unavailable, "cluster: this node is not the primary");
  answer.primary = backends.cluster->primary_address();
  return answer;
}

Answer readiness(const Backends& backends) {
  if (!backends.log.ready()) return not_writable(backends);
  return json_answer(R"({"status":"ready"})");
}

Answer cluster_status(const ClusterView* cluster) {
  if (cluster == nullptr)
    return error_answer(HttpError::not_found, "cluster: this server runs alone");
  return json_answer(cluster->status_json());
}

Answer metrics(const ServerObserver* observer) {
  if (observer == nullptr) {
    return error_answer(HttpError::not_implemented, "metrics: not set up");
  }
  Answer answer;
  answer.content_type = observer->scrape_content_type();
  answer.body = observer->scrape();
  return answer;
}

Answer dashboard(std::string_view target) {
  auto answer = web_answer(target);
  if (!answer) return error_answer(HttpError::not_found, "no such file");
  return std::move(*answer);
}

Answer fraud(const engine::FraudMonitor* fraud, std::string_view campaign_id,
             const Request& request) {
  if (fraud == nullptr) return error_answer(HttpError::not_implemented, "no fraud monitor");
  auto report = fraud->report_json(campaign_id);
  if (!report) return error_answer(VoteStatus::unknown_campaign, {});
  return tagged_by_body(std::move(*report), request);
}

}  // namespace

std::optional<Answer> auth_refusal(const Tokens& tokens, bool protect_reads, Endpoint endpoint,
                                   std::string_view authorization, TokenMemo* memo) {
  if (endpoint == Endpoint::not_found || endpoint == Endpoint::method_not_allowed) {
    return std::nullopt;
  }
  const Access access = access_of(endpoint);
  if (access == Access::open) return std::nullopt;
  if (access == Access::read && !protect_reads) return std::nullopt;
  const TokenKind kind =
      memo != nullptr ? tokens.check(authorization, *memo) : tokens.check(authorization);
  if (kind == TokenKind::none || kind == TokenKind::wrong) {
    return error_answer(VoteStatus::unauthorized, {});
  }
  if (access == Access::admin && kind != TokenKind::admin) {
    return error_answer(VoteStatus::forbidden, "authorization: this call needs an admin token");
  }
  if (access == Access::ingest && kind == TokenKind::read) {
    return error_answer(VoteStatus::forbidden,
                        "authorization: a read token cannot vote; this call needs an ingest token");
  }
  return std::nullopt;
}

std::optional<Answer> refusal_before_endpoint(const Tokens& tokens, bool protect_reads,
                                              const Route& route, const Request& request,
                                              TokenMemo* memo) {
  if (request.unsupported_coding) {
    return error_answer(HttpError::not_implemented,
                        "request: no transfer coding but chunked is supported");
  }
  return auth_refusal(tokens, protect_reads, route.endpoint, request.authorization, memo);
}

std::size_t body_limit(const Limits& limits, Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::vote_batch: return limits.max_batch_body_bytes;
    case Endpoint::campaign_put:
    case Endpoint::decision_post: return limits.max_campaign_body_bytes;
    default: return limits.max_body_bytes;
  }
}

std::optional<Answer> write_refusal(const Backends& backends) {
  if (backends.log.ready()) return std::nullopt;
  return not_writable(backends);
}

Answer answer_now(const Backends& backends, const Request& request, const Route& route) {
  switch (route.endpoint) {
    case Endpoint::not_found:
    case Endpoint::method_not_allowed:
      return route_error(route, request.method == boost::beast::http::verb::unknown);
    case Endpoint::campaign_list: return campaign_list(backends.engine, request);
    case Endpoint::campaign_get: return campaign_get(backends.engine, route.campaign_id, request);
    case Endpoint::tally: return tally(backends, route.campaign_id, request);
    case Endpoint::vote_event: return stored_event(backends.log, route.seq);
    case Endpoint::vote_receipt: return vote_receipt(backends.public_log, route.seq);
    case Endpoint::log_key: return log_key(backends.public_log);
    case Endpoint::log_checkpoint: return log_checkpoint(backends.public_log);
    case Endpoint::log_proof: return log_proof(backends.public_log, request.target);
    case Endpoint::log_consistency: return log_consistency(backends.public_log, request.target);
    case Endpoint::healthz: return json_answer(R"({"status":"ok"})");
    case Endpoint::readyz: return readiness(backends);
    case Endpoint::cluster: return cluster_status(backends.cluster);
    case Endpoint::metrics: return metrics(backends.observer);
    case Endpoint::dashboard: return dashboard(request.target);
    case Endpoint::fraud: return fraud(backends.fraud, route.campaign_id, request);
    case Endpoint::decisions:
      return decisions_list(backends.adjudication,
                            backends.engine.campaign(route.campaign_id) != nullptr,
                            route.campaign_id);
    case Endpoint::vote:
    case Endpoint::vote_batch:
    case Endpoint::campaign_put:
    case Endpoint::decision_post:
    case Endpoint::tally_stream:
    case Endpoint::history:
    case Endpoint::preflight: break;  // answered by the connection, which knows the options
  }
  return error_answer(HttpError::not_found, "no such resource");
}

std::variant<engine::Campaign, Answer> campaign_to_put(std::string_view body,
                                                       std::string_view path_id) {
  auto parsed = engine::parse_campaign(body);
  if (!parsed.ok()) return error_answer(VoteStatus::invalid, parsed.message());
  if (parsed->id != path_id) {
    return error_answer(VoteStatus::invalid, "id: must match the id in the path");
  }
  return std::move(parsed).value();
}

std::optional<Answer> campaign_put_now(const engine::CampaignPut& put, std::string_view id) {
  switch (put.checked) {
    case engine::PutOutcome::conflict:
      return error_answer(HttpError::conflict, engine::kCampaignConflict);
    case engine::PutOutcome::unchanged: {
      std::string answer;
      JsonWriter json(answer);
      json.begin_object().key("status").string("unchanged");
      json.key("campaign").string(id).end_object();
      return json_answer(std::move(answer));
    }
    case engine::PutOutcome::created:
    case engine::PutOutcome::updated: break;
  }
  switch (put.submitted) {
    case engine::SubmitResult::queued: return std::nullopt;
    case engine::SubmitResult::overloaded: return error_answer(VoteStatus::overloaded, {});
    case engine::SubmitResult::unavailable: break;
  }
  return error_answer(VoteStatus::unavailable, {});
}

Answer campaign_put_answer(const engine::CommitOutcome& committed) {
  if (committed.status != VoteStatus::accepted) return error_answer(committed.status, {});
  switch (committed.campaign_outcome) {
    case engine::PutOutcome::conflict:
      return error_answer(HttpError::conflict, engine::kCampaignConflict);
    case engine::PutOutcome::unchanged: return json_answer(R"({"status":"unchanged"})");
    case engine::PutOutcome::created:
    case engine::PutOutcome::updated: break;
  }
  const bool created = committed.campaign_outcome == engine::PutOutcome::created;
  std::string body;
  JsonWriter json(body);
  json.begin_object().key("status").string(created ? "created" : "updated");
  json.key("seq").integer(committed.seq).end_object();
  return json_answer(std::move(body), created ? 201 : 200);
}

}  // namespace tally::ingest::internal
