// The vocabulary shared by the storage writer and its callers: durability modes, what a
// submission answers, and how its completion is delivered.
//
// Plain values, safe to copy across threads. Split out of vote_log.h so that the commit queue
// (which does not link RocksDB) and the log share one definition.
#pragma once

#include <cstdint>

#include "tally/engine/engine.h"
#include "tally/engine/vote_status.h"

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

// How a submission ended, delivered once on the writer thread. The callback must not block.
struct CommitOutcome {
  engine::VoteStatus status = engine::VoteStatus::unavailable;  // accepted or unavailable
  std::uint64_t seq = 0;  // accepted: its seq (0 for a campaign that made no new version)
  bool durable = false;   // true when the WAL was synced before this answer
  // Campaign submissions only: created or updated (a new version with `seq`), unchanged (no
  // event written), or conflict (refused: it has votes and the change alters counting).
  engine::PutOutcome campaign_outcome = engine::PutOutcome::created;
};
using CompletionFn = void (*)(void* context, const CommitOutcome& outcome);

// Counters of the group-commit writer, for metrics and benchmarks. Monotonic but `queued`.
struct CommitStats {
  std::uint64_t batches = 0;  // commit batches written (one WAL sync each in sync mode)
  std::uint64_t events = 0;   // events in them
  std::uint64_t failed_batches = 0;
  std::uint64_t queued = 0;  // events waiting for the writer now (a gauge, not monotonic)
};

enum class SubmitResult : std::uint8_t {
  queued,       // the completion will be called exactly once
  overloaded,   // queue full: nothing taken, the caller still owns the claim
  unavailable,  // storage failed or stopping: nothing taken, the caller still owns the claim
};

}  // namespace tally::storage
