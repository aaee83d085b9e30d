// Event format: the versioned binary encoding of one commit batch record and its chain hash.
// How an event is shown as JSON is event_json.h.
//
// A commit batch record is self-contained (its events in seq order, each with its chain hash)
// so that it could be shipped as is to a replicated log. The byte-level grammar is in
// docs/EVENT_FORMAT.md; change the two together, and never change what version 1 means.
// Pure functions and values (ChainHasher holds no state).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/adjudication.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_flags.h"

namespace tally::storage {

// The record version written today. Decoders accept every version up to it.
inline constexpr std::uint8_t kBatchFormatVersion = 2;
// Upper bounds a decoder enforces before allocating (corrupt input must not balloon).
inline constexpr std::uint32_t kMaxEventsPerRecord = 1u << 20;
inline constexpr std::uint32_t kMaxEventBytes = 1u << 24;

// vote: an accepted ballot; campaign: a campaign version; epoch: a replica group's primary
// took over (DESIGN.md "Replication and failover"), so that the log shows who wrote after it;
// flag: a cluster crossed its threshold, and its earlier votes are suspect too; decision: the
// committee voided or restored votes, or disqualified or reinstated a candidate (DESIGN.md
// "Adjudication").
enum class EventKind : std::uint8_t { vote = 1, campaign = 2, epoch = 3, flag = 4, decision = 5 };

// What a decision does. Values are stored: append, never renumber.
enum class DecisionAction : std::uint8_t {
  void_votes = 1,
  restore = 2,
  disqualify = 3,
  reinstate = 4
};
// "void", "restore", "disqualify", "reinstate".
std::string_view to_string(DecisionAction action);
std::optional<DecisionAction> decision_action_from_string(std::string_view text);
// Whether the action names votes (void, restore) rather than a candidate.
constexpr bool names_votes(DecisionAction action) {
  return action == DecisionAction::void_votes || action == DecisionAction::restore;
}

// Most votes one flag or decision event names (a larger set takes several events): the
// event stays far below a replicated record's cap (16,384 x at most 20 bytes).
inline constexpr std::uint32_t kMaxMarkedVotes = 16384;
static_assert(kMaxMarkedVotes == engine::kMaxDecisionSeqs);
// Longest author and reason of a decision, in bytes.
inline constexpr std::size_t kMaxAuthorBytes = engine::kMaxDecisionAuthorBytes;
inline constexpr std::size_t kMaxReasonBytes = engine::kMaxDecisionReasonBytes;

inline constexpr std::size_t kChainBytes = 32;
using ChainHash = std::array<std::uint8_t, kChainBytes>;
// The chain value before the first event: 32 zero bytes.
inline constexpr ChainHash kGenesisChain{};

// A vote as stored: the ballot as decided, and what the server added. The ballot's views
// point into the decoded record (or the caller's ballot).
struct VoteFields {
  engine::Ballot ballot;
  std::int64_t server_ms = 0;
  std::int64_t period = 0;
  engine::FraudFlags flags = 0;
};

// An epoch event: `node` became the primary of its replica group in lease `epoch` at
// `server_ms`. Every record the node publishes after it belongs to that epoch.
struct EpochFields {
  std::string_view node;
  std::uint64_t epoch = 0;
  std::int64_t server_ms = 0;
};

// A flag event: `reason` now applies to `votes` (seqs ascending, each before the flag), the
// earlier votes of the cluster `scope`/`key` that crossed its threshold at `server_ms`.
struct FlagFields {
  std::string_view campaign;
  engine::FraudReason reason = engine::FraudReason::ip_flood;
  engine::ClusterScope scope = engine::ClusterScope::ip;
  std::string_view key;
  std::int64_t server_ms = 0;
  std::vector<engine::MarkedVote> votes;
};

// A decision event, taken by `author` for `reason` at `server_ms`. void and restore name
// `votes` (seqs ascending; each one whose state it changes), found by seq or from a cluster
// (`scope`/`key`, none when given by seq); disqualify and reinstate name `candidate`.
struct DecisionFields {
  std::string_view campaign;
  DecisionAction action = DecisionAction::void_votes;
  std::int64_t server_ms = 0;
  std::string_view author;
  std::string_view reason;
  std::string_view candidate;
  engine::ClusterScope scope = engine::ClusterScope::none;
  std::string_view key;
  std::vector<engine::MarkedVote> votes;  // prior unused (0)
};

// What later events say of a committed vote (DESIGN.md "Adjudication"): the reasons flag
// events added to it, and the decision that voided it. Not part of the vote's bytes.
struct VoteMarks {
  engine::FraudFlags late_flags = 0;  // reasons added by flag events
  std::uint64_t voided_by = 0;        // seq of the decision that voided it; 0: it counts
  bool empty() const { return late_flags == 0 && voided_by == 0; }
};

// One decoded event. Views point into the record passed to decode_batch().
struct StoredEvent {
  EventKind kind = EventKind::vote;
  std::uint64_t seq = 0;
  VoteFields vote;                 // kind == vote
  std::string_view campaign_json;  // kind == campaign: the canonical definition
  EpochFields epoch;               // kind == epoch
  FlagFields flag;                 // kind == flag
  DecisionFields decision;         // kind == decision
  std::string_view bytes;          // the event's bytes as stored in the record
  // Whether `bytes` are the canonical event bytes, the ones the chain hash covers. Not for a
  // vote of a version 2 record, which holds its campaign id and user agent as references into
  // the record's string table: chain_of() encodes its canonical bytes again.
  bool stored_canonical = true;
  ChainHash chain{};  // as stored
};

// Where a vote payload holds the fields a version 2 record stores by reference, as offsets
// from the payload's first byte. Each span is the whole field (length and bytes); an absent
// user agent is the empty span where it would be.
struct VoteLayout {
  std::uint32_t campaign_begin = 0, campaign_end = 0;
  std::uint32_t ua_begin = 0, ua_end = 0;
};

// Appends a vote's payload (every field but kind and seq) to `out`. Runs on the submitting
// thread so that the writer only adds the seq and the chain hash; `layout`, when given, gets
// where the payload's campaign id and user agent are, so that the writer need not read the
// payload again to find them.
void encode_vote_payload(const VoteFields& vote, std::string& out, VoteLayout* layout = nullptr);
// Appends a campaign version's payload (its canonical JSON) to `out`.
void encode_campaign_payload(std::string_view campaign_json, std::string& out);
// Appends an epoch event's payload to `out`.
void encode_epoch_payload(const EpochFields& epoch, std::string& out);
// Appends a flag or decision event's payload to `out`. REQUIRES: fields a decoder accepts
// (docs/EVENT_FORMAT.md); check_flag() and check_decision() say whether they are.
void encode_flag_payload(const FlagFields& flag, std::string& out);
void encode_decision_payload(const DecisionFields& decision, std::string& out);
// What is wrong with a flag or decision as an event of seq `seq` (empty: nothing).
std::string check_flag(const FlagFields& flag, std::uint64_t seq);
std::string check_decision(const DecisionFields& decision, std::uint64_t seq);

// SHA-256 (OpenSSL libcrypto) of chain values. Holds no state: any thread may use one.
class ChainHasher {
 public:
  // SHA-256(prev ‖ head ‖ tail): the chain hash of the event whose bytes are head ‖ tail.
  ChainHash next(const ChainHash& prev, std::string_view head, std::string_view tail) const;
};

// Builds one commit batch record: begin(), then add() per event in seq order, then the record
// is `record()`. Reusable: begin() clears it.
class BatchEncoder {
 public:
  BatchEncoder();
  void begin(std::size_t expected_events);
  // Appends the event (kind, seq, payload) and returns its chain hash given `prev`. A vote's
  // campaign id and user agent go into the record's string table, once per record: the
  // payload must stay valid until record(). REQUIRES: a vote payload as encode_vote_payload()
  // writes it (readers hash that encoding of the decoded fields, and refuse other forms), and
  // `layout` what that call gave, or null (then the payload is read to find it).
  ChainHash add(const ChainHasher& hasher, const ChainHash& prev, EventKind kind, std::uint64_t seq,
                std::string_view payload, const VoteLayout* layout = nullptr);
  // The finished record, valid until the next begin(). REQUIRES: at least one add() since
  // begin().
  std::string_view record();

 private:
  // The record's version byte and event count go in front of the events, whose count is
  // known only at the end: room for the longest header is kept there, and the header is
  // written right-aligned into it, so that the events (a megabyte in a large batch) are
  // never moved.
  static constexpr std::size_t kHeaderRoom = 1 + 5;  // version + varint32 count
  // The index of `text` in the record's string table, added if new.
  std::uint32_t intern(std::string_view text);

  std::string record_;
  std::uint32_t count_ = 0;
  // The string table: views into the payloads given to add(), with their hashes, and an
  // open-addressing index over them (entry = index + 1, 0 = empty; a power of two in size).
  std::vector<std::string_view> strings_;
  std::vector<std::uint64_t> string_hashes_;
  std::vector<std::uint32_t> string_index_;
  // Seeds the index's hash: user agents are the clients' choice, and a fixed hash would let
  // them pick agents that all land in one probe chain of the single writer.
  std::uint64_t hash_seed_;
};

// The chain hash of `event` after `prev`: SHA-256(prev ‖ the event's canonical bytes).
// `scratch` holds bytes encoded again (StoredEvent::stored_canonical); reuse it across calls.
ChainHash chain_of(const ChainHasher& hasher, const ChainHash& prev, const StoredEvent& event,
                   std::string& scratch);

// Decodes a record into `out` (cleared first). Corrupt or truncated input gives an error that
// names the seq of the event it hit when that seq is readable; it never crashes. Chain hashes
// are returned as stored, not checked: that is the caller's job (recovery, verify).
Status decode_batch(std::string_view record, std::vector<StoredEvent>& out);

// Decodes only the event of `seq` from a record into `out` (views into `record`), skipping the
// others by their lengths: what one event's lookup needs (a receipt), at a fraction of
// decode_batch()'s cost for a large record. It checks that event as decode_batch() does, not
// the record's canonical form across events (recovery and verify do). An error when the
// record is malformed or does not hold `seq`.
Status decode_event(std::string_view record, std::uint64_t seq, StoredEvent& out);

// The RocksDB key of a record: its first seq, 8 bytes big-endian (so keys sort by seq).
std::string seq_key(std::uint64_t seq);
std::optional<std::uint64_t> parse_seq_key(std::string_view key);

std::string to_hex(const ChainHash& chain);

}  // namespace tally::storage
