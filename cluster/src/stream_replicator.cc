// The primary's publishes. See stream_replicator.h.
#include "stream_replicator.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>
#include <utility>

#include "tally/base/quote_input.h"

namespace tally::cluster::internal {

namespace {
// Between sends of a record that got no answer: the client reconnects every 250 ms, and a
// stream leader's election takes 4-9 s.
constexpr std::chrono::milliseconds kResendPause{100};
// A record that keeps getting no answer is logged once, then every 2 s.
constexpr std::uint64_t kWarnEvery = 20;
// After abandon(), a record with no answer yet is still sent again for this long.
constexpr std::chrono::seconds kLastTriesWhenStopping{10};
}  // namespace

StreamReplicator::StreamReplicator(JetStream& js, StreamSettings stream, std::string shard)
    : js_(js), stream_(std::move(stream)), shard_(std::move(shard)) {}

void StreamReplicator::begin(std::uint64_t epoch, std::uint64_t last_stream_seq) {
  epoch_ = epoch;
  last_stream_seq_ = last_stream_seq;
  fenced_flag_.store(false, std::memory_order_release);
}

Result<std::uint64_t> StreamReplicator::replicate(std::string_view record, std::uint64_t first_seq,
                                                  std::uint64_t last_seq) {
  // Unique per record and per epoch: a resend is recognised (the stream answers duplicate),
  // and no other node's record can carry it.
  const std::string msg_id =
      shard_ + "/" + std::to_string(epoch_) + "/" + std::to_string(first_seq);
  const std::uint64_t expected = last_stream_seq_;
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t resends_of_record = 0;
  for (;;) {
    const PublishResult sent = js_.publish(stream_.subject, record, {msg_id, expected});
    if (sent.status == NATS_OK) {
      if (sent.stream_seq != expected + 1) {
        // A duplicate of a message stored elsewhere: never ours to count here.
        fenced_.fetch_add(1, std::memory_order_relaxed);
        fenced_flag_.store(true, std::memory_order_release);
        return failed(Status::error("stream: message id " + msg_id + " is at stream seq " +
                                    std::to_string(sent.stream_seq) + ", expected " +
                                    std::to_string(expected + 1)));
      }
      last_stream_seq_ = sent.stream_seq;
      observe_latency(std::chrono::steady_clock::now() - start);
      return sent.stream_seq;
    }
    if (sent.error_code == JSStreamWrongLastSequenceErr) {
      // Either our earlier send got in and its acknowledgement was lost, or another node
      // wrote after `expected`: the stream's next message says which.
      auto id = js_.msg_id_at(stream_.name, expected + 1);
      if (id.ok() && *id == msg_id) {
        last_stream_seq_ = expected + 1;
        observe_latency(std::chrono::steady_clock::now() - start);
        return last_stream_seq_;
      }
      if (id.ok()) {
        fenced_.fetch_add(1, std::memory_order_relaxed);
        fenced_flag_.store(true, std::memory_order_release);
        return failed(Status::error("fenced: stream seq " + std::to_string(expected + 1) +
                                    " holds " + (id->empty() ? std::string("no message id") : *id) +
                                    ", not seqs " + std::to_string(first_seq) + ".." +
                                    std::to_string(last_seq)));
      }
      spdlog::warn(
          "cluster: publish of seqs {}..{} refused, and the stream could not be read error={}",
          first_seq, last_seq, log_value(id.message()));
    } else if (sent.error_code == JSStreamMessageExceedsMaximumErr ||
               sent.error_code == JSStreamNotFoundErr || sent.status == NATS_MAX_PAYLOAD) {
      // Refusals that no resend changes, and that store nothing. Any other error may come
      // after the message was stored (a stream leader lost in the middle of it): only a
      // resend under the same id tells.
      return failed(Status::error("stream refused seqs " + std::to_string(first_seq) + ".." +
                                  std::to_string(last_seq) + ": " + sent.text +
                                  " (jetstream error " +
                                  std::to_string(static_cast<int>(sent.error_code)) + ")"));
    }
    if (resends_of_record % kWarnEvery == 0) {
      spdlog::warn(
          "cluster: publish of seqs {}..{} (stream seq {}) not acknowledged, sending "
          "again error={} jetstream_error={}",
          first_seq, last_seq, expected + 1, log_value(sent.text),
          static_cast<int>(sent.error_code));
    }
    ++resends_of_record;
    if (abandoned_.load(std::memory_order_acquire) &&
        Clock::now() - abandoned_at_.load(std::memory_order_acquire) > kLastTriesWhenStopping) {
      // Stopping, and the replicas still do not say: the record may be in the stream, so its
      // votes must not be answered `unavailable`. Leaving without an answer is the honest
      // outcome (a lost answer: counted at most once).
      exit_unanswered("stopping, and the outcome of seqs " + std::to_string(first_seq) + ".." +
                      std::to_string(last_seq) + " is unknown (" + sent.text + ")");
    }
    resends_.fetch_add(1, std::memory_order_relaxed);
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
      "cluster: exiting without answering the votes this node holds: they may be counted, "
      "so they cannot be refused; a restart catches up from the stream. why={}",
      log_value(why));
  spdlog::default_logger()->flush();
  std::_Exit(kExitUnanswered);
}

Status StreamReplicator::failed(Status status) {
  spdlog::warn("cluster: replication error={}", log_value(status.message()));
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
