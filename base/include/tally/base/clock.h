// Clock: the server time that decides windows and periods (a ballot's own ts is never trusted).
//
// SystemClock reads the wall clock and never steps backwards within a process, so a period
// once entered is never left for an earlier one. ManualClock is for tests. Both are safe for
// concurrent use.
#pragma once

#include <atomic>
#include <cstdint>

namespace tally {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, UTC.
  virtual std::int64_t now_ms() const = 0;
};

// The wall clock plus a fixed offset. A non-zero offset exists only for end-to-end tests of
// window and period edges; tallyd accepts it only through an explicitly named test flag.
class SystemClock final : public Clock {
 public:
  explicit SystemClock(std::int64_t offset_ms = 0) : offset_ms_(offset_ms) {}
  std::int64_t now_ms() const override;

 private:
  std::int64_t offset_ms_;
  // Highest value returned so far: a wall-clock step backwards (NTP) must not reopen a
  // period. Relaxed is enough: only the monotonic max matters, not ordering with other data.
  mutable std::atomic<std::int64_t> last_ms_{0};
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t now_ms) : now_ms_(now_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(std::memory_order_relaxed); }
  void set_ms(std::int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  void advance_ms(std::int64_t delta_ms) { now_ms_.fetch_add(delta_ms, std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace tally
