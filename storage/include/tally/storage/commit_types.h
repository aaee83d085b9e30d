// The vocabulary shared by the storage writer and its owner: durability modes and the
// writer's counters. What a submission answers and how it completes is the engine's port
// (tally/engine/event_log.h), which the log implements.
//
// Plain values, safe to copy across threads. Split out of vote_log.h so that the commit queue
// (which does not link RocksDB) and the log share one definition.
#pragma once

#include <cstdint>

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

// Counters of the group-commit writer, for metrics and benchmarks. Monotonic but `queued`.
struct CommitStats {
  std::uint64_t batches = 0;  // commit batches written (one WAL sync each in sync mode)
  std::uint64_t events = 0;   // events in them
  std::uint64_t failed_batches = 0;
  std::uint64_t queued = 0;  // events waiting for the writer now (a gauge, not monotonic)
  // The most that may wait (StorageOptions::queue_capacity): VoteLog::commit_stats() says.
  std::uint64_t queue_capacity = 0;
};

}  // namespace tally::storage
