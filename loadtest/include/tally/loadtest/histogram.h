// LatencyHistogram: a log-linear histogram of non-negative integers (latencies in
// nanoseconds), in the spirit of HdrHistogram. Values below 2^kSubBucketBits are exact; above,
// each power of two is split into 2^(kSubBucketBits-1) equal buckets, so a reported percentile
// is within 1/2^(kSubBucketBits-1) (0.8%) of the true value. Recording is O(1) and never
// allocates. Not safe for concurrent use: keep one per thread and merge() at the end.
#pragma once

#include <array>
#include <cstdint>

namespace tally::loadtest {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 8;
  static constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::uint64_t kHalfCount = kSubBucketCount / 2;
  // Buckets for every 64-bit value: the exact range, then 64 - kSubBucketBits + 1 halves.
  static constexpr std::size_t kBucketCount = kSubBucketCount + (64 - kSubBucketBits) * kHalfCount;

  void record(std::uint64_t value);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The smallest recorded-bucket value v such that at least `percentile`% of the values are
  // <= v, reported as the highest value of its bucket (never above max()). 0 when empty.
  // REQUIRES: 0 <= percentile <= 100.
  std::uint64_t value_at_percentile(double percentile) const;

  // Bucket arithmetic, exposed for tests.
  static std::size_t bucket_of(std::uint64_t value);
  static std::uint64_t bucket_lowest(std::size_t bucket);
  static std::uint64_t bucket_highest(std::size_t bucket);

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;  // wraps after ~584 years of summed nanoseconds
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace tally::loadtest
