// The group-commit writer. See internal/commit_pipeline.h for the contract.
//
// The queue is a mutex-guarded ring: producers hold the lock only to push (no allocation once
// the ring has grown to the deepest queue), and the writer takes a whole batch per lock, so at
// a million votes a second the lock is taken about once per vote by producers and once per
// batch by the writer. Batches adapt to load: the writer never waits for more events once it
// has one; while it syncs, the next batch accumulates.
#include "tally/storage/internal/commit_pipeline.h"

#include <algorithm>
#include <utility>

#include "tally/base/thread_name.h"

namespace tally::storage::internal {

using engine::CommitOutcome;
using engine::SubmitResult;

CommitPipeline::CommitPipeline(BatchSink& sink, engine::Engine& engine,
                               CommitPipelineOptions options, std::uint64_t last_seq)
    : sink_(sink),
      engine_(engine),
      options_(options),
      queue_(std::min(kInitialQueueRing, options.queue_capacity)),
      last_seq_(last_seq) {}

CommitPipeline::~CommitPipeline() { stop(); }

void CommitPipeline::start() {
  std::lock_guard lock(mutex_);
  if (writer_.joinable() || stopping_) return;
  writer_ = std::thread([this] { run(); });
  name_thread(writer_, "tally-writer");
}

SubmitResult CommitPipeline::submit(PendingEvent& event) {
  if (failed() || retrying()) return SubmitResult::unavailable;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return SubmitResult::unavailable;
    if (queue_.size() >= options_.queue_capacity) return SubmitResult::overloaded;
    push(std::move(event));
    wake = writer_waiting_;
    writer_waiting_ = false;
  }
  if (wake) wake_.notify_one();
  return SubmitResult::queued;
}

std::size_t CommitPipeline::submit_all(std::span<PendingEvent> events, SubmitResult& refusal) {
  refusal = SubmitResult::queued;
  if (failed() || retrying()) {
    refusal = SubmitResult::unavailable;
    return 0;
  }
  std::size_t queued = 0;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refusal = SubmitResult::unavailable;
      return 0;
    }
    const std::size_t room =
        options_.queue_capacity - std::min(queue_.size(), options_.queue_capacity);
    queued = std::min(room, events.size());
    for (std::size_t i = 0; i < queued; ++i) push(std::move(events[i]));
    wake = queued > 0 && writer_waiting_;
    if (wake) writer_waiting_ = false;
  }
  if (queued < events.size()) refusal = SubmitResult::overloaded;
  if (wake) wake_.notify_one();
  return queued;
}

void CommitPipeline::push(PendingEvent&& event) {
  // Callers keep size() under queue_capacity, so a full ring can still grow: a full
  // circular_buffer's push_back would overwrite its oldest event. The copy runs under the
  // lock, once per doubling (the last, to 65,536 events, moves 6 MiB).
  if (queue_.full()) queue_.set_capacity(std::min(2 * queue_.capacity(), options_.queue_capacity));
  queue_.push_back(std::move(event));
}

void CommitPipeline::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
  // Never started (or the writer is gone): nothing will commit what is left, so answer it.
  std::vector<PendingEvent> rest;
  {
    std::lock_guard lock(mutex_);
    for (auto& event : queue_) rest.push_back(std::move(event));
    queue_.clear();
  }
  for (auto& event : rest) {
    if (event.claim) engine_.release(std::move(event.claim));
    CommitOutcome outcome;
    outcome.status = engine::VoteStatus::unavailable;
    if (event.waiter != nullptr) event.waiter->committed(outcome);
  }
}

bool CommitPipeline::take_batch(std::vector<PendingEvent>& batch) {
  batch.clear();
  std::unique_lock lock(mutex_);
  while (queue_.empty()) {
    if (stopping_) return false;
    writer_waiting_ = true;
    wake_.wait(lock);
  }
  writer_waiting_ = false;
  if (queue_.front().kind != EventKind::vote) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    return true;
  }
  std::size_t bytes = 0;
  while (!queue_.empty() && batch.size() < options_.max_batch_events &&
         queue_.front().kind == EventKind::vote) {
    bytes += queue_.front().bytes().size() + kEventOverheadBytes;
    if (bytes > options_.max_batch_bytes && !batch.empty()) break;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

void CommitPipeline::run() {
  std::vector<PendingEvent> batch;
  batch.reserve(options_.max_batch_events);
  while (take_batch(batch)) {
    if (failed()) {
      fail(batch);
    } else if (batch.front().kind == EventKind::campaign) {
      commit_campaign(batch.front());
    } else if (batch.front().kind != EventKind::vote) {
      commit_alone(batch.front());
    } else {
      commit_votes(batch);
    }
  }
}

void CommitPipeline::commit_votes(std::vector<PendingEvent>& batch) {
  const std::uint64_t first_seq = last_seq() + 1;
  if (Status written = write(batch, first_seq); !written.ok()) {
    fail(batch, written);
    return;
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  events_.fetch_add(batch.size(), std::memory_order_relaxed);
  std::uint64_t seq = first_seq;
  // Each commit writes slots that have left the cache since decide(): start the misses of
  // a few claims ahead so that they overlap.
  constexpr std::size_t kPrefetchAhead = 8;
  for (std::size_t i = 0; i < std::min(kPrefetchAhead, batch.size()); ++i)
    engine::Engine::prefetch_commit(batch[i].claim);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i + kPrefetchAhead < batch.size())
      engine::Engine::prefetch_commit(batch[i + kPrefetchAhead].claim);
    engine_.commit(std::move(batch[i].claim), seq++, batch[i].flags);
  }
  const std::uint64_t last = seq - 1;
  last_seq_.store(last, std::memory_order_release);
  engine_.publish(last);
  CommitOutcome outcome;
  outcome.status = engine::VoteStatus::accepted;
  outcome.durable = options_.durable;
  seq = first_seq;
  for (auto& event : batch) {
    outcome.seq = seq++;
    outcome.leaf = event.leaf;
    outcome.has_leaf = event.has_leaf;
    if (event.waiter != nullptr) event.waiter->committed(outcome);
  }
}

void CommitPipeline::commit_campaign(PendingEvent& event) {
  CommitOutcome outcome;
  outcome.status = engine::VoteStatus::accepted;
  outcome.durable = options_.durable;
  outcome.campaign_outcome = engine_.check_campaign(*event.campaign);
  if (outcome.campaign_outcome == engine::PutOutcome::created ||
      outcome.campaign_outcome == engine::PutOutcome::updated) {
    const std::uint64_t seq = last_seq() + 1;
    if (!write_alone(event, seq)) return;
    // The writer is the only installer and no vote committed since the check: the install
    // decides as the check did.
    outcome.campaign_outcome = engine_.install_campaign(*event.campaign, seq);
    outcome.seq = seq;
    last_seq_.store(seq, std::memory_order_release);
    engine_.publish(seq);
  }
  if (event.waiter != nullptr) event.waiter->committed(outcome);
}

bool CommitPipeline::write_alone(PendingEvent& event, std::uint64_t seq) {
  if (Status written = write(std::span<const PendingEvent>(&event, 1), seq); !written.ok()) {
    std::vector<PendingEvent> one;
    one.push_back(std::move(event));
    fail(one, written);
    return false;
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  events_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

Status CommitPipeline::write(std::span<const PendingEvent> events, std::uint64_t first_seq) {
  Status written = sink_.write_batch(events, first_seq);
  if (written.ok() || options_.retry_for.count() <= 0 || !sink_.failure_may_pass()) {
    return written;
  }
  return retry(events, first_seq, std::move(written));
}

Status CommitPipeline::retry(std::span<const PendingEvent> events, std::uint64_t first_seq,
                             Status first) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point since = Clock::now();
  const Clock::time_point deadline = since + options_.retry_for;
  retrying_.store(true, std::memory_order_relaxed);
  report(WriteRetryReport::Stage::began, first, since, 0, events.size());
  Status last = first;
  std::uint64_t attempts = 0;
  std::chrono::milliseconds delay = kFirstRetryDelay;
  bool stopped = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      // stop() wakes the wait: a stopping tallyd answers what it holds instead of waiting.
      if (wake_.wait_until(lock, std::min(now + delay, deadline), [this] { return stopping_; })) {
        stopped = true;
        break;
      }
    }
    delay = std::min(2 * delay, kMaxRetryDelay);
    ++attempts;
    write_retries_.fetch_add(1, std::memory_order_relaxed);
    Status written = sink_.resume();
    // The same events at the same seqs: a write that reached the log before it failed is
    // overwritten with the same record, never stored twice.
    if (written.ok()) written = sink_.write_batch(events, first_seq);
    if (written.ok()) {
      retrying_.store(false, std::memory_order_relaxed);
      report(WriteRetryReport::Stage::recovered, {}, since, attempts, events.size());
      return {};
    }
    last = std::move(written);
    if (!sink_.failure_may_pass()) break;
  }
  // retrying_ stays set until fail() has set failed_, so that ready() never flickers back.
  report(WriteRetryReport::Stage::gave_up, last, since, attempts, events.size());
  const auto waited_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  std::string why = first.message() + "; " +
                    (stopped                    ? std::string("stopped while retrying")
                     : sink_.failure_may_pass() ? std::string("still failing")
                                                : std::string("a permanent failure")) +
                    " after " + std::to_string(attempts) + " retries in " +
                    std::to_string(waited_ms / 1000) + "." +
                    std::to_string(waited_ms % 1000 / 100) + " s";
  // A failure that turned permanent says how; one still failing says so in the first words.
  if (attempts > 0 && !stopped && !sink_.failure_may_pass()) why += " (" + last.message() + ")";
  return Status::error(std::move(why));
}

void CommitPipeline::report(WriteRetryReport::Stage stage, const Status& failure,
                            std::chrono::steady_clock::time_point since, std::uint64_t attempts,
                            std::size_t events_held) {
  if (!options_.on_retry) return;
  WriteRetryReport report;
  report.stage = stage;
  report.failure = failure.message();
  report.waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - since);
  report.attempts = attempts;
  report.events_held = events_held;
  {
    std::lock_guard lock(mutex_);
    report.events_queued = queue_.size();
  }
  options_.on_retry(report);
}

void CommitPipeline::commit_alone(PendingEvent& event) {
  const std::uint64_t seq = last_seq() + 1;
  if (!write_alone(event, seq)) return;
  if (event.adjudication != nullptr) {
    // Checked against the engine before it was submitted (the writer's order keeps it true):
    // a refusal here would be a bug, and the event is durable, so recovery counts it the same
    // way.
    (void)count_adjudication(engine_, event.adjudication->event);
  }
  last_seq_.store(seq, std::memory_order_release);
  engine_.publish(seq);
  CommitOutcome outcome;
  outcome.status = engine::VoteStatus::accepted;
  outcome.durable = options_.durable;
  outcome.seq = seq;
  outcome.leaf = event.leaf;
  outcome.has_leaf = event.has_leaf;
  if (event.waiter != nullptr) event.waiter->committed(outcome);
}

std::string CommitPipeline::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

CommitStats CommitPipeline::stats() const {
  CommitStats stats;
  stats.batches = batches_.load(std::memory_order_relaxed);
  stats.events = events_.load(std::memory_order_relaxed);
  stats.failed_batches = failed_batches_.load(std::memory_order_relaxed);
  stats.write_retries = write_retries_.load(std::memory_order_relaxed);
  stats.retrying = retrying();
  std::lock_guard lock(mutex_);
  stats.queued = queue_.size();
  return stats;
}

void CommitPipeline::fail(std::vector<PendingEvent>& batch, const Status& why) {
  failed_batches_.fetch_add(1, std::memory_order_relaxed);
  if (!why.ok()) {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = why.message();
  }
  // Release before publishing the failure, so that a submitter that sees failed() == true
  // finds the keys of this batch free (release pairs with the acquire in failed()).
  for (auto& event : batch) {
    if (event.claim) engine_.release(std::move(event.claim));
  }
  failed_.store(true, std::memory_order_release);
  retrying_.store(false, std::memory_order_relaxed);
  CommitOutcome outcome;
  outcome.status = engine::VoteStatus::unavailable;
  for (auto& event : batch) {
    if (event.waiter != nullptr) event.waiter->committed(outcome);
  }
}

}  // namespace tally::storage::internal
