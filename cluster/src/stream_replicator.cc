// The primary's publishes. See stream_replicator.h.
#include "stream_replicator.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>
#include <utility>

namespace tally::cluster::internal {

namespace {
// Between sends of a record that got no answer: the client reconnects every 250 ms, and a
// stream leader's election takes 4-9 s.
constexpr std::chrono::milliseconds kResendPause{100};
// A record that keeps getting no answer is logged once, then every 2 s.
constexpr std::uint64_t kWarnEvery = 20;
// After abandon(), a record with no answer yet is still sent again for this long.
constexpr std::chrono::seconds kLastTriesWhenStopping{10};
// How long a publish waits for its answer; one that has none after a little more is settled
// without it.
constexpr std::chrono::milliseconds kMaxWait{2000};
constexpr std::chrono::milliseconds kAnswerDeadline = kMaxWait + std::chrono::milliseconds(500);
}  // namespace

StreamReplicator::StreamReplicator(JetStream& js, StreamSettings stream, std::string shard)
    : js_(js), stream_(std::move(stream)), shard_(std::move(shard)) {
  js_.set_ack_listener(
      [this](std::string_view msg_id, const PublishResult& result) { on_answer(msg_id, result); });
}

StreamReplicator::~StreamReplicator() { js_.set_ack_listener(nullptr); }

void StreamReplicator::begin(std::uint64_t epoch, std::uint64_t last_stream_seq) {
  epoch_ = epoch;
  last_stream_seq_ = last_stream_seq;
  fenced_flag_.store(false, std::memory_order_release);
}

void StreamReplicator::send(std::string_view record, std::uint64_t first_seq,
                            std::uint64_t last_seq) {
  // Unique per record and per epoch: a resend is recognised (the stream answers duplicate),
  // and no other node's record can carry it.
  std::string msg_id = shard_ + "/" + std::to_string(epoch_) + "/" + std::to_string(first_seq);
  // Set before it is sent: its answer may come before publish_async() returns.
  {
    std::lock_guard lock(sent_mutex_);
    sent_.emplace(Sent{msg_id, record, first_seq, last_seq, Clock::now(), false, {}});
  }
  const PublishConditions conditions{msg_id, last_stream_seq_, kMaxWait};
  if (Status sent = js_.publish_async(stream_.subject, record, conditions); !sent.ok()) {
    PublishResult failure;
    failure.status = NATS_ERR;
    failure.text = sent.message();
    on_answer(msg_id, failure);  // settled by confirm(), as any other failure
  }
}

bool StreamReplicator::answered() const {
  std::lock_guard lock(sent_mutex_);
  return sent_ && (sent_->answered || Clock::now() - sent_->sent_at > kAnswerDeadline);
}

void StreamReplicator::on_answer(std::string_view msg_id, const PublishResult& result) {
  {
    std::lock_guard lock(sent_mutex_);
    // An answer to anything else is a late one to an earlier record, already settled.
    if (!sent_ || sent_->answered || sent_->msg_id != msg_id) return;
    sent_->answered = true;
    sent_->answer = result;
  }
  answered_cv_.notify_all();
  std::lock_guard lock(wake_mutex_);
  if (wake_) wake_();
}

void StreamReplicator::set_wake(std::function<void()> wake) {
  std::lock_guard lock(wake_mutex_);
  wake_ = std::move(wake);
}

Result<std::uint64_t> StreamReplicator::confirm() {
  std::unique_lock lock(sent_mutex_);
  // Only this thread sets and resets it: the reference stays valid; the listener only answers.
  const Sent& sent = *sent_;
  answered_cv_.wait_until(lock, sent.sent_at + kAnswerDeadline, [&] { return sent.answered; });
  const bool answered = sent.answered;
  const PublishResult answer = sent.answer;
  lock.unlock();

  const std::uint64_t expected = last_stream_seq_;
  Result<std::uint64_t> outcome = Status::error("unset");
  if (answered && answer.status == NATS_OK) {
    if (answer.stream_seq != expected + 1) {
      // A duplicate of a message stored elsewhere: never ours to count here.
      return refused(Status::error("stream: message id " + sent.msg_id + " is at stream seq " +
                                   std::to_string(answer.stream_seq) + ", expected " +
                                   std::to_string(expected + 1)),
                     true);
    }
    outcome = answer.stream_seq;
  } else {
    // Refused or unanswered: maybe not stored, maybe stored with its answer lost.
    outcome = settle(sent);
    if (!outcome.ok()) return outcome;
  }
  last_stream_seq_ = *outcome;
  observe_latency(Clock::now() - sent.sent_at);
  lock.lock();
  sent_.reset();
  return outcome;
}

Status StreamReplicator::refused(Status status, bool fence) {
  if (fence) {
    fenced_.fetch_add(1, std::memory_order_relaxed);
    fenced_flag_.store(true, std::memory_order_release);
  }
  {
    std::lock_guard lock(sent_mutex_);
    sent_.reset();
  }
  return failed(std::move(status));
}

Result<std::uint64_t> StreamReplicator::settle(const Sent& sent) {
  const std::uint64_t expected = last_stream_seq_;
  const std::string& msg_id = sent.msg_id;
  const auto seqs = [&] {
    return std::to_string(sent.first_seq) + ".." + std::to_string(sent.last_seq);
  };
  std::uint64_t resends_of_record = 0;
  for (;;) {
    resends_.fetch_add(1, std::memory_order_relaxed);
    const PublishResult result =
        js_.publish(stream_.subject, sent.record, {msg_id, expected, kMaxWait});
    if (result.status == NATS_OK) {
      if (result.stream_seq != expected + 1) {
        return refused(Status::error("stream: message id " + msg_id + " is at stream seq " +
                                     std::to_string(result.stream_seq) + ", expected " +
                                     std::to_string(expected + 1)),
                       true);
      }
      return result.stream_seq;
    }
    if (result.error_code == JSStreamWrongLastSequenceErr) {
      // Either our earlier send got in and its acknowledgement was lost, or another node
      // wrote after `expected`: the stream's next message says which.
      auto id = js_.msg_id_at(stream_.name, expected + 1);
      if (id.ok() && *id == msg_id) return expected + 1;
      if (id.ok()) {
        return refused(
            Status::error("fenced: stream seq " + std::to_string(expected + 1) + " holds " +
                          (id->empty() ? std::string("no message id") : *id) + ", not seqs " +
                          seqs()),
            true);
      }
      spdlog::warn("cluster: publish of seqs {} refused, and the stream could not be read: {}",
                   seqs(), id.message());
    } else if (result.error_code == JSStreamMessageExceedsMaximumErr ||
               result.error_code == JSStreamNotFoundErr || result.status == NATS_MAX_PAYLOAD) {
      // Refusals that no resend changes, and that store nothing. Any other error may come
      // after the message was stored (a stream leader lost in the middle of it): only a
      // resend under the same id tells.
      return refused(Status::error("stream refused seqs " + seqs() + ": " + result.text +
                                   " (jetstream error " +
                                   std::to_string(static_cast<int>(result.error_code)) + ")"),
                     false);
    }
    if (resends_of_record % kWarnEvery == 0) {
      spdlog::warn(
          "cluster: publish of seqs {} (stream seq {}) not acknowledged, sending again: {}{}",
          seqs(), expected + 1, result.text,
          result.error_code != jsErrCode{}
              ? " (jetstream error " + std::to_string(static_cast<int>(result.error_code)) + ")"
              : std::string());
    }
    ++resends_of_record;
    if (abandoned_.load(std::memory_order_acquire) &&
        Clock::now() - abandoned_at_.load(std::memory_order_acquire) > kLastTriesWhenStopping) {
      // Stopping, and the replicas still do not say: the record may be in the stream, so its
      // votes must not be answered `unavailable`. Leaving without an answer is the honest
      // outcome (a lost answer: counted at most once).
      exit_unanswered("stopping, and the outcome of seqs " + seqs() + " is unknown (" +
                      result.text + ")");
    }
    std::this_thread::sleep_for(kResendPause);
  }
}

void StreamReplicator::observe_latency(std::chrono::steady_clock::duration took) {
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
  std::size_t bucket = 0;
  while (bucket < ReplicatorFigures::kBoundsUs.size() &&
         ns > ReplicatorFigures::kBoundsUs[bucket] * 1000) {
    ++bucket;
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  ns_sum_.fetch_add(ns, std::memory_order_relaxed);
}

void StreamReplicator::abandon() {
  abandoned_at_.store(Clock::now(), std::memory_order_release);
  abandoned_.store(true, std::memory_order_release);
}

void StreamReplicator::replicated_not_written(std::string_view why) {
  exit_unanswered(std::string("a record the stream holds was not written here: ") +
                  std::string(why));
}

void StreamReplicator::exit_unanswered(const std::string& why) {
  spdlog::critical(
      "cluster: {}. Exiting without answering the votes this node holds: they "
      "may be counted, so they cannot be refused; a restart catches up from the "
      "stream.",
      why);
  spdlog::default_logger()->flush();
  std::_Exit(kExitUnanswered);
}

Status StreamReplicator::failed(Status status) {
  spdlog::warn("cluster: {}", status.message());
  std::lock_guard lock(failure_mutex_);
  last_failure_ = status.message();
  return status;
}

std::string StreamReplicator::last_failure() const {
  std::lock_guard lock(failure_mutex_);
  return last_failure_;
}

ReplicatorFigures StreamReplicator::figures() const {
  ReplicatorFigures out;
  for (std::size_t i = 0; i < out.counts.size(); ++i) {
    out.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  out.ns_sum = ns_sum_.load(std::memory_order_relaxed);
  out.resends = resends_.load(std::memory_order_relaxed);
  out.fenced = fenced_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace tally::cluster::internal
