#include "hazard.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

namespace tally::engine::internal {
namespace {

ThreadRecord g_records[kMaxThreads];

// Owns the calling thread's record; gives it back when the thread exits.
class RecordLease {
 public:
  RecordLease() {
    for (;;) {
      for (std::size_t i = 0; i < kMaxThreads; ++i) {
        bool expected = false;
        // acquire: see the previous owner's last stores (all slots cleared) before reuse.
        if (!g_records[i].taken.load(std::memory_order_relaxed) &&
            g_records[i].taken.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                                       std::memory_order_relaxed)) {
          index_ = i;
          return;
        }
      }
      std::this_thread::yield();  // more than kMaxThreads threads: wait for one to exit
    }
  }
  ~RecordLease() {
    t_thread_record = {};
    for (auto& slot : g_records[index_].slots) slot.store(nullptr, std::memory_order_release);
    g_records[index_].taken.store(false, std::memory_order_release);
  }
  std::size_t index() const { return index_; }

 private:
  std::size_t index_ = 0;
};

const RecordLease& lease() {
  thread_local RecordLease lease;
  return lease;
}

}  // namespace

namespace {

bool register_membarrier() {
  const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
}

}  // namespace

const bool g_asymmetric_barrier = register_membarrier();

void heavy_barrier() {
  if (g_asymmetric_barrier) syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
}

ThreadRecord& take_thread_record() {
  const std::size_t index = lease().index();
  t_thread_record = {&g_records[index], index};
  return g_records[index];
}

bool is_hazardous(const void* object) {
  for (const ThreadRecord& record : g_records) {
    for (const auto& slot : record.slots) {
      if (slot.load(std::memory_order_seq_cst) == object) return true;
    }
  }
  return false;
}

}  // namespace tally::engine::internal
