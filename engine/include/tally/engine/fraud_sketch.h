// Fraud sketches: the bounded, mergeable structures behind the fraud signals (fraud.h).
//
// SpaceSaving (top-K heavy hitters), WindowCounts (look-alike clusters over a sliding window,
// with their timing regularity), DeviceVoters (distinct voters per device and period) and
// MinuteCounts (per-minute rates). Each has a fixed size chosen at construction, reports its
// own bytes, and merges with another of the same geometry (DESIGN.md "Beyond one machine":
// counters add, sketches merge). Thread safety: MinuteCounts is lock-free and safe for
// concurrent use; the others are not (FraudMonitor shards them, one short mutex per shard).
// Design, bounds and error figures: docs/FRAUD.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally::engine {

// Labels kept for reports are cut to this many bytes (an IPv6 address needs 45).
inline constexpr std::size_t kMaxLabelBytes = 48;

struct HeavyHitter {
  std::string key;
  std::uint64_t votes = 0;  // estimate: never below the true count
  std::uint64_t error = 0;  // votes - error <= true count
};

// Space-Saving (Metwally et al.): the top keys of a stream with `capacity` counters. A key's
// estimate exceeds its true count by at most total()/capacity, and every key with more than
// total()/capacity occurrences is held. Not safe for concurrent use.
class SpaceSaving {
 public:
  // REQUIRES: capacity >= 1.
  explicit SpaceSaving(std::size_t capacity);

  // Counts `weight` occurrences of the key whose hash is `hash`; `label` is what reports show
  // (cut to kMaxLabelBytes). Returns the key's estimate after the update. No allocation.
  std::uint64_t add(std::uint64_t hash, std::string_view label, std::uint64_t weight = 1);
  // The key's estimate; for a key not held, the smallest counter (0 while not full).
  std::uint64_t estimate(std::uint64_t hash) const;
  // Adds `other`'s stream (the mergeable summaries rule: a key missing from one side counts
  // that side's smallest counter, as estimate and as error; the largest `capacity` remain).
  // The error bound becomes (total() + other.total()) / capacity.
  void merge(const SpaceSaving& other);
  // The n largest, by votes descending, then key.
  std::vector<HeavyHitter> top(std::size_t n) const;
  std::uint64_t total() const { return total_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return hashes_.size(); }
  std::size_t bytes() const;

 private:
  struct Entry {
    std::uint64_t count = 0;
    std::uint64_t error = 0;
    std::uint8_t label_bytes = 0;
    char label[kMaxLabelBytes] = {};
  };
  std::size_t find(std::uint64_t hash) const;  // index, or size() when absent
  std::uint64_t min_count() const;             // 0 while not full
  // The index of a counter with the smallest count, in amortized O(1). REQUIRES: full.
  std::size_t take_smallest();
  void set_label(Entry& entry, std::string_view label);

  std::size_t capacity_;
  std::vector<std::uint64_t> hashes_;  // parallel to entries_: a short linear scan finds a key
  std::vector<Entry> entries_;
  std::uint64_t total_ = 0;
  // take_smallest(): no count is below floor_; the search for one at floor_ resumes at cursor_.
  std::uint64_t floor_ = 0;
  std::size_t cursor_ = 0;
};

// Counts per key over a sliding window of window_ms, approximated by two tumbling windows
// (estimate = current + previous x the share of the previous window still inside the sliding
// one), and the regularity of the gaps between a key's events (an exponentially weighted mean
// and variance). Slots are grouped in buckets of four; a new key takes an empty or stale slot,
// else the bucket's smallest. Keys that are evicted lose their count: only small keys are,
// so thresholds well above the bucket's small keys are unaffected. Not safe for concurrent use.
class WindowCounts {
 public:
  static constexpr std::size_t kBucketSlots = 4;
  // `slots` is rounded up to a multiple of kBucketSlots (at least one bucket).
  explicit WindowCounts(std::size_t slots);

  struct Hit {
    double estimate = 0;     // events of the key in the sliding window, this one included
    double gap_cv = 1;       // coefficient of variation of the gaps (0 = clockwork)
    std::uint32_t gaps = 0;  // gaps measured (saturates)
  };
  // Counts one event of `hash` at `now_ms`. REQUIRES: window_ms > 0.
  Hit add(std::uint64_t hash, std::int64_t now_ms, std::int64_t window_ms);
  // Starts loading the bucket add(hash, ...) reads into the cache. It reads only the table's
  // address, which never changes: safe beside any call, on any thread.
  void prefetch(std::uint64_t hash) const;
  // Adds `other`'s counts (same key, same windows); timing keeps the side with more gaps.
  // REQUIRES: same slot count.
  void merge(const WindowCounts& other);
  std::size_t slots() const { return slots_.size(); }
  std::size_t bytes() const { return sizeof(*this) + slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t tag = 0;  // hash | 1; 0 = empty
    std::int64_t window = 0;
    std::uint32_t current = 0;
    std::uint32_t previous = 0;
    std::int64_t last_ms = 0;
    float gap_mean = 0;
    float gap_var = 0;
    std::uint32_t gaps = 0;
  };
  static void roll(Slot& slot, std::int64_t window);
  std::vector<Slot> slots_;
};

// Distinct voters per device and period: each tracked device holds a 128-bit linear-counting
// bitmap of its voters (exact enough at the thresholds that matter: 2..20 voters). Buckets of
// four slots; a device with one or two voters is evicted freely, one with more only with
// probability 2^-(voters-2), so multi-account phones stay. Not safe for concurrent use.
class DeviceVoters {
 public:
  static constexpr std::size_t kBucketSlots = 4;
  explicit DeviceVoters(std::size_t slots);

  // Records that voter `voter_hash` used device `device_hash` in `period`; returns the
  // device's estimated distinct voters this period (1 when the device could not be tracked).
  std::uint32_t add(std::uint64_t device_hash, std::uint64_t voter_hash, std::int64_t period);
  // As WindowCounts::prefetch(): safe beside any call, on any thread.
  void prefetch(std::uint64_t device_hash) const;
  // Union of the voter sets of the same device and period. REQUIRES: same slot count.
  void merge(const DeviceVoters& other);
  std::size_t slots() const { return slots_.size(); }
  std::size_t bytes() const { return sizeof(*this) + slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t tag = 0;  // hash | 1; 0 = empty
    std::int64_t period = 0;
    std::uint64_t bits[2] = {0, 0};
  };
  static std::uint32_t estimate(const Slot& slot);
  std::vector<Slot> slots_;
};

// Events per minute over the last kMinutes minutes. Lock-free, safe for concurrent use.
//
// Thread safety and invariants: each bucket is one atomic word, (minute << 32) | count, for
// the minute `minute` with minute % kMinutes == its index. Every access is relaxed: a bucket
// carries all its state in its own word (no other memory is published through it), and CAS
// makes "reset to a newer minute" and "count in this minute" exclusive.
class MinuteCounts {
 public:
  static constexpr std::size_t kMinutes = 64;

  // Counts one event at now_ms; returns the count of now's minute, this one included (0 when
  // now's bucket already holds a newer minute: the event is too old to count).
  std::uint32_t add(std::int64_t now_ms);
  // The count of a minute, 0 if its bucket was reused.
  std::uint32_t count(std::int64_t minute) const;
  // Adds `other`'s counts of the minutes both hold (a newer minute replaces an older one).
  // Safe for concurrent use with add() on either side.
  void merge(const MinuteCounts& other);
  std::size_t bytes() const { return sizeof(*this); }

 private:
  std::array<std::atomic<std::uint64_t>, kMinutes> buckets_{};
};

}  // namespace tally::engine
