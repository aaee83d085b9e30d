// End to end: the real tally-loadgen against the real tallyd (--demo) on a free loopback
// port, for about two seconds with --verify: the tally must grow by exactly the accepted
// answers the generator received, in total and per candidate. And its command line, which
// refuses bad usage with exit 2 before it sends anything.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tally/base/version.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

struct Finished {
  int exit_code = -1;
  std::string output;
};

Finished run_command(const std::string& command) {
  Finished finished;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return finished;
  char chunk[4096];
  std::size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) finished.output.append(chunk, got);
  const int status = ::pclose(pipe);
  finished.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return finished;
}

std::uint64_t json_count(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return 0;
  return std::strtoull(json.c_str() + at + key.size() + 3, nullptr, 10);
}

std::string loadgen() {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  return std::string(bin_dir ? bin_dir : "build/bin") + "/tally-loadgen";
}

class LoadgenE2e : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(tallyd_.start({"--demo"})) << tallyd_.log(); }

  Finished run_loadgen(const std::string& flags) {
    const std::string command =
        loadgen() + " --target 127.0.0.1:" + std::to_string(tallyd_.port()) + " --token-file " +
        (tallyd_.data_dir() / "tokens.generated").string() + " " + flags;
    std::printf("%s\n", command.c_str());
    Finished finished = run_command(command);
    std::printf("%s\n", finished.output.c_str());
    return finished;
  }

  TallydProcess tallyd_;
};

TEST_F(LoadgenE2e, SingleVotesForTwoSecondsMatchTheTally) {
  const Finished finished = run_loadgen(
      "--duration 2 --connections 8 --voters 2000 --retry-fraction 0.05 --verify --json");
  EXPECT_EQ(finished.exit_code, 0);
  EXPECT_GT(json_count(finished.output, "accepted"), 0u);
  EXPECT_NE(finished.output.find("\"verify\":{\"ok\":true"), std::string::npos);
  EXPECT_EQ(json_count(finished.output, "transport_errors"), 0u);
}

TEST_F(LoadgenE2e, BatchesOnADatabaseThatAlreadyHasVotesMatchTheTally) {
  const Finished first = run_loadgen("--requests 200 --connections 2 --seed 1 --json");
  ASSERT_EQ(first.exit_code, 0);
  // A run bounded by --requests ends each connection after its last answer, with no error.
  EXPECT_EQ(json_count(first.output, "transport_errors"), 0u);
  const Finished finished = run_loadgen(
      "--mode batch --batch-size 200 --requests 40 --connections 2 --pipeline 2 --seed 2 "
      "--verify --json");
  EXPECT_EQ(finished.exit_code, 0);
  EXPECT_EQ(json_count(finished.output, "votes"), 8000u);
  EXPECT_GT(json_count(finished.output, "accepted"), 0u);
  EXPECT_EQ(json_count(finished.output, "transport_errors"), 0u);
  EXPECT_EQ(json_count(finished.output, "unanswered"), 0u);
}

// A run longer than its prepared requests goes over them again: the second pass answers
// duplicate, unless --fresh-passes renames its voters and request ids.
TEST_F(LoadgenE2e, FreshPassesBringNewVotersWhereRepeatedPassesAnswerDuplicate) {
  const std::string flags =
      "--mode batch --batch-size 100 --prepare 5 --requests 20 --connections 2 --pipeline 2 "
      "--voters 1000000000 --retry-fraction 0 --verify --json ";
  const Finished repeated = run_loadgen(flags + "--seed 5");
  EXPECT_EQ(repeated.exit_code, 0);
  EXPECT_EQ(json_count(repeated.output, "accepted"), 500u);
  EXPECT_EQ(json_count(repeated.output, "duplicate"), 1500u);
  const Finished fresh = run_loadgen(flags + "--seed 6 --fresh-passes");
  EXPECT_EQ(fresh.exit_code, 0);
  EXPECT_EQ(json_count(fresh.output, "accepted"), 2000u);
  EXPECT_EQ(json_count(fresh.output, "duplicate"), 0u);
  EXPECT_EQ(json_count(fresh.output, "transport_errors"), 0u);
}

TEST_F(LoadgenE2e, OpenLoopSendsAtTheGivenRate) {
  const Finished finished =
      run_loadgen("--rate 500 --duration 1 --connections 4 --scenario farm --verify --json");
  EXPECT_EQ(finished.exit_code, 0);
  // 500 due times in one second; none may be skipped, a few may be answered late.
  EXPECT_EQ(
      json_count(finished.output, "requests") + json_count(finished.output, "behind_schedule"),
      500u);
}

TEST_F(LoadgenE2e, AWrongTokenIsCountedAsUnauthorized) {
  const std::string command = loadgen() + " --target 127.0.0.1:" + std::to_string(tallyd_.port()) +
                              " --token wrong --requests 10 --connections 1 --json";
  const Finished finished = run_command(command);
  EXPECT_EQ(finished.exit_code, 0) << finished.output;
  EXPECT_EQ(json_count(finished.output, "unauthorized"), 10u) << finished.output;
}

// No server is needed: every one of these ends before a connection is made.
TEST(LoadgenCommandLine, VersionHelpAndBadUsage) {
  const Finished version = run_command(loadgen() + " --version 2>&1");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_EQ(version.output, "tally-loadgen " + std::string(base::version()) + " (revision " +
                                std::string(base::revision()) + ")\n");
  const Finished help = run_command(loadgen() + " --help 2>&1");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_EQ(help.output.rfind("tally-loadgen - ", 0), 0u) << help.output;
  EXPECT_NE(help.output.find("Exit status:\n  0 "), std::string::npos) << help.output;

  // Port 9 (discard) on loopback: nothing listens there, and nothing may be sent to it.
  const std::pair<std::string, std::string> bad[] = {
      {"--connections 12x", "--connections: must be 1..50000, got \"12x\""},
      {"--conections 8", "--conections: unknown flag"},
      {"--duration=-1", "--duration: must be in (0, 86400] seconds"},
      {"--mode batches", "--mode: must be single or batch"},
  };
  for (const auto& [flags, message] : bad) {
    const Finished finished = run_command(loadgen() + " --target 127.0.0.1:9 " + flags + " 2>&1");
    EXPECT_EQ(finished.exit_code, 2) << flags << ": " << finished.output;
    EXPECT_EQ(finished.output.rfind("tally-loadgen: " + message, 0), 0u)
        << flags << ": " << finished.output;
  }
}

}  // namespace
}  // namespace tally::testing
