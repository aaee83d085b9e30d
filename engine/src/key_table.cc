// KeyTable growth and the non-template helpers. The protocol: docs/DEDUPE_TABLE.md.
#include "key_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>

#include "tally/base/thread_name.h"

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

constexpr std::uint64_t kHugePage = 2 << 20;

// Maps the pages of [memory, memory + bytes) now (advice only: an old kernel skips it). One
// huge page per call: the kernel holds the process's memory-map lock for each call, and an
// mmap or munmap of another thread (an allocator, RocksDB's arenas) waits for it; mapping
// an 81 MiB array took 70-130 ms here.
void map_pages(void* memory, std::uint64_t bytes) {
  auto* at = static_cast<char*>(memory);
  for (std::uint64_t done = 0; done < bytes; done += kHugePage) {
    madvise(at + done, std::min(kHugePage, bytes - done), MADV_POPULATE_WRITE);
  }
}

}  // namespace

// The background work's job for a large table's order. Mapping an array's pages is most of a
// growth's cost on a virtual machine (an 81 MiB array took 70-130 ms here), and done in line it
// held every thread that met the table for that long; made ahead, a growth is only the move of
// the keys.
void KeyTable::make_ordered_array(Order* order) {
  // Acquire: if the table let go already, nobody will take the array; skip the work. The CAS
  // decides the race with a growth that cancels an order not yet started.
  int state = Order::kQueued;
  if (order->owners.load(std::memory_order_acquire) > 1 &&
      order->state.compare_exchange_strong(state, Order::kMaking, std::memory_order_acq_rel)) {
    try {
      auto* array = new Array(order->capacity);
      map_pages(array->slots.get(), array->capacity * sizeof(Slot));
      order->made.store(array, std::memory_order_relaxed);
    } catch (const std::bad_alloc&) {
      // Out of memory or address space: nothing is made, and the table grows in line, as it
      // would without background work.
    }
    // Release pairs with the growth's acquire of `state`: it publishes `made` and the array's
    // construction.
    order->state.store(Order::kDone, std::memory_order_release);
  }
  drop(order);
}

KeyTable::Order::~Order() { delete made.load(std::memory_order_acquire); }

void KeyTable::drop(Order* order) {
  // acq_rel: the last owner sees the other's writes (the made array) before it frees.
  if (order->owners.fetch_sub(1, std::memory_order_acq_rel) == 1) delete order;
}

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
      must_grow_at(static_cast<std::uint64_t>(static_cast<double>(slot_count) * kMaxLoadWaiting)),
      slots(allocate_slots(slot_count)),
      shards(new CountShard[internal::kMaxThreads]) {}

KeyTable::Array::~Array() {
  if (Order* ordered = order.load(std::memory_order_acquire)) drop(ordered);
}

KeyTable::KeyTable(std::uint64_t expected_keys, std::atomic<std::uint64_t>* growth_count,
                   BackgroundWork* background)
    : live_(new Array(std::max<std::uint64_t>(
          kMinCapacity,
          static_cast<std::uint64_t>(std::ceil(static_cast<double>(expected_keys) / kMaxLoad)) +
              1))),
      growth_count_(growth_count),
      background_(background) {}

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
  map_pages(array->slots.get(), array->capacity * sizeof(Slot));
  internal::clear_hazard(internal::kSlotTableArray);
}

void KeyTable::past_load_limit(Array& array) {
  if (background_ != nullptr && array.capacity >= kOrderAheadCapacity &&
      array.next.load(std::memory_order_acquire) == nullptr) {
    Order* order = array.order.load(std::memory_order_acquire);
    if (order == nullptr) {
      auto* mine = new Order(array.capacity * 2);
      // acq_rel: release publishes the order to later readers; acquire lets a loser use the
      // winner's. One order per array.
      if (array.order.compare_exchange_strong(order, mine, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
        background_->submit([mine] { make_ordered_array(mine); });
        order = mine;
      } else {
        delete mine;
      }
    }
    // Relaxed count: like grow_at, it only decides when. Until the array is made, inserts go
    // on here at a load a little above kMaxLoad. (Relaxed state: take_made() reads it again.)
    if (order->state.load(std::memory_order_relaxed) < Order::kDone &&
        array.count.load(std::memory_order_relaxed) < array.must_grow_at) {
      internal::clear_hazard(internal::kSlotTableArray);
      return;
    }
  }
  grow(array);
}

bool KeyTable::grow_into_made_array() {
  Array* array = internal::protect(live_, internal::kSlotTableArray);
  Order* order = array->order.load(std::memory_order_acquire);
  // Acquire of `state` pairs with the maker's release of kDone, which publishes `made`.
  if (order == nullptr || array->next.load(std::memory_order_acquire) != nullptr ||
      order->state.load(std::memory_order_acquire) != Order::kDone) {
    internal::clear_hazard(internal::kSlotTableArray);
    return false;
  }
  // The exchange makes one taker the array's owner; an insert's grow() that took it first
  // installs it itself.
  Array* bigger = order->made.exchange(nullptr, std::memory_order_acq_rel);
  if (bigger == nullptr) {
    internal::clear_hazard(internal::kSlotTableArray);
    return false;
  }
  Array* expected = nullptr;
  // Release publishes the array to helpers that acquire `next`, as in grow().
  if (!array->next.compare_exchange_strong(expected, bigger, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
    delete bigger;  // an insert at the waiting limit started a growth in line meanwhile
  }
  help_migrate(*array);  // clears the hazard
  return true;
}

KeyTable::Array* KeyTable::take_made(Array& array) {
  Order* order = array.order.load(std::memory_order_acquire);
  if (order == nullptr) return nullptr;
  int state = order->state.load(std::memory_order_acquire);
  // Not started (the thread is busy with another order, or held): make it in line instead.
  if (state == Order::kQueued &&
      order->state.compare_exchange_strong(state, Order::kCancelled, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
    return nullptr;
  }
  // Being made: its pages are part mapped, and mapping a second array would only compete
  // with it for the same cores. Wait for it (the thread only maps pages; it waits for no
  // table).
  Backoff backoff;
  while (state == Order::kMaking) {
    backoff.pause();
    state = order->state.load(std::memory_order_acquire);
  }
  // The exchange makes one taker the owner; the acquire load of `state` above ordered the
  // array's construction before this.
  return order->made.exchange(nullptr, std::memory_order_acq_rel);
}

void KeyTable::grow(Array& array) {
  if (array.next.load(std::memory_order_acquire) == nullptr) {
    Array* bigger = take_made(array);
    const bool mapped = bigger != nullptr;
    if (bigger == nullptr) bigger = new Array(array.capacity * 2);
    Array* expected = nullptr;
    // Release publishes the new array's construction to helpers that acquire `next`.
    if (!array.next.compare_exchange_strong(expected, bigger, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
      delete bigger;  // another thread started this growth
    } else if (!mapped) {
      // Fault the new array in, in order, while the movers fill it: every one of its pages
      // is written by the migration anyway, and one sequential pass is cheaper than a page
      // fault in the middle of each mover's chunk. It only maps zero pages, so racing the
      // movers' writes is harmless.
      map_pages(bigger->slots.get(), bigger->capacity * sizeof(Slot));
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
        if (growth_count_ != nullptr) growth_count_->fetch_add(1, std::memory_order_relaxed);
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
  // A growth ordered or in progress holds a second array of twice the slots. Only their
  // presence is read: the next array is not protected and may be migrated and freed in turn.
  if (array->next.load(std::memory_order_acquire) != nullptr ||
      array->order.load(std::memory_order_acquire) != nullptr) {
    total += 2 * array->capacity * sizeof(Slot) + internal::kMaxThreads * sizeof(CountShard) +
             sizeof(Array);
  }
  internal::clear_hazard(internal::kSlotTableArray);
  return total;
}

}  // namespace tally::engine
