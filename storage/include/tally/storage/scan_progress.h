// How far a long read of the log has come, for tallyctl's progress line: the audit calls
// (audit.h, fraud_report.h) take a ScanProgress and call it every kProgressEvery events they
// read. Called on the thread that reads, between events: it must be quick and must not call
// back into the scan.
#pragma once

#include <cstdint>
#include <functional>

namespace tally::storage {

// Hears the number of events read so far (records copied, for a backup), counting every pass
// of a call that reads the log more than once. Empty: nobody listens.
using ScanProgress = std::function<void(std::uint64_t done)>;

// Often enough for a line redrawn a few times a second, rare enough to cost nothing per event.
inline constexpr std::uint64_t kProgressEvery = 1024;

// Counts items and tells a ScanProgress every kProgressEvery of them.
class ProgressCounter {
 public:
  explicit ProgressCounter(const ScanProgress& progress) : progress_(progress) {}
  void add() {
    if (++done_ % kProgressEvery == 0 && progress_) progress_(done_);
  }

 private:
  const ScanProgress& progress_;
  std::uint64_t done_ = 0;
};

}  // namespace tally::storage
