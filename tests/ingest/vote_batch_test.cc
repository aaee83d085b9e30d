// The vote path of one request without a socket: VoteBatch over a real engine and a real log
// in a temporary directory, as a connection drives it (decide_all(), then the answer once the
// log's writer has finished every line).
#include "vote_batch.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "tally/base/clock.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"

namespace tally::ingest::internal {
namespace {

using engine::VoteStatus;
using testing::kNoon;
using testing::make_campaign;
using testing::TempDir;

// Hears that the writer finished the batch's last line.
struct Owner final : VoteBatch::Owner {
  void votes_committed() override { heard.fetch_add(1, std::memory_order_release); }
  void wait() const {
    while (heard.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  }
  std::atomic<int> heard{0};
};

class VoteBatchTest : public ::testing::Test {
 protected:
  VoteBatchTest() : log_(testing::started_log(dir_.sub("db"), engine_)) {}

  VoteBatch::Tools tools(std::size_t max_pending_retries = 500) {
    return {engine_, *log_, parsers_, "10.1.2.3", max_pending_retries};
  }

  // Runs the batch as a connection does: passes until none is left to retry, then the
  // writer's word if lines wait for it. Returns the answer.
  Answer run(VoteBatch& batch, Owner& owner) {
    VoteBatch::Progress progress = batch.decide_all(tools());
    while (progress == VoteBatch::Progress::retry) {
      std::this_thread::sleep_for(batch.retry_delay());
      progress = batch.decide_all(tools());
    }
    if (progress == VoteBatch::Progress::committing) owner.wait();
    return batch.answer({});
  }

  // The ballot decided and never submitted: its keys stay claimed, so the same ballot in a
  // batch can only wait. The caller releases it.
  engine::Decision decided_twin(std::string_view voter, std::string_view candidate) {
    return engine_.decide(VoteParser().parse(ballot(voter, candidate), "10.1.2.3").ballot);
  }

  static std::string ballot(std::string_view voter, std::string_view candidate) {
    return R"({"campaign":"ordos","candidate":")" + std::string(candidate) + R"(","voter":")" +
           std::string(voter) + R"("})";
  }

  TempDir dir_;
  ManualClock clock_{kNoon};
  engine::Engine engine_{clock_};
  std::unique_ptr<storage::VoteLog> log_;
  std::array<VoteParser, 2> parsers_;
};

TEST_F(VoteBatchTest, ASingleVoteIsAnsweredOnceTheWriterCommitsIt) {
  Owner owner;
  VoteBatch batch(owner);
  const std::string body = ballot("alice", "c01");
  ASSERT_TRUE(batch.start(body, /*batch=*/false, 10));
  // The writer may commit it before decide_all() returns (a sync on tmpfs is free): then this
  // thread answers, and the owner hears nothing.
  const VoteBatch::Progress progress = batch.decide_all(tools());
  ASSERT_NE(progress, VoteBatch::Progress::retry);
  if (progress == VoteBatch::Progress::committing) {
    owner.wait();
    EXPECT_EQ(owner.heard.load(), 1);
  } else {
    EXPECT_EQ(owner.heard.load(), 0);
  }
  const Answer answer = batch.answer({});
  EXPECT_EQ(answer.http_code, 200);
  EXPECT_EQ(answer.body, R"({"status":"accepted","seq":2})");
  EXPECT_EQ(batch.counts()[static_cast<std::size_t>(VoteStatus::accepted)], 1u);
}

TEST_F(VoteBatchTest, ARefusedSingleVoteIsAnsweredWithoutTheLog) {
  Owner owner;
  VoteBatch batch(owner);
  const std::string body = ballot("alice", "c99");
  ASSERT_TRUE(batch.start(body, false, 10));
  EXPECT_EQ(batch.decide_all(tools()), VoteBatch::Progress::answered);
  EXPECT_EQ(owner.heard.load(), 0);
  const Answer answer = batch.answer({});
  EXPECT_EQ(answer.http_code, 422);
  EXPECT_TRUE(answer.body.starts_with(R"({"status":"unknown_candidate")")) << answer.body;
}

TEST_F(VoteBatchTest, ABatchAnswersEveryLineInOrderWithItsNumber) {
  Owner owner;
  VoteBatch batch(owner);
  // Line 3 is empty (skipped, but counted in the numbering), line 4 is not JSON.
  const std::string body = ballot("bob", "c01") + "\n" + ballot("carol", "c02") + "\n\n{oops\n" +
                           ballot("dave", "c99") + "\n";
  ASSERT_TRUE(batch.start(body, /*batch=*/true, 10));
  const Answer answer = run(batch, owner);
  EXPECT_EQ(answer.content_type, "application/x-ndjson");
  EXPECT_EQ(answer.body,
            "{\"status\":\"accepted\",\"seq\":2,\"line\":1}\n"
            "{\"status\":\"accepted\",\"seq\":3,\"line\":2}\n"
            "{\"status\":\"invalid\",\"error\":\"body: not valid JSON\",\"line\":4}\n"
            "{\"status\":\"unknown_candidate\",\"error\":\"candidate: unknown in this "
            "campaign\",\"line\":5}\n")
      << answer.body;
  const BallotCounts counts = batch.counts();
  EXPECT_EQ(counts[static_cast<std::size_t>(VoteStatus::accepted)], 2u);
  EXPECT_EQ(counts[static_cast<std::size_t>(VoteStatus::invalid)], 1u);
  EXPECT_EQ(counts[static_cast<std::size_t>(VoteStatus::unknown_candidate)], 1u);
}

TEST_F(VoteBatchTest, AnIdenticalBallotWaitsForTheFirstCommitThenIsADuplicate) {
  Owner owner;
  VoteBatch batch(owner);
  const std::string body = ballot("erin", "c03") + "\n" + ballot("erin", "c03") + "\n";
  ASSERT_TRUE(batch.start(body, true, 10));
  // The first is queued; the second finds its twin claimed but not committed yet.
  EXPECT_EQ(batch.decide_all(tools()), VoteBatch::Progress::retry);
  const Answer answer = run(batch, owner);
  EXPECT_EQ(answer.body,
            "{\"status\":\"accepted\",\"seq\":2,\"line\":1}\n"
            "{\"status\":\"duplicate\",\"seq\":2,\"line\":2}\n");
}

TEST_F(VoteBatchTest, ABallotStillWaitingAfterTheLastRetryIsOverloaded) {
  Owner owner;
  VoteBatch batch(owner);
  // A twin decided but never submitted: it stays claimed, the batch's ballot can only wait.
  engine::Decision held = decided_twin("frank", "c01");
  ASSERT_EQ(held.status, VoteStatus::accepted);
  const std::string body = ballot("frank", "c01");
  ASSERT_TRUE(batch.start(body, false, 10));
  EXPECT_EQ(batch.decide_all(tools(/*max_pending_retries=*/2)), VoteBatch::Progress::retry);
  EXPECT_EQ(batch.decide_all(tools(2)), VoteBatch::Progress::retry);
  EXPECT_EQ(batch.decide_all(tools(2)), VoteBatch::Progress::answered);
  EXPECT_EQ(batch.answer({}).body,
            R"({"status":"overloaded","error":"server: the identical ballot is still being )"
            R"(committed, retry later"})");
  engine_.release(std::move(held.claim));
}

TEST_F(VoteBatchTest, AWaitingBallotIsUnavailableOnceTheLogTakesNoWrites) {
  Owner owner;
  VoteBatch batch(owner);
  engine::Decision held = decided_twin("ivan", "c01");
  ASSERT_EQ(held.status, VoteStatus::accepted);
  const std::string body = ballot("ivan", "c01");  // the batch reads it until answered
  ASSERT_TRUE(batch.start(body, false, 10));
  EXPECT_EQ(batch.decide_all(tools()), VoteBatch::Progress::retry);
  // The log stops taking writes while the ballot waits (a primary that stepped down): its
  // next pass answers it without deciding it again.
  log_->stop();
  EXPECT_EQ(batch.decide_all(tools()), VoteBatch::Progress::answered);
  EXPECT_EQ(batch.counts()[static_cast<std::size_t>(VoteStatus::unavailable)], 1u);
  engine_.release(std::move(held.claim));
}

TEST_F(VoteBatchTest, VotesTheLogRefusesAreUnavailableAndKeepNothingClaimed) {
  log_->stop();
  Owner owner;
  VoteBatch batch(owner);
  const std::string body = ballot("grace", "c02") + "\n" + ballot("heidi", "c02") + "\n";
  ASSERT_TRUE(batch.start(body, true, 10));
  EXPECT_EQ(batch.decide_all(tools()), VoteBatch::Progress::answered);
  EXPECT_EQ(batch.counts()[static_cast<std::size_t>(VoteStatus::unavailable)], 2u);
  // Their claims were released: the same voters are accepted by the engine again.
  VoteParser parser;
  engine::Decision decision =
      engine_.decide(parser.parse(ballot("grace", "c02"), "10.1.2.3").ballot);
  EXPECT_EQ(decision.status, VoteStatus::accepted);
  engine_.release(std::move(decision.claim));
}

TEST_F(VoteBatchTest, ABatchOverTheLineLimitCountsNothing) {
  Owner owner;
  VoteBatch batch(owner);
  const std::string body =
      ballot("ivan", "c01") + "\n" + ballot("judy", "c01") + "\n" + ballot("mallory", "c01") + "\n";
  EXPECT_FALSE(batch.start(body, true, 2));
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(engine_.tally("ordos")->candidates.front().votes, 0u);
}

TEST_F(VoteBatchTest, ARecycledBatchTakesTheNextRequest) {
  Owner owner;
  VoteBatch batch(owner);
  const std::string first = ballot("niaj", "c01");
  ASSERT_TRUE(batch.start(first, false, 10));
  run(batch, owner);
  batch.clear_keeping(64, 4096);
  EXPECT_TRUE(batch.empty());
  owner.heard.store(0);
  const std::string second = ballot("olivia", "c02");
  ASSERT_TRUE(batch.start(second, false, 10));
  EXPECT_EQ(run(batch, owner).body, R"({"status":"accepted","seq":3})");
}

}  // namespace
}  // namespace tally::ingest::internal
