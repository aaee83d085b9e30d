#include "tally/loadtest/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tally::loadtest {

// Layout: bucket b < kSubBucketCount holds exactly the value b. A larger value with its
// highest set bit at position m (m >= kSubBucketBits) has shift s = m - kSubBucketBits + 1;
// value >> s lies in [kHalfCount, kSubBucketCount) and picks one of the kHalfCount buckets of
// that power of two.
std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
  if (value < kSubBucketCount) return static_cast<std::size_t>(value);
  const int top_bit = 63 - std::countl_zero(value);
  const int shift = top_bit - kSubBucketBits + 1;
  const std::uint64_t sub = value >> shift;  // in [kHalfCount, kSubBucketCount)
  return static_cast<std::size_t>(kSubBucketCount + (shift - 1) * kHalfCount + (sub - kHalfCount));
}

std::uint64_t LatencyHistogram::bucket_lowest(std::size_t bucket) {
  if (bucket < kSubBucketCount) return bucket;
  const std::size_t above = bucket - kSubBucketCount;
  const int shift = static_cast<int>(above / kHalfCount) + 1;
  const std::uint64_t sub = kHalfCount + above % kHalfCount;
  return sub << shift;
}

std::uint64_t LatencyHistogram::bucket_highest(std::size_t bucket) {
  if (bucket < kSubBucketCount) return bucket;
  const std::size_t above = bucket - kSubBucketCount;
  const int shift = static_cast<int>(above / kHalfCount) + 1;
  return bucket_lowest(bucket) + ((std::uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(std::uint64_t value) {
  ++counts_[bucket_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  // The rank of the wanted value among the sorted values, 1-based, at least 1.
  const double exact_rank = std::ceil(percentile / 100.0 * static_cast<double>(count_));
  const std::uint64_t rank =
      std::clamp<std::uint64_t>(static_cast<std::uint64_t>(exact_rank), 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_highest(i), max_);
  }
  return max_;
}

}  // namespace tally::loadtest
