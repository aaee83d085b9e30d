// The vote path of requests on several threads against the real group-commit writer, without
// Beast or RocksDB, so that TSan sees the handoff between a connection's thread and the
// writer: VoteBatch queues its accepted lines, the writer commits them and tells each line,
// the last one tells the batch's owner, and the connection's thread then reads every line.
//
// Property under test: every line of every request ends with exactly one final status; each
// voter is counted once however many of its identical ballots race (twins wait for the first
// commit and are answered duplicate with its seq); accepted seqs are distinct; the engine's
// tally equals the accepted lines. The seed is printed (TALLY_TEST_SEED reruns it).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/clock.h"
#include "tally/storage/internal/commit_pipeline.h"
#include "log_world.h"
#include "seed.h"
#include "vote_batch.h"

namespace tally::ingest::internal {
namespace {

using engine::VoteStatus;

// Durable at once: the writer's batching, seqs and completions are what is under test.
class AcceptingSink final : public storage::internal::BatchSink {
 public:
  Status write_batch(std::span<const storage::internal::PendingEvent>, std::uint64_t) override {
    return {};
  }
};

// The EventLog port over the commit pipeline, as storage::VoteLog is over RocksDB. A payload
// is the voter id: the writer stores nothing here.
class PipelineLog final : public engine::EventLog {
 public:
  explicit PipelineLog(storage::internal::CommitPipeline& pipeline) : pipeline_(pipeline) {}

  void append_vote_payload(const engine::Ballot& ballot, const engine::Claim&, engine::FraudFlags,
                           std::string& payloads) const override {
    payloads += ballot.voter;
  }
  std::size_t submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                           engine::SubmitResult& refusal) override {
    std::vector<storage::internal::PendingEvent> events(votes.size());
    for (std::size_t i = 0; i < votes.size(); ++i) {
      events[i].payload_view =
          payloads.substr(votes[i].payload_begin, votes[i].payload_end - votes[i].payload_begin);
      events[i].claim = std::move(votes[i].claim);
      events[i].flags = votes[i].flags;
      events[i].waiter = votes[i].waiter;
    }
    const std::size_t queued = pipeline_.submit_all(events, refusal);
    for (std::size_t i = queued; i < votes.size(); ++i) votes[i].claim = std::move(events[i].claim);
    return queued;
  }
  engine::SubmitResult submit_campaign(const engine::Campaign&, engine::CommitWaiter&) override {
    return engine::SubmitResult::unavailable;
  }
  bool ready() const override { return true; }
  std::optional<std::string> event_json(std::uint64_t) const override { return std::nullopt; }

 private:
  storage::internal::CommitPipeline& pipeline_;
};

// Hears the writer finish a batch's last line; the connection's thread waits for it.
struct Owner final : VoteBatch::Owner {
  void votes_committed() override { heard.fetch_add(1, std::memory_order_release); }
  std::atomic<int> heard{0};
};

std::string ballot_line(int voter, int candidate) {
  return R"({"campaign":"ordos","candidate":"c0)" + std::to_string(candidate) + R"(","voter":"v)" +
         std::to_string(voter) + R"("})";
}

TEST(VoteBatchConcurrency, RacingRequestsEndEveryLineOnceAndCountEachVoterOnce) {
  const std::uint64_t seed = testing::test_seed();
  ManualClock clock(testing::kNoon);
  engine::Engine engine(clock);
  engine.install_campaign(testing::make_campaign("ordos", 4), 0);
  AcceptingSink sink;
  storage::internal::CommitPipelineOptions options;
  options.max_batch_events = 64;
  storage::internal::CommitPipeline pipeline(sink, engine, options, 0);
  pipeline.start();
  PipelineLog log(pipeline);

  constexpr int kThreads = 4;
  constexpr int kRequestsPerThread = 150;
  constexpr int kVoters = 400;  // few, so that threads race on the same voters
  std::mutex results_mutex;
  std::vector<std::uint64_t> accepted_seqs;
  std::atomic<int> lines_answered{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      std::array<VoteParser, 2> parsers;
      const VoteBatch::Tools tools{engine, log, parsers, "10.0.0.1", 100'000};
      for (int r = 0; r < kRequestsPerThread; ++r) {
        // A batch of up to 8 lines; a voter may come twice in one batch, and votes for one
        // candidate (c01..c04 under max_candidates 4: no quota refusals).
        std::string body;
        const int lines = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < lines; ++i) {
          body += ballot_line(static_cast<int>(rng() % kVoters), 1 + static_cast<int>(rng() % 4));
          body += '\n';
        }
        Owner owner;
        VoteBatch batch(owner);
        ASSERT_TRUE(batch.start(body, /*batch=*/true, 10'000));
        VoteBatch::Progress progress = batch.decide_all(tools);
        while (progress == VoteBatch::Progress::retry) {
          std::this_thread::yield();
          progress = batch.decide_all(tools);
        }
        if (progress == VoteBatch::Progress::committing) {
          while (owner.heard.load(std::memory_order_acquire) == 0) std::this_thread::yield();
        }
        const Answer answer = batch.answer({});
        if (owner.heard.load(std::memory_order_relaxed) > 1) failed.store(true);
        // One answer line per ballot line, each final.
        int count = 0;
        std::size_t at = 0;
        while ((at = answer.body.find('\n', at)) != std::string::npos) {
          ++at;
          ++count;
        }
        if (count != lines) failed.store(true);
        const BallotCounts counts = batch.counts();
        if (counts[static_cast<std::size_t>(VoteStatus::accepted)] +
                counts[static_cast<std::size_t>(VoteStatus::duplicate)] !=
            static_cast<std::uint32_t>(lines)) {
          failed.store(true);
        }
        lines_answered.fetch_add(lines, std::memory_order_relaxed);
        // Every accepted line's seq.
        std::lock_guard lock(results_mutex);
        for (std::size_t pos = 0;
             (pos = answer.body.find(R"("accepted","seq":)", pos)) != std::string::npos;) {
          pos += 17;
          accepted_seqs.push_back(std::stoull(answer.body.substr(pos)));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  pipeline.stop();
  engine.publish(pipeline.last_seq());

  EXPECT_FALSE(failed.load());
  const std::set<std::uint64_t> distinct(accepted_seqs.begin(), accepted_seqs.end());
  EXPECT_EQ(distinct.size(), accepted_seqs.size());
  EXPECT_EQ(accepted_seqs.size(), pipeline.last_seq());
  std::uint64_t counted = 0;
  const auto tally = engine.tally("ordos");
  for (const auto& candidate : tally->candidates) counted += candidate.votes;
  EXPECT_EQ(counted, accepted_seqs.size());
  EXPECT_GT(lines_answered.load(), static_cast<int>(accepted_seqs.size()));  // duplicates ran
}

}  // namespace
}  // namespace tally::ingest::internal
