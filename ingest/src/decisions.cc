#include "decisions.h"

#include <simdjson.h>

#include <string>

namespace tally::ingest::internal {

using engine::DecisionStatus;
using engine::VoteStatus;

namespace {

Answer invalid(std::string_view why) { return error_answer(VoteStatus::invalid, why); }

}  // namespace

std::variant<engine::DecisionRequest, Answer> decision_request(std::string_view body,
                                                               std::string_view campaign_id) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return invalid("body: not JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return invalid("body: not an object");
  engine::DecisionRequest request;
  request.campaign = std::string(campaign_id);
  for (auto [key, value] : object) {
    std::string* text = nullptr;
    if (key == "action") {
      text = &request.action;
    } else if (key == "author") {
      text = &request.author;
    } else if (key == "reason") {
      text = &request.reason;
    } else if (key == "scope") {
      text = &request.scope;
    } else if (key == "key") {
      text = &request.key;
    } else if (key == "candidate") {
      text = &request.candidate;
    } else if (key == "seqs") {
      simdjson::dom::array seqs;
      if (value.get_array().get(seqs) != simdjson::SUCCESS) {
        return invalid("seqs: must be an array of seqs");
      }
      for (simdjson::dom::element seq : seqs) {
        std::uint64_t number = 0;
        if (seq.get_uint64().get(number) != simdjson::SUCCESS || number == 0) {
          return invalid("seqs: each must be a positive integer");
        }
        request.seqs.push_back(number);
      }
      continue;
    } else {
      return invalid("body: unknown member \"" + std::string(key) + "\"");
    }
    std::string_view string;
    if (value.get_string().get(string) != simdjson::SUCCESS) {
      return invalid(std::string(key) + ": must be a string");
    }
    text->assign(string);
  }
  // Checked here, so that a malformed decision is refused at once rather than behind the
  // decisions and scans queued before it.
  if (request.author.empty() || request.author.size() > engine::kMaxDecisionAuthorBytes) {
    return invalid("author: required, at most " + std::to_string(engine::kMaxDecisionAuthorBytes) +
                   " bytes");
  }
  if (request.reason.empty() || request.reason.size() > engine::kMaxDecisionReasonBytes) {
    return invalid("reason: required, at most " + std::to_string(engine::kMaxDecisionReasonBytes) +
                   " bytes");
  }
  if (request.seqs.size() > engine::kMaxDecisionSeqs) {
    return invalid("seqs: at most " + std::to_string(engine::kMaxDecisionSeqs) +
                   " in one decision");
  }
  if (request.key.size() > engine::kMaxDecisionKeyBytes ||
      request.candidate.size() > engine::kMaxDecisionKeyBytes) {
    return invalid("key and candidate: at most " + std::to_string(engine::kMaxDecisionKeyBytes) +
                   " bytes");
  }
  return request;
}

Answer decision_refusal(DecisionStatus refusal) {
  return refusal == DecisionStatus::overloaded ? error_answer(VoteStatus::overloaded, {})
                                               : error_answer(VoteStatus::unavailable, {});
}

Answer decision_answer(const engine::DecisionAnswer& answer) {
  switch (answer.status) {
    case DecisionStatus::recorded: return json_answer(answer.body, 201);
    case DecisionStatus::unchanged: return json_answer(answer.body, 200);
    case DecisionStatus::invalid: return error_answer(VoteStatus::invalid, answer.error);
    case DecisionStatus::not_found: return error_answer(HttpError::not_found, answer.error);
    case DecisionStatus::unknown_campaign:
      return error_answer(VoteStatus::unknown_campaign, answer.error);
    case DecisionStatus::unknown_candidate:
      return error_answer(VoteStatus::unknown_candidate, answer.error);
    case DecisionStatus::overloaded:
    case DecisionStatus::unavailable: break;
  }
  return decision_refusal(answer.status);
}

Answer decisions_list(const engine::Adjudication* adjudication, bool known_campaign,
                      std::string_view campaign_id) {
  if (adjudication == nullptr) {
    return error_answer(HttpError::not_implemented, "no adjudication on this node");
  }
  if (!known_campaign) return error_answer(VoteStatus::unknown_campaign, "unknown campaign");
  return json_answer(adjudication->decisions_json(campaign_id));
}

}  // namespace tally::ingest::internal
