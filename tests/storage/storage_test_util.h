// Shared helpers of the storage tests: a test campaign, temporary directories, and a
// completion that records outcomes.
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
#include "tally/storage/commit_types.h"
#include "tally/storage/vote_log.h"

namespace tally::storage::testing {

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

// Records every completion; safe to complete from the writer thread while a test reads.
class Outcomes {
 public:
  static void record(void* context, const CommitOutcome& outcome) {
    auto* self = static_cast<Outcomes*>(context);
    std::lock_guard lock(self->mutex_);
    self->outcomes_.push_back(outcome);
  }
  std::vector<CommitOutcome> snapshot() {
    std::lock_guard lock(mutex_);
    return outcomes_;
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return outcomes_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<CommitOutcome> outcomes_;
};

// Runs build/bin/tallyctl (TALLY_BIN_DIR) with `args`; its exit code and output.
struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline RunResult run_tallyctl(const std::string& args) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  const std::string bin = std::string(bin_dir != nullptr ? bin_dir : "build/bin") + "/tallyctl";
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

// Waits until a completion counted in `calls` has run.
inline void wait_done(std::atomic<int>& calls) {
  while (calls.load(std::memory_order_acquire) == 0) std::this_thread::yield();
}

// Writes a log as tallyd does, one event per commit batch: the test campaign first (seq 1),
// then one ballot per vote() call.
class LogWriter {
 public:
  // Opens `dir`, recovers, starts the writer and commits make_campaign().
  void open(const std::string& dir) {
    StorageOptions options;
    options.data_dir = dir;
    auto opened = VoteLog::open(options);
    ASSERT_TRUE(opened.ok()) << opened.message();
    log_ = std::move(opened).value();
    ASSERT_TRUE(log_->recover(engine_).ok());
    log_->start(engine_);
    calls_.store(0);
    ASSERT_EQ(log_->submit_campaign(make_campaign(), &done, &calls_), SubmitResult::queued);
    wait_done(calls_);
  }

  // Decides `ballot` (it must be accepted) and commits it with `flags`; waits for the commit.
  void vote(const engine::Ballot& ballot, engine::FraudFlags flags) {
    auto decision = engine_.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    calls_.store(0);
    ASSERT_EQ(log_->submit_vote(ballot, decision.claim, flags, &done, &calls_),
              SubmitResult::queued);
    wait_done(calls_);
  }

  void stop() { log_->stop(); }

 private:
  static void done(void* context, const CommitOutcome&) {
    static_cast<std::atomic<int>*>(context)->fetch_add(1, std::memory_order_release);
  }

  ManualClock clock_{kNoon};
  engine::Engine engine_{clock_};
  std::unique_ptr<VoteLog> log_;
  std::atomic<int> calls_{0};
};

}  // namespace tally::storage::testing
