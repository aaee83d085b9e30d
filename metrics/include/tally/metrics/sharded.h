// Sharded counters and histograms for the vote path: each thread adds to its own cache line,
// and a scrape folds the shards. No lock and no shared atomic<double> per vote (prometheus-cpp
// 1.0.1's Counter CASes one shared double and its Histogram takes a mutex: DESIGN.md "Notes
// on the stack").
//
// Thread safety: add()/observe() are safe from any thread and lock-free; value()/snapshot()
// are safe from any thread at any time. A thread is given a shard on its first use (round
// robin over kShards); with more threads than shards, threads share a shard, which stays
// correct because every increment is an atomic fetch_add.
//
// Memory ordering: every access is relaxed. The counters order nothing else (no reader infers
// anything about other memory from them), and a scrape that misses an increment in flight
// reports it at the next scrape: each shard is monotonic, so a fold is never below an earlier
// fold of the same counter.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tally::metrics {

inline constexpr std::size_t kCacheLine = 64;
// Shards per counter: enough for the io threads of one machine to rarely share.
inline constexpr std::size_t kShards = 16;
// Most finite bucket bounds of a ShardedHistogram.
inline constexpr std::size_t kMaxHistogramBounds = 24;

// This thread's shard, assigned on first call.
std::size_t this_thread_shard();

// A monotonic counter of kShards padded cells.
class ShardedCounter {
 public:
  void add(std::uint64_t n = 1) {
    // relaxed: a statistic; see the header comment.
    cells_[this_thread_shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // The sum over shards.
  std::uint64_t value() const;

 private:
  struct alignas(kCacheLine) Cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Cell, kShards> cells_;
};

// The folded state of a histogram, in Prometheus' shape: per bucket the count of
// observations at or below its upper bound (cumulative), the last bucket being +Inf.
struct HistogramSnapshot {
  std::vector<double> upper_bounds_seconds;      // finite bounds, ascending; +Inf implied
  std::vector<std::uint64_t> cumulative_counts;  // size() == upper_bounds_seconds.size() + 1
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

// A latency histogram with fixed bucket bounds; each shard keeps its own bucket counts and a
// nanosecond sum, so observe() is two relaxed fetch_adds on the caller's own cache lines.
class ShardedHistogram {
 public:
  // `upper_bounds_seconds`: ascending, at most kMaxHistogramBounds (more are dropped).
  explicit ShardedHistogram(std::span<const double> upper_bounds_seconds);

  void observe(std::chrono::nanoseconds latency) {
    const std::uint64_t ns = latency.count() > 0 ? static_cast<std::uint64_t>(latency.count()) : 0;
    std::size_t bucket = 0;
    while (bucket < bound_count_ && ns > bounds_ns_[bucket]) ++bucket;
    Shard& shard = shards_[this_thread_shard()];
    // relaxed: statistics; see the header comment.
    shard.counts[bucket].fetch_add(1, std::memory_order_relaxed);
    shard.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }

  // The fold over shards. The count is the sum of the buckets, so the +Inf bucket always
  // equals `count`, even while observations race with the fold.
  HistogramSnapshot snapshot() const;

 private:
  struct alignas(kCacheLine) Shard {
    std::array<std::atomic<std::uint64_t>, kMaxHistogramBounds + 1> counts{};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::size_t bound_count_ = 0;
  std::array<std::uint64_t, kMaxHistogramBounds> bounds_ns_{};
  std::vector<double> bounds_seconds_;
  std::array<Shard, kShards> shards_;
};

// Bounds for request latency: 50 µs to 10 s.
inline constexpr std::array<double, 17> kLatencyBoundsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};

}  // namespace tally::metrics
