// EventLog: the durable event log as the modules that write to it see it (ingest's votes and
// campaign versions, tallyd's campaign files). The port between the engine's callers and
// whatever makes events durable: storage::VoteLog implements it on RocksDB; a replicated log
// implements the same calls. Callers depend on this header, never on storage.
//
// Data flow: decide() accepts a ballot with a Claim -> append_vote_payload() encodes it into
// the caller's buffer -> submit_votes() queues it -> the log's writer makes it durable,
// commits the claim into the engine and completes each vote once through its CommitWaiter.
//
// Thread safety: every member is safe for concurrent use. Completions run on the log's writer
// thread and must not block.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud_flags.h"
#include "tally/engine/vote_status.h"

namespace tally::engine {

// An event's leaf in the public log's Merkle tree: SHA-256(0x00 ‖ its public form)
// (docs/EVENT_FORMAT.md "Public log").
using LeafHash = std::array<std::uint8_t, 32>;

// How a submission ended, delivered once on the writer thread.
struct CommitOutcome {
  VoteStatus status = VoteStatus::unavailable;  // accepted or unavailable
  std::uint64_t seq = 0;  // accepted: its seq (0 for a campaign that made no new version)
  bool durable = false;   // true when the log was synced before this answer
  // Campaign submissions only: created or updated (a new version with `seq`), unchanged (no
  // event written), or conflict (refused: it has votes and the change alters counting).
  PutOutcome campaign_outcome = PutOutcome::created;
  // accepted: the event's public leaf, when the log keeps a public tree (has_leaf).
  LeafHash leaf{};
  bool has_leaf = false;
};

// Who hears how a submission ended: a vote line of a request, a campaign PUT, tallyd's main
// waiting for a campaign file. committed() runs once, on the writer thread, and must not block.
class CommitWaiter {
 public:
  virtual void committed(const CommitOutcome& outcome) = 0;

 protected:
  ~CommitWaiter() = default;
};

enum class SubmitResult : std::uint8_t {
  queued,       // the waiter will hear exactly once
  overloaded,   // queue full: nothing taken, the caller still owns the claim
  unavailable,  // storage failed or stopping: nothing taken, the caller still owns the claim
};

// An accepted ballot to queue with submit_votes(): where its payload is in the caller's buffer
// (append_vote_payload), the claim and flags decide() gave it, and who hears its outcome.
struct VoteToCommit {
  std::size_t payload_begin = 0;
  std::size_t payload_end = 0;
  Claim claim;
  FraudFlags flags = 0;
  CommitWaiter* waiter = nullptr;
};

class EventLog {
 public:
  // Appends the log's bytes for an accepted ballot to `payloads` (its own encoding: the
  // caller only keeps the range for submit_votes()). Call it right after decide(): the
  // ballot's fields need not outlive this call.
  virtual void append_vote_payload(const Ballot& ballot, const Claim& claim, FraudFlags flags,
                                   std::string& payloads) const = 0;
  // Queues `votes` in order, at once; their payloads are read from `payloads`, which must stay
  // alive and unchanged until each queued vote has completed. Returns how many, from the
  // front, were queued: each of those gave up its claim and its waiter hears once. The rest
  // keep their claims (the caller releases them); `refusal` says why.
  virtual std::size_t submit_votes(std::span<VoteToCommit> votes, std::string_view payloads,
                                   SubmitResult& refusal) = 0;
  // Queues a campaign version. The writer decides again with check_campaign() (it alone
  // installs, so the answer cannot race another PUT): created/updated write a new version and
  // install it; unchanged/conflict write nothing. The outcome's campaign_outcome says which.
  virtual SubmitResult submit_campaign(const Campaign& campaign, CommitWaiter& waiter) = 0;

  // Recovered, started and writable: what /readyz reports.
  virtual bool ready() const = 0;
  // The stored event as JSON (DESIGN.md "Stored event"), or nullopt when there is none.
  virtual std::optional<std::string> event_json(std::uint64_t seq) const = 0;

 protected:
  ~EventLog() = default;
};

// A campaign version as every caller puts it (PUT /v1/campaigns/{id}, tallyd's campaign files):
// nothing is submitted when it is the version in force or a change its votes forbid, and
// `checked` says which; otherwise it is submitted, and when `submitted` is queued the waiter
// hears the writer's word, which is final (the writer decides again before it installs).
struct CampaignPut {
  PutOutcome checked = PutOutcome::unchanged;
  SubmitResult submitted = SubmitResult::unavailable;  // only when checked created or updated
};
CampaignPut put_campaign(const Engine& engine, EventLog& log, const Campaign& campaign,
                         CommitWaiter& waiter);

// Why a campaign version was refused (a conflict): what the answer's error says.
inline constexpr std::string_view kCampaignConflict =
    "campaign has votes: its candidates and rules cannot change";

}  // namespace tally::engine
