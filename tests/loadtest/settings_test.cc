#include "tally/loadtest/settings.h"

#include <gtest/gtest.h>

namespace tally::loadtest {
namespace {

TEST(ParseArgs, DefaultsNeedOnlyATarget) {
  const ParsedArgs parsed = parse_args({"--target", "127.0.0.1:8080"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  const Settings& s = parsed.settings;
  EXPECT_EQ(s.run.host, "127.0.0.1");
  EXPECT_EQ(s.run.port, 8080);
  EXPECT_EQ(s.population.campaign, "ordos-2023-zuimei");
  EXPECT_EQ(s.run.connections, 64u);
  EXPECT_EQ(s.run.threads, 1u);
  EXPECT_EQ(s.run.pipeline, 1u);
  EXPECT_EQ(s.workload.mode, Mode::single);
  EXPECT_EQ(s.run.duration_s, 10);
  EXPECT_EQ(s.run.rate, 0);
}

TEST(ParseArgs, ReadsEveryFlag) {
  const ParsedArgs parsed =
      parse_args({"--target",     "localhost:9", "--token",       "t",    "--campaign",       "c",
                  "--candidates", "a,b,c",       "--connections", "8",    "--threads",        "2",
                  "--mode",       "batch",       "--batch-size",  "1000", "--pipeline",       "4",
                  "--rate",       "500",         "--duration",    "2.5",  "--requests",       "100",
                  "--voters",     "10",          "--zipf",        "0.5",  "--retry-fraction", "0.1",
                  "--scenario",   "farm",        "--seed",        "9",    "--agents",         "500",
                  "--json",       "--verify"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  const Settings& s = parsed.settings;
  EXPECT_EQ(s.token, "t");
  EXPECT_EQ(s.population.candidates, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s.workload.mode, Mode::batch);
  EXPECT_EQ(s.workload.batch_size, 1000u);
  EXPECT_EQ(s.workload.requests, 100u);
  EXPECT_EQ(s.run.max_requests, 100u);
  EXPECT_EQ(s.run.duration_s, 2.5);
  EXPECT_EQ(s.population.scenario, Scenario::farm);
  EXPECT_EQ(s.population.agents, 500u);
  EXPECT_TRUE(s.json);
  EXPECT_TRUE(s.verify);
}

TEST(ParseArgs, ErrorsNameTheFlagAndTheRule) {
  EXPECT_EQ(parse_args({}).error, "--target: required");
  EXPECT_EQ(parse_args({"--target", "nohost"}).error, "--target: must be HOST:PORT, got nohost");
  EXPECT_EQ(parse_args({"--target", "h:1", "--batch-size", "20000"}).error,
            "--batch-size: must be 1..10000");
  EXPECT_EQ(parse_args({"--target", "h:1", "--agents", "0"}).error, "--agents: must be 1..100000");
  EXPECT_EQ(parse_args({"--target", "h:1", "--scenario", "x"}).error,
            "--scenario: must be honest, farm or phone, got x");
  EXPECT_EQ(parse_args({"--target", "h:1", "--bogus", "1"}).error,
            "--bogus: unknown flag (see --help)");
  EXPECT_TRUE(parse_args({"--help"}).help);
}

}  // namespace
}  // namespace tally::loadtest
