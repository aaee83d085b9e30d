// Dedupe table benchmarks: tally's lock-free KeyTable against absl::flat_hash_set (one thread)
// and std::unordered_set behind a std::mutex, in the same binary and run.
//
// Keys are 128-bit fingerprints as the engine makes them (uniform bits), generated on the fly
// with splitmix64 so that no key array distorts memory figures. Each case reports
//   inserts_per_s   distinct keys inserted per second of wall time (all threads together)
//   bytes_per_key   the structure's own bytes / keys (KeyTable::bytes, absl's capacity)
//   rss_per_key     growth of the process's resident memory / keys, measured around the build
// Results and commands: docs/BENCHMARKS.md.
#include <absl/container/flat_hash_set.h>
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "key_table.h"

namespace {

using tally::engine::Key128;
using tally::engine::KeyTable;

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The thread that makes large tables' next arrays, as tallyd's main gives the engine one.
tally::BackgroundThread& background() {
  static tally::BackgroundThread thread("tally-arrays");
  return thread;
}

Key128 key_number(std::uint64_t n) { return {splitmix(n), splitmix(n + 0x632be59bd9b4e019ULL)}; }

struct KeyHash {
  std::size_t operator()(const Key128& key) const { return key.lo ^ key.hi; }
};

std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::optional<std::uint64_t> insert_once(std::optional<std::uint64_t> now) {
  if (now) return std::nullopt;
  return 1;
}

// Runs body(thread, begin, end) over [0, keys) split across `threads` threads.
template <typename Body>
double run_split(std::uint64_t keys, int threads, Body body) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=, &body] { body(keys * t / threads, keys * (t + 1) / threads); });
  }
  for (auto& worker : workers) worker.join();
  return seconds_since(start);
}

void report(benchmark::State& state, std::uint64_t keys, double seconds, std::uint64_t bytes,
            std::uint64_t rss_growth) {
  state.SetIterationTime(seconds);
  state.counters["inserts_per_s"] = static_cast<double>(keys) / seconds;
  state.counters["bytes_per_key"] = static_cast<double>(bytes) / static_cast<double>(keys);
  state.counters["rss_per_key"] = static_cast<double>(rss_growth) / static_cast<double>(keys);
}

// Args: keys, threads, presized (1: sized for `keys` up front; 0: grown from the minimum).
void BM_KeyTableInsert(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const bool presized = state.range(2) != 0;
  for (auto _ : state) {
    const std::uint64_t rss_before = rss_bytes();
    auto table = std::make_unique<KeyTable>(presized ? keys : 0, nullptr, &background());
    const double seconds = run_split(keys, threads, [&](std::uint64_t begin, std::uint64_t end) {
      for (std::uint64_t i = begin; i < end; ++i) table->update(key_number(i), insert_once);
    });
    report(state, keys, seconds, table->bytes(), rss_bytes() - rss_before);
    state.counters["growths"] = static_cast<double>(table->growths());
  }
}

// Pipelined: each thread prefetches the slot of the key kPrefetchDistance ahead before it
// inserts the current one, as a batch of ballots can. Same for absl below. Args: keys, threads.
constexpr std::uint64_t kPrefetchDistance = 8;

void BM_KeyTableInsertPipelined(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  for (auto _ : state) {
    const std::uint64_t rss_before = rss_bytes();
    auto table = std::make_unique<KeyTable>(keys, nullptr, &background());
    const double seconds = run_split(keys, threads, [&](std::uint64_t begin, std::uint64_t end) {
      for (std::uint64_t i = begin; i < end; ++i) {
        if (i + kPrefetchDistance < end) table->prefetch(key_number(i + kPrefetchDistance));
        table->update(key_number(i), insert_once);
      }
    });
    report(state, keys, seconds, table->bytes(), rss_bytes() - rss_before);
  }
}

void BM_AbslInsertPipelined(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    const std::uint64_t rss_before = rss_bytes();
    auto set = std::make_unique<absl::flat_hash_set<Key128, KeyHash>>();
    set->reserve(keys);
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < keys; ++i) {
      if (i + kPrefetchDistance < keys) set->prefetch(key_number(i + kPrefetchDistance));
      set->insert(key_number(i));
    }
    const double seconds = seconds_since(start);
    report(state, keys, seconds, set->capacity() * (sizeof(Key128) + 1) + 16,
           rss_bytes() - rss_before);
  }
}

void BM_AbslInsert(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  const bool presized = state.range(2) != 0;
  for (auto _ : state) {
    const std::uint64_t rss_before = rss_bytes();
    auto set = std::make_unique<absl::flat_hash_set<Key128, KeyHash>>();
    if (presized) set->reserve(keys);
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < keys; ++i) set->insert(key_number(i));
    const double seconds = seconds_since(start);
    // absl's backing array: one control byte and one slot per capacity, plus a group's tail.
    const std::uint64_t bytes = set->capacity() * (sizeof(Key128) + 1) + 16;
    report(state, keys, seconds, bytes, rss_bytes() - rss_before);
  }
}

void BM_MutexUnorderedSetInsert(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  for (auto _ : state) {
    const std::uint64_t rss_before = rss_bytes();
    auto set = std::make_unique<std::unordered_set<Key128, KeyHash>>();
    std::mutex mutex;
    const double seconds = run_split(keys, threads, [&](std::uint64_t begin, std::uint64_t end) {
      for (std::uint64_t i = begin; i < end; ++i) {
        const Key128 key = key_number(i);
        std::lock_guard lock(mutex);
        set->insert(key);
      }
    });
    const std::uint64_t rss_growth = rss_bytes() - rss_before;
    report(state, keys, seconds, rss_growth, rss_growth);
  }
}

// Marginal memory: the table's own bytes after 2N keys minus after N keys, per added key, for a
// table grown from the minimum (DESIGN.md's measure). Args: N.
void BM_KeyTableMarginalBytes(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    KeyTable table(0, nullptr, &background());
    for (std::uint64_t i = 0; i < keys; ++i) table.update(key_number(i), insert_once);
    const std::uint64_t bytes_at_n = table.bytes();
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = keys; i < 2 * keys; ++i) table.update(key_number(i), insert_once);
    state.SetIterationTime(seconds_since(start));
    state.counters["bytes_at_n_per_key"] =
        static_cast<double>(bytes_at_n) / static_cast<double>(keys);
    state.counters["bytes_at_2n_per_key"] =
        static_cast<double>(table.bytes()) / static_cast<double>(2 * keys);
    state.counters["marginal_bytes_per_key"] =
        static_cast<double>(table.bytes() - bytes_at_n) / static_cast<double>(keys);
  }
}

// Duplicate probes: the hot path under a brushing attack, where most ballots repeat a key
// already counted. Looks up existing keys in random order. Args: keys, threads.
void BM_KeyTableDuplicateProbe(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  KeyTable table(keys, nullptr, &background());
  for (std::uint64_t i = 0; i < keys; ++i) table.update(key_number(i), insert_once);
  for (auto _ : state) {
    std::atomic<std::uint64_t> found{0};
    const double seconds = run_split(keys, threads, [&](std::uint64_t begin, std::uint64_t end) {
      std::uint64_t hits = 0;
      for (std::uint64_t i = begin; i < end; ++i) {
        hits += table.find(key_number(splitmix(i) % keys)).has_value();
      }
      found.fetch_add(hits);
    });
    if (found.load() != keys) state.SkipWithError("a probe missed an inserted key");
    state.SetIterationTime(seconds);
    state.counters["probes_per_s"] = static_cast<double>(keys) / seconds;
  }
}

void BM_AbslDuplicateProbe(benchmark::State& state) {
  const auto keys = static_cast<std::uint64_t>(state.range(0));
  absl::flat_hash_set<Key128, KeyHash> set;
  set.reserve(keys);
  for (std::uint64_t i = 0; i < keys; ++i) set.insert(key_number(i));
  for (auto _ : state) {
    std::uint64_t hits = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < keys; ++i) hits += set.contains(key_number(splitmix(i) % keys));
    const double seconds = seconds_since(start);
    if (hits != keys) state.SkipWithError("a probe missed an inserted key");
    state.SetIterationTime(seconds);
    state.counters["probes_per_s"] = static_cast<double>(keys) / seconds;
  }
}

// The pause a growth puts on inserts. A table sized for `expected` keys is filled to 95 % of
// them, then two threads insert at a steady 300k keys/s each (a busy server's rate, not the
// table's top speed) until 120 %, across one growth. Reports the longest single insert and
// the inserts that took over 1 ms. With mapper:1 a third thread maps and unmaps 1 MiB every
// millisecond, as allocators do, and its longest map + unmap is reported too: the kernel's
// memory-map lock is shared with the growth's page mapping.
void BM_KeyTableGrowthPause(benchmark::State& state) {
  const auto expected = static_cast<std::uint64_t>(state.range(0));
  const bool mapper = state.range(1) != 0;
  constexpr int kThreads = 2;
  constexpr std::uint64_t kBurst = 256;  // keys per thread per period
  const auto period = std::chrono::nanoseconds(1'000'000'000ULL * kBurst / 300'000);
  for (auto _ : state) {
    auto table = std::make_unique<KeyTable>(expected, nullptr, &background());
    const std::uint64_t filled = expected * 95 / 100;
    const std::uint64_t end = expected * 120 / 100;
    run_split(filled, kThreads, [&](std::uint64_t begin, std::uint64_t stop) {
      for (std::uint64_t i = begin; i < stop; ++i) table->update(key_number(i), insert_once);
    });
    std::atomic<bool> inserting{true};
    double longest_map_ms = 0;
    std::thread mapping;
    if (mapper) {
      mapping = std::thread([&] {
        while (inserting.load(std::memory_order_relaxed)) {
          const auto start = std::chrono::steady_clock::now();
          void* memory =
              mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (memory != MAP_FAILED) {
            static_cast<char*>(memory)[0] = 1;
            munmap(memory, 1 << 20);
          }
          longest_map_ms = std::max(longest_map_ms, seconds_since(start) * 1e3);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      });
    }
    std::vector<double> longest(kThreads, 0);
    std::vector<std::uint64_t> slow(kThreads, 0);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        auto due = std::chrono::steady_clock::now();
        for (std::uint64_t i = filled + t * kBurst; i < end; i += kThreads * kBurst) {
          for (std::uint64_t k = i; k < std::min(end, i + kBurst); ++k) {
            const auto before = std::chrono::steady_clock::now();
            table->update(key_number(k), insert_once);
            const double ms = seconds_since(before) * 1e3;
            longest[t] = std::max(longest[t], ms);
            slow[t] += ms > 1.0;
          }
          due += period;
          std::this_thread::sleep_until(due);
        }
      });
    }
    for (auto& worker : workers) worker.join();
    const double seconds = seconds_since(start);
    inserting.store(false, std::memory_order_relaxed);
    if (mapping.joinable()) mapping.join();
    if (table->growths() != 1) state.SkipWithError("expected exactly one growth");
    state.SetIterationTime(seconds);
    state.counters["longest_insert_ms"] = *std::max_element(longest.begin(), longest.end());
    state.counters["inserts_over_1ms"] = static_cast<double>(slow[0] + slow[1]);
    if (mapper) state.counters["longest_map_ms"] = longest_map_ms;
  }
}

constexpr std::int64_t k1M = 1'000'000;
constexpr std::int64_t k10M = 10'000'000;
constexpr std::int64_t k100M = 100'000'000;

void insert_sizes(benchmark::internal::Benchmark* bench, bool with_threads) {
  for (std::int64_t keys : {k1M, k10M, k100M}) {
    for (std::int64_t presized : {0, 1}) {
      bench->Args({keys, 1, presized});
      if (with_threads) bench->Args({keys, 2, presized});
    }
  }
}

BENCHMARK(BM_KeyTableInsert)
    ->Apply([](auto* b) { insert_sizes(b, true); }) -> ArgNames({"keys", "threads", "presized"})
        -> UseManualTime() -> Iterations(1) -> Unit(benchmark::kMillisecond);
BENCHMARK(BM_AbslInsert)
    ->Apply([](auto* b) { insert_sizes(b, false); }) -> ArgNames({"keys", "threads", "presized"})
        -> UseManualTime() -> Iterations(1) -> Unit(benchmark::kMillisecond);
BENCHMARK(BM_KeyTableInsertPipelined)
    ->Args({k10M, 1})
    ->Args({k10M, 2})
    ->Args({k100M, 1})
    ->Args({k100M, 2})
    ->ArgNames({"keys", "threads"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AbslInsertPipelined)
    ->Args({k10M, 1})
    ->Args({k100M, 1})
    ->ArgNames({"keys", "threads"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MutexUnorderedSetInsert)
    ->Args({k1M, 1})
    ->Args({k1M, 2})
    ->Args({k10M, 1})
    ->Args({k10M, 2})
    ->Args({k100M, 1})
    ->ArgNames({"keys", "threads"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KeyTableMarginalBytes)
    ->Arg(5'000'000)
    ->Arg(10'000'000)
    ->Arg(50'000'000)
    ->ArgNames({"n"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KeyTableGrowthPause)
    ->Args({k1M, 0})
    ->Args({k1M, 1})
    ->Args({k10M, 0})
    ->Args({k10M, 1})
    ->ArgNames({"expected", "mapper"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KeyTableDuplicateProbe)
    ->Args({k10M, 1})
    ->Args({k10M, 2})
    ->ArgNames({"keys", "threads"})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AbslDuplicateProbe)
    ->Args({k10M})
    ->ArgNames({"keys"})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
