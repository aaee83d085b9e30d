// Seeds and well-spread numbers for randomized tests: a failure prints the seed that
// reproduces it (TALLY_TEST_SEED=N reruns it).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace tally::testing {

// TALLY_TEST_SEED when set, else a random seed; printed either way.
inline std::uint64_t test_seed() {
  const char* env = std::getenv("TALLY_TEST_SEED");
  const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("TALLY_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

// splitmix64's finalizer of x + the golden gamma: distinct, well-spread values for n = 0, 1, ...
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace tally::testing
