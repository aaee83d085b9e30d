// KeyTable: a lock-free open-addressing map from 128-bit key hashes to 40-bit values.
//
// The dedupe, quota and request-id tables of the engine are KeyTables (one per period
// generation). Keys are never removed: a "released" dedupe key is a value, not a hole.
// Thread safety: every public member is safe for concurrent use from any number of threads;
// no operation takes a lock. Growth is cooperative: once a table crosses its load limit, an
// array twice as large is made (for large tables by a background thread, which also maps its
// pages, while inserts go on in the old one), and every thread that meets the old array then
// helps move its slots and retries in the new one. See docs/DEDUPE_TABLE.md for the slot
// layout, the memory ordering and why the races are safe.
//
// Invariants:
//  - A slot's tag goes 0 -> key tag (an insert) or 0 -> kFrozenEmpty (a migration), once.
//  - A slot's word goes 0 -> published(key low bits, value), then only its value changes,
//    until a migration sets kFrozen; a frozen word never changes again.
//  - A key is in at most one slot of the live array: an insert claims the first empty slot on
//    the key's probe path after seeing every earlier slot hold another key, and slots never
//    empty again.
//  - Once any slot of an array is frozen, no operation completes in that array: it helps the
//    migration and retries in the next array, which holds every key and final value.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "tally/base/background.h"
#include "tally/engine/fingerprint.h"
#include "hazard.h"

namespace tally::engine {

__extension__ using Uint128 = unsigned __int128;  // GCC and Clang; pedantic wants the marker

struct TableUpdate {
  std::optional<std::uint64_t> before;  // the value found, nullopt when the key was absent
  bool changed = false;                 // whether the step's replacement was stored
};

class KeyTable {
 public:
  static constexpr unsigned kValueBits = 40;
  static constexpr std::uint64_t kValueMask = (std::uint64_t{1} << kValueBits) - 1;
  // Load at which growth starts. Linear probing stays within one or two cache lines per
  // lookup up to here (expected probes: 2.5 for a hit, 8.5 for a miss).
  static constexpr double kMaxLoad = 0.75;
  // Load up to which a large table keeps taking inserts while the background thread makes
  // and maps its next array (8.5 -> 22.7 expected probes for a miss, briefly); there, the
  // inserting thread makes it. At a million inserts a second the background thread has
  // tenths of a second for it.
  static constexpr double kMaxLoadWaiting = 0.85;
  static constexpr std::uint64_t kMinCapacity = 1024;
  // Tables from this capacity on order their next array from the background work; a smaller
  // one (under 2 MiB to map), or one without background work, is made in line by the insert
  // that crosses kMaxLoad.
  static constexpr std::uint64_t kOrderAheadCapacity = std::uint64_t{1} << 16;

  // Allocates room for `expected_keys` below kMaxLoad, so that a table sized right never grows.
  // `growth_count`, if given, is incremented (relaxed) at each completed growth, and must
  // outlive the table: a count shared by many tables that outlives each of them.
  // `background`, if given, makes large tables' next arrays ahead of their growth; it runs
  // each job before it is destroyed, and may be destroyed before or after the table.
  explicit KeyTable(std::uint64_t expected_keys, std::atomic<std::uint64_t>* growth_count = nullptr,
                    BackgroundWork* background = nullptr);
  ~KeyTable();
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  // The key's value, or nullopt when absent.
  std::optional<std::uint64_t> find(Key128 key) const;

  // Atomically replaces the key's value by step(current) (current = nullopt when absent,
  // which inserts). A step returning nullopt leaves the table unchanged. `step` may run more
  // than once (when a concurrent update wins the race) and must be a pure function of its
  // argument. Its result must be <= kValueMask.
  template <typename Step>
  TableUpdate update(Key128 key, Step&& step);

  // Starts loading the key's first slot into the cache. Operations serialise on their CAS, so
  // a caller that knows its next keys (a batch, or the quota key beside the dedupe key)
  // overlaps their cache misses by prefetching them first.
  void prefetch(Key128 key) const {
    Array* array = internal::protect(live_, internal::kSlotTableArray);
    __builtin_prefetch(&array->slots[home_of(*array, tag_of(key))], 1, 3);
    internal::clear_hazard(internal::kSlotTableArray);
  }

  // Maps every page of the live array now (huge pages where the kernel gives them), so that
  // the first inserts do not each stop for a page fault. Changes no slot; safe beside any
  // operation. Advice only: without kernel support the pages fault in as used.
  void fault_in() const;

  // Grows into a next array that the background thread has made but no insert has taken: a
  // large table whose inserts stopped between kMaxLoad and kMaxLoadWaiting would otherwise
  // hold both arrays (three times its slots) until its next insert. Any thread, beside any
  // operation; returns whether it grew. tallyd's table preparation calls it every few seconds.
  bool grow_into_made_array();

  // Keys stored, give or take kCountBatch per thread that inserted recently.
  std::uint64_t size() const;
  // Bytes of the slot arrays (and any next array ordered, made or being migrated into).
  std::uint64_t bytes() const;
  std::uint64_t capacity() const;
  // Completed growths, for metrics and tests.
  std::uint64_t growths() const { return growths_.load(std::memory_order_relaxed); }

 private:
  // Slot words. The tag holds the key's high 63 bits with bit 63 set, so no key tag is 0
  // (empty) or 1 (an empty slot frozen by a migration).
  static constexpr std::uint64_t kEmpty = 0;
  static constexpr std::uint64_t kFrozenEmpty = 1;
  static constexpr std::uint64_t kPublished = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kFrozen = std::uint64_t{1} << 62;
  // Key bits kept beside the value. With the tag's 63 a slot keeps 85 bits of its key, so K
  // keys in one table collide with probability about K^2 / 2^86: 3.2e-11 for the 50M dedupe
  // keys of a period at design capacity (docs/DEDUPE_TABLE.md, "False duplicates").
  static constexpr unsigned kLowKeyBits = 22;
  static constexpr std::uint64_t kLowKeyMask = ((std::uint64_t{1} << kLowKeyBits) - 1)
                                               << kValueBits;
  // Inserts counted per thread before they are added to the shared count.
  static constexpr std::uint64_t kCountBatch = 16;

  // Plain words accessed only through std::atomic_ref (tag_of_slot, word_of_slot), so that an
  // array is fresh zeroed pages from the kernel (all slots empty) with nothing to construct.
  struct Slot {
    std::uint64_t tag;
    std::uint64_t word;
  };
  static_assert(sizeof(Slot) == 16, "a dedupe key costs 16 bytes of slot");
  static std::atomic_ref<std::uint64_t> tag_ref(Slot& slot) {
    return std::atomic_ref<std::uint64_t>(slot.tag);
  }
  static std::atomic_ref<std::uint64_t> word_ref(Slot& slot) {
    return std::atomic_ref<std::uint64_t>(slot.word);
  }
  // Zeroed, page-aligned slot memory; large arrays ask for transparent huge pages, since a
  // probe into a table of hundreds of megabytes would otherwise also miss the TLB.
  struct SlotMemory {
    void operator()(Slot* slots) const;
    std::uint64_t bytes = 0;
  };
  static std::unique_ptr<Slot[], SlotMemory> allocate_slots(std::uint64_t count);

  struct alignas(internal::kCacheLine) CountShard {
    std::atomic<std::uint64_t> unflushed{0};
  };

  struct Array;
  // An array of `capacity` slots ordered from the background work, shared by the array that
  // ordered it and the job; the last of the two to let go frees it (and the made array,
  // unless a growth took it).
  struct Order {
    // queued -> making (the background thread started it) -> done (made, or failed), or
    // queued -> cancelled (a growth could not wait: it makes its own array in line).
    enum State : int { kQueued, kMaking, kDone, kCancelled };
    explicit Order(std::uint64_t slots) : capacity(slots) {}
    ~Order();
    const std::uint64_t capacity;
    std::atomic<int> state{kQueued};
    // Set by the background thread, with its pages mapped, before `state` becomes done
    // (null if it failed); taken once by the growth.
    std::atomic<Array*> made{nullptr};
    std::atomic<int> owners{2};
  };
  // Lets go of `order` for one of its two owners.
  static void drop(Order* order);
  // The background work's job: makes the order's array (unless the table let go or a growth
  // cancelled it), then lets go of the order.
  static void make_ordered_array(Order* order);

  // One slot array and its migration state.
  struct Array {
    explicit Array(std::uint64_t capacity);
    ~Array();
    std::uint64_t capacity;
    std::uint64_t grow_at;       // shared count at which the next array is ordered (kMaxLoad)
    std::uint64_t must_grow_at;  // ... and past which inserts stop waiting for it
    std::unique_ptr<Slot[], SlotMemory> slots;
    std::unique_ptr<CountShard[]> shards;  // one per thread record
    alignas(internal::kCacheLine) std::atomic<std::uint64_t> count{0};
    // Migration out of this array: the larger array, the next chunk to move, chunks moved.
    alignas(internal::kCacheLine) std::atomic<Array*> next{nullptr};
    std::atomic<std::uint64_t> next_chunk{0};
    std::atomic<std::uint64_t> chunks_done{0};
    // The next array ordered from the background thread, set once (large arrays only).
    std::atomic<Order*> order{nullptr};
  };
  static constexpr std::uint64_t kChunkSlots = 4096;

  enum class Probe {
    done,       // finished in this array
    done_grow,  // finished by an insert that crossed the load limit: grow next
    migrating,  // this array is being (or must be) replaced: help, then retry
  };

  static std::uint64_t tag_of(Key128 key) { return key.hi | kPublished; }
  // The key's top 22 low-half bits, in place beside the value.
  static std::uint64_t low_bits_of(Key128 key) { return (key.lo >> 2) & kLowKeyMask; }
  // A key's first slot, from its tag alone so that a migration can recompute it. Multiply-shift
  // maps the tag's 63 key bits onto [0, capacity) without a power-of-two size.
  static std::uint64_t home_of(const Array& array, std::uint64_t tag) {
    return static_cast<std::uint64_t>((static_cast<Uint128>(tag << 1) * array.capacity) >> 64);
  }
  // The slot's word; waits out the few instructions between an insert's tag CAS and its
  // word store. Acquire pairs with the inserter's release store of the word.
  static std::uint64_t await_word(Slot& slot) {
    const std::uint64_t word = word_ref(slot).load(std::memory_order_acquire);
    return word != 0 ? word : await_word_slow(slot);
  }
  static std::uint64_t await_word_slow(Slot& slot);

  template <typename Step>
  Probe try_update(Array& array, Key128 key, Step& step, TableUpdate& out);
  Probe try_find(Array& array, Key128 key, std::optional<std::uint64_t>& out) const;

  // Counts one insert in `array`; true when the table should grow.
  bool count_insert(Array& array);
  // After an insert that found `array` at or past kMaxLoad: a large array orders its next
  // one and keeps taking inserts until it is made (or kMaxLoadWaiting is reached); then, or
  // for a small array at once, grow().
  // REQUIRES: `array` protected by this thread; it may be freed when this returns, and this
  // thread's table hazard is cleared.
  void past_load_limit(Array& array);
  // The background thread's array for `array`, taken (owned by the caller): waits for one
  // it is making, cancels one it has not started. nullptr when there is none to take.
  static Array* take_made(Array& array);
  // Starts a growth of `array` if none is running, then helps finish it.
  // REQUIRES: `array` protected by this thread; it may be freed when this returns.
  void grow(Array& array);
  // Moves chunks of `array` into array.next until none is left, then waits until the new
  // array is live (publishing it and freeing `array` if this thread moved the last chunk).
  // REQUIRES: `array` protected by this thread; it may be freed when this returns, and this
  // thread's table hazard is cleared.
  void help_migrate(Array& array);
  void migrate_chunk(Array& from, Array& to, std::uint64_t chunk);
  static std::uint64_t place_migrated(Array& to, std::uint64_t tag, std::uint64_t word);

  // Mutable: const readers publish it in their hazard slot and may help a growth.
  mutable std::atomic<Array*> live_;
  std::atomic<std::uint64_t> growths_{0};
  std::atomic<std::uint64_t>* const growth_count_;
  BackgroundWork* const background_;
};

template <typename Step>
TableUpdate KeyTable::update(Key128 key, Step&& step) {
  TableUpdate out;
  for (;;) {
    Array* array = internal::protect(live_, internal::kSlotTableArray);
    const Probe probe = try_update(*array, key, step, out);
    if (probe == Probe::done) {
      internal::clear_hazard(internal::kSlotTableArray);
      return out;
    }
    if (probe == Probe::done_grow) {
      past_load_limit(*array);  // `array` may be gone from here on
      return out;
    }
    grow(*array);  // `array` may be gone from here on
  }
}

template <typename Step>
KeyTable::Probe KeyTable::try_update(Array& array, Key128 key, Step& step, TableUpdate& out) {
  const std::uint64_t tag = tag_of(key);
  const std::uint64_t low = low_bits_of(key);
  std::uint64_t index = home_of(array, tag);
  for (std::uint64_t probes = 0; probes < array.capacity; ++probes) {
    Slot& slot = array.slots[index];
    // Acquire pairs with the inserting CAS (release) so that a later word load sees at least
    // the state that insert left; the word itself carries the value.
    std::uint64_t seen_tag = tag_ref(slot).load(std::memory_order_acquire);
    if (seen_tag == kEmpty) {
      const std::optional<std::uint64_t> inserted = step(std::nullopt);
      if (!inserted) {
        out = {std::nullopt, false};
        return Probe::done;
      }
      if (array.next.load(std::memory_order_acquire) != nullptr) return Probe::migrating;
      // acq_rel: release publishes nothing yet (the word follows), acquire lets a loser see
      // the winner's tag before comparing it below.
      if (tag_ref(slot).compare_exchange_strong(seen_tag, tag, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
        // Release pairs with await_word()'s acquire in readers and in migrate_chunk(): a
        // thread that sees this word sees the slot fully owned by this key.
        word_ref(slot).store(kPublished | low | *inserted, std::memory_order_release);
        out = {std::nullopt, true};
        return count_insert(array) ? Probe::done_grow : Probe::done;
      }
      // Lost the slot: seen_tag now holds the winner's tag; judge it like any other below.
    }
    if (seen_tag == kFrozenEmpty) return Probe::migrating;
    if (seen_tag == tag) {
      std::uint64_t word = await_word(slot);
      if ((word & kLowKeyMask) == low) {
        for (;;) {
          if (word & kFrozen) return Probe::migrating;
          const std::uint64_t current = word & kValueMask;
          const std::optional<std::uint64_t> replacement = step(current);
          if (!replacement) {
            out = {current, false};
            return Probe::done;
          }
          // acq_rel: release orders this thread's earlier writes before the new value for a
          // reader that acquires it; acquire on failure lets us re-judge the newer word.
          if (word_ref(slot).compare_exchange_weak(word, (word & ~kValueMask) | *replacement,
                                                   std::memory_order_acq_rel,
                                                   std::memory_order_acquire)) {
            out = {current, true};
            return Probe::done;
          }
        }
      }
    }
    index = index + 1 == array.capacity ? 0 : index + 1;
  }
  // Every slot holds another key: impossible below kMaxLoad, but growing is the safe answer.
  return Probe::migrating;
}

inline bool KeyTable::count_insert(Array& array) {
  // Only this thread writes its shard, so a relaxed load and store suffice; the shared count
  // is an estimate that only decides when to grow (never what is stored).
  std::atomic<std::uint64_t>& mine = array.shards[internal::this_thread_index()].unflushed;
  const std::uint64_t pending = mine.load(std::memory_order_relaxed) + 1;
  if (pending < kCountBatch) {
    mine.store(pending, std::memory_order_relaxed);
    return false;
  }
  mine.store(0, std::memory_order_relaxed);
  const std::uint64_t total = array.count.fetch_add(pending, std::memory_order_relaxed) + pending;
  return total >= array.grow_at;
}

// Lookups are inline: the duplicate probe is the hottest path under a brushing attack.
inline KeyTable::Probe KeyTable::try_find(Array& array, Key128 key,
                                          std::optional<std::uint64_t>& out) const {
  const std::uint64_t tag = tag_of(key);
  const std::uint64_t low = low_bits_of(key);
  std::uint64_t index = home_of(array, tag);
  for (std::uint64_t probes = 0; probes < array.capacity; ++probes) {
    Slot& slot = array.slots[index];
    const std::uint64_t seen_tag = tag_ref(slot).load(std::memory_order_acquire);
    if (seen_tag == kEmpty) {
      out = std::nullopt;
      return Probe::done;
    }
    if (seen_tag == kFrozenEmpty) return Probe::migrating;
    if (seen_tag == tag) {
      const std::uint64_t word = await_word(slot);
      if ((word & kLowKeyMask) == low) {
        // A frozen word's value is final and already copied: reading it here is as good as
        // reading the copy.
        out = word & kValueMask;
        return Probe::done;
      }
    }
    index = index + 1 == array.capacity ? 0 : index + 1;
  }
  out = std::nullopt;
  return Probe::done;
}

inline std::optional<std::uint64_t> KeyTable::find(Key128 key) const {
  auto& self = const_cast<KeyTable&>(*this);  // helping a migration mutates shared state
  for (;;) {
    Array* array = internal::protect(live_, internal::kSlotTableArray);
    std::optional<std::uint64_t> out;
    if (try_find(*array, key, out) == Probe::done) {
      internal::clear_hazard(internal::kSlotTableArray);
      return out;
    }
    self.help_migrate(*array);
  }
}

}  // namespace tally::engine
