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

}  // namespace

void append_event_json(std::string& out, const StoredEvent& event, const Redactor* redactor) {
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
    json.key("flags").begin_array();
    for (int i = 0; i < engine::kFraudReasonCount; ++i) {
      const auto reason = static_cast<engine::FraudReason>(i);
      if ((v.flags & engine::flag_of(reason)) != 0) json.string(engine::to_string(reason));
    }
    // Bits no reason of this build knows are shown by number rather than dropped.
    for (unsigned bit = engine::kFraudReasonCount; bit < 32; ++bit) {
      if ((v.flags & (engine::FraudFlags{1} << bit)) != 0) {
        json.string("bit" + std::to_string(bit));
      }
    }
    json.end_array();
  }
  json.key("chain").raw(quoted_hex(event.chain, chain_text));
  json.end_object();
}

}  // namespace tally::storage
