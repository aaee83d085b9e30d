// VoteLog over a real RocksDB in a temporary directory: group commit, lookups, recovery
// (tallies and dedupe survive a restart), durability modes and injected disk faults.
#include "tally/storage/vote_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tally/base/clock.h"
#include "tally/engine/fraud.h"
#include "log_world.h"

namespace tally::storage {
namespace {

using testing::kNoon;
using testing::make_campaign;
using testing::TempDir;

using engine::CommitOutcome;
using engine::SubmitResult;
using testing::OutcomeWaiter;

// One server's worth of state: a clock, an engine and the log over `dir`.
class Server {
 public:
  explicit Server(const std::string& dir, StorageOptions options = {},
                  engine::FraudMonitor* fraud = nullptr)
      : clock_(kNoon), engine_(clock_, engine::EngineOptions{.fraud = fraud}) {
    options.data_dir = dir;
    auto opened = VoteLog::open(options);
    if (!opened.ok()) {
      ADD_FAILURE() << opened.message();
      return;
    }
    log_ = std::move(*opened);
    const auto status = log_->recover(engine_);
    EXPECT_TRUE(status.ok()) << status.message();
    log_->start(engine_);
  }

  CommitOutcome put_campaign(const engine::Campaign& campaign) {
    OutcomeWaiter waiter;
    EXPECT_EQ(log_->submit_campaign(campaign, waiter), SubmitResult::queued);
    return waiter.wait();
  }

  engine::Ballot ballot(std::string_view voter, std::string_view candidate) {
    engine::Ballot b;
    b.campaign = "ordos";
    b.voter = voter;
    b.candidate = candidate;
    b.ip = "10.1.2.3";
    return b;
  }

  // decide + submit + wait, as ingest does; returns the status and seq.
  CommitOutcome vote(std::string_view voter, std::string_view candidate,
                     std::string_view request_id = {}, std::string_view ua = {}) {
    engine::Ballot b = ballot(voter, candidate);
    b.request_id = request_id;
    b.ua = ua;
    engine::Decision decision = engine_.decide(b);
    CommitOutcome outcome;
    if (decision.status != engine::VoteStatus::accepted) {
      outcome.status = decision.status;
      outcome.seq = decision.seq;
      return outcome;
    }
    OutcomeWaiter waiter;
    const SubmitResult result =
        testing::submit_vote(*log_, b, decision.claim, decision.flags, waiter);
    if (result != SubmitResult::queued) {
      engine_.release(std::move(decision.claim));
      outcome.status = result == SubmitResult::overloaded ? engine::VoteStatus::overloaded
                                                          : engine::VoteStatus::unavailable;
      return outcome;
    }
    return waiter.wait();
  }

  std::uint64_t votes_of(std::string_view candidate) {
    const auto tally = engine_.tally("ordos");
    for (const auto& c : tally->candidates) {
      if (c.id == candidate) return c.votes;
    }
    return ~0ull;
  }

  ManualClock clock_;
  engine::Engine engine_;
  std::unique_ptr<VoteLog> log_;
};

class VoteLogTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(VoteLogTest, CommittedVotesGetSeqsAndAreShownAsStoredEvents) {
  Server server(dir_.sub("db"));
  ASSERT_TRUE(server.log_->ready());
  const CommitOutcome campaign = server.put_campaign(make_campaign());
  EXPECT_EQ(campaign.campaign_outcome, engine::PutOutcome::created);
  EXPECT_EQ(campaign.seq, 1u);
  const CommitOutcome a = server.vote("alice", "c01");
  EXPECT_EQ(a.status, engine::VoteStatus::accepted);
  EXPECT_EQ(a.seq, 2u);
  EXPECT_TRUE(a.durable);
  EXPECT_EQ(server.vote("bob", "c02").seq, 3u);
  EXPECT_EQ(server.log_->last_seq(), 3u);
  EXPECT_EQ(server.engine_.as_of_seq(), 3u);
  EXPECT_EQ(server.votes_of("c01"), 1u);

  auto json = server.log_->event_json(2);
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(json->rfind("{\"seq\":2,\"kind\":\"vote\",\"campaign\":\"ordos\",\"candidate\":"
                        "\"c01\",\"voter\":\"alice\",\"ip\":\"10.1.2.3\",\"server_ms\":" +
                            std::to_string(kNoon),
                        0),
            0u)
      << *json;
  auto campaign_json = server.log_->event_json(1);
  ASSERT_TRUE(campaign_json.has_value());
  EXPECT_NE(campaign_json->find("\"kind\":\"campaign\",\"campaign\":{"), std::string::npos);
  EXPECT_FALSE(server.log_->event_json(0).has_value());
  EXPECT_FALSE(server.log_->event_json(4).has_value());
}

TEST_F(VoteLogTest, ManyConcurrentVotersAreCommittedInGroups) {
  Server server(dir_.sub("db"));
  server.put_campaign(make_campaign());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::uint64_t> seqs(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        const auto outcome = server.vote("voter-" + std::to_string(n), "c03");
        seqs[n] = outcome.status == engine::VoteStatus::accepted ? outcome.seq : 0;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::uint64_t> unique(seqs.begin(), seqs.end());
  EXPECT_EQ(unique.size(), seqs.size());
  EXPECT_EQ(*unique.begin(), 2u);
  EXPECT_EQ(*unique.rbegin(), seqs.size() + 1);
  EXPECT_EQ(server.votes_of("c03"), seqs.size());
}

TEST_F(VoteLogTest, VotesSubmittedTogetherFromOneBufferCommitInTheirOrder) {
  Server server(dir_.sub("db"));
  server.put_campaign(make_campaign());
  // As ingest queues a batch: every payload in one buffer, one submit_votes().
  constexpr std::size_t kVotes = 50;
  std::string payloads;
  std::vector<OutcomeWaiter> waiters(kVotes);
  std::vector<engine::VoteToCommit> votes;
  for (std::size_t i = 0; i < kVotes; ++i) {
    const std::string voter = "batch-voter-" + std::to_string(i);
    const engine::Ballot ballot = server.ballot(voter, i % 2 == 0 ? "c01" : "c02");
    engine::Decision decision = server.engine_.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    const std::size_t begin = payloads.size();
    server.log_->append_vote_payload(ballot, decision.claim, decision.flags, payloads);
    votes.push_back({begin, payloads.size(), std::move(decision.claim), 0, &waiters[i]});
  }
  SubmitResult refusal = SubmitResult::overloaded;
  ASSERT_EQ(server.log_->submit_votes(votes, payloads, refusal), kVotes);
  EXPECT_EQ(refusal, SubmitResult::queued);
  for (std::size_t i = 0; i < kVotes; ++i) {
    const CommitOutcome& outcome = waiters[i].wait();
    EXPECT_EQ(outcome.status, engine::VoteStatus::accepted);
    EXPECT_EQ(outcome.seq, i + 2) << "the campaign is seq 1";
    const auto event = server.log_->event_json(outcome.seq);
    ASSERT_TRUE(event.has_value());
    EXPECT_NE(event->find("\"voter\":\"batch-voter-" + std::to_string(i) + "\""), std::string::npos)
        << *event;
  }
  EXPECT_EQ(server.votes_of("c01") + server.votes_of("c02"), kVotes);
}

TEST_F(VoteLogTest, VotesAreRefusedWholeOnceStoppedAndKeepTheirClaims) {
  Server server(dir_.sub("db"));
  server.put_campaign(make_campaign());
  const engine::Ballot ballot = server.ballot("late-voter", "c01");
  engine::Decision decision = server.engine_.decide(ballot);
  ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
  server.log_->stop();
  OutcomeWaiter waiter;
  EXPECT_EQ(testing::submit_vote(*server.log_, ballot, decision.claim, 0, waiter),
            SubmitResult::unavailable);
  EXPECT_EQ(waiter.calls.load(), 0);
  // The claim came back: releasing it lets the voter vote again.
  server.engine_.release(std::move(decision.claim));
  EXPECT_EQ(server.engine_.decide(ballot).status, engine::VoteStatus::accepted);
}

TEST_F(VoteLogTest, RecoveryRestoresTalliesDedupeAndTheNextSeq) {
  std::uint64_t alice_seq = 0;
  {
    Server server(dir_.sub("db"));
    server.put_campaign(make_campaign());
    alice_seq = server.vote("alice", "c01", "req-a").seq;
    server.vote("bob", "c01");
    server.vote("bob", "c02");
    server.log_->stop();
  }
  Server server(dir_.sub("db"));
  ASSERT_TRUE(server.log_->ready());
  EXPECT_EQ(server.engine_.as_of_seq(), 4u);
  EXPECT_EQ(server.votes_of("c01"), 2u);
  EXPECT_EQ(server.votes_of("c02"), 1u);
  const auto again = server.vote("alice", "c01");
  EXPECT_EQ(again.status, engine::VoteStatus::duplicate);
  EXPECT_EQ(again.seq, alice_seq);
  const auto retry = server.vote("alice", "c04", "req-a");
  EXPECT_EQ(retry.status, engine::VoteStatus::duplicate);
  EXPECT_EQ(retry.seq, alice_seq);
  EXPECT_EQ(server.vote("bob", "c03").status, engine::VoteStatus::quota_exceeded);
  EXPECT_EQ(server.vote("carol", "c01").seq, 5u);
  EXPECT_TRUE(server.log_->event_json(alice_seq).has_value());
}

// Votes from four threads commit in shared batches, whose records keep each user agent once
// (event format version 2). Recovery reads the agents back through the string tables into a
// fresh fraud monitor: the same flags and the same report as before the restart.
TEST_F(VoteLogTest, RecoveryReplaysUserAgentsFromTheRecordsStringTables) {
  const std::string agents[] = {"MicroMessenger/8.0.33 NetType/WIFI",
                                "MicroMessenger/8.0.32 NetType/4G", "python-requests/2.31",
                                std::string(engine::kMaxUaBytes, 'w')};  // the longest allowed
  std::optional<std::string> report_before;
  {
    engine::FraudMonitor fraud;
    Server server(dir_.sub("db"), {}, &fraud);
    server.put_campaign(make_campaign());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const int n = t * 200 + i;
          const auto outcome = server.vote("voter-" + std::to_string(n), "c01", {},
                                           agents[static_cast<std::size_t>(n) % 4]);
          EXPECT_EQ(outcome.status, engine::VoteStatus::accepted);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    report_before = fraud.report_json("ordos");
    server.log_->stop();
  }
  ASSERT_TRUE(report_before.has_value());
  EXPECT_NE(report_before->find("\"bot_ua\":200"), std::string::npos) << *report_before;
  engine::FraudMonitor fraud;
  Server server(dir_.sub("db"), {}, &fraud);
  ASSERT_TRUE(server.log_->ready());
  EXPECT_EQ(server.votes_of("c01"), 800u);
  EXPECT_EQ(fraud.report_json("ordos"), report_before);
  std::map<std::string, int> votes_by_agent;  // as the stored events show them
  for (std::uint64_t seq = 2; seq <= 801; ++seq) {
    const auto event = server.log_->event_json(seq);
    ASSERT_TRUE(event.has_value()) << seq;
    for (const std::string& agent : agents) {
      if (event->find("\"ua\":\"" + agent + "\"") != std::string::npos) ++votes_by_agent[agent];
    }
  }
  for (const std::string& agent : agents) EXPECT_EQ(votes_by_agent[agent], 200) << agent;
}

// Obsolete WAL and table files are deleted paced, waiting as *.trash in the data dir; a crash
// can leave some behind. The next open must read the log as before and clear them.
TEST_F(VoteLogTest, TrashLeftByACrashIsClearedAtTheNextOpen) {
  {
    Server server(dir_.sub("db"));
    server.put_campaign(make_campaign());
    server.vote("alice", "c01");
    server.log_->stop();
  }
  const std::vector<std::string> trash = {dir_.sub("db") + "/000003.log.trash",
                                          dir_.sub("db") + "/000009.sst.trash"};
  for (const std::string& path : trash) {
    std::ofstream(path) << std::string(1 << 16, 'x');
  }
  Server server(dir_.sub("db"));
  ASSERT_TRUE(server.log_->ready());
  EXPECT_EQ(server.votes_of("c01"), 1u);
  EXPECT_EQ(server.vote("alice", "c01").status, engine::VoteStatus::duplicate);
  // Paced at megabytes a second, 64 KiB files go at once; allow a slow machine 10 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto left = [&] {
    int n = 0;
    for (const std::string& path : trash) n += std::filesystem::exists(path) ? 1 : 0;
    return n;
  };
  while (left() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(left(), 0);
}

TEST_F(VoteLogTest, AsyncDurabilityAnswersNotDurable) {
  StorageOptions options;
  options.durability = Durability::async;
  Server server(dir_.sub("db"), options);
  server.put_campaign(make_campaign());
  const auto outcome = server.vote("alice", "c01");
  EXPECT_EQ(outcome.status, engine::VoteStatus::accepted);
  EXPECT_FALSE(outcome.durable);
}

TEST_F(VoteLogTest, FailingDiskMakesStorageUnavailableWithoutPhantomVotes) {
  auto fail_io = std::make_shared<std::atomic<bool>>(false);
  {
    StorageOptions options;
    options.fail_io = fail_io;
    Server server(dir_.sub("db"), options);
    server.put_campaign(make_campaign());
    EXPECT_EQ(server.vote("alice", "c01").status, engine::VoteStatus::accepted);
    fail_io->store(true);
    EXPECT_EQ(server.vote("bob", "c01").status, engine::VoteStatus::unavailable);
    EXPECT_FALSE(server.log_->ready());
    EXPECT_EQ(server.vote("carol", "c01").status, engine::VoteStatus::unavailable);
    // bob's claim was released and nothing of the failed batch was counted.
    EXPECT_EQ(server.votes_of("c01"), 1u);
    EXPECT_EQ(server.engine_.as_of_seq(), 2u);
    server.log_->stop();
    fail_io->store(false);
  }
  Server server(dir_.sub("db"));
  ASSERT_TRUE(server.log_->ready());
  EXPECT_EQ(server.votes_of("c01"), 1u);
  EXPECT_EQ(server.vote("bob", "c01").status, engine::VoteStatus::accepted);
}

// Submits a decided ballot without waiting for its answer, as ingest does.
bool submit_async(Server& server, std::string_view voter, OutcomeWaiter& waiter) {
  engine::Ballot b = server.ballot(voter, "c01");
  engine::Decision decision = server.engine_.decide(b);
  if (decision.status != engine::VoteStatus::accepted) return false;
  if (testing::submit_vote(*server.log_, b, decision.claim, decision.flags, waiter) !=
      SubmitResult::queued) {
    server.engine_.release(std::move(decision.claim));
    return false;
  }
  return true;
}

// Polls `condition` for up to a minute: a broken retry fails the test instead of hanging it.
template <typename Condition>
bool within_a_minute(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST_F(VoteLogTest, AFullDiskHoldsTheBatchUntilSpaceComesBackThenAcceptsItOnce) {
  auto fail_io = std::make_shared<std::atomic<bool>>(false);
  {
    StorageOptions options;
    options.fail_io = fail_io;
    options.fail_io_no_space = true;  // as RocksDB reports ENOSPC
    options.retry_for = std::chrono::hours(1);
    Server server(dir_.sub("db"), options);
    server.put_campaign(make_campaign());
    EXPECT_EQ(server.vote("alice", "c01").seq, 2u);
    fail_io->store(true);
    OutcomeWaiter bob;
    ASSERT_TRUE(submit_async(server, "bob", bob));
    ASSERT_TRUE(within_a_minute([&] { return server.log_->commit_stats().retrying; }));
    EXPECT_FALSE(server.log_->ready());
    EXPECT_TRUE(server.log_->failure().empty()) << server.log_->failure();
    EXPECT_EQ(server.vote("carol", "c01").status, engine::VoteStatus::unavailable);
    EXPECT_EQ(bob.calls.load(), 0) << "bob was answered while his batch was held";

    fail_io->store(false);
    ASSERT_TRUE(within_a_minute([&] { return bob.calls.load() == 1; }));
    const CommitOutcome held = bob.wait();
    EXPECT_EQ(held.status, engine::VoteStatus::accepted);
    EXPECT_EQ(held.seq, 3u);
    EXPECT_TRUE(server.log_->ready());
    EXPECT_GE(server.log_->commit_stats().write_retries, 1u);
    EXPECT_EQ(server.vote("carol", "c01").seq, 4u);
    EXPECT_EQ(server.votes_of("c01"), 3u);
    server.log_->stop();
  }
  // Stored once each: a restart counts three votes and knows bob by his seq.
  Server server(dir_.sub("db"));
  EXPECT_EQ(server.votes_of("c01"), 3u);
  EXPECT_EQ(server.engine_.as_of_seq(), 4u);
  const CommitOutcome again = server.vote("bob", "c01");
  EXPECT_EQ(again.status, engine::VoteStatus::duplicate);
  EXPECT_EQ(again.seq, 3u);
}

// The hard case of a retry: the full disk tears the first record of a fresh WAL (a restart
// left the memtables empty). RocksDB 7.8 then refuses that WAL for good ("Seen error"), and
// its Resume() alone keeps it: a retried write would abort the process on an assertion of
// Debian's build, or, without it, follow the torn record where recovery stops reading. The
// writer's resume() starts new WALs, so the failure is reported as permanent instead: the
// held vote is answered `unavailable`, nothing acknowledged is lost, and the restart (which
// reopens the WAL) takes votes again.
TEST_F(VoteLogTest, AFullDiskThatTornAFreshWalFailsCleanlyAndTheRestartRecovers) {
  auto fail_io = std::make_shared<std::atomic<bool>>(false);
  StorageOptions options;
  options.fail_io = fail_io;
  options.fail_io_no_space = true;
  options.retry_for = std::chrono::hours(1);
  {
    Server server(dir_.sub("db"), options);
    server.put_campaign(make_campaign());
    EXPECT_EQ(server.vote("alice", "c01").seq, 2u);
    server.log_->stop();
  }
  {
    Server server(dir_.sub("db"), options);  // recovery flushed the old WAL: memtables empty
    fail_io->store(true);
    OutcomeWaiter bob;
    ASSERT_TRUE(submit_async(server, "bob", bob));
    ASSERT_TRUE(within_a_minute([&] { return server.log_->commit_stats().retrying; }));
    fail_io->store(false);
    ASSERT_TRUE(within_a_minute([&] { return bob.calls.load() == 1; }));
    EXPECT_EQ(bob.wait().status, engine::VoteStatus::unavailable);
    EXPECT_NE(server.log_->failure().find("resume after a failed write"), std::string::npos)
        << server.log_->failure();
    server.log_->stop();
  }
  Server server(dir_.sub("db"));
  EXPECT_EQ(server.engine_.as_of_seq(), 2u);
  EXPECT_EQ(server.vote("bob", "c01").seq, 3u);
  EXPECT_EQ(server.vote("alice", "c01").status, engine::VoteStatus::duplicate);
}

TEST_F(VoteLogTest, AnIoErrorThatCannotPassFailsAtOnceWithoutWaitingTheRetryTime) {
  auto fail_io = std::make_shared<std::atomic<bool>>(false);
  StorageOptions options;
  options.fail_io = fail_io;  // a plain I/O error, as EIO or EROFS
  options.retry_for = std::chrono::hours(1);
  Server server(dir_.sub("db"), options);
  server.put_campaign(make_campaign());
  fail_io->store(true);
  OutcomeWaiter bob;
  ASSERT_TRUE(submit_async(server, "bob", bob));
  ASSERT_TRUE(within_a_minute([&] { return bob.calls.load() == 1; }))
      << "a permanent failure was held for the retry time";
  EXPECT_EQ(bob.heard.status, engine::VoteStatus::unavailable);
  EXPECT_EQ(server.log_->commit_stats().write_retries, 0u);
  const std::string failure = server.log_->failure();
  EXPECT_NE(failure.find("injected fault; an I/O error of the data dir's disk"), std::string::npos)
      << failure;
  server.log_->stop();
  fail_io->store(false);
}

TEST_F(VoteLogTest, UnopenableDataDirIsAnErrorNotACrash) {
  const std::string file = dir_.sub("not-a-dir");
  std::ofstream(file) << "x";
  StorageOptions options;
  options.data_dir = file + "/db";
  auto opened = VoteLog::open(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find(options.data_dir), std::string::npos) << opened.message();
}

}  // namespace
}  // namespace tally::storage
