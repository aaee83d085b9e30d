// Crash test: frontends post votes to the real tallyd while it is killed with SIGKILL at
// random moments, over and over. After every restart:
//  - every ballot that was answered `accepted` is answered `duplicate` with the same seq;
//  - resending every ballot ever sent counts each exactly once: the tally's total equals the
//    number of distinct ballots, whatever was lost in flight;
//  - `tallyctl verify` accepts the log, also right after a kill.
// Ballots carry a request_id, so the checks hold even if the run crosses a period boundary.
// The seed is printed so that a failure can be rerun (TALLY_TEST_SEED).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "seed.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr int kKills = 6;
constexpr int kFrontends = 4;
constexpr const char* kCampaign = "ordos-2023-zuimei";

std::uint64_t seq_of(const std::string& answer) {
  return static_cast<std::uint64_t>(number_of(answer, "seq"));
}

struct Ballot {
  std::string voter;
  std::string candidate;
  std::string body() const {
    return std::string("{\"campaign\":\"") + kCampaign + "\",\"candidate\":\"" + candidate +
           "\",\"voter\":\"" + voter + "\",\"device\":\"dev-" + voter + "\",\"request_id\":\"" +
           voter + "\"}";
  }
};

int run_tallyctl_verify(const std::filesystem::path& data_dir, std::string& output) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  const std::string command = std::string(bin_dir ? bin_dir : "build/bin") +
                              "/tallyctl verify --data-dir " + data_dir.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char chunk[4096];
  std::size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) output.append(chunk, got);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Crash, AcknowledgedVotesSurviveRepeatedKillNine) {
  const std::uint64_t seed = testing::test_seed();
  std::mt19937_64 rng(seed);
  TallydProcess tallyd;
  ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();

  std::vector<Ballot> sent;                           // every ballot ever sent, in order
  std::map<std::string, std::uint64_t> acknowledged;  // voter -> seq answered `accepted`

  for (int kill = 0; kill < kKills; ++kill) {
    // Frontends post fresh ballots until the server dies under them.
    std::mutex mutex;
    std::atomic<bool> stop{false};
    std::atomic<int> accepted_now{0};  // this round's `accepted` answers
    std::vector<std::thread> frontends;
    for (int f = 0; f < kFrontends; ++f) {
      frontends.emplace_back([&, f] {
        HttpClient client(tallyd.port(), 5'000);
        for (int i = 0; !stop.load() && client.connected(); ++i) {
          Ballot ballot{
              "k" + std::to_string(kill) + "-f" + std::to_string(f) + "-" + std::to_string(i),
              "c" + std::string(i % 20 < 9 ? "0" : "") + std::to_string(i % 20 + 1)};
          {
            std::lock_guard lock(mutex);
            sent.push_back(ballot);
          }
          const HttpAnswer answer =
              client.request("POST", "/v1/votes", ballot.body(), tallyd.ingest_token());
          if (answer.status == 0) return;  // the server died mid-request
          if (status_of(answer.body) == "accepted") {
            std::lock_guard lock(mutex);
            acknowledged[ballot.voter] = seq_of(answer.body);
            ++accepted_now;
          }
        }
      });
    }
    // Killed once votes are flowing (a slow machine may take a while to get there), at a
    // random moment after: the random wait is what the test varies, it orders nothing.
    const ::testing::AssertionResult flowing = wait_until(
        [&] { return accepted_now.load() > 0; }, std::chrono::seconds(30), "votes are accepted");
    if (flowing) std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 500));
    tallyd.stop(SIGKILL);
    stop.store(true);
    for (auto& frontend : frontends) frontend.join();
    ASSERT_TRUE(flowing) << "round " << kill << "\n" << tallyd.log();

    std::string verify_output;
    EXPECT_EQ(run_tallyctl_verify(tallyd.data_dir(), verify_output), 0)
        << "after kill " << kill << ":\n"
        << verify_output;

    ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();
    // Every ballot again: acknowledged ones must be duplicates of their seq; the rest are
    // counted now or were counted before the kill, never twice.
    HttpClient client(tallyd.port());
    std::set<std::string> counted;
    for (const Ballot& ballot : sent) {
      const HttpAnswer answer =
          client.request("POST", "/v1/votes", ballot.body(), tallyd.ingest_token());
      const std::string status = status_of(answer.body);
      const auto known = acknowledged.find(ballot.voter);
      if (known != acknowledged.end()) {
        ASSERT_EQ(status, "duplicate")
            << ballot.voter << " after kill " << kill << ": " << answer.body;
        ASSERT_EQ(seq_of(answer.body), known->second) << ballot.voter;
      } else {
        ASSERT_TRUE(status == "accepted" || status == "duplicate") << answer.body;
        acknowledged[ballot.voter] = seq_of(answer.body);
      }
      counted.insert(ballot.voter);
    }
    const HttpAnswer tally =
        client.request("GET", std::string("/v1/campaigns/") + kCampaign + "/tally");
    ASSERT_EQ(tally.status, 200);
    EXPECT_EQ(static_cast<std::uint64_t>(number_of(tally.body, "total")), counted.size())
        << tally.body;
    std::printf("kill %d: %zu ballots sent so far, all counted once\n", kill, counted.size());
  }
  ASSERT_GT(acknowledged.size(), static_cast<std::size_t>(kKills));
  EXPECT_EQ(tallyd.stop(SIGTERM), 0);
  std::string verify_output;
  EXPECT_EQ(run_tallyctl_verify(tallyd.data_dir(), verify_output), 0) << verify_output;
}

}  // namespace
}  // namespace tally::testing
