// SystemClock: the wall clock, made monotonic within the process.
#include "tally/base/clock.h"

#include <chrono>

namespace tally {

std::int64_t SystemClock::now_ms() const {
  const std::int64_t wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() +
                               offset_ms_;
  // last_ms_ only ever grows: it is a running max updated by CAS. Relaxed ordering is enough
  // because no other data is published through it; what matters is the one atomic's
  // modification order. A CAS always reads the latest value in that order, so a caller never
  // lowers it. A plain load may read a stale (lower) value only when no happens-before edge
  // links this call to the one that stored the higher value; once such an edge exists (the
  // caller saw that result, e.g. through a queue or mutex), read coherence forces the load to
  // see that value or a later one, so no caller observes time going backwards.
  std::int64_t last_ms = last_ms_.load(std::memory_order_relaxed);
  while (wall_ms > last_ms) {
    if (last_ms_.compare_exchange_weak(last_ms, wall_ms, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
      return wall_ms;
    }
    // On failure last_ms holds the current maximum; retry only while ours is higher.
  }
  return last_ms;
}

}  // namespace tally
