// Storage throughput: durable votes/s through VoteLog's group commit (decide + encode + one
// writer + WAL sync per batch) by batch size and durability, and recovery events/s.
// Release builds only; figures and commands in docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/clock.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/engine/fraud.h"
#include "tally/storage/vote_log.h"

namespace {

using namespace tally;

constexpr std::int64_t kNow = 1679900000000;  // inside the campaign's window

engine::Campaign bench_campaign(std::uint64_t voters) {
  auto campaign = engine::parse_campaign(R"({"id":"bench","title":"bench",
    "opens_at":"2023-03-27T00:00:00+08:00","closes_at":"2023-04-08T00:00:00+08:00",
    "utc_offset":"+08:00","rules":{"period":"campaign","max_votes_per_candidate":1,
    "max_candidates":4},"candidates":[{"id":"c01","name":"a"},{"id":"c02","name":"b"},
    {"id":"c03","name":"c"},{"id":"c04","name":"d"}]})");
  if (!campaign.ok()) {
    std::fprintf(stderr, "bench campaign: %s\n", campaign.message().c_str());
    std::abort();
  }
  campaign->expected_voters = voters;
  return *campaign;
}

std::string temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "tally-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

// Counts completions (a campaign's, in Node).
struct Counter final : engine::CommitWaiter {
  void committed(const engine::CommitOutcome&) override {
    done.fetch_add(1, std::memory_order_release);
  }
  std::atomic<std::uint64_t> done{0};
};

// A producer's accepted votes, encoded and queued together as ingest queues a request's
// (append_vote_payload(), then one submit_votes()); reused once each of them has completed.
struct Chunk final : engine::CommitWaiter {
  static constexpr std::size_t kVotes = 64;
  void committed(const engine::CommitOutcome&) override {
    completed->fetch_add(1, std::memory_order_relaxed);
    // release: the producer that sees 0 may reuse the payloads the writer has read.
    unfinished.fetch_sub(1, std::memory_order_release);
  }
  void wait_idle() const {
    while (unfinished.load(std::memory_order_acquire) != 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  std::string payloads;
  std::vector<engine::VoteToCommit> votes;
  std::atomic<std::uint32_t> unfinished{0};
  std::atomic<std::uint64_t>* completed = nullptr;
};

// Queues `chunk`'s votes, waiting while the writer is behind. Returns how many were queued.
std::uint64_t submit_chunk(storage::VoteLog& log, Chunk& chunk) {
  chunk.unfinished.store(static_cast<std::uint32_t>(chunk.votes.size()), std::memory_order_relaxed);
  std::span<engine::VoteToCommit> rest(chunk.votes);
  while (!rest.empty()) {
    engine::SubmitResult refusal = engine::SubmitResult::queued;
    rest = rest.subspan(log.submit_votes(rest, chunk.payloads, refusal));
    if (refusal == engine::SubmitResult::unavailable) std::abort();
    // Overloaded: sleep rather than spin: on a small machine the spinning would take the
    // writer's core.
    if (!rest.empty()) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return chunk.votes.size();
}

// Submits `votes` ballots from `threads` producers, each vote by a new voter, and waits for
// every completion. Returns the number accepted.
std::uint64_t write_votes(storage::VoteLog& log, engine::Engine& engine, std::uint64_t votes,
                          int threads) {
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> queued{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&, t] {
      // Enough chunks in flight to keep the writer's queue as deep as single submissions did.
      std::vector<Chunk> chunks(256);
      for (Chunk& chunk : chunks) chunk.completed = &completed;
      std::size_t current = 0;
      std::string voter;
      for (std::uint64_t i = static_cast<std::uint64_t>(t); i < votes; i += threads) {
        voter = "wx-openid-" + std::to_string(i);
        engine::Ballot ballot;
        ballot.campaign = "bench";
        ballot.candidate = (i % 3 == 0) ? "c01" : "c02";
        ballot.voter = voter;
        ballot.device = "device-0123456789";
        ballot.ip = "10.20.30.40";
        ballot.ua = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.33";
        auto decision = engine.decide(ballot);
        if (decision.status != engine::VoteStatus::accepted) continue;
        Chunk& chunk = chunks[current];
        const std::size_t begin = chunk.payloads.size();
        log.append_vote_payload(ballot, decision.claim, 0, chunk.payloads);
        chunk.votes.push_back({begin, chunk.payloads.size(), std::move(decision.claim), 0, &chunk});
        if (chunk.votes.size() < Chunk::kVotes) continue;
        queued.fetch_add(submit_chunk(log, chunk), std::memory_order_relaxed);
        current = (current + 1) % chunks.size();
        chunks[current].wait_idle();
        chunks[current].payloads.clear();
        chunks[current].votes.clear();
      }
      if (!chunks[current].votes.empty()) {
        queued.fetch_add(submit_chunk(log, chunks[current]), std::memory_order_relaxed);
      }
      for (const Chunk& chunk : chunks) chunk.wait_idle();
    });
  }
  for (auto& producer : producers) producer.join();
  while (completed.load(std::memory_order_acquire) < queued.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return queued.load();
}

struct Node {
  explicit Node(const std::string& dir, storage::Durability durability, std::size_t batch,
                std::uint64_t voters)
      : clock(kNow), engine(clock) {
    storage::StorageOptions options;
    options.data_dir = dir;
    options.durability = durability;
    options.max_batch_events = batch;
    log = std::move(storage::VoteLog::open(options)).value();
    if (!log->recover(engine).ok()) std::abort();
    log->start(engine);
    Counter counter;
    if (engine.campaign("bench") == nullptr &&
        log->submit_campaign(bench_campaign(voters), counter) == engine::SubmitResult::queued) {
      while (counter.done.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    }
  }
  ManualClock clock;
  engine::Engine engine;
  std::unique_ptr<storage::VoteLog> log;
};

// Args: max batch events, durability (0 sync, 1 async).
void BM_GroupCommit(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const auto durability =
      state.range(1) == 0 ? storage::Durability::sync : storage::Durability::async;
  constexpr std::uint64_t kVotes = 400'000;
  std::uint64_t total = 0;
  storage::CommitStats stats;
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string dir = temp_dir();
    auto node = std::make_unique<Node>(dir, durability, batch, kVotes);
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    total += write_votes(*node->log, node->engine, kVotes, 2);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    stats = node->log->commit_stats();
    node.reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["syncs_per_s"] =
      benchmark::Counter(static_cast<double>(stats.batches) / (seconds / state.iterations()));
  state.counters["events_per_batch"] =
      static_cast<double>(stats.events) /
      static_cast<double>(std::max<std::uint64_t>(1, stats.batches));
}
BENCHMARK(BM_GroupCommit)
    ->Args({64, 0})
    ->Args({1024, 0})
    ->Args({8192, 0})
    ->Args({8192, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// Args: stored votes, whether a FraudMonitor is attached (as in tallyd). Recovery of a log
// written once (async, to build it quickly).
void BM_Recovery(benchmark::State& state) {
  const auto votes = static_cast<std::uint64_t>(state.range(0));
  const bool with_fraud = state.range(1) != 0;
  const std::string dir = temp_dir();
  {
    Node writer(dir, storage::Durability::async, 8192, votes);
    write_votes(*writer.log, writer.engine, votes, 2);
  }
  for (auto _ : state) {
    ManualClock clock(kNow);
    engine::FraudMonitor fraud;
    engine::EngineOptions engine_options;
    if (with_fraud) engine_options.fraud = &fraud;
    engine::Engine engine(clock, engine_options);
    storage::StorageOptions options;
    options.data_dir = dir;
    auto log = std::move(storage::VoteLog::open(options)).value();
    if (!log->recover(engine).ok()) std::abort();
    benchmark::DoNotOptimize(engine.as_of_seq());
    state.PauseTiming();
    log.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(votes * state.iterations()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Recovery)
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1})
    ->Args({10'000'000, 0})
    ->Args({10'000'000, 1})
    ->ArgNames({"votes", "fraud"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
