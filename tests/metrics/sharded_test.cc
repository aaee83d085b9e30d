// Unit tests of the sharded counters and histogram: folds are exact once writers stop, and
// the histogram's buckets are cumulative with +Inf equal to the count.
//
// Concurrency property: N threads each adding K to one counter (and observing K latencies)
// fold to exactly N*K, whichever shards the threads were given.
#include "tally/metrics/sharded.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tally::metrics {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(ShardedCounter, FoldsIncrementsFromManyThreadsExactly) {
  ShardedCounter counter;
  constexpr int kThreads = 24;  // more than kShards: some threads share a shard
  constexpr int kPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) counter.add();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), std::uint64_t{kThreads} * kPerThread);
}

TEST(ShardedCounter, AddsArbitraryAmounts) {
  ShardedCounter counter;
  counter.add(5);
  counter.add(0);
  counter.add(37);
  EXPECT_EQ(counter.value(), 42u);
}

TEST(ShardedCounter, CellsAreOnTheirOwnCacheLines) {
  EXPECT_GE(sizeof(ShardedCounter), kShards * kCacheLine);
  EXPECT_EQ(alignof(ShardedCounter), kCacheLine);
}

TEST(ShardedHistogram, BucketsAreCumulativeAndInfEqualsCount) {
  constexpr std::array<double, 3> kBounds = {0.001, 0.01, 0.1};
  ShardedHistogram histogram(kBounds);
  histogram.observe(microseconds(500));  // <= 1 ms
  histogram.observe(milliseconds(1));    // exactly on a bound: in that bucket
  histogram.observe(milliseconds(5));    // <= 10 ms
  histogram.observe(milliseconds(500));  // +Inf
  const HistogramSnapshot snapshot = histogram.snapshot();
  ASSERT_EQ(snapshot.upper_bounds_seconds.size(), 3u);
  ASSERT_EQ(snapshot.cumulative_counts.size(), 4u);
  EXPECT_EQ(snapshot.cumulative_counts[0], 2u);
  EXPECT_EQ(snapshot.cumulative_counts[1], 3u);
  EXPECT_EQ(snapshot.cumulative_counts[2], 3u);
  EXPECT_EQ(snapshot.cumulative_counts[3], 4u);
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_NEAR(snapshot.sum_seconds, 0.5065, 1e-9);
}

TEST(ShardedHistogram, NegativeDurationsCountAsZero) {
  constexpr std::array<double, 1> kBounds = {0.001};
  ShardedHistogram histogram(kBounds);
  histogram.observe(std::chrono::nanoseconds(-5));
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative_counts[0], 1u);
  EXPECT_EQ(snapshot.sum_seconds, 0.0);
}

TEST(ShardedHistogram, FoldsObservationsFromManyThreadsExactly) {
  ShardedHistogram histogram(kLatencyBoundsSeconds);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) histogram.observe(microseconds(1 + (i + t) % 3000));
    });
  }
  for (auto& thread : threads) thread.join();
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(snapshot.cumulative_counts.back(), snapshot.count);
  for (std::size_t i = 1; i < snapshot.cumulative_counts.size(); ++i) {
    EXPECT_LE(snapshot.cumulative_counts[i - 1], snapshot.cumulative_counts[i]);
  }
  // Every observation is at most 3 ms.
  EXPECT_EQ(snapshot.cumulative_counts[6], snapshot.count);  // bound 0.005
}

TEST(ShardedHistogram, KeepsAtMostTheMaximumNumberOfBounds) {
  std::vector<double> bounds;
  for (std::size_t i = 0; i < kMaxHistogramBounds + 5; ++i) bounds.push_back(0.001 * (i + 1));
  ShardedHistogram histogram(bounds);
  histogram.observe(std::chrono::seconds(100));
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.upper_bounds_seconds.size(), kMaxHistogramBounds);
  EXPECT_EQ(snapshot.cumulative_counts.back(), 1u);
}

}  // namespace
}  // namespace tally::metrics
