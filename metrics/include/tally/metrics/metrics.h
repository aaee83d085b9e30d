// Metrics: what tallyd exposes on GET /metrics (Prometheus text format, served by ingest on its
// own port; no separate exposer).
//
// Data flow: ingest counts each answer and observes each vote request's latency into sharded
// counters (sharded.h: no lock, no shared atomic per vote); a scrape folds them, reads the
// engine's committed tallies, campaigns and table sizes, and the storage and server figures
// (through Sources, so that this module depends on neither storage nor ingest), and
// serializes everything with prometheus-cpp's TextSerializer through its Collectable interface.
//
// Thread safety: count_*(), observe_*() and scrape() are safe for concurrent use; set_sources()
// and set_recovery() are called once by tallyd's main before serving.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/engine.h"
#include "tally/engine/vote_status.h"
#include "tally/metrics/sharded.h"

namespace tally::metrics {

// Storage figures read at scrape time (tallyd's main fills them from storage::VoteLog).
struct StorageFigures {
  std::uint64_t commit_batches = 0;  // commit batches written (one WAL sync each in sync mode)
  std::uint64_t commit_events = 0;   // events in them
  std::uint64_t failed_batches = 0;
  std::uint64_t write_retries = 0;   // writes of a held batch tried again (--storage-retry-seconds)
  bool storage_retrying = false;     // a failed write's batch is held for a retry now
  std::uint64_t queue_depth = 0;     // events waiting for the writer
  std::uint64_t queue_capacity = 0;  // the most that may wait (--queue-depth)
  // Latency of each batch's RocksDB write (WAL append and, in sync mode, its fsync).
  HistogramSnapshot commit_write_latency;
  // RocksDB's own figures (rocksdb.estimate-num-keys, rocksdb.live-sst-files-size,
  // rocksdb.cur-size-all-mem-tables, rocksdb.estimate-pending-compaction-bytes).
  std::uint64_t rocksdb_estimate_num_keys = 0;
  std::uint64_t rocksdb_live_sst_bytes = 0;
  std::uint64_t rocksdb_memtable_bytes = 0;
  std::uint64_t rocksdb_pending_compaction_bytes = 0;
  // The public log (docs/EVENT_FORMAT.md "Public log"), when the log keeps one: its size, the
  // writer's time on the tree, checkpoints signed and proofs served, and their time.
  bool public_log = false;
  std::uint64_t public_tree_size = 0;
  std::uint64_t public_tree_append_ns = 0;
  std::uint64_t public_checkpoints_signed = 0;
  std::uint64_t public_sign_ns = 0;
  std::uint64_t public_proofs = 0;
  std::uint64_t public_proof_ns = 0;
  // Adjudication (docs/FRAUD.md "Late flags and decisions"): clusters that crossed a
  // threshold, those dropped by a full queue, flag events and the votes they flagged, decision
  // events, and the adjudicator's passes over the log and the events they read.
  std::uint64_t crossings = 0;
  std::uint64_t crossings_dropped = 0;
  std::uint64_t crossings_lost = 0;
  std::uint64_t flag_events = 0;
  std::uint64_t votes_flagged_late = 0;
  std::uint64_t decision_events = 0;
  std::uint64_t adjudication_scans = 0;
  std::uint64_t adjudication_scanned_events = 0;
};

// A replica group's figures (tallyd fills them from its cluster node). Plain values.
struct ClusterFigures {
  std::string_view role;  // "standby", "primary" or "halted" (static storage)
  std::uint64_t epoch = 0;
  std::uint64_t applied_seq = 0;
  std::uint64_t lag_records = 0;  // stream records not applied yet (a standby's)
  double lag_seconds = 0;         // how long the oldest of them has waited
  std::uint64_t takeovers = 0;    // times this node became the primary
  std::uint64_t fencings = 0;     // times it was fenced out of the stream by another
  std::uint64_t publish_resends = 0;
  // Publish of one commit batch record to the stream, until its acknowledgement.
  HistogramSnapshot publish_latency;
};

// The HTTP server's load and the limits it holds it against (tallyd's main fills them from
// ingest::Server::load()). Each limit is a flag's value: 0 for streams means streams are off.
struct ServerFigures {
  std::uint64_t connections = 0;
  std::uint64_t max_connections = 0;          // --max-connections
  std::uint64_t tally_streams = 0;            // open Server-Sent Event streams
  std::uint64_t max_tally_streams = 0;        // --max-tally-streams
  std::uint64_t inflight_body_bytes = 0;      // batch and campaign bodies read or handled
  std::uint64_t max_inflight_body_bytes = 0;  // --max-inflight-body-bytes
};

// Where a scrape reads what this module does not own. Each may be empty (then its metrics are
// left out). Called on the scraping thread; they must not block for long.
struct Sources {
  std::function<StorageFigures()> storage;
  std::function<bool()> ready;              // what /readyz reports
  std::function<ClusterFigures()> cluster;  // empty when running alone
  std::function<ServerFigures()> server;
  // Heavy hitters, concentration and flag counts (tally_fraud_*). Must outlive the metrics.
  const engine::FraudMonitor* fraud = nullptr;
};

class Metrics {
 public:
  // `refusal_words`: what a request may be refused with besides a VoteStatus (ingest's
  // HTTP-only words, which tallyd hands over); each is a label of
  // tally_ingest_requests_total{status}, after every VoteStatus word. Static storage.
  explicit Metrics(const engine::Engine& engine,
                   std::span<const std::string_view> refusal_words = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // REQUIRES: before the first scrape.
  void set_sources(Sources sources);
  // How long recovery took (tally_recovery_seconds).
  void set_recovery(std::chrono::nanoseconds duration);

  // `ballots` answered with `status` (each batch line counts once). Lock-free.
  void count_answers(engine::VoteStatus status, std::uint64_t ballots = 1) {
    statuses_[static_cast<std::size_t>(status)].add(ballots);
  }
  // A request refused as a whole, by its status word (VoteStatus or HTTP-only word); an
  // unknown word is ignored. Off the vote path: finds the word by comparison.
  void count_status_word(std::string_view word);
  // From a vote request's complete read to its answer being ready. Lock-free.
  void observe_request_latency(std::chrono::nanoseconds latency) { latency_.observe(latency); }
  // The Prometheus text exposition (format 0.0.4) of every metric.
  std::string scrape() const;

  // Content-Type of scrape()'s text.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Folds for tests and the collector, by status index: every VoteStatus, then the refusal
  // words.
  std::size_t status_count() const { return statuses_.size() + refusal_words_.size(); }
  std::string_view status_word(std::size_t status_index) const;
  std::uint64_t answers(std::size_t status_index) const;
  HistogramSnapshot request_latency() const { return latency_.snapshot(); }

 private:
  friend class Collector;
  const engine::Engine& engine_;
  Sources sources_;
  std::array<ShardedCounter, engine::kVoteStatusCount> statuses_;
  const std::vector<std::string_view> refusal_words_;
  const std::unique_ptr<ShardedCounter[]> refusals_;  // one per refusal word
  ShardedHistogram latency_{kLatencyBoundsSeconds};
  // relaxed: a gauge read by scrapes only.
  std::atomic<std::int64_t> recovery_ns_{-1};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  struct Prometheus;
  std::unique_ptr<Prometheus> prometheus_;
};

}  // namespace tally::metrics
