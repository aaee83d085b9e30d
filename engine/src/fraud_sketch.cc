// The fraud sketches. See tally/engine/fraud_sketch.h and docs/FRAUD.md.
#include "tally/engine/fraud_sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "hazard.h"

namespace tally::engine {
namespace {

// Exponential weight of the newest gap in the timing statistics.
constexpr float kGapAlpha = 0.1f;
// Gaps counted before saturating.
constexpr std::uint32_t kMaxGaps = 1u << 30;
constexpr std::uint32_t kLinearCountingBits = 128;

std::size_t round_up_to_bucket(std::size_t slots, std::size_t bucket) {
  return std::max<std::size_t>(bucket, (slots + bucket - 1) / bucket * bucket);
}

// hash % n, without a division when n is a power of two (the default sizes).
std::size_t reduce(std::uint64_t hash, std::size_t n) {
  return static_cast<std::size_t>((n & (n - 1)) == 0 ? hash & (n - 1) : hash % n);
}

std::size_t bucket_of(std::uint64_t hash, std::size_t slot_count, std::size_t bucket) {
  return reduce(hash, slot_count / bucket) * bucket;
}

// Starts loading the cache lines of [begin, begin + bytes).
void prefetch_range(const void* begin, std::size_t bytes) {
  const auto* first = static_cast<const char*>(begin);
  for (std::size_t offset = 0; offset < bytes; offset += internal::kCacheLine) {
    __builtin_prefetch(first + offset);
  }
  __builtin_prefetch(first + bytes - 1);
}

}  // namespace

// ---- SpaceSaving ----

SpaceSaving::SpaceSaving(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
  hashes_.reserve(capacity_);
  entries_.reserve(capacity_);
}

std::size_t SpaceSaving::bytes() const {
  return sizeof(*this) + hashes_.capacity() * sizeof(std::uint64_t) +
         entries_.capacity() * sizeof(Entry);
}

std::size_t SpaceSaving::find(std::uint64_t hash) const {
  const auto it = std::find(hashes_.begin(), hashes_.end(), hash);
  return static_cast<std::size_t>(it - hashes_.begin());
}

std::uint64_t SpaceSaving::min_count() const {
  if (entries_.size() < capacity_) return 0;
  std::uint64_t smallest = entries_[0].count;
  for (const Entry& entry : entries_) smallest = std::min(smallest, entry.count);
  return smallest;
}

std::size_t SpaceSaving::take_smallest() {
  // floor_ <= every count (counts only grow), so a counter at floor_ is a smallest one. The
  // cursor goes round the counters; a lap that meets none at floor_ raises floor_ to the
  // smallest count it saw, which the next lap meets.
  const std::size_t size = entries_.size();
  while (true) {
    std::uint64_t smallest = entries_[cursor_].count;
    for (std::size_t seen = 0; seen < size; ++seen) {
      const std::size_t at = cursor_;
      cursor_ = at + 1 == size ? 0 : at + 1;
      const std::uint64_t count = entries_[at].count;
      if (count == floor_) return at;
      smallest = std::min(smallest, count);
    }
    floor_ = smallest;
  }
}

void SpaceSaving::set_label(Entry& entry, std::string_view label) {
  const std::size_t bytes = std::min(label.size(), kMaxLabelBytes);
  std::memcpy(entry.label, label.data(), bytes);
  entry.label_bytes = static_cast<std::uint8_t>(bytes);
}

std::uint64_t SpaceSaving::add(std::uint64_t hash, std::string_view label, std::uint64_t weight) {
  total_ += weight;
  if (const std::size_t at = find(hash); at < hashes_.size()) {
    entries_[at].count += weight;
    return entries_[at].count;
  }
  if (entries_.size() < capacity_) {
    hashes_.push_back(hash);  // within the reserved capacity: no allocation
    entries_.emplace_back();
    Entry& entry = entries_.back();
    entry.count = weight;
    set_label(entry, label);
    return entry.count;
  }
  // Full: the key takes over a smallest counter, whose count becomes its error.
  const std::size_t smallest = take_smallest();
  Entry& entry = entries_[smallest];
  hashes_[smallest] = hash;
  entry.error = entry.count;
  entry.count += weight;
  set_label(entry, label);
  return entry.count;
}

std::uint64_t SpaceSaving::estimate(std::uint64_t hash) const {
  const std::size_t at = find(hash);
  return at < hashes_.size() ? entries_[at].count : min_count();
}

void SpaceSaving::merge(const SpaceSaving& other) {
  const std::uint64_t own_min = min_count();
  const std::uint64_t other_min = other.min_count();
  struct Merged {
    std::uint64_t hash;
    Entry entry;
  };
  std::vector<Merged> merged;
  merged.reserve(entries_.size() + other.entries_.size());
  std::unordered_map<std::uint64_t, std::size_t> index;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry entry = entries_[i];
    entry.count += other_min;
    entry.error += other_min;
    index.emplace(hashes_[i], merged.size());
    merged.push_back({hashes_[i], entry});
  }
  for (std::size_t i = 0; i < other.entries_.size(); ++i) {
    const Entry& theirs = other.entries_[i];
    if (const auto it = index.find(other.hashes_[i]); it != index.end()) {
      Entry& ours = merged[it->second].entry;
      // Replace the stand-in (other_min) by the real counter.
      ours.count = ours.count - other_min + theirs.count;
      ours.error = ours.error - other_min + theirs.error;
    } else {
      Entry entry = theirs;
      entry.count += own_min;
      entry.error += own_min;
      merged.push_back({other.hashes_[i], entry});
    }
  }
  std::sort(merged.begin(), merged.end(), [](const Merged& a, const Merged& b) {
    return a.entry.count != b.entry.count ? a.entry.count > b.entry.count : a.hash < b.hash;
  });
  if (merged.size() > capacity_) merged.resize(capacity_);
  hashes_.clear();
  entries_.clear();
  cursor_ = 0;
  floor_ = 0;
  for (const Merged& m : merged) {
    hashes_.push_back(m.hash);
    entries_.push_back(m.entry);
  }
  total_ += other.total_;
}

std::vector<HeavyHitter> SpaceSaving::top(std::size_t n) const {
  std::vector<HeavyHitter> out;
  out.reserve(entries_.size());
  for (const Entry& entry : entries_) {
    out.push_back({std::string(entry.label, entry.label_bytes), entry.count, entry.error});
  }
  std::sort(out.begin(), out.end(), [](const HeavyHitter& a, const HeavyHitter& b) {
    return a.votes != b.votes ? a.votes > b.votes : a.key < b.key;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

// ---- WindowCounts ----

WindowCounts::WindowCounts(std::size_t slots) : slots_(round_up_to_bucket(slots, kBucketSlots)) {}

void WindowCounts::prefetch(std::uint64_t hash) const {
  prefetch_range(&slots_[bucket_of(hash >> 1, slots_.size(), kBucketSlots)],
                 kBucketSlots * sizeof(Slot));
}

void WindowCounts::roll(Slot& slot, std::int64_t window) {
  if (slot.window == window) return;
  slot.previous = slot.window == window - 1 ? slot.current : 0;
  slot.current = 0;
  slot.window = window;
}

WindowCounts::Hit WindowCounts::add(std::uint64_t hash, std::int64_t now_ms,
                                    std::int64_t window_ms) {
  const std::uint64_t tag = hash | 1;
  const std::int64_t window = now_ms / window_ms;
  const std::size_t first = bucket_of(hash >> 1, slots_.size(), kBucketSlots);
  Slot* slot = nullptr;
  Slot* spare = nullptr;
  double spare_estimate = 0;
  for (std::size_t i = first; i < first + kBucketSlots; ++i) {
    Slot& candidate = slots_[i];
    if (candidate.tag == tag) {
      slot = &candidate;
      break;
    }
    // Stale slots (nothing in the last two windows) count as empty.
    const bool stale = candidate.tag == 0 || candidate.window < window - 1;
    const double candidate_estimate =
        stale ? -1.0 : candidate.current + (candidate.window == window ? candidate.previous : 0.0);
    if (spare == nullptr || candidate_estimate < spare_estimate) {
      spare = &candidate;
      spare_estimate = candidate_estimate;
    }
  }
  if (slot == nullptr) {
    slot = spare;
    *slot = Slot{};
    slot->tag = tag;
    slot->window = window;
    slot->last_ms = now_ms;
  } else {
    roll(*slot, window);
    const std::int64_t gap_ms = now_ms - slot->last_ms;
    if (gap_ms >= 0 && gap_ms <= window_ms) {
      const float gap = static_cast<float>(gap_ms);
      if (slot->gaps == 0) {
        slot->gap_mean = gap;
        slot->gap_var = 0;
      } else {
        const float delta = gap - slot->gap_mean;
        slot->gap_mean += kGapAlpha * delta;
        slot->gap_var = (1 - kGapAlpha) * (slot->gap_var + kGapAlpha * delta * delta);
      }
      slot->gaps = std::min(slot->gaps + 1, kMaxGaps);
    } else if (gap_ms > window_ms) {
      slot->gaps = 0;  // a pause longer than the window starts a new rhythm
    }
    slot->last_ms = std::max(slot->last_ms, now_ms);
  }
  ++slot->current;
  const double elapsed = static_cast<double>(now_ms - window * window_ms) / window_ms;
  Hit hit;
  hit.estimate = slot->current + slot->previous * (1.0 - elapsed);
  hit.gaps = slot->gaps;
  hit.gap_cv = slot->gaps > 0 && slot->gap_mean > 0
                   ? std::sqrt(static_cast<double>(slot->gap_var)) / slot->gap_mean
                   : 1.0;
  return hit;
}

void WindowCounts::merge(const WindowCounts& other) {
  if (other.slots_.size() != slots_.size()) return;
  for (std::size_t first = 0; first < slots_.size(); first += kBucketSlots) {
    for (std::size_t j = first; j < first + kBucketSlots; ++j) {
      const Slot& theirs = other.slots_[j];
      if (theirs.tag == 0) continue;
      Slot* ours = nullptr;
      Slot* smallest = &slots_[first];
      for (std::size_t i = first; i < first + kBucketSlots; ++i) {
        if (slots_[i].tag == theirs.tag) ours = &slots_[i];
        if (slots_[i].current + slots_[i].previous < smallest->current + smallest->previous) {
          smallest = &slots_[i];
        }
      }
      if (ours == nullptr) {
        if (smallest->current + smallest->previous < theirs.current + theirs.previous) {
          *smallest = theirs;
        }
        continue;
      }
      // Bring both to the newer window, then add.
      Slot aligned = theirs;
      const std::int64_t window = std::max(ours->window, aligned.window);
      roll(*ours, window);
      roll(aligned, window);
      ours->current += aligned.current;
      ours->previous += aligned.previous;
      if (aligned.gaps > ours->gaps) {
        ours->gaps = aligned.gaps;
        ours->gap_mean = aligned.gap_mean;
        ours->gap_var = aligned.gap_var;
      }
      ours->last_ms = std::max(ours->last_ms, aligned.last_ms);
    }
  }
}

// ---- DeviceVoters ----

DeviceVoters::DeviceVoters(std::size_t slots) : slots_(round_up_to_bucket(slots, kBucketSlots)) {}

void DeviceVoters::prefetch(std::uint64_t device_hash) const {
  prefetch_range(&slots_[bucket_of(device_hash >> 1, slots_.size(), kBucketSlots)],
                 kBucketSlots * sizeof(Slot));
}

std::uint32_t DeviceVoters::estimate(const Slot& slot) {
  const int ones = std::popcount(slot.bits[0]) + std::popcount(slot.bits[1]);
  const int zeros = static_cast<int>(kLinearCountingBits) - ones;
  if (ones <= 1) return static_cast<std::uint32_t>(ones);
  // Linear counting; a full bitmap says "at least this many".
  const double n = zeros == 0
                       ? kLinearCountingBits * std::log(static_cast<double>(kLinearCountingBits))
                       : -static_cast<double>(kLinearCountingBits) *
                             std::log(static_cast<double>(zeros) / kLinearCountingBits);
  return static_cast<std::uint32_t>(std::lround(n));
}

std::uint32_t DeviceVoters::add(std::uint64_t device_hash, std::uint64_t voter_hash,
                                std::int64_t period) {
  const std::uint64_t tag = device_hash | 1;
  const std::size_t first = bucket_of(device_hash >> 1, slots_.size(), kBucketSlots);
  Slot* slot = nullptr;
  Slot* spare = nullptr;
  std::uint32_t spare_voters = 0;
  for (std::size_t i = first; i < first + kBucketSlots; ++i) {
    Slot& candidate = slots_[i];
    if (candidate.tag == tag && candidate.period == period) {
      slot = &candidate;
      break;
    }
    const std::uint32_t voters =
        candidate.tag == 0 || candidate.period != period ? 0 : estimate(candidate);
    if (spare == nullptr || voters < spare_voters) {
      spare = &candidate;
      spare_voters = voters;
    }
  }
  if (slot == nullptr) {
    // A device with several voters gives way only with probability 2^-(voters-2); the
    // voter hash's top bits are the coin.
    if (spare_voters > 2) {
      const std::uint32_t shift = std::min<std::uint32_t>(spare_voters - 2, 63);
      if ((voter_hash >> 1) % (std::uint64_t{1} << shift) != 0) return 1;
    }
    slot = spare;
    *slot = Slot{};
    slot->tag = tag;
    slot->period = period;
  }
  const std::uint32_t bit = static_cast<std::uint32_t>(voter_hash % kLinearCountingBits);
  slot->bits[bit / 64] |= std::uint64_t{1} << (bit % 64);
  return estimate(*slot);
}

void DeviceVoters::merge(const DeviceVoters& other) {
  if (other.slots_.size() != slots_.size()) return;
  for (std::size_t first = 0; first < slots_.size(); first += kBucketSlots) {
    for (std::size_t j = first; j < first + kBucketSlots; ++j) {
      const Slot& theirs = other.slots_[j];
      if (theirs.tag == 0) continue;
      Slot* ours = nullptr;
      Slot* smallest = &slots_[first];
      for (std::size_t i = first; i < first + kBucketSlots; ++i) {
        if (slots_[i].tag == theirs.tag && slots_[i].period == theirs.period) ours = &slots_[i];
        if (slots_[i].tag == 0 || estimate(slots_[i]) < estimate(*smallest)) smallest = &slots_[i];
      }
      if (ours != nullptr) {
        ours->bits[0] |= theirs.bits[0];
        ours->bits[1] |= theirs.bits[1];
      } else if (smallest->tag == 0 || estimate(*smallest) < estimate(theirs)) {
        *smallest = theirs;
      }
    }
  }
}

// ---- MinuteCounts ----

std::uint32_t MinuteCounts::add(std::int64_t now_ms) {
  const auto minute = static_cast<std::uint64_t>(now_ms / 60'000);
  std::atomic<std::uint64_t>& bucket = buckets_[minute % kMinutes];
  // Relaxed: see the class comment; the CAS alone decides between reset and count.
  std::uint64_t seen = bucket.load(std::memory_order_relaxed);
  while (true) {
    const std::uint64_t held = seen >> 32;
    if (held > minute) return 0;
    const std::uint64_t next = held == minute ? seen + 1 : (minute << 32) | 1;
    if (bucket.compare_exchange_weak(seen, next, std::memory_order_relaxed,
                                     std::memory_order_relaxed)) {
      return static_cast<std::uint32_t>(next & 0xffffffffu);
    }
  }
}

std::uint32_t MinuteCounts::count(std::int64_t minute) const {
  if (minute < 0) return 0;
  const auto wanted = static_cast<std::uint64_t>(minute);
  // Relaxed: a lone word, read for a statistic; an old or new value are both fine.
  const std::uint64_t seen = buckets_[wanted % kMinutes].load(std::memory_order_relaxed);
  return (seen >> 32) == wanted ? static_cast<std::uint32_t>(seen & 0xffffffffu) : 0;
}

void MinuteCounts::merge(const MinuteCounts& other) {
  for (std::size_t i = 0; i < kMinutes; ++i) {
    // Relaxed: as in add(); each bucket is merged by its own CAS.
    const std::uint64_t theirs = other.buckets_[i].load(std::memory_order_relaxed);
    if (theirs == 0) continue;
    std::uint64_t seen = buckets_[i].load(std::memory_order_relaxed);
    while (true) {
      std::uint64_t next = seen;
      if ((seen >> 32) == (theirs >> 32)) {
        next = seen + (theirs & 0xffffffffu);
      } else if ((seen >> 32) < (theirs >> 32)) {
        next = theirs;
      }
      if (next == seen || buckets_[i].compare_exchange_weak(seen, next, std::memory_order_relaxed,
                                                            std::memory_order_relaxed)) {
        break;
      }
    }
  }
}

}  // namespace tally::engine
