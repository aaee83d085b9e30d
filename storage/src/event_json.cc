// Stored events as JSON. See event_json.h.
#include "tally/storage/event_json.h"

#include <string>

#include "tally/base/json_writer.h"
#include "tally/engine/fraud_flags.h"

namespace tally::storage {

namespace {

void append_field(JsonWriter& json, std::string_view name, std::string_view value,
                  const Redactor* redactor, bool redact) {
  json.key(name);
  if (redact && redactor != nullptr) {
    json.string(redactor->redact(name, value));
  } else {
    json.string(value);
  }
}

// The chain hash as a JSON string, written into `text` (no allocation: export writes one per
// event).
std::string_view quoted_hex(const ChainHash& chain, char (&text)[kChainBytes * 2 + 2]) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::size_t n = 0;
  text[n++] = '"';
  for (std::uint8_t b : chain) {
    text[n++] = kDigits[b >> 4];
    text[n++] = kDigits[b & 0xf];
  }
  text[n++] = '"';
  return {text, n};
}

void append_flag_names(JsonWriter& json, engine::FraudFlags flags) {
  json.begin_array();
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    const auto reason = static_cast<engine::FraudReason>(i);
    if ((flags & engine::flag_of(reason)) != 0) json.string(engine::to_string(reason));
  }
  // Bits no reason of this build knows are shown by number rather than dropped.
  for (unsigned bit = engine::kFraudReasonCount; bit < 32; ++bit) {
    if ((flags & (engine::FraudFlags{1} << bit)) != 0) json.string("bit" + std::to_string(bit));
  }
  json.end_array();
}

// What a decision is, as the stored event and the decisions' list both show it: action,
// author, reason, time, and the candidate or cluster it names.
void append_decision(JsonWriter& json, const DecisionFields& d, const Redactor* redactor) {
  json.key("action").string(to_string(d.action));
  json.key("author").string(d.author);
  json.key("reason").string(d.reason);
  json.key("server_ms").integer(d.server_ms);
  if (!d.candidate.empty()) json.key("candidate").string(d.candidate);
  if (d.scope != engine::ClusterScope::none) {
    json.key("scope").string(engine::to_string(d.scope));
    append_field(json, "key", d.key, redactor, true);
  }
}

void append_marked_votes(JsonWriter& json, const std::vector<engine::MarkedVote>& votes,
                         bool with_prior) {
  json.key("votes").begin_array();
  for (const engine::MarkedVote& vote : votes) {
    json.begin_object();
    json.key("seq").integer(vote.seq);
    json.key("candidate").integer(vote.candidate);
    if (with_prior) {
      json.key("prior");
      append_flag_names(json, vote.prior);
    }
    json.end_object();
  }
  json.end_array();
}

}  // namespace

void append_event_json(std::string& out, const StoredEvent& event, const Redactor* redactor,
                       const VoteMarks* marks) {
  char chain_text[kChainBytes * 2 + 2];
  JsonWriter json(out);
  json.begin_object();
  json.key("seq").integer(event.seq);
  if (event.kind == EventKind::campaign) {
    json.key("kind").string("campaign");
    json.key("campaign").raw(event.campaign_json);
  } else if (event.kind == EventKind::epoch) {
    json.key("kind").string("epoch");
    json.key("node").string(event.epoch.node);
    json.key("epoch").integer(event.epoch.epoch);
    json.key("server_ms").integer(event.epoch.server_ms);
  } else if (event.kind == EventKind::flag) {
    const FlagFields& f = event.flag;
    json.key("kind").string("flag");
    json.key("campaign").string(f.campaign);
    const auto reason = static_cast<int>(f.reason);
    json.key("reason").string(reason < engine::kFraudReasonCount
                                  ? std::string(engine::to_string(f.reason))
                                  : "bit" + std::to_string(reason));
    json.key("scope").string(engine::to_string(f.scope));
    append_field(json, "key", f.key, redactor, true);
    json.key("server_ms").integer(f.server_ms);
    append_marked_votes(json, f.votes, true);
  } else if (event.kind == EventKind::decision) {
    const DecisionFields& d = event.decision;
    json.key("kind").string("decision");
    json.key("campaign").string(d.campaign);
    append_decision(json, d, redactor);
    if (!d.votes.empty()) append_marked_votes(json, d.votes, false);
  } else {
    const VoteFields& v = event.vote;
    json.key("kind").string("vote");
    append_field(json, "campaign", v.ballot.campaign, redactor, false);
    append_field(json, "candidate", v.ballot.candidate, redactor, false);
    append_field(json, "voter", v.ballot.voter, redactor, true);
    if (!v.ballot.device.empty()) append_field(json, "device", v.ballot.device, redactor, true);
    if (!v.ballot.ip.empty()) append_field(json, "ip", v.ballot.ip, redactor, true);
    if (!v.ballot.ua.empty()) append_field(json, "ua", v.ballot.ua, redactor, false);
    if (v.ballot.ts_ms) json.key("ts").integer(*v.ballot.ts_ms);
    if (!v.ballot.request_id.empty())
      append_field(json, "request_id", v.ballot.request_id, redactor, false);
    json.key("server_ms").integer(v.server_ms);
    json.key("period").integer(v.period);
    json.key("flags");
    append_flag_names(json, v.flags);
    if (marks != nullptr && marks->late_flags != 0) {
      json.key("late_flags");
      append_flag_names(json, marks->late_flags);
    }
    if (marks != nullptr && marks->voided_by != 0) json.key("voided_by").integer(marks->voided_by);
  }
  json.key("chain").raw(quoted_hex(event.chain, chain_text));
  json.end_object();
}

std::string decision_summary_json(const StoredEvent& event) {
  const DecisionFields& d = event.decision;
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("seq").integer(event.seq);
  append_decision(json, d, nullptr);
  json.key("votes").integer(d.votes.size());
  json.key("sample_seqs").begin_array();
  constexpr std::size_t kSamples = 10;
  for (std::size_t i = 0; i < d.votes.size() && i < kSamples; ++i) json.integer(d.votes[i].seq);
  json.end_array();
  json.end_object();
  return out;
}

}  // namespace tally::storage
