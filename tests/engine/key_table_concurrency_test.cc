// Property: with many threads inserting and updating the same and different keys while the
// table grows from its smallest size, every key has exactly one winning insert, counters
// incremented with update() end exact, and nothing is lost or duplicated by a growth.
// Run under TSan in CI (label `concurrency`). The seed is printed so a failure can be rerun.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "key_table.h"
#include "manual_background.h"
#include "seed.h"

namespace tally::engine {
namespace {

Key128 key_number(std::uint64_t n, std::uint64_t seed) {
  return {testing::splitmix64(n ^ seed), testing::splitmix64(n + 0x51ed27ULL + seed)};
}

constexpr int kThreads = 8;

TEST(KeyTableConcurrency, ConcurrentInsertsOfSameKeyHaveOneWinnerAcrossGrowth) {
  const std::uint64_t seed = testing::test_seed();
  KeyTable table(0);
  constexpr std::uint64_t kKeys = 60'000;
  std::vector<std::vector<std::uint64_t>> won(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      // Every thread inserts every key, each in its own order, with its id as the value.
      std::mt19937_64 rng(seed + t);
      std::uint64_t offset = rng() % kKeys;
      for (std::uint64_t i = 0; i < kKeys; ++i) {
        const std::uint64_t n = (i + offset) % kKeys;
        const TableUpdate update =
            table.update(key_number(n, seed),
                         [t](std::optional<std::uint64_t> now) -> std::optional<std::uint64_t> {
                           if (now) return std::nullopt;
                           return static_cast<std::uint64_t>(t + 1);
                         });
        if (update.changed) won[t].push_back(n);
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& thread : threads) thread.join();

  std::vector<int> winners(kKeys, 0);
  for (int t = 0; t < kThreads; ++t) {
    for (std::uint64_t n : won[t]) {
      ++winners[n];
      ASSERT_EQ(table.find(key_number(n, seed)), static_cast<std::uint64_t>(t + 1));
    }
  }
  for (std::uint64_t n = 0; n < kKeys; ++n) ASSERT_EQ(winners[n], 1) << "key " << n;
  EXPECT_GT(table.growths(), 3u);
  EXPECT_EQ(table.size(), kKeys);
}

TEST(KeyTableConcurrency, CountersNeverExceedTheirLimitAndEndExact) {
  const std::uint64_t seed = testing::test_seed();
  KeyTable table(0);
  constexpr std::uint64_t kKeys = 4'000;
  constexpr std::uint64_t kLimit = 5;
  constexpr int kAttemptsPerThread = 6;  // kThreads * 6 attempts per key, only kLimit succeed
  std::atomic<std::uint64_t> successes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      std::uint64_t local = 0;
      for (int round = 0; round < kAttemptsPerThread; ++round) {
        for (std::uint64_t i = 0; i < kKeys; ++i) {
          const std::uint64_t n = (i * 7919 + rng() % 3) % kKeys;
          const TableUpdate update =
              table.update(key_number(n, seed),
                           [](std::optional<std::uint64_t> now) -> std::optional<std::uint64_t> {
                             const std::uint64_t count = now.value_or(0);
                             if (count >= kLimit) return std::nullopt;
                             return count + 1;
                           });
          if (update.changed) ++local;
        }
      }
      successes.fetch_add(local, std::memory_order_relaxed);
    });
  }
  for (auto& thread : threads) thread.join();
  std::uint64_t total = 0;
  for (std::uint64_t n = 0; n < kKeys; ++n) {
    const std::optional<std::uint64_t> count = table.find(key_number(n, seed));
    ASSERT_TRUE(count.has_value());
    ASSERT_LE(*count, kLimit);
    total += *count;
  }
  EXPECT_EQ(total, successes.load());
}

TEST(KeyTableConcurrency, ReadersSeeEveryCompletedInsertWhileTableGrows) {
  const std::uint64_t seed = testing::test_seed();
  KeyTable table(0);
  constexpr std::uint64_t kKeys = 100'000;
  std::atomic<std::uint64_t> inserted{0};  // keys [0, inserted) are all in the table
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (std::uint64_t n = 0; n < kKeys; ++n) {
      table.update(key_number(n, seed),
                   [n](std::optional<std::uint64_t> now) -> std::optional<std::uint64_t> {
                     if (now) return std::nullopt;
                     return n + 1;
                   });
      // Release pairs with the readers' acquire: key n is in before they may look for it.
      inserted.store(n + 1, std::memory_order_release);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(seed + 100 + t);
      while (inserted.load(std::memory_order_acquire) < kKeys && !failed.load()) {
        const std::uint64_t limit = inserted.load(std::memory_order_acquire);
        if (limit == 0) continue;
        const std::uint64_t n = rng() % limit;
        if (table.find(key_number(n, seed)) != n + 1) failed.store(true);
      }
    });
  }
  writer.join();
  for (auto& reader : readers) reader.join();
  EXPECT_FALSE(failed.load());
  EXPECT_GT(table.growths(), 3u);
}

TEST(KeyTableConcurrency, GrowthsIntoArraysMadeAheadOrInLineLoseNothing) {
  const std::uint64_t seed = testing::test_seed();
  testing::ManualBackground background;
  KeyTable table(0, nullptr, &background);
  constexpr std::uint64_t kKeys = 400'000;  // several large arrays: 65,536 slots and up
  std::atomic<bool> inserting{true};
  // Makes the ordered arrays at random moments, so that growths race both the made arrays and
  // the in-line ones of inserts at the waiting limit; and grows into made arrays from outside,
  // as table preparation does, racing the inserts that take them.
  std::thread holder([&] {
    std::mt19937_64 rng(seed + 7);
    while (inserting.load(std::memory_order_relaxed)) {
      if (rng() % 2 == 0) background.run_all();
      if (rng() % 2 == 0) table.grow_into_made_array();
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t n = t; n < kKeys; n += kThreads) {
        table.update(key_number(n, seed),
                     [n](std::optional<std::uint64_t> now) -> std::optional<std::uint64_t> {
                       if (now) return std::nullopt;
                       return n + 1;
                     });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  inserting.store(false, std::memory_order_relaxed);
  holder.join();
  for (std::uint64_t n = 0; n < kKeys; ++n) ASSERT_EQ(table.find(key_number(n, seed)), n + 1);
  EXPECT_EQ(table.size(), kKeys);
  EXPECT_GT(table.growths(), 8u);
}

}  // namespace
}  // namespace tally::engine
