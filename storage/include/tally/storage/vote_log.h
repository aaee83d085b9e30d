// VoteLog: the durable, tamper-evident event log in RocksDB, and its group-commit writer.
//
// Data flow: ingest -> engine.decide() -> VoteLog::submit_votes() -> bounded queue -> the one
// writer thread (started by start()) drains it into one WriteBatch per commit batch, syncs the
// WAL once, assigns seqs in commit order, then calls engine.commit()/publish() and completes
// every waiting submission. recover() rebuilds the engine from the log alone.
// submit_*(), ready() and event_json() are safe for concurrent use. Contract: DESIGN.md
// "Storage"; format: docs/EVENT_FORMAT.md; design and failure handling: docs/STORAGE.md.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tally/base/status.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/storage/commit_types.h"

namespace tally::storage {

struct StorageOptions {
  std::string data_dir;
  // Default: sync.
  Durability durability = Durability::sync;
  // Votes and campaign versions waiting for the writer; a full queue answers `overloaded`.
  // Default: 65536.
  std::size_t queue_capacity = 65536;
  // Most events in one commit batch. Default: 8192.
  std::size_t max_batch_events = 8192;
  // Fault injection for tests: while it holds true, every write and sync of the data
  // directory's files fails with an I/O error. Default: null (no injection).
  std::shared_ptr<std::atomic<bool>> fail_io;
};

// RocksDB's figures and the latency of the commit writes, for metrics. Plain values.
struct DbFigures {
  // Upper bounds (µs) of the write latency buckets; a last bucket takes the rest.
  static constexpr std::array<std::uint64_t, 14> kWriteBoundsUs = {
      50,     100,    250,    500,     1'000,   2'500,   5'000,
      10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000};
  // One RocksDB write per commit batch: the WAL append and, in sync mode, its fsync.
  std::uint64_t writes = 0;
  std::uint64_t write_ns_sum = 0;
  // Writes per bucket (not cumulative); the last one is above every bound.
  std::array<std::uint64_t, kWriteBoundsUs.size() + 1> write_counts{};
  std::uint64_t estimate_num_keys = 0;         // rocksdb.estimate-num-keys, all families
  std::uint64_t live_sst_bytes = 0;            // rocksdb.live-sst-files-size
  std::uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
  std::uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
};

// Owns the RocksDB instance and the writer thread (started by start(), joined by stop()).
class VoteLog {
 public:
  // Opens (creating if needed) the database in options.data_dir. An error names the path and
  // RocksDB's reason; nothing is started.
  static Result<std::unique_ptr<VoteLog>> open(const StorageOptions& options);
  ~VoteLog();

  // Replays every stored event, in seq order, into `engine` (campaign versions with
  // install_campaign, votes with replay_vote), checking each chain hash and the seqs'
  // continuity, then publishes. Before start(). An error names the seq it stopped at.
  Status recover(engine::Engine& engine);
  // Starts the writer thread, which commits into `engine`. After recover().
  void start(engine::Engine& engine);

  // Queues an accepted ballot for commit. On `queued` the claim has been moved from; else it
  // is untouched and the caller must release it.
  SubmitResult submit_vote(const engine::Ballot& ballot, engine::Claim& claim,
                           engine::FraudFlags flags, CompletionFn done, void* context);
  // An accepted ballot to queue with submit_votes(): where its payload is in the caller's
  // buffer (append_vote_payload), the claim and flags decide() gave it, and the context its
  // completion gets.
  struct VoteToCommit {
    std::size_t payload_begin = 0;
    std::size_t payload_end = 0;
    engine::Claim claim;
    engine::FraudFlags flags = 0;
    void* context = nullptr;
  };
  // Appends the event payload of an accepted ballot to `payloads`. Call it right after
  // decide(): the ballot's fields need not outlive this call.
  static void append_vote_payload(const engine::Ballot& ballot, const engine::Claim& claim,
                                  engine::FraudFlags flags, std::string& payloads);
  // Queues `votes` in order under one lock; their payloads are read from `payloads`, which
  // must stay alive and unchanged until each queued vote has completed. Returns how many,
  // from the front, were queued: each of those gave up its claim and completes once through
  // `done`. The rest keep their claims (the caller releases them); `refusal` says why.
  std::size_t submit_votes(std::span<VoteToCommit> votes, std::string_view payloads,
                           CompletionFn done, SubmitResult& refusal);
  // Queues a campaign version. The writer decides again with check_campaign() (it alone
  // installs, so the answer cannot race another PUT): created/updated write a new version and
  // install it; unchanged/conflict write nothing. The outcome's campaign_outcome says which.
  SubmitResult submit_campaign(const engine::Campaign& campaign, CompletionFn done, void* context);

  // Recovered, started and writable: what /readyz reports. False for good after a failed
  // write (then every submission answers `unavailable`; a restart recovers).
  bool ready() const;
  // Highest committed seq (0 when the log is empty).
  std::uint64_t last_seq() const;
  // Whether flushes and compactions write past the page cache (the data dir's filesystem
  // takes O_DIRECT; docs/STORAGE.md "Background I/O").
  bool direct_table_writes() const;
  // The writer's counters (zero before start()). Safe for concurrent use.
  CommitStats commit_stats() const;
  // RocksDB's figures and the commit write latency. Safe for concurrent use.
  DbFigures db_figures() const;
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
