// VoteLog: the durable, tamper-evident event log in RocksDB, and its group-commit writer.
//
// Data flow: ingest -> engine.decide() -> VoteLog::submit_vote() -> bounded queue -> the one
// writer thread (started by start()) drains it into one WriteBatch per commit batch, syncs the
// WAL once, assigns seqs in commit order, then calls engine.commit()/publish() and completes
// every waiting submission. recover() rebuilds the engine from the log alone.
// submit_*(), ready() and event_json() are safe for concurrent use. Contract: DESIGN.md
// "Storage"; format: docs/EVENT_FORMAT.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/status.h"

namespace tally::storage {

enum class Durability : std::uint8_t {
  // The WAL is synced before any vote of the batch is answered: an answered vote survives a
  // machine crash.
  sync,
  // Votes are answered once written to the OS, before the sync: a process crash loses
  // nothing, a machine or power failure may lose the last answered votes, and their seqs may
  // then be given again to other votes. Answers say "durable": false.
  async,
};

struct StorageOptions {
  std::string data_dir;
  // Default: sync.
  Durability durability = Durability::sync;
  // Votes and campaign versions waiting for the writer; a full queue answers `overloaded`.
  // Default: 65536.
  std::size_t queue_capacity = 65536;
  // Most events in one commit batch. Default: 8192.
  std::size_t max_batch_events = 8192;
};

// How a submission ended, delivered once on the writer thread. The callback must not block.
struct CommitOutcome {
  engine::VoteStatus status = engine::VoteStatus::unavailable;  // accepted or unavailable
  std::uint64_t seq = 0;                                         // accepted: its seq
  bool durable = false;  // true when the WAL was synced before this answer
};
using CompletionFn = void (*)(void* context, const CommitOutcome& outcome);

enum class SubmitResult : std::uint8_t {
  queued,       // the completion will be called exactly once
  overloaded,   // queue full: nothing taken, the caller still owns the claim
  unavailable,  // storage failed or stopping: nothing taken, the caller still owns the claim
};

class VoteLog {
 public:
  static engine::Result<std::unique_ptr<VoteLog>> open(const StorageOptions& options);
  ~VoteLog();

  // Replays every stored event, in seq order, into `engine` (campaign versions with
  // install_campaign, votes with replay_vote), then publishes. Before start().
  engine::Status recover(engine::Engine& engine);
  // Starts the writer thread, which commits into `engine`. After recover().
  void start(engine::Engine& engine);

  // Queues an accepted ballot for commit. On `queued` the claim has been moved from; else it
  // is untouched and the caller must release it.
  SubmitResult submit_vote(const engine::Ballot& ballot, engine::Claim& claim,
                           engine::FraudFlags flags, CompletionFn done, void* context);
  // Queues a campaign version; on commit the writer installs it in the engine.
  SubmitResult submit_campaign(const engine::Campaign& campaign, CompletionFn done,
                               void* context);

  // Recovered and writable: what /readyz reports.
  bool ready() const;
  // The stored event as JSON (DESIGN.md "Stored event"), or nullopt when there is none.
  std::optional<std::string> event_json(std::uint64_t seq) const;

  // Stops taking submissions, commits everything queued, joins the writer. Idempotent.
  void stop();

 private:
  VoteLog();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::storage
