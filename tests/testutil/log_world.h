// The storage tests' world: a test campaign, temporary directories, a waiter that hears one
// outcome, a vote submitted as ingest submits it, tallyctl runs, and a log written as tallyd
// writes it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/clock.h"
#include "tally/base/time.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/storage/commit_types.h"
#include "tally/storage/vote_log.h"

namespace tally::testing {

// 2023-03-27T00:00:00+08:00 and the 12-day window of the seed campaign.
inline constexpr std::int64_t kOpens = 1679846400000;
inline constexpr std::int64_t kCloses = kOpens + 12 * kMsPerDay;
inline constexpr std::int64_t kNoon = kOpens + 12 * 3'600'000;

inline engine::Campaign make_campaign(std::string id = "ordos", std::uint32_t max_candidates = 2) {
  engine::Campaign campaign;
  campaign.id = std::move(id);
  campaign.title = "最美产业工人";
  campaign.opens_at_ms = kOpens;
  campaign.closes_at_ms = kCloses;
  campaign.utc_offset_s = 8 * 3600;
  campaign.rules = {engine::PeriodKind::day, 1, max_candidates};
  campaign.expected_voters = 1000;
  for (const char* c : {"c01", "c02", "c03", "c04"}) {
    campaign.candidates.push_back({c, std::string("候选人") + c, "unit", "能源"});
  }
  return campaign;
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tally-storage-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A program's exit code and output (build/bin is TALLY_BIN_DIR's).
struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs build/bin/`program` with `args` (a shell fragment).
inline RunResult run_program(const std::string& program, const std::string& args) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  const std::string bin = std::string(bin_dir != nullptr ? bin_dir : "build/bin") + "/" + program;
  RunResult result;
  FILE* pipe = popen((bin + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline RunResult run_tallyctl(const std::string& args) { return run_program("tallyctl", args); }

// Hears one submission's outcome; wait() returns it once the writer has delivered it. Holds the
// payload of the vote it waits for, which must live until then.
struct OutcomeWaiter final : engine::CommitWaiter {
  void committed(const engine::CommitOutcome& outcome) override {
    heard = outcome;
    // release: wait() that sees the count also sees `heard`.
    calls.fetch_add(1, std::memory_order_release);
  }
  const engine::CommitOutcome& wait() {
    while (calls.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    return heard;
  }
  std::atomic<int> calls{0};
  engine::CommitOutcome heard;
  std::string payload;
};

// A log over `dir`, recovered into `engine` and started, with make_campaign() committed as
// seq 1: the world in which a test decides and submits votes as ingest does.
inline std::unique_ptr<storage::VoteLog> started_log(const std::string& dir,
                                                     engine::Engine& engine) {
  storage::StorageOptions options;
  options.data_dir = dir;
  auto opened = storage::VoteLog::open(options);
  EXPECT_TRUE(opened.ok()) << opened.message();
  if (!opened.ok()) return nullptr;
  std::unique_ptr<storage::VoteLog> log = std::move(opened).value();
  EXPECT_TRUE(log->recover(engine).ok());
  log->start(engine);
  OutcomeWaiter waiter;
  EXPECT_EQ(log->submit_campaign(make_campaign(), waiter), engine::SubmitResult::queued);
  waiter.wait();
  return log;
}

// Queues one accepted ballot as ingest does: its payload encoded into the waiter, then
// submit_votes(). On `queued` the claim has been given up; else the caller still holds it.
inline engine::SubmitResult submit_vote(engine::EventLog& log, const engine::Ballot& ballot,
                                        engine::Claim& claim, engine::FraudFlags flags,
                                        OutcomeWaiter& waiter) {
  waiter.payload.clear();
  log.append_vote_payload(ballot, claim, flags, waiter.payload);
  engine::VoteToCommit vote{0, waiter.payload.size(), std::move(claim), flags, &waiter};
  engine::SubmitResult refusal = engine::SubmitResult::queued;
  if (log.submit_votes(std::span(&vote, 1), waiter.payload, refusal) == 1) return refusal;
  claim = std::move(vote.claim);
  return refusal;
}

// Writes a log as tallyd does, one event per commit batch: the test campaign first (seq 1),
// then one ballot per vote() call.
class LogWriter {
 public:
  // Opens `dir`, recovers, starts the writer and commits make_campaign(). With `keys`, the log
  // keeps its public tree.
  void open(const std::string& dir, std::shared_ptr<const publog::LogKeys> keys = nullptr) {
    storage::StorageOptions options;
    options.data_dir = dir;
    options.log_keys = std::move(keys);
    auto opened = storage::VoteLog::open(options);
    ASSERT_TRUE(opened.ok()) << opened.message();
    log_ = std::move(opened).value();
    ASSERT_TRUE(log_->recover(engine_).ok());
    log_->start(engine_);
    OutcomeWaiter waiter;
    ASSERT_EQ(log_->submit_campaign(make_campaign(), waiter), engine::SubmitResult::queued);
    waiter.wait();
  }

  // Decides `ballot` (it must be accepted) and commits it with `flags`; waits for the commit.
  void vote(const engine::Ballot& ballot, engine::FraudFlags flags) {
    auto decision = engine_.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    OutcomeWaiter waiter;
    ASSERT_EQ(submit_vote(*log_, ballot, decision.claim, flags, waiter),
              engine::SubmitResult::queued);
    waiter.wait();
  }

  void stop() { log_->stop(); }

 private:
  ManualClock clock_{kNoon};
  engine::Engine engine_{clock_};
  std::unique_ptr<storage::VoteLog> log_;
};

}  // namespace tally::testing
