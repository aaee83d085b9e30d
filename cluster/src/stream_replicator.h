// StreamReplicator: the primary's storage::RecordReplicator on the shard's stream. Each record
// is published with a message id (shard, epoch, first seq) and the stream seq it must follow;
// the answer decides (DESIGN.md "Replication and failover"):
//   acknowledged at the next stream seq (or a duplicate of it)  -> replicated;
//   "wrong last sequence" (10071)                                -> the stream's next message
//       is read: ours (an acknowledgement that was lost) -> replicated; another's -> fenced;
//   no answer, or any other error (a timeout, no server, a stream leader lost while it stored
//       the message) -> sent again, same id and expectation, until one of the above or until
//       abandon(): only a resend tells whether the message was stored.
// Called on the log's writer thread; the figures and abandon() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "tally/storage/record_replicator.h"
#include "jetstream.h"

namespace tally::cluster::internal {

struct ReplicatorFigures {
  // Upper bounds (µs) of the publish latency buckets; a last bucket takes the rest.
  static constexpr std::array<std::uint64_t, 12> kBoundsUs = {
      250,    500,    1'000,   2'500,   5'000,     10'000,
      25'000, 50'000, 100'000, 250'000, 1'000'000, 5'000'000};
  std::array<std::uint64_t, kBoundsUs.size() + 1> counts{};  // per bucket, not cumulative
  std::uint64_t ns_sum = 0;
  std::uint64_t resends = 0;  // publishes sent again after no answer
  std::uint64_t fenced = 0;   // records refused because another node took over
};

class StreamReplicator final : public storage::RecordReplicator {
 public:
  StreamReplicator(JetStream& js, StreamSettings stream, std::string shard);

  // Before the writer starts: records of lease `epoch` follow stream seq `last_stream_seq`.
  void begin(std::uint64_t epoch, std::uint64_t last_stream_seq);
  // The log is stopping: a record whose outcome is still unknown 10 s from now ends the
  // process without an answer (it may be in the stream: refusing it would be a lie). Sticky.
  void abandon();
  // Whether the last refusal was a fence (another node's record holds our place).
  bool fenced() const { return fenced_flag_.load(std::memory_order_acquire); }
  ReplicatorFigures figures() const;
  // Why the last record that failed did (empty when none has).
  std::string last_failure() const;

  Result<std::uint64_t> replicate(std::string_view record, std::uint64_t first_seq,
                                  std::uint64_t last_seq) override;
  // Ends the process without an answer (see abandon()).
  [[noreturn]] void replicated_not_written(std::string_view why) override;

  // The exit status of a node that ended without answering what it held.
  static constexpr int kExitUnanswered = 75;

 private:
  void observe_latency(std::chrono::steady_clock::duration took);

  JetStream& js_;
  const StreamSettings stream_;
  const std::string shard_;
  // Writer thread only (begin() runs before the writer starts).
  std::uint64_t epoch_ = 0;
  std::uint64_t last_stream_seq_ = 0;

  Status failed(Status status);
  [[noreturn]] static void exit_unanswered(const std::string& why);
  using Clock = std::chrono::steady_clock;

  mutable std::mutex failure_mutex_;
  std::string last_failure_;  // guarded by failure_mutex_
  std::atomic<bool> abandoned_{false};
  std::atomic<Clock::time_point> abandoned_at_{};
  std::atomic<bool> fenced_flag_{false};
  // Figures: written by the writer, read by scrapes. relaxed: counters ordered with nothing.
  std::array<std::atomic<std::uint64_t>, ReplicatorFigures::kBoundsUs.size() + 1> counts_{};
  std::atomic<std::uint64_t> ns_sum_{0};
  std::atomic<std::uint64_t> resends_{0};
  std::atomic<std::uint64_t> fenced_{0};
};

}  // namespace tally::cluster::internal
