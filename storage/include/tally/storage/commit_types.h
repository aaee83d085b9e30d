// The vocabulary shared by the storage writer and its owner: durability modes and the
// writer's counters. What a submission answers and how it completes is the engine's port
// (tally/engine/event_log.h), which the log implements.
//
// Plain values, safe to copy across threads. Split out of vote_log.h so that the commit queue
// (which does not link RocksDB) and the log share one definition.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

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
  // Writes of a held batch tried again after a failure that may pass (docs/STORAGE.md
  // "Failures").
  std::uint64_t write_retries = 0;
  bool retrying = false;  // a batch is held for a retry now (a gauge)
  // The most that may wait (StorageOptions::queue_capacity): VoteLog::commit_stats() says.
  std::uint64_t queue_capacity = 0;
};

// What the writer tells its owner's log about a write that failed in a way that may pass (a
// full disk, an I/O error the file system calls retryable): it holds the batch and writes it
// again until it succeeds or the retry time runs out (docs/STORAGE.md "Failures").
struct WriteRetryReport {
  enum class Stage : std::uint8_t {
    began,      // the first write failed: the batch is held
    recovered,  // a retry wrote it: its votes are answered, service resumes
    gave_up,    // the failure did not pass in time, or turned out permanent: storage failed
  };
  Stage stage = Stage::began;
  std::string failure;  // the first failure, as the sink said (began); the last one otherwise
  std::chrono::milliseconds waited{0};  // since the first failure
  std::uint64_t attempts = 0;           // writes tried again so far
  std::uint64_t events_held = 0;        // events of the held batch
  std::uint64_t events_queued = 0;      // events queued behind it, which waited too
};

}  // namespace tally::storage
