// Shard assignment and folds of the sharded counters. See sharded.h.
#include "tally/metrics/sharded.h"

#include <algorithm>
#include <cmath>

namespace tally::metrics {

std::size_t this_thread_shard() {
  // relaxed: only uniqueness-modulo-kShards matters, nothing is published through it.
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

std::uint64_t ShardedCounter::value() const {
  std::uint64_t sum = 0;
  for (const Cell& cell : cells_) sum += cell.value.load(std::memory_order_relaxed);
  return sum;
}

ShardedHistogram::ShardedHistogram(std::span<const double> upper_bounds_seconds) {
  bound_count_ = std::min(upper_bounds_seconds.size(), kMaxHistogramBounds);
  for (std::size_t i = 0; i < bound_count_; ++i) {
    bounds_seconds_.push_back(upper_bounds_seconds[i]);
    bounds_ns_[i] = static_cast<std::uint64_t>(std::llround(upper_bounds_seconds[i] * 1e9));
  }
}

HistogramSnapshot ShardedHistogram::snapshot() const {
  HistogramSnapshot out;
  out.upper_bounds_seconds = bounds_seconds_;
  out.cumulative_counts.assign(bound_count_ + 1, 0);
  std::uint64_t sum_ns = 0;
  for (const Shard& shard : shards_) {
    for (std::size_t i = 0; i <= bound_count_; ++i) {
      out.cumulative_counts[i] += shard.counts[i].load(std::memory_order_relaxed);
    }
    sum_ns += shard.sum_ns.load(std::memory_order_relaxed);
  }
  for (std::size_t i = 1; i <= bound_count_; ++i) {
    out.cumulative_counts[i] += out.cumulative_counts[i - 1];
  }
  out.count = out.cumulative_counts.back();
  out.sum_seconds = static_cast<double>(sum_ns) / 1e9;
  return out;
}

}  // namespace tally::metrics
