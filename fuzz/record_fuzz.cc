// libFuzzer target: arbitrary bytes as one stored batch record (what recovery, verify, export
// and GET /v1/votes read from a database that may have been tampered with).
//
// decode_batch must answer an error or events, never crash or read out of bounds. For events
// it returns, the checks are the format's contract (docs/EVENT_FORMAT.md): every event has a
// chain hash (chain_of, which encodes by-reference votes again) and a JSON form; and the
// events, encoded again by today's encoder and decoded, give back the same fields and the
// same chain hashes. Run: scripts/fuzz.sh; docs/INGEST.md "Fuzzing".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tally/storage/event_format.h"
#include "tally/storage/event_json.h"
#include "fuzz_world.h"

namespace tally::fuzz {
namespace {

using storage::EventKind;
using storage::StoredEvent;

bool same_votes(const std::vector<tally::engine::MarkedVote>& a,
                const std::vector<tally::engine::MarkedVote>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.seq == y.seq && x.candidate == y.candidate && x.prior == y.prior;
  });
}

bool same_flag(const storage::FlagFields& a, const storage::FlagFields& b) {
  return a.campaign == b.campaign && a.reason == b.reason && a.scope == b.scope && a.key == b.key &&
         a.server_ms == b.server_ms && same_votes(a.votes, b.votes);
}

bool same_decision(const storage::DecisionFields& a, const storage::DecisionFields& b) {
  return a.campaign == b.campaign && a.action == b.action && a.server_ms == b.server_ms &&
         a.author == b.author && a.reason == b.reason && a.candidate == b.candidate &&
         a.scope == b.scope && a.key == b.key && same_votes(a.votes, b.votes);
}

bool same_fields(const storage::VoteFields& a, const storage::VoteFields& b) {
  return a.ballot.campaign == b.ballot.campaign && a.ballot.candidate == b.ballot.candidate &&
         a.ballot.voter == b.ballot.voter && a.ballot.device == b.ballot.device &&
         a.ballot.ip == b.ballot.ip && a.ballot.ua == b.ballot.ua &&
         a.ballot.request_id == b.ballot.request_id && a.ballot.ts_ms == b.ballot.ts_ms &&
         a.server_ms == b.server_ms && a.period == b.period && a.flags == b.flags;
}

void append_varint(std::string& out, std::uint64_t value) {  // LEB128, as the format's
  for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>(value | 0x80));
  out.push_back(static_cast<char>(value));
}

void run(std::string_view input) {
  static storage::ChainHasher hasher;
  // One event decoded alone never crashes, whatever the record.
  StoredEvent alone;
  (void)storage::decode_event(input, 1, alone).ok();
  std::vector<StoredEvent> events;
  if (!storage::decode_batch(input, events).ok()) return;
  if (events.empty()) fail("decode_batch: ok without events");
  // On a record that decodes, each event alone is the one decode_batch gives (the first of
  // its seq: the decoder leaves seq order to recovery and verify).
  std::set<std::uint64_t> seen;
  for (const StoredEvent& event : events) {
    if (!seen.insert(event.seq).second) continue;
    if (!storage::decode_event(input, event.seq, alone).ok() || alone.seq != event.seq ||
        alone.chain != event.chain || alone.bytes != event.bytes) {
      fail("decode_event: differs from decode_batch");
    }
  }

  // Chains over the canonical bytes, and the JSON of each event.
  std::string scratch;
  std::string json;
  std::vector<storage::ChainHash> chains;
  storage::ChainHash chain = storage::kGenesisChain;
  for (const StoredEvent& event : events) {
    chain = storage::chain_of(hasher, chain, event, scratch);
    chains.push_back(chain);
    json.clear();
    storage::append_event_json(json, event);
    if (json.empty() || json.front() != '{' || json.back() != '}') {
      fail("append_event_json: not a JSON object");
    }
  }

  // Today's encoder writes the same events; decoding that gives them back, chains included.
  // Payloads are encoded from the decoded fields (canonical), so they differ from the input
  // only where the input was not canonical.
  std::vector<std::string> payloads;
  payloads.reserve(events.size());
  for (const StoredEvent& event : events) {
    std::string payload;
    switch (event.kind) {
      case EventKind::vote: storage::encode_vote_payload(event.vote, payload); break;
      case EventKind::campaign:
        storage::encode_campaign_payload(event.campaign_json, payload);
        break;
      case EventKind::epoch: storage::encode_epoch_payload(event.epoch, payload); break;
      case EventKind::flag: storage::encode_flag_payload(event.flag, payload); break;
      case EventKind::decision: storage::encode_decision_payload(event.decision, payload); break;
    }
    payloads.push_back(std::move(payload));
  }
  storage::BatchEncoder encoder;
  encoder.begin(events.size());
  std::vector<storage::ChainHash> encoded_chains;
  chain = storage::kGenesisChain;
  for (std::size_t i = 0; i < events.size(); ++i) {
    chain = encoder.add(hasher, chain, events[i].kind, events[i].seq, payloads[i]);
    encoded_chains.push_back(chain);
  }
  const std::string record(encoder.record());
  std::vector<StoredEvent> again;
  if (!storage::decode_batch(record, again).ok()) fail("re-encoded record does not decode");
  if (again.size() != events.size()) fail("re-encoded record: other event count");
  chain = storage::kGenesisChain;
  bool exact_so_far = true;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (again[i].kind != events[i].kind || again[i].seq != events[i].seq) {
      fail("re-encoded record: other kind or seq");
    }
    const StoredEvent& a = again[i];
    const StoredEvent& e = events[i];
    bool same = false;
    switch (e.kind) {
      case EventKind::vote: same = same_fields(a.vote, e.vote); break;
      case EventKind::campaign: same = a.campaign_json == e.campaign_json; break;
      case EventKind::epoch:
        same = a.epoch.node == e.epoch.node && a.epoch.epoch == e.epoch.epoch &&
               a.epoch.server_ms == e.epoch.server_ms;
        break;
      case EventKind::flag: same = same_flag(a.flag, e.flag); break;
      case EventKind::decision: same = same_decision(a.decision, e.decision); break;
    }
    if (!same) fail("re-encoded record: other fields");
    if (again[i].chain != encoded_chains[i]) fail("re-encoded record: stored chain differs");
    chain = storage::chain_of(hasher, chain, again[i], scratch);
    if (chain != encoded_chains[i]) fail("chain_of disagrees with the encoder's chain");
    // Where the input held exactly the canonical bytes so far, its chains are the encoder's.
    if (exact_so_far) {
      std::string canonical(1, static_cast<char>(events[i].kind));
      append_varint(canonical, events[i].seq);
      canonical += payloads[i];
      exact_so_far = !events[i].stored_canonical || events[i].bytes == canonical;
      if (exact_so_far && chains[i] != encoded_chains[i]) {
        fail("chain of canonical input differs from the encoder's");
      }
    }
  }
}

}  // namespace
}  // namespace tally::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tally::fuzz::run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
