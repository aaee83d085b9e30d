#include "tally/loadtest/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace tally::loadtest {
namespace {

// The reference: the value of rank ceil(p/100 * n) in the sorted sample.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double percentile) {
  const auto rank = static_cast<std::size_t>(
      std::max(1.0, std::ceil(percentile / 100.0 * static_cast<double>(sorted.size()))));
  return sorted[std::min(rank, sorted.size()) - 1];
}

TEST(LatencyHistogram, BucketsCoverEveryValueContiguously) {
  EXPECT_EQ(LatencyHistogram::bucket_of(0), 0u);
  for (std::size_t b = 0; b + 1 < LatencyHistogram::kBucketCount; ++b) {
    ASSERT_EQ(LatencyHistogram::bucket_highest(b) + 1, LatencyHistogram::bucket_lowest(b + 1))
        << "bucket " << b;
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_lowest(b)), b);
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_highest(b)), b);
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(UINT64_MAX), LatencyHistogram::kBucketCount - 1);
  EXPECT_EQ(LatencyHistogram::bucket_highest(LatencyHistogram::kBucketCount - 1), UINT64_MAX);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (std::uint64_t v = 1; v <= 100; ++v) histogram.record(v);
  EXPECT_EQ(histogram.value_at_percentile(50), 50u);
  EXPECT_EQ(histogram.value_at_percentile(99), 99u);
  EXPECT_EQ(histogram.value_at_percentile(100), 100u);
  EXPECT_EQ(histogram.min(), 1u);
  EXPECT_EQ(histogram.max(), 100u);
  EXPECT_DOUBLE_EQ(histogram.mean(), 50.5);
}

TEST(LatencyHistogram, PercentilesMatchASortedArrayWithinTheBucketPrecision) {
  const std::uint64_t seed = 20230327;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  // Latency-like values: log-normal around 300 us with a long tail, in nanoseconds.
  std::lognormal_distribution<double> latency(std::log(300'000.0), 1.2);
  std::vector<std::uint64_t> values;
  LatencyHistogram histogram;
  for (int i = 0; i < 200'000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(random));
    values.push_back(v);
    histogram.record(v);
  }
  std::sort(values.begin(), values.end());
  const double precision = 1.0 / static_cast<double>(LatencyHistogram::kHalfCount);
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const auto expected = static_cast<double>(reference_percentile(values, p));
    const auto got = static_cast<double>(histogram.value_at_percentile(p));
    EXPECT_GE(got, expected) << "p" << p;  // reported as the bucket's highest value
    EXPECT_LE(got, expected * (1 + precision)) << "p" << p;
  }
  EXPECT_EQ(histogram.value_at_percentile(100), values.back());
  EXPECT_EQ(histogram.min(), values.front());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (std::uint64_t v = 1; v < 1'000'000; v = v * 3 + 1) {
    (v % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {50.0, 90.0, 99.0, 100.0}) {
    EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
  }
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
}

TEST(LatencyHistogram, EmptyHistogramReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.value_at_percentile(99), 0u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.max(), 0u);
}

}  // namespace
}  // namespace tally::loadtest
