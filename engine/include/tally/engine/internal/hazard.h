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

namespace tally::engine::internal {

inline constexpr std::size_t kCacheLine = 64;
// Threads that may use the engine at once. A thread beyond it waits for a record.
inline constexpr std::size_t kMaxThreads = 256;

enum HazardSlot : std::size_t {
  kSlotTableArray = 0,   // the KeyTable array an operation is probing
  kSlotGeneration = 1,   // the period generation decide() works in
  kSlotRequestGen = 2,   // a request-id generation being looked up
  kHazardSlots = 3,
};

struct alignas(kCacheLine) ThreadRecord {
  std::atomic<const void*> slots[kHazardSlots] = {};
  std::atomic<bool> taken{false};
};

// The calling thread's record and its index in [0, kMaxThreads).
ThreadRecord& this_thread_record();
std::size_t this_thread_index();

// Publishes the object `source` points to in `slot` and returns it, such that the object
// cannot be freed until clear_hazard(): the classic load, publish, re-check loop.
//
// Ordering: the slot store and the re-load are seq_cst, as are the reclaimer's unlink and
// its scan (is_hazardous). In the single total order of seq_cst operations either our store
// precedes the reclaimer's scan (it sees the slot and keeps the object) or the reclaimer's
// unlink precedes our re-load (we see the new pointer and retry). Plain acquire/release
// would allow both sides to miss each other (store-load reordering).
template <typename T>
T* protect(std::atomic<T*>& source, HazardSlot slot) {
  std::atomic<const void*>& hazard = this_thread_record().slots[slot];
  T* seen = source.load(std::memory_order_acquire);
  for (;;) {
    hazard.store(seen, std::memory_order_seq_cst);
    T* again = source.load(std::memory_order_seq_cst);
    if (again == seen) return seen;
    seen = again;
  }
}

// Release: every access through the protected pointer happens before a reclaimer that
// observes the cleared slot frees the object (pairs with the seq_cst scan).
inline void clear_hazard(HazardSlot slot) {
  this_thread_record().slots[slot].store(nullptr, std::memory_order_release);
}

// True when some thread's slot holds `object`. REQUIRES: `object` already unlinked with a
// seq_cst store, so that no new protect() can return it.
bool is_hazardous(const void* object);

}  // namespace tally::engine::internal
