// Hazard slots: how lock-free readers tell a reclaimer which memory they may still touch.
//
// Every thread that touches a KeyTable or a table generation owns one ThreadRecord (taken on
// first use, given back when the thread exits). Before dereferencing a shared pointer it
// publishes it in one of its slots and re-reads the source; a reclaimer that has unlinked an
// object frees it only once no slot holds it. Thread safety: each record is written only by
// its owner; any thread may scan. See docs/DEDUPE_TABLE.md, "Reclamation".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tally::engine::internal {

inline constexpr std::size_t kCacheLine = 64;
// Threads that may use the engine at once. A thread beyond it waits for a record.
inline constexpr std::size_t kMaxThreads = 256;

enum HazardSlot : std::size_t {
  kSlotTableArray = 0,  // the KeyTable array an operation is probing
  kSlotGeneration = 1,  // the period generation decide() works in
  kSlotRequestGen = 2,  // a request-id generation being looked up
  kHazardSlots = 3,
};

struct alignas(kCacheLine) ThreadRecord {
  std::atomic<const void*> slots[kHazardSlots] = {};
  std::atomic<bool> taken{false};
};

// The calling thread's record and its index in [0, kMaxThreads), cached per thread so that
// the vote path reads them without a call; take_thread_record() leases one on first use.
struct ThreadRecordRef {
  ThreadRecord* record = nullptr;
  std::size_t index = 0;
};
inline thread_local ThreadRecordRef t_thread_record;
ThreadRecord& take_thread_record();

inline ThreadRecord& this_thread_record() {
  if (t_thread_record.record == nullptr) [[unlikely]]
    return take_thread_record();
  return *t_thread_record.record;
}
inline std::size_t this_thread_index() {
  this_thread_record();
  return t_thread_record.index;
}

// True when the process may use the kernel's membarrier(2) so that readers publish hazards
// without a fence of their own (decided once, at start-up).
extern const bool g_asymmetric_barrier;

// Publishes the object `source` points to in `slot` and returns it, such that the object
// cannot be freed until clear_hazard(): the classic load, publish, re-check loop.
//
// Ordering: the reader must not let its re-load of `source` pass its hazard store, or the
// reclaimer (unlink, then scan) and the reader (publish, then re-load) could miss each other.
// With membarrier(2) the reader's store is relaxed followed by a compiler-only barrier, and the
// reclaimer's heavy_barrier() makes every running thread execute a full memory barrier between
// the unlink and the scan: the reader's store is then either visible to the scan, or its
// re-load comes after the barrier and sees the unlink. This keeps a locked instruction off the
// vote path, where it would serialise cache misses. Without membarrier both sides fall back
// to seq_cst, whose single total order gives the same guarantee.
template <typename T>
T* protect(std::atomic<T*>& source, HazardSlot slot) {
  std::atomic<const void*>& hazard = this_thread_record().slots[slot];
  T* seen = source.load(std::memory_order_acquire);
  for (;;) {
    if (g_asymmetric_barrier) {
      hazard.store(seen, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // compiler barrier only
    } else {
      hazard.store(seen, std::memory_order_seq_cst);
    }
    T* again = source.load(std::memory_order_seq_cst);
    if (again == seen) return seen;
    seen = again;
  }
}

// The reclaimer's half of the protocol above: call after unlinking (seq_cst store) and
// before is_hazardous(). A system call; rare (growths and period changes only).
void heavy_barrier();

// Release: every access through the protected pointer happens before a reclaimer that
// observes the cleared slot frees the object (pairs with the seq_cst scan).
inline void clear_hazard(HazardSlot slot) {
  this_thread_record().slots[slot].store(nullptr, std::memory_order_release);
}

// A pointer that protect() published in one of this thread's slots, cleared when the guard
// goes or at reset(): every exit of a reader gives its slot back without a hand-written
// clear_hazard(). One guard per slot at a time: a slot holds one pointer, so a guard is reset
// (or gone) before its slot protects another. Movable, not copyable.
template <typename T>
class Protected {
 public:
  Protected() = default;
  Protected(T* object, HazardSlot slot) : object_(object), slot_(slot) {}
  Protected(Protected&& other) noexcept
      : object_(std::exchange(other.object_, nullptr)), slot_(other.slot_) {}
  Protected& operator=(Protected&& other) noexcept {
    if (this != &other) {
      reset();
      object_ = std::exchange(other.object_, nullptr);
      slot_ = other.slot_;
    }
    return *this;
  }
  Protected(const Protected&) = delete;
  Protected& operator=(const Protected&) = delete;
  ~Protected() { reset(); }

  T* get() const { return object_; }
  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }
  explicit operator bool() const { return object_ != nullptr; }

  // Gives the slot back now; the pointer must not be used after it.
  void reset() {
    if (object_ != nullptr) {
      clear_hazard(slot_);
      object_ = nullptr;
    }
  }

 private:
  T* object_ = nullptr;
  HazardSlot slot_ = kSlotTableArray;
};

// protect() into a guard.
template <typename T>
Protected<T> protect_guarded(std::atomic<T*>& source, HazardSlot slot) {
  T* object = protect(source, slot);
  // A null source left null in the slot: nothing to give back.
  return Protected<T>(object, slot);
}

// True when some thread's slot holds `object`. REQUIRES: `object` already unlinked with a
// seq_cst store and heavy_barrier() called since, so that no new protect() can return it.
bool is_hazardous(const void* object);

}  // namespace tally::engine::internal
