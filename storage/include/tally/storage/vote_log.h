// VoteLog: the durable, tamper-evident event log in RocksDB, and its group-commit writer; the
// engine's EventLog port (tally/engine/event_log.h) on one machine.
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
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tally/base/status.h"
#include "tally/engine/adjudication.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/engine/fraud.h"
#include "tally/storage/commit_types.h"
#include "tally/storage/public_log_figures.h"
#include "tally/storage/record_replicator.h"

namespace tally::publog {
struct LogKeys;
class PublicLog;
}  // namespace tally::publog

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
  // Most bytes of one commit batch record (about: internal::CommitPipelineOptions). A
  // replicated log caps its records below the stream's largest message. Default: no limit.
  std::size_t max_record_bytes = SIZE_MAX;
  // How long a write that failed in a way that may pass (a full disk, an I/O error the file
  // system calls retryable) is tried again, its batch held and new votes answered
  // `unavailable`, before storage fails (docs/STORAGE.md "Failures"). Zero: the first failure
  // fails storage. A replica group's primary never retries: it steps down. Default: 30 s.
  std::chrono::milliseconds retry_for{30'000};
  // Told on the writer thread when a retry begins and how it ends (tallyd logs both). May be
  // empty. Default: empty.
  std::function<void(const WriteRetryReport&)> on_retry;
  // Fault injection for tests: while it holds true, every write and sync of the data
  // directory's files fails with an I/O error. Default: null (no injection).
  std::shared_ptr<std::atomic<bool>> fail_io;
  // With fail_io: the injected error is a full disk's (NoSpace, retryable) rather than an
  // I/O error that does not pass. Default: false.
  bool fail_io_no_space = false;
  // The public log's keys (publog/log_keys.h): with them the log keeps the public Merkle tree
  // of every event, in the record's own write, and signs checkpoints (docs/EVENT_FORMAT.md
  // "Public log"); recovery builds the tree of a log written without it, once. Default: null
  // (no public tree; tests of other things).
  std::shared_ptr<const publog::LogKeys> log_keys;
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

// What the adjudicator (late flags and decisions) has done, for metrics. Plain values.
struct AdjudicationFigures {
  std::uint64_t crossings = 0;          // clusters that crossed a threshold, heard
  std::uint64_t crossings_dropped = 0;  // heard while the queue was full: not flagged late
  // Taken for a pass whose scan failed or whose flag the log refused (this node stopped being
  // the primary, or storage failed): not flagged late.
  std::uint64_t crossings_lost = 0;
  std::uint64_t flag_events = 0;
  std::uint64_t votes_flagged = 0;  // votes given a reason by flag events
  std::uint64_t decision_events = 0;
  std::uint64_t scans = 0;           // passes over the log for late flags and clusters
  std::uint64_t scanned_events = 0;  // events those passes read
};

// Owns the RocksDB instance and the writer thread (started by start(), joined by stop()).
class VoteLog final : public engine::EventLog {
 public:
  // Opens (creating if needed) the database in options.data_dir. An error names the path and
  // RocksDB's reason; nothing is started.
  static Result<std::unique_ptr<VoteLog>> open(const StorageOptions& options);
  ~VoteLog();

  // Replays every stored event, in seq order, into `engine` (campaign versions with
  // install_campaign, votes with replay_vote), checking each chain hash and the seqs'
  // continuity, then publishes. Before start(). An error names the seq it stopped at.
  Status recover(engine::Engine& engine);
  // Starts the writer thread, which commits into `engine`. After recover(). With a
  // `replicator`, every record goes to it before the local write (a replica group's primary).
  // Again after halt(): a node that was a standby becomes the primary.
  void start(engine::Engine& engine, RecordReplicator* replicator = nullptr);
  // Stops the writer as stop() does (what is queued is committed, or answered `unavailable`
  // if the writer has failed), but the log stays open: apply_record() may follow, and start()
  // again. A replica group's node calls it when it stops being the primary.
  void halt();
  // A standby's copy of the replicated log: checks that `record` continues this log (its
  // first seq follows the last, its chain follows the chain head), writes it with its
  // `stream_seq`, and counts it into `engine` as recovery would. An error (a record that does
  // not continue the log, or a failed write) changes nothing. REQUIRES: recovered, the writer
  // not running (before start() or after halt()), one caller at a time.
  Status apply_record(std::string_view record, std::uint64_t stream_seq, engine::Engine& engine);
  // Queues the event that opens an epoch of a replica group: `node` became its primary in lease
  // `epoch`. Commits as a batch of its own, after everything queued before it.
  engine::SubmitResult submit_epoch(std::string_view node, std::uint64_t epoch,
                                    engine::CommitWaiter& waiter);

  // engine::EventLog: votes and campaign versions go to the writer's queue (a full one
  // answers `overloaded`; a failed or stopping log `unavailable`).
  void append_vote_payload(const engine::Ballot& ballot, const engine::Claim& claim,
                           engine::FraudFlags flags, std::string& payloads) const override;
  std::size_t submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                           engine::SubmitResult& refusal) override;
  engine::SubmitResult submit_campaign(const engine::Campaign& campaign,
                                       engine::CommitWaiter& waiter) override;

  // Recovered, started and writable: what /readyz reports. False while a failed write is
  // retried, and for good once storage has failed (then every submission answers
  // `unavailable`; a restart recovers).
  bool ready() const override;
  // Why the running writer's first failed write failed (RocksDB's status, the seqs it held);
  // empty while none has, or when no writer runs.
  std::string failure() const;
  // Highest committed seq (0 when the log is empty).
  std::uint64_t last_seq() const;
  // The stream seq of the last record, in a replicated log (0 when none was replicated).
  std::uint64_t stream_seq() const;
  // Whether flushes and compactions write past the page cache (the data dir's filesystem
  // takes O_DIRECT; docs/STORAGE.md "Background I/O").
  bool direct_table_writes() const;
  // The writer's counters (zero before start()). Safe for concurrent use.
  CommitStats commit_stats() const;
  // RocksDB's figures and the commit write latency. Safe for concurrent use.
  DbFigures db_figures() const;
  // The stored event as JSON (DESIGN.md "Stored event"), or nullopt when there is none.
  std::optional<std::string> event_json(std::uint64_t seq) const override;

  // The public log (checkpoints, proofs, receipts) over this log; null without log keys.
  // After recover().
  publog::PublicLog* public_log();
  PublicLogFigures public_log_figures() const;

  // Adjudication (DESIGN.md): the listener to give the fraud monitor, whose crossings become
  // late flags, and the decisions' port for ingest. After recover(); null before.
  engine::CrossingListener* crossing_listener();
  // A replica group's write fence for the adjudicator's events: it writes a flag or decision
  // only while `writable()` holds (tallyd: the node is the primary with a fresh lease), as
  // ingest writes votes. Before start(). Default: always.
  void set_write_fence(std::function<bool()> writable);
  engine::Adjudication* adjudication();
  AdjudicationFigures adjudication_figures() const;

  // Stops taking submissions, commits everything queued, joins the writer. Idempotent.
  void stop();

 private:
  VoteLog();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::storage
