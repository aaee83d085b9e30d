// KeyTable growth and the non-template helpers. The protocol: docs/DEDUPE_TABLE.md.
#include "tally/engine/key_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <new>

namespace tally::engine {
namespace {

// Spins briefly, then yields: the waits below last a few instructions unless the thread we
// wait for was preempted.
class Backoff {
 public:
  void pause() {
    if (++spins_ < 64) {
      __builtin_ia32_pause();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  int spins_ = 0;
};

}  // namespace

constexpr std::uint64_t kHugePage = 2 << 20;

void KeyTable::SlotMemory::operator()(Slot* slots) const { munmap(slots, bytes); }

std::unique_ptr<KeyTable::Slot[], KeyTable::SlotMemory> KeyTable::allocate_slots(
    std::uint64_t count) {
  const std::uint64_t bytes = count * sizeof(Slot);
  // Anonymous mappings are zero-filled on first touch: every slot starts empty (tag 0).
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  // Advice only: where transparent huge pages are off, the table works the same, slower.
  if (bytes >= kHugePage) madvise(memory, bytes, MADV_HUGEPAGE);
  return {static_cast<Slot*>(memory), SlotMemory{bytes}};
}

KeyTable::Array::Array(std::uint64_t slot_count)
    : capacity(slot_count),
      grow_at(static_cast<std::uint64_t>(static_cast<double>(slot_count) * kMaxLoad)),
      slots(allocate_slots(slot_count)),
      shards(new CountShard[internal::kMaxThreads]) {}

KeyTable::KeyTable(std::uint64_t expected_keys)
    : live_(new Array(std::max<std::uint64_t>(
          kMinCapacity,
          static_cast<std::uint64_t>(std::ceil(static_cast<double>(expected_keys) / kMaxLoad)) +
              1))) {}

KeyTable::~KeyTable() {
  // REQUIRES (of the owner): no operation is running. A growth left half-done cannot exist
  // then, because every growth finishes before the operation that started it returns.
  delete live_.load(std::memory_order_acquire);
}

std::uint64_t KeyTable::await_word_slow(Slot& slot) {
  Backoff backoff;
  for (;;) {
    // Acquire pairs with the inserter's release store of the word.
    const std::uint64_t word = word_ref(slot).load(std::memory_order_acquire);
    if (word != 0) return word;
    backoff.pause();
  }
}

void KeyTable::fault_in() const {
  Array* array = internal::protect(live_, internal::kSlotTableArray);
  madvise(array->slots.get(), array->capacity * sizeof(Slot), MADV_POPULATE_WRITE);
  internal::clear_hazard(internal::kSlotTableArray);
}

void KeyTable::grow(Array& array) {
  if (array.next.load(std::memory_order_acquire) == nullptr) {
    auto* bigger = new Array(array.capacity * 2);
    Array* expected = nullptr;
    // Release publishes the new array's construction to helpers that acquire `next`.
    if (!array.next.compare_exchange_strong(expected, bigger, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
      delete bigger;  // another thread started this growth
    } else {
      // Fault the new array in, in order, while the movers fill it: every one of its pages
      // is written by the migration anyway, and one sequential pass is cheaper than a page
      // fault in the middle of each mover's chunk. It only maps zero pages, so racing the
      // movers' writes is harmless. Advice only: an old kernel skips it.
      madvise(bigger->slots.get(), bigger->capacity * sizeof(Slot), MADV_POPULATE_WRITE);
    }
  }
  help_migrate(array);
}

void KeyTable::help_migrate(Array& array) {
  Array* to = array.next.load(std::memory_order_acquire);
  if (to != nullptr) {
    const std::uint64_t chunks = (array.capacity + kChunkSlots - 1) / kChunkSlots;
    for (;;) {
      // Relaxed: the counter only hands out distinct chunk numbers.
      const std::uint64_t chunk = array.next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= chunks) break;
      migrate_chunk(array, *to, chunk);
      // acq_rel: each mover releases its copies; the mover of the last chunk acquires them
      // all before it makes the new array live.
      if (array.chunks_done.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
        // seq_cst: the unlink that protect()'s re-load and is_hazardous()'s scan order against.
        live_.store(to, std::memory_order_seq_cst);
        growths_.fetch_add(1, std::memory_order_relaxed);
        internal::clear_hazard(internal::kSlotTableArray);
        internal::heavy_barrier();
        Backoff backoff;
        while (internal::is_hazardous(&array)) backoff.pause();
        delete &array;
        return;
      }
    }
    // Another thread moves the last chunk; wait until it has made the new array live. Only
    // the pointer is compared: `array` stays allocated while this thread protects it.
    Backoff backoff;
    while (live_.load(std::memory_order_acquire) == &array) backoff.pause();
  }
  internal::clear_hazard(internal::kSlotTableArray);
}

void KeyTable::migrate_chunk(Array& from, Array& to, std::uint64_t chunk) {
  const std::uint64_t begin = chunk * kChunkSlots;
  const std::uint64_t end = std::min(from.capacity, begin + kChunkSlots);
  std::uint64_t moved = 0;
  for (std::uint64_t i = begin; i < end; ++i) {
    Slot& slot = from.slots[i];
    std::uint64_t tag = tag_ref(slot).load(std::memory_order_acquire);
    // Freeze an empty slot so that no insert can land in it any more; an insert that wins
    // the race first is moved like any other key.
    if (tag == kEmpty &&
        tag_ref(slot).compare_exchange_strong(tag, kFrozenEmpty, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
      continue;
    }
    std::uint64_t word = await_word(slot);
    // Freeze the word: value updates CAS against an unfrozen word and fail from now on, so
    // the value copied below is the key's final value in this array.
    while (!word_ref(slot).compare_exchange_weak(word, word | kFrozen, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
    }
    place_migrated(to, tag, word);
    ++moved;
  }
  // Relaxed: the chunks_done release that follows orders it before the publish.
  to.count.fetch_add(moved, std::memory_order_relaxed);
}

std::uint64_t KeyTable::place_migrated(Array& to, std::uint64_t tag, std::uint64_t word) {
  // Keys arriving here are distinct and `to` is not live yet: only movers race, and only for
  // empty slots.
  std::uint64_t index = home_of(to, tag);
  for (;;) {
    Slot& slot = to.slots[index];
    std::uint64_t expected = kEmpty;
    if (tag_ref(slot).compare_exchange_strong(expected, tag, std::memory_order_acq_rel,
                                              std::memory_order_relaxed)) {
      word_ref(slot).store(word, std::memory_order_release);
      return index;
    }
    index = index + 1 == to.capacity ? 0 : index + 1;
  }
}

std::uint64_t KeyTable::size() const {
  Array* array = internal::protect(live_, internal::kSlotTableArray);
  std::uint64_t total = array->count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < internal::kMaxThreads; ++i) {
    total += array->shards[i].unflushed.load(std::memory_order_relaxed);
  }
  internal::clear_hazard(internal::kSlotTableArray);
  return total;
}

std::uint64_t KeyTable::capacity() const {
  Array* array = internal::protect(live_, internal::kSlotTableArray);
  const std::uint64_t slots = array->capacity;
  internal::clear_hazard(internal::kSlotTableArray);
  return slots;
}

std::uint64_t KeyTable::bytes() const {
  Array* array = internal::protect(live_, internal::kSlotTableArray);
  auto array_bytes = [](const Array& a) {
    return a.capacity * sizeof(Slot) + internal::kMaxThreads * sizeof(CountShard) + sizeof(Array);
  };
  std::uint64_t total = array_bytes(*array);
  // A growth in progress holds a second array of twice the slots. Only its presence is read:
  // it is not protected and may be migrated and freed in turn.
  if (array->next.load(std::memory_order_acquire) != nullptr) {
    total += 2 * array->capacity * sizeof(Slot) + internal::kMaxThreads * sizeof(CountShard) +
             sizeof(Array);
  }
  internal::clear_hazard(internal::kSlotTableArray);
  return total;
}

}  // namespace tally::engine
