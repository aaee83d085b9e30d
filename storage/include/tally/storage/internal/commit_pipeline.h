// CommitPipeline: the bounded submission queue and the one writer thread of group commit.
//
// Producers (ingest threads) submit encoded events; the writer takes whatever is queued (a
// lone event is not held back), hands the batch to a BatchSink that makes it durable, then
// assigns the seqs to the engine (commit / install_campaign), publishes, and completes every
// submission exactly once. This library does not link RocksDB, so TSan sees all of it; the
// RocksDB sink lives in vote_log.cc. Used by VoteLog; not a public API of its own.
//
// A write that fails in a way that may pass (a full disk) holds its batch, unanswered, and is
// tried again with backoff for CommitPipelineOptions::retry_for; one that will not pass, or
// outlasts it, fails the pipeline (docs/STORAGE.md "Failures").
//
// Thread safety: submit(), failed(), retrying() and last_seq() are safe for concurrent use;
// start() and stop() are called by the owner. The sink, the engine's commit-side calls,
// completions and on_retry run on the writer thread only.
#pragma once

#include <boost/circular_buffer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/storage/commit_types.h"
#include "tally/storage/event_format.h"
#include "tally/storage/internal/adjudication_event.h"

namespace tally::storage::internal {

// One submission waiting for the writer.
struct PendingEvent {
  EventKind kind = EventKind::vote;
  // The event's payload (event_format.h), encoded by the submitting thread: in `payload`, or
  // in a buffer of the submitter's that `payload_view` shows (VoteLog::submit_votes).
  std::string payload;
  std::string_view payload_view;
  // vote: where its campaign id and user agent are, as the encoder saw them (has_layout).
  VoteLayout layout;
  bool has_layout = false;
  engine::Claim claim;  // vote: the keys it holds until commit or release
  engine::FraudFlags flags = 0;
  // The event's public leaf (docs/EVENT_FORMAT.md "Public log"), computed by the submitting
  // thread; has_leaf false when the log keeps no public tree.
  engine::LeafHash leaf{};
  bool has_leaf = false;
  std::shared_ptr<const engine::Campaign> campaign;  // campaign: the definition
  std::shared_ptr<const Adjudication> adjudication;  // flag, decision: its fields
  engine::CommitWaiter* waiter = nullptr;            // hears the outcome; may be null

  std::string_view bytes() const { return payload_view.data() != nullptr ? payload_view : payload; }
};

// Makes one commit batch durable. Called on the writer thread only.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Writes `events` as seqs first_seq, first_seq + 1, ... in one atomic write; returns an
  // error when nothing may be counted (the write failed or its outcome is unknown). Writing
  // the same events at the same seqs again after a failure stores them once.
  virtual Status write_batch(std::span<const PendingEvent> events, std::uint64_t first_seq) = 0;
  // Whether the last failure of write_batch() or resume() may pass (a full disk that is
  // freed, an I/O error the file system calls retryable), so that the batch is worth writing
  // again. Default: no failure passes.
  virtual bool failure_may_pass() const { return false; }
  // Readies the store for another write after a failure that may pass (RocksDB: DB::Resume()).
  // An error: not yet, and failure_may_pass() says whether it still may. Default: ready.
  virtual Status resume() { return {}; }
};

struct CommitPipelineOptions {
  // Submissions waiting for the writer; a full queue answers `overloaded`. Default: 65536.
  std::size_t queue_capacity = 65536;
  // Most events in one commit batch. Default: 8192.
  std::size_t max_batch_events = 8192;
  // Most payload bytes in one commit batch, counted with kEventOverheadBytes each (a record is
  // at most about this long): a replicated record must fit one stream message. A lone event
  // longer than this still forms a batch. Default: no limit.
  std::size_t max_batch_bytes = SIZE_MAX;
  // What completions report as `durable`. Default: true (Durability::sync).
  bool durable = true;
  // How long a batch whose write failed in a way that may pass is held and written again
  // (after sink.resume()) before the pipeline fails; meanwhile new submissions answer
  // `unavailable`. Zero: the first failure fails the pipeline. Default: zero.
  std::chrono::milliseconds retry_for{0};
  // Told, on the writer thread, when a retry begins and how it ends. May be empty.
  std::function<void(const WriteRetryReport&)> on_retry;
};

// The wait before the first retry of a held batch; it doubles up to kMaxRetryDelay.
inline constexpr std::chrono::milliseconds kFirstRetryDelay{100};
inline constexpr std::chrono::milliseconds kMaxRetryDelay{2'000};

// What a record adds to an event's payload at most: its length, kind, seq and chain hash.
inline constexpr std::size_t kEventOverheadBytes = 5 + 1 + 10 + kChainBytes;
// What a record adds once, at most: its version, event count and string table's count.
inline constexpr std::size_t kRecordOverheadBytes = 1 + 5 + 5;

// The commit queue's first ring, in events; it grows to the deepest queue seen.
inline constexpr std::size_t kInitialQueueRing = 1024;

// Starts one thread (the writer) in start(); stop() joins it.
class CommitPipeline {
 public:
  // `last_seq`: the highest seq already in the log (0 when empty); the next batch starts
  // after it. `sink` and `engine` must outlive the pipeline.
  CommitPipeline(BatchSink& sink, engine::Engine& engine, CommitPipelineOptions options,
                 std::uint64_t last_seq);
  ~CommitPipeline();
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  void start();
  // Queues `event`; moved from only when the answer is `queued`.
  engine::SubmitResult submit(PendingEvent& event);
  // Queues `events` in order under one lock and one wake-up of the writer; returns how many,
  // from the front, were queued (moved from). `refusal` says why the rest were not.
  std::size_t submit_all(std::span<PendingEvent> events, engine::SubmitResult& refusal);
  // Stops taking submissions, commits everything queued, joins the writer. Idempotent.
  void stop();

  // A batch failed: every later submission answers `unavailable`.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // A batch is held for a retry (CommitPipelineOptions::retry_for): submissions answer
  // `unavailable` until it is written or the pipeline fails.
  bool retrying() const { return retrying_.load(std::memory_order_relaxed); }
  // Why the first batch that failed did, as the sink said (empty while none has).
  std::string failure() const;
  // Counters so far; each value is exact, the three are not read atomically together.
  CommitStats stats() const;
  // Highest seq committed so far.
  std::uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }

 private:
  // Appends to the queue, growing its ring when full. REQUIRES: mutex_ held, size() below
  // queue_capacity.
  void push(PendingEvent&& event);
  void run();
  // Moves up to max_batch_events (and max_batch_bytes) of votes from the queue into `batch`;
  // any other event forms a batch of its own, a campaign so that check_campaign() sees every
  // earlier vote. Returns false when stopping and the queue is empty.
  bool take_batch(std::vector<PendingEvent>& batch);
  void commit_votes(std::vector<PendingEvent>& batch);
  void commit_campaign(PendingEvent& event);
  // An epoch, flag or decision: a batch of its own; a flag or decision is then counted into
  // the engine.
  void commit_alone(PendingEvent& event);
  // Writes `events` at first_seq; a failure that may pass holds them and writes them again
  // until it succeeds, the failure turns permanent, retry_for runs out or stop() is called.
  Status write(std::span<const PendingEvent> events, std::uint64_t first_seq);
  // The retries of write(): `first` is the failure that began them.
  Status retry(std::span<const PendingEvent> events, std::uint64_t first_seq, Status first);
  void report(WriteRetryReport::Stage stage, const Status& failure,
              std::chrono::steady_clock::time_point since, std::uint64_t attempts,
              std::size_t events_held);
  // Writes `event` as a batch of its own at `seq`; on failure fails it (and the pipeline) and
  // returns false.
  bool write_alone(PendingEvent& event, std::uint64_t seq);
  // Answers `batch` unavailable, releases its claims and fails the pipeline; `why` (when not
  // ok, and the first) is what failure() reports.
  void fail(std::vector<PendingEvent>& batch, const Status& why = {});

  BatchSink& sink_;
  engine::Engine& engine_;
  const CommitPipelineOptions options_;

  mutable std::mutex mutex_;  // mutable: stats() reads the queue's length
  std::condition_variable wake_;
  // Guarded by mutex_. A ring, so that queuing allocates nothing once it has held the
  // deepest queue seen (a deque allocates a block every few events); it starts at
  // kInitialQueueRing events and doubles when full, up to queue_capacity.
  boost::circular_buffer<PendingEvent> queue_;
  std::string failure_;          // guarded by mutex_
  bool stopping_ = false;        // guarded by mutex_
  bool writer_waiting_ = false;  // guarded by mutex_

  // Set once by the writer after a failed batch; read by submitters. Release/acquire so that
  // a submitter that sees it also sees the failure's effects (claims released).
  std::atomic<bool> failed_{false};
  // Set by the writer while it holds a batch for a retry. Relaxed: it publishes nothing; a
  // submitter that misses it queues behind the held batch, which is answered in turn.
  std::atomic<bool> retrying_{false};
  // Written by the writer after each batch (release), read by anyone (acquire).
  std::atomic<std::uint64_t> last_seq_;
  // Written by the writer only; relaxed: they are counters, ordered with nothing else.
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> failed_batches_{0};
  std::atomic<std::uint64_t> write_retries_{0};
  std::thread writer_;
};

}  // namespace tally::storage::internal
