#include "key_table.h"

#include <gtest/gtest.h>

#include <random>

#include "manual_background.h"
#include "seed.h"

namespace tally::engine {
namespace {

Key128 key_number(std::uint64_t n) {
  // Distinct, well-spread keys without hashing: splitmix64 of n for each half.
  return {testing::splitmix64(n), testing::splitmix64(n ^ 0xabcdefULL)};
}

std::optional<std::uint64_t> insert_value(std::uint64_t value, std::optional<std::uint64_t> now) {
  if (now) return std::nullopt;
  return value;
}

TEST(KeyTable, FindsWhatWasInsertedAndNothingElse) {
  KeyTable table(100);
  for (std::uint64_t i = 0; i < 100; ++i) {
    const TableUpdate update =
        table.update(key_number(i), [i](auto now) { return insert_value(i + 7, now); });
    EXPECT_TRUE(update.changed);
    EXPECT_FALSE(update.before.has_value());
  }
  for (std::uint64_t i = 0; i < 100; ++i) EXPECT_EQ(table.find(key_number(i)), i + 7);
  for (std::uint64_t i = 100; i < 200; ++i) EXPECT_FALSE(table.find(key_number(i)).has_value());
}

TEST(KeyTable, SecondInsertOfSameKeySeesTheFirstValue) {
  KeyTable table(10);
  EXPECT_TRUE(table.update(key_number(1), [](auto now) { return insert_value(5, now); }).changed);
  const TableUpdate again =
      table.update(key_number(1), [](auto now) { return insert_value(6, now); });
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.before, 5u);
  EXPECT_EQ(table.find(key_number(1)), 5u);
}

TEST(KeyTable, UpdateReplacesTheValueOfAPresentKey) {
  KeyTable table(10);
  table.update(key_number(3), [](auto now) { return insert_value(1, now); });
  const TableUpdate update = table.update(
      key_number(3), [](std::optional<std::uint64_t> now) -> std::optional<std::uint64_t> {
        return now.value_or(0) + 41;
      });
  EXPECT_TRUE(update.changed);
  EXPECT_EQ(update.before, 1u);
  EXPECT_EQ(table.find(key_number(3)), 42u);
}

TEST(KeyTable, StepThatDeclinesLeavesAbsentKeyAbsent) {
  KeyTable table(10);
  const TableUpdate update = table.update(
      key_number(9),
      [](std::optional<std::uint64_t>) -> std::optional<std::uint64_t> { return std::nullopt; });
  EXPECT_FALSE(update.changed);
  EXPECT_FALSE(table.find(key_number(9)).has_value());
  EXPECT_EQ(table.size(), 0u);
}

TEST(KeyTable, KeysDifferingOnlyInLowHalfAreDistinct) {
  KeyTable table(10);
  const Key128 a{0x1234, std::uint64_t{1} << 63};
  const Key128 b{0x1234, std::uint64_t{1} << 62};
  table.update(a, [](auto now) { return insert_value(1, now); });
  table.update(b, [](auto now) { return insert_value(2, now); });
  EXPECT_EQ(table.find(a), 1u);
  EXPECT_EQ(table.find(b), 2u);
}

TEST(KeyTable, GrowthKeepsEveryKeyAndValue) {
  KeyTable table(0);  // starts at kMinCapacity and doubles many times
  const std::uint64_t initial_capacity = table.capacity();
  constexpr std::uint64_t kKeys = 200'000;
  for (std::uint64_t i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(
        table.update(key_number(i), [i](auto now) { return insert_value(i % 1000 + 1, now); })
            .changed);
  }
  EXPECT_GT(table.growths(), 5u);
  EXPECT_GT(table.capacity(), initial_capacity);
  // Large arrays go on past kMaxLoad while their next array is made in the background.
  EXPECT_LE(static_cast<double>(kKeys) / static_cast<double>(table.capacity()),
            KeyTable::kMaxLoadWaiting);
  for (std::uint64_t i = 0; i < kKeys; ++i) ASSERT_EQ(table.find(key_number(i)), i % 1000 + 1);
  EXPECT_EQ(table.size(), kKeys);
}

void insert_keys(KeyTable& table, std::uint64_t begin, std::uint64_t end) {
  for (std::uint64_t i = begin; i < end; ++i) {
    ASSERT_TRUE(
        table.update(key_number(i), [i](auto now) { return insert_value(i + 1, now); }).changed);
  }
}

TEST(KeyTable, LargeTablePastItsLoadLimitTakesInsertsUntilItsNextArrayIsMade) {
  testing::ManualBackground background;
  KeyTable table(100'000, nullptr, &background);
  const std::uint64_t capacity = table.capacity();
  ASSERT_GE(capacity, KeyTable::kOrderAheadCapacity);
  const auto load_of = [&](double load) {
    return static_cast<std::uint64_t>(static_cast<double>(capacity) * load);
  };
  const std::uint64_t slot_bytes = capacity * 16;
  std::uint64_t inserted = load_of(KeyTable::kMaxLoadWaiting) - 64;
  insert_keys(table, 0, inserted);
  // Past kMaxLoad, short of the waiting limit: no growth yet, the next array is ordered
  // (and counted in bytes()).
  EXPECT_EQ(table.growths(), 0u);
  EXPECT_EQ(table.capacity(), capacity);
  EXPECT_GE(table.bytes(), 3 * slot_bytes);
  EXPECT_EQ(background.pending(), 1u);
  // Once the background work has made it, the next inserts grow into it (the first whose
  // count reaches the shared one: counts are added in batches of kCountBatch).
  EXPECT_EQ(background.run_all(), 1u);
  while (table.growths() == 0 && inserted < load_of(KeyTable::kMaxLoadWaiting)) {
    insert_keys(table, inserted, inserted + 1);
    ++inserted;
  }
  EXPECT_EQ(table.growths(), 1u);
  EXPECT_EQ(table.capacity(), 2 * capacity);
  EXPECT_LT(inserted, load_of(KeyTable::kMaxLoadWaiting));
  for (std::uint64_t i = 0; i < inserted; ++i) ASSERT_EQ(table.find(key_number(i)), i + 1);
  EXPECT_EQ(table.size(), inserted);
}

TEST(KeyTable, LargeTableAtTheWaitingLimitGrowsWithoutTheBackgroundWork) {
  testing::ManualBackground background;  // never runs while the keys go in
  KeyTable table(100'000, nullptr, &background);
  const std::uint64_t capacity = table.capacity();
  const auto keys =
      static_cast<std::uint64_t>(static_cast<double>(capacity) * KeyTable::kMaxLoadWaiting) + 64;
  insert_keys(table, 0, keys);
  EXPECT_EQ(table.growths(), 1u);
  EXPECT_EQ(table.capacity(), 2 * capacity);
  for (std::uint64_t i = 0; i < keys; ++i) ASSERT_EQ(table.find(key_number(i)), i + 1);
}

TEST(KeyTable, LargeTableWithoutBackgroundWorkGrowsInLineAtItsLoadLimit) {
  KeyTable table(100'000);
  const std::uint64_t capacity = table.capacity();
  const auto keys =
      static_cast<std::uint64_t>(static_cast<double>(capacity) * KeyTable::kMaxLoad) + 64;
  insert_keys(table, 0, keys);
  EXPECT_EQ(table.growths(), 1u);
  EXPECT_EQ(table.capacity(), 2 * capacity);
  for (std::uint64_t i = 0; i < keys; ++i) ASSERT_EQ(table.find(key_number(i)), i + 1);
}

TEST(KeyTable, LargeTableWhoseInsertsStopGrowsIntoItsMadeArrayWhenAsked) {
  testing::ManualBackground background;
  KeyTable table(100'000, nullptr, &background);
  const std::uint64_t capacity = table.capacity();
  const auto load_of = [&](double load) {
    return static_cast<std::uint64_t>(static_cast<double>(capacity) * load);
  };
  const std::uint64_t slot_bytes = capacity * 16;
  // Under kMaxLoad nothing is ordered, so there is nothing to grow into.
  insert_keys(table, 0, load_of(0.5));
  EXPECT_FALSE(table.grow_into_made_array());
  // Past kMaxLoad, short of the waiting limit; then the inserts stop. (The array is made only
  // after, so that none of these inserts finds it made and grows into it.)
  const std::uint64_t keys = load_of(0.8);
  insert_keys(table, load_of(0.5), keys);
  EXPECT_EQ(table.growths(), 0u);
  EXPECT_GE(table.bytes(), 3 * slot_bytes);
  EXPECT_FALSE(table.grow_into_made_array());  // ordered, not made yet
  EXPECT_EQ(background.run_all(), 1u);
  EXPECT_TRUE(table.grow_into_made_array());
  EXPECT_EQ(table.growths(), 1u);
  EXPECT_EQ(table.capacity(), 2 * capacity);
  EXPECT_LT(table.bytes(), 3 * slot_bytes);  // the old array is freed
  EXPECT_FALSE(table.grow_into_made_array());
  for (std::uint64_t i = 0; i < keys; ++i) ASSERT_EQ(table.find(key_number(i)), i + 1);
  EXPECT_EQ(table.size(), keys);
}

TEST(KeyTable, SizedTableDoesNotGrowUpToItsExpectedKeys) {
  constexpr std::uint64_t kKeys = 50'000;
  KeyTable table(kKeys);
  for (std::uint64_t i = 0; i < kKeys; ++i) {
    table.update(key_number(i), [](auto now) { return insert_value(1, now); });
  }
  EXPECT_EQ(table.growths(), 0u);
  // 16-byte slots at the maximum load: at most 16 / 0.75 bytes per key, plus fixed overhead.
  EXPECT_LE(table.bytes(), static_cast<std::uint64_t>(kKeys * 16 / KeyTable::kMaxLoad) + 64 * 1024);
}

TEST(KeyTable, LargestValueRoundTrips) {
  KeyTable table(1);
  table.update(key_number(1), [](auto now) { return insert_value(KeyTable::kValueMask, now); });
  EXPECT_EQ(table.find(key_number(1)), KeyTable::kValueMask);
}

}  // namespace
}  // namespace tally::engine
