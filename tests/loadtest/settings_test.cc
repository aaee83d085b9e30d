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
  const ParsedArgs parsed = parse_args({"--target",
                                        "localhost:9",
                                        "--token",
                                        "t",
                                        "--campaign",
                                        "c",
                                        "--candidates",
                                        "a,b,c",
                                        "--connections",
                                        "8",
                                        "--threads",
                                        "2",
                                        "--mode",
                                        "batch",
                                        "--batch-size",
                                        "1000",
                                        "--pipeline",
                                        "4",
                                        "--rate",
                                        "500",
                                        "--duration",
                                        "2.5",
                                        "--requests",
                                        "100",
                                        "--voters",
                                        "10",
                                        "--zipf",
                                        "0.5",
                                        "--retry-fraction",
                                        "0.1",
                                        "--scenario",
                                        "farm",
                                        "--seed",
                                        "9",
                                        "--agents",
                                        "500",
                                        "--json",
                                        "--verify",
                                        "--fresh-passes",
                                        "--prepare",
                                        "7",
                                        "--drain-timeout",
                                        "0.5"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  const Settings& s = parsed.settings;
  EXPECT_EQ(s.token, "t");
  EXPECT_EQ(s.population.candidates, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s.workload.mode, Mode::batch);
  EXPECT_EQ(s.workload.batch_size, 1000u);
  EXPECT_EQ(s.run.max_requests, 100u);
  EXPECT_EQ(s.run.duration_s, 2.5);
  EXPECT_EQ(s.population.scenario, Scenario::farm);
  EXPECT_EQ(s.population.agents, 500u);
  EXPECT_EQ(s.workload.requests, 7u);  // --prepare over --requests
  EXPECT_TRUE(s.run.fresh_passes);
  EXPECT_TRUE(s.population.pass_tags);
  EXPECT_EQ(s.run.drain_timeout_s, 0.5);
  EXPECT_TRUE(s.json);
  EXPECT_TRUE(s.verify);
}

TEST(ParseArgs, ErrorsNameTheFlagAndTheRule) {
  EXPECT_EQ(parse_args({}).error, "--target is required");
  EXPECT_EQ(parse_args({"--target", "nohost"}).error,
            "--target: must be HOST:PORT, got \"nohost\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--batch-size", "20000"}).error,
            "--batch-size: must be 1..10000, got \"20000\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--agents", "0"}).error,
            "--agents: must be 1..100000, got \"0\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--scenario", "x"}).error,
            "--scenario: must be honest, farm or phone, got \"x\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--bogus", "1"}).error,
            "--bogus: unknown flag (see --help)");
  EXPECT_EQ(parse_args({"--target", "h:1", "--bogus=1"}).error,
            "--bogus: unknown flag (see --help)");
  EXPECT_EQ(parse_args({"--target", "h:1", "stray"}).error,
            "unexpected argument \"stray\" (see --help)");
  EXPECT_EQ(parse_args({"--target", "h:1", "--token", "t", "--token-file", "f"}).error,
            "--token: give --token or --token-file, not both");
}

// A number is the whole value, in decimal, in its range: not a prefix, not octal or hex, not
// a negative number wrapped around.
TEST(ParseArgs, NumbersAreReadWholeAndStrictly) {
  for (const char* bad : {"12x", "-1", "+5", "0x10", " 5", "5 ", "1e3", "", "4294967297"}) {
    EXPECT_EQ(parse_args({"--target", "h:1", "--connections", bad}).error,
              std::string("--connections: must be 1..50000, got \"") + bad + "\"")
        << bad;
  }
  EXPECT_EQ(parse_args({"--target", "h:1", "--seed", "18446744073709551616"}).error,
            "--seed: must be a whole number >= 0, got \"18446744073709551616\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--rate", "5x"}).error,
            "--rate: must be a number >= 0, got \"5x\"");
  EXPECT_EQ(parse_args({"--target", "h:1", "--zipf", "nan"}).error,
            "--zipf: must be 0..10, got \"nan\"");
  const ParsedArgs parsed =
      parse_args({"--target", "h:1", "--connections", "010", "--rate", "1e3"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  EXPECT_EQ(parsed.settings.run.connections, 10u);  // decimal, not octal
  EXPECT_EQ(parsed.settings.run.rate, 1000);
}

TEST(ParseArgs, TakesFlagEqualsValue) {
  const ParsedArgs parsed =
      parse_args({"--target=h:7", "--connections=3", "--mode=batch", "--candidates=x,y"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  EXPECT_EQ(parsed.settings.run.port, 7);
  EXPECT_EQ(parsed.settings.run.connections, 3u);
  EXPECT_EQ(parsed.settings.workload.mode, Mode::batch);
  EXPECT_EQ(parsed.settings.population.candidates, (std::vector<std::string>{"x", "y"}));
}

// Scripts append their own flags to a common set: the last of a repeated flag counts.
TEST(ParseArgs, ARepeatedFlagCountsAsGivenLast) {
  const ParsedArgs parsed =
      parse_args({"--target", "h:1", "--connections", "64", "--json", "--connections", "4",
                  "--json", "--mode", "single", "--mode", "batch"});
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  EXPECT_EQ(parsed.settings.run.connections, 4u);
  EXPECT_EQ(parsed.settings.workload.mode, Mode::batch);
  EXPECT_TRUE(parsed.settings.json);
}

TEST(ParseArgs, HelpAndVersionNeedNoTarget) {
  EXPECT_TRUE(parse_args({"--help"}).help);
  EXPECT_TRUE(parse_args({"--version"}).version);
  const std::string help = usage();
  for (const char* part : {"Usage: tally-loadgen", "--fresh-passes", "Exit status:"}) {
    EXPECT_NE(help.find(part), std::string::npos) << part << "\n" << help;
  }
  EXPECT_EQ(version_line().rfind("tally-loadgen ", 0), 0u) << version_line();
  EXPECT_NE(version_line().find("(revision "), std::string::npos) << version_line();
}

}  // namespace
}  // namespace tally::loadtest
