// The group-commit pipeline without RocksDB (a fake sink), so that TSan sees every access.
//
// Property under test: with many threads submitting at once, every submission is completed
// exactly once; accepted ones get distinct seqs that are contiguous from 1 in commit order and
// are counted by the engine; a failed batch releases its claims (the voter may vote again),
// answers `unavailable`, and every later submission is refused without a crash; a batch whose
// failure may pass is held unanswered, written again, and answered once.
#include "tally/storage/internal/commit_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tally/base/clock.h"
#include "log_world.h"

namespace tally::storage::internal {
namespace {

using engine::CommitOutcome;
using engine::SubmitResult;
using testing::kNoon;
using testing::make_campaign;

// Records batches; can be told to fail from a given batch on, or to hold the first batch
// until released (so that a backlog builds up behind it).
class FakeSink final : public BatchSink {
 public:
  Status write_batch(std::span<const PendingEvent> events, std::uint64_t first_seq) override {
    while (hold_first_.load(std::memory_order_acquire) && batches_ == 0) {
      std::this_thread::yield();
    }
    ++batches_;
    may_pass_ = false;
    if (fail_from_batch_ != 0 && batches_ >= fail_from_batch_) {
      return Status::error("injected");
    }
    may_pass_ = disk_full_.load(std::memory_order_acquire);
    if (may_pass_) return Status::error("disk full");
    EXPECT_EQ(first_seq, next_seq_);
    next_seq_ += events.size();
    max_batch_ = std::max(max_batch_, events.size());
    for (const auto& event : events) {
      EXPECT_FALSE(event.bytes().empty());
      payloads_.emplace_back(event.bytes());
    }
    return {};
  }

  bool failure_may_pass() const override { return may_pass_; }
  Status resume() override {
    ++resumes_;
    return {};
  }

  std::atomic<bool> hold_first_{false};
  // While true, every write fails in a way that may pass (as a full disk does).
  std::atomic<bool> disk_full_{false};
  bool may_pass_ = false;            // writer thread only
  std::size_t resumes_ = 0;          // writer thread only; read after stop()
  std::size_t fail_from_batch_ = 0;  // set before start()
  // Writer thread only; read by the test after stop() (the join orders them).
  std::size_t batches_ = 0;
  std::size_t max_batch_ = 0;
  std::uint64_t next_seq_ = 1;
  std::vector<std::string> payloads_;  // in seq order
};

// One submission's answer; written once by the writer thread.
struct Slot final : engine::CommitWaiter {
  void committed(const CommitOutcome& heard) override {
    outcome = heard;
    calls.fetch_add(1, std::memory_order_release);
  }
  std::atomic<int> calls{0};
  CommitOutcome outcome;
};

class CommitQueueTest : public ::testing::Test {
 protected:
  CommitQueueTest() : clock_(kNoon), engine_(clock_) {
    engine_.install_campaign(make_campaign("ordos", 4), 0);
  }

  // Decides a ballot and, if accepted, submits it. Returns the submit result (or nullopt
  // when the engine did not accept the ballot).
  std::optional<SubmitResult> vote(CommitPipeline& pipeline, const std::string& voter,
                                   const char* candidate, Slot& slot) {
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.candidate = candidate;
    ballot.voter = voter;
    engine::Decision decision = engine_.decide(ballot);
    if (decision.status != engine::VoteStatus::accepted) return std::nullopt;
    PendingEvent event;
    event.payload = voter;
    event.claim = std::move(decision.claim);
    event.waiter = &slot;
    const SubmitResult result = pipeline.submit(event);
    if (result != SubmitResult::queued) engine_.release(std::move(event.claim));
    return result;
  }

  ManualClock clock_;
  engine::Engine engine_;
  FakeSink sink_;
};

TEST_F(CommitQueueTest, ConcurrentSubmittersGetOneCompletionEachAndContiguousSeqs) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 3000;
  CommitPipelineOptions options;
  options.max_batch_events = 256;
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  std::vector<Slot> slots(kThreads * kPerThread);
  std::atomic<int> queued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        auto result = vote(pipeline, "voter-" + std::to_string(n), "c01", slots[n]);
        if (result == SubmitResult::queued) queued.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  pipeline.stop();

  ASSERT_EQ(queued.load(), kThreads * kPerThread);
  std::set<std::uint64_t> seqs;
  for (auto& slot : slots) {
    ASSERT_EQ(slot.calls.load(std::memory_order_acquire), 1);
    EXPECT_EQ(slot.outcome.status, engine::VoteStatus::accepted);
    EXPECT_TRUE(slot.outcome.durable);
    seqs.insert(slot.outcome.seq);
  }
  EXPECT_EQ(seqs.size(), slots.size());
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), slots.size());
  EXPECT_EQ(pipeline.last_seq(), slots.size());
  EXPECT_LE(sink_.max_batch_, 256u);
  EXPECT_EQ(engine_.as_of_seq(), slots.size());
  EXPECT_EQ(engine_.tally("ordos")->total, slots.size());
}

TEST_F(CommitQueueTest, BacklogIsCommittedInFewBatches) {
  sink_.hold_first_.store(true);
  CommitPipeline pipeline(sink_, engine_, {}, 0);
  pipeline.start();
  std::vector<Slot> slots(1000);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ASSERT_EQ(vote(pipeline, "v" + std::to_string(i), "c02", slots[i]), SubmitResult::queued);
  }
  sink_.hold_first_.store(false, std::memory_order_release);
  pipeline.stop();
  // The first batch held at most what was queued when the writer woke; the rest came as one.
  EXPECT_LE(sink_.batches_, 3u);
  for (auto& slot : slots) EXPECT_EQ(slot.calls.load(), 1);
}

TEST_F(CommitQueueTest, BatchesStayUnderTheirByteCapWhateverTheBacklog) {
  // A replicated record must fit one stream message: the cap is on payload bytes plus what a
  // record adds per event. Voters of 40 bytes: each event counts 40 + kEventOverheadBytes.
  CommitPipelineOptions options;
  options.max_batch_bytes = 10 * (40 + kEventOverheadBytes);
  sink_.hold_first_.store(true);
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  std::vector<Slot> slots(500);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    std::string voter = "b" + std::to_string(i);
    voter.resize(40, 'x');
    ASSERT_EQ(vote(pipeline, voter, "c03", slots[i]), SubmitResult::queued);
  }
  sink_.hold_first_.store(false, std::memory_order_release);
  pipeline.stop();
  EXPECT_EQ(sink_.max_batch_, 10u);  // the backlog of 499 came in batches of exactly the cap
  EXPECT_GE(sink_.batches_, 50u);
  for (auto& slot : slots) EXPECT_EQ(slot.calls.load(), 1);
  EXPECT_EQ(engine_.tally("ordos")->total, slots.size());
}

TEST_F(CommitQueueTest, AnEventLongerThanTheByteCapStillFormsABatch) {
  CommitPipelineOptions options;
  options.max_batch_bytes = 16;
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  Slot slot;
  ASSERT_EQ(vote(pipeline, std::string(100, 'v'), "c01", slot), SubmitResult::queued);
  pipeline.stop();
  ASSERT_EQ(slot.calls.load(), 1);
  EXPECT_EQ(slot.outcome.status, engine::VoteStatus::accepted);
}

TEST_F(CommitQueueTest, TheQueueGrowsPastItsFirstRingInOrderUpToItsCapacity) {
  CommitPipelineOptions options;
  options.queue_capacity = 3 * kInitialQueueRing;
  sink_.hold_first_.store(true);
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  std::vector<Slot> slots(options.queue_capacity + 2);
  std::vector<std::string> expected;
  const auto voter = [](std::size_t i) { return "g" + std::to_string(i); };
  // The writer takes the first vote and holds it: the ring's head has moved, so the votes
  // after it wrap around the first ring before it grows.
  ASSERT_EQ(vote(pipeline, voter(0), "c01", slots[0]), SubmitResult::queued);
  expected.push_back(voter(0));
  while (pipeline.stats().queued != 0) std::this_thread::yield();
  for (std::size_t i = 1; i <= options.queue_capacity; ++i) {
    ASSERT_EQ(vote(pipeline, voter(i), "c01", slots[i]), SubmitResult::queued) << i;
    expected.push_back(voter(i));
  }
  EXPECT_EQ(pipeline.stats().queued, options.queue_capacity);
  EXPECT_EQ(vote(pipeline, voter(slots.size() - 1), "c01", slots.back()), SubmitResult::overloaded);
  sink_.hold_first_.store(false, std::memory_order_release);
  pipeline.stop();
  EXPECT_EQ(sink_.payloads_, expected);
  for (std::size_t i = 0; i + 1 < slots.size(); ++i) {
    ASSERT_EQ(slots[i].calls.load(), 1) << i;
    EXPECT_EQ(slots[i].outcome.seq, i + 1);
  }
  EXPECT_EQ(slots.back().calls.load(), 0);
}

TEST_F(CommitQueueTest, FailedBatchReleasesClaimsAndRefusesLaterSubmissions) {
  sink_.fail_from_batch_ = 2;
  CommitPipeline pipeline(sink_, engine_, {}, 0);
  pipeline.start();
  Slot first, second, third;
  ASSERT_EQ(vote(pipeline, "alice", "c01", first), SubmitResult::queued);
  while (first.calls.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  ASSERT_EQ(vote(pipeline, "bob", "c01", second), SubmitResult::queued);
  while (second.calls.load(std::memory_order_acquire) == 0) std::this_thread::yield();

  EXPECT_EQ(first.outcome.status, engine::VoteStatus::accepted);
  EXPECT_EQ(first.outcome.seq, 1u);
  EXPECT_EQ(second.outcome.status, engine::VoteStatus::unavailable);
  EXPECT_TRUE(pipeline.failed());
  EXPECT_EQ(pipeline.failure(), "injected");
  // bob's claim was released: the engine accepts his ballot again, storage refuses it.
  EXPECT_EQ(vote(pipeline, "bob", "c01", third), SubmitResult::unavailable);
  EXPECT_EQ(third.calls.load(), 0);
  pipeline.stop();
  EXPECT_EQ(engine_.tally("ordos")->total, 1u);
}

TEST_F(CommitQueueTest, FullQueueAnswersOverloadedAndKeepsTheClaim) {
  CommitPipelineOptions options;
  options.queue_capacity = 2;
  CommitPipeline pipeline(sink_, engine_, options, 0);  // not started: nothing drains
  Slot a, b, c;
  EXPECT_EQ(vote(pipeline, "a", "c01", a), SubmitResult::queued);
  EXPECT_EQ(vote(pipeline, "b", "c01", b), SubmitResult::queued);
  EXPECT_EQ(vote(pipeline, "c", "c01", c), SubmitResult::overloaded);
  pipeline.stop();  // never started: what was queued is answered unavailable
  EXPECT_EQ(a.calls.load(), 1);
  EXPECT_EQ(a.outcome.status, engine::VoteStatus::unavailable);
  EXPECT_EQ(c.calls.load(), 0);
  // Every claim was released: all three voters may vote again.
  CommitPipeline again(sink_, engine_, {}, 0);
  again.start();
  Slot a2, c2;
  EXPECT_EQ(vote(again, "a", "c01", a2), SubmitResult::queued);
  EXPECT_EQ(vote(again, "c", "c01", c2), SubmitResult::queued);
  again.stop();
  EXPECT_EQ(a2.outcome.status, engine::VoteStatus::accepted);
}

TEST_F(CommitQueueTest, SubmitAllQueuesInOrderAndLeavesWhatDoesNotFitWithItsClaim) {
  CommitPipelineOptions options;
  options.queue_capacity = 3;
  // Five accepted ballots whose payloads live in one buffer of the caller's.
  const std::string buffer = "p0p1p2p3p4";
  std::vector<PendingEvent> events(5);
  std::vector<Slot> slots(5);
  const auto decide_all = [&] {
    for (std::size_t i = 0; i < events.size(); ++i) {
      engine::Ballot ballot;
      ballot.campaign = "ordos";
      ballot.candidate = "c03";
      const std::string voter = "all-" + std::to_string(i);
      ballot.voter = voter;
      engine::Decision decision = engine_.decide(ballot);
      ASSERT_EQ(decision.status, engine::VoteStatus::accepted) << i;
      events[i] = PendingEvent{};
      events[i].claim = std::move(decision.claim);
      events[i].payload_view = std::string_view(buffer).substr(2 * i, 2);
      events[i].waiter = &slots[i];
      slots[i].calls.store(0);
    }
  };
  decide_all();
  {
    CommitPipeline full(sink_, engine_, options, 0);  // not started: nothing drains
    SubmitResult refusal = SubmitResult::queued;
    EXPECT_EQ(full.submit_all(std::span<PendingEvent>(events).first(4), refusal), 3u);
    EXPECT_EQ(refusal, SubmitResult::overloaded);
    EXPECT_TRUE(events[3].claim);  // not queued: still the caller's
    full.stop();                   // what was queued is answered unavailable, claims released
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(slots[i].calls.load(), 1);
    EXPECT_EQ(slots[3].calls.load(), 0);
  }
  engine_.release(std::move(events[3].claim));
  engine_.release(std::move(events[4].claim));

  // Decided again, all five fit a started pipeline and commit in order with their payloads.
  decide_all();
  CommitPipeline pipeline(sink_, engine_, {}, 0);
  pipeline.start();
  SubmitResult refusal = SubmitResult::overloaded;
  EXPECT_EQ(pipeline.submit_all(events, refusal), 5u);
  EXPECT_EQ(refusal, SubmitResult::queued);
  pipeline.stop();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ASSERT_EQ(slots[i].calls.load(), 1);
    EXPECT_EQ(slots[i].outcome.status, engine::VoteStatus::accepted);
    EXPECT_EQ(slots[i].outcome.seq, i + 1);
  }
  EXPECT_EQ(sink_.payloads_, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
  EXPECT_EQ(engine_.tally("ordos")->total, 5u);
}

TEST_F(CommitQueueTest, CampaignVersionIsInstalledAtItsSeq) {
  CommitPipeline pipeline(sink_, engine_, {}, 0);
  pipeline.start();
  Slot vote_slot, campaign_slot, same_slot;
  ASSERT_EQ(vote(pipeline, "a", "c01", vote_slot), SubmitResult::queued);
  auto changed = make_campaign("ordos", 4);
  changed.title = "renamed";
  PendingEvent event;
  event.kind = EventKind::campaign;
  event.payload = "{}";
  event.campaign = std::make_shared<const engine::Campaign>(changed);
  event.waiter = &campaign_slot;
  ASSERT_EQ(pipeline.submit(event), SubmitResult::queued);
  PendingEvent same;
  same.kind = EventKind::campaign;
  same.payload = "{}";
  same.campaign = std::make_shared<const engine::Campaign>(changed);
  same.waiter = &same_slot;
  ASSERT_EQ(pipeline.submit(same), SubmitResult::queued);
  pipeline.stop();
  EXPECT_EQ(vote_slot.outcome.seq, 1u);
  EXPECT_EQ(campaign_slot.outcome.campaign_outcome, engine::PutOutcome::updated);
  EXPECT_EQ(campaign_slot.outcome.seq, 2u);
  EXPECT_EQ(same_slot.outcome.campaign_outcome, engine::PutOutcome::unchanged);
  EXPECT_EQ(same_slot.outcome.seq, 0u);
  EXPECT_EQ(engine_.campaign("ordos")->title, "renamed");
  EXPECT_EQ(sink_.batches_, 2u);
}

// Waits (yielding) until `condition` holds; false after a minute, so that a broken pipeline
// fails the test instead of hanging it.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_F(CommitQueueTest, ABatchWhoseFailureMayPassIsHeldAndAcceptedOnceWritten) {
  CommitPipelineOptions options;
  options.retry_for = std::chrono::hours(1);
  std::mutex reports_mutex;
  std::vector<WriteRetryReport> reports;
  options.on_retry = [&](const WriteRetryReport& report) {
    std::lock_guard lock(reports_mutex);
    reports.push_back(report);
  };
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  sink_.disk_full_.store(true, std::memory_order_release);
  Slot held;
  ASSERT_EQ(vote(pipeline, "alice", "c01", held), SubmitResult::queued);
  ASSERT_TRUE(eventually([&] { return pipeline.retrying(); }));
  // New work is refused at once, and its claim comes back to the caller.
  Slot refused;
  EXPECT_EQ(vote(pipeline, "bob", "c01", refused), SubmitResult::unavailable);
  EXPECT_EQ(held.calls.load(std::memory_order_acquire), 0) << "answered while held";
  EXPECT_FALSE(pipeline.failed());
  EXPECT_EQ(engine_.as_of_seq(), 0u);

  sink_.disk_full_.store(false, std::memory_order_release);
  ASSERT_TRUE(eventually([&] { return held.calls.load(std::memory_order_acquire) == 1; }));
  EXPECT_EQ(held.outcome.status, engine::VoteStatus::accepted);
  EXPECT_EQ(held.outcome.seq, 1u);
  EXPECT_FALSE(pipeline.retrying());
  Slot later;
  ASSERT_EQ(vote(pipeline, "bob", "c01", later), SubmitResult::queued);
  ASSERT_TRUE(eventually([&] { return later.calls.load(std::memory_order_acquire) == 1; }));
  EXPECT_EQ(later.outcome.seq, 2u);
  EXPECT_GE(pipeline.stats().write_retries, 1u);
  pipeline.stop();

  // Written once, counted once; each retry resumed the sink first.
  EXPECT_EQ(sink_.payloads_, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(engine_.tally("ordos")->total, 2u);
  EXPECT_GE(sink_.resumes_, 1u);
  std::lock_guard lock(reports_mutex);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].stage, WriteRetryReport::Stage::began);
  EXPECT_EQ(reports[0].failure, "disk full");
  EXPECT_EQ(reports[0].events_held, 1u);
  EXPECT_EQ(reports[1].stage, WriteRetryReport::Stage::recovered);
  EXPECT_GE(reports[1].attempts, 1u);
}

TEST_F(CommitQueueTest, AFailureThatOutlastsTheRetryTimeFailsThePipeline) {
  CommitPipelineOptions options;
  options.retry_for = std::chrono::milliseconds(300);
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  sink_.disk_full_.store(true, std::memory_order_release);
  Slot held;
  ASSERT_EQ(vote(pipeline, "alice", "c01", held), SubmitResult::queued);
  ASSERT_TRUE(eventually([&] { return held.calls.load(std::memory_order_acquire) == 1; }));
  EXPECT_EQ(held.outcome.status, engine::VoteStatus::unavailable);
  EXPECT_TRUE(pipeline.failed());
  EXPECT_FALSE(pipeline.retrying());
  EXPECT_NE(pipeline.failure().find("disk full; still failing after"), std::string::npos)
      << pipeline.failure();
  sink_.disk_full_.store(false, std::memory_order_release);
  // alice's claim was released: she may vote again, and is refused only by the failed log.
  Slot again;
  EXPECT_EQ(vote(pipeline, "alice", "c01", again), SubmitResult::unavailable);
  pipeline.stop();
  EXPECT_EQ(engine_.tally("ordos")->total, 0u);
  EXPECT_TRUE(sink_.payloads_.empty());
}

TEST_F(CommitQueueTest, StopAnswersAHeldBatchInsteadOfWaitingOutTheRetryTime) {
  CommitPipelineOptions options;
  options.retry_for = std::chrono::hours(1);
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  sink_.disk_full_.store(true, std::memory_order_release);
  Slot held;
  ASSERT_EQ(vote(pipeline, "alice", "c01", held), SubmitResult::queued);
  ASSERT_TRUE(eventually([&] { return pipeline.retrying(); }));
  pipeline.stop();
  ASSERT_EQ(held.calls.load(std::memory_order_acquire), 1);
  EXPECT_EQ(held.outcome.status, engine::VoteStatus::unavailable);
  EXPECT_NE(pipeline.failure().find("stopped while retrying"), std::string::npos)
      << pipeline.failure();
}

TEST_F(CommitQueueTest, AFailureThatCannotPassIsNotRetried) {
  CommitPipelineOptions options;
  options.retry_for = std::chrono::hours(1);
  sink_.fail_from_batch_ = 1;
  CommitPipeline pipeline(sink_, engine_, options, 0);
  pipeline.start();
  Slot slot;
  ASSERT_EQ(vote(pipeline, "alice", "c01", slot), SubmitResult::queued);
  ASSERT_TRUE(eventually([&] { return slot.calls.load(std::memory_order_acquire) == 1; }));
  EXPECT_EQ(slot.outcome.status, engine::VoteStatus::unavailable);
  pipeline.stop();
  EXPECT_EQ(pipeline.stats().write_retries, 0u);
  EXPECT_EQ(sink_.resumes_, 0u);
}

}  // namespace
}  // namespace tally::storage::internal
