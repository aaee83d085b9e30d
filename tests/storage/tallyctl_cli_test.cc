// tallyctl's command line, run as the real binary (TALLY_BIN_DIR) on real logs: bad usage
// (a misspelt option, a malformed number, an unknown command) exits 2 and does nothing;
// --flag=value and `help` work; --version names the build; every command has its --help with
// the exit status; results --bom writes Excel's byte order mark; and the progress line shows
// on a terminal (a pseudo-terminal here) and nowhere else.
#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tally/base/version.h"
#include "tally/storage/scan_progress.h"
#include "log_world.h"
#include "terminal.h"

namespace tally::storage {
namespace {

using testing::LogWriter;
using testing::run_on_terminal;
using testing::run_tallyctl;
using testing::RunResult;
using testing::TempDir;

// The campaign (seq 1), then alice c01 (2), bob c01 (3), bob c02 (4).
void write_small_log(const std::string& dir) {
  LogWriter writer;
  ASSERT_NO_FATAL_FAILURE(writer.open(dir));
  const std::pair<const char*, const char*> votes[] = {
      {"alice", "c01"}, {"bob", "c01"}, {"bob", "c02"}};
  for (const auto& [voter, candidate] : votes) {
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate;
    writer.vote(ballot, 0);
  }
  writer.stop();
}

// The campaign, then `voters` votes submitted without waiting for each and committed without
// a sync, two per record: a log of some thousands of events and records in about a second.
void write_large_log(const std::string& dir, int voters) {
  ManualClock clock(testing::kNoon);
  engine::Engine engine(clock);
  StorageOptions options;
  options.data_dir = dir;
  options.durability = Durability::async;
  options.max_batch_events = 2;
  auto opened = VoteLog::open(options);
  ASSERT_TRUE(opened.ok()) << opened.message();
  std::unique_ptr<VoteLog> log = std::move(opened).value();
  ASSERT_TRUE(log->recover(engine).ok());
  log->start(engine);
  testing::OutcomeWaiter campaign;
  ASSERT_EQ(log->submit_campaign(testing::make_campaign(), campaign), engine::SubmitResult::queued);
  campaign.wait();
  std::deque<testing::OutcomeWaiter> waiters;  // stable addresses while the writer holds them
  for (int i = 0; i < voters; ++i) {
    const std::string voter = "voter-" + std::to_string(i);
    const std::string candidate = "c0" + std::to_string(1 + i % 4);
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate;
    auto decision = engine.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    ASSERT_EQ(testing::submit_vote(*log, ballot, decision.claim, 0, waiters.emplace_back()),
              engine::SubmitResult::queued);
  }
  for (auto& waiter : waiters) waiter.wait();
  log->stop();
}

std::string tallyctl_path() {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  return std::string(bin_dir != nullptr ? bin_dir : "build/bin") + "/tallyctl";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class TallyctlCliTest : public ::testing::Test {
 protected:
  void SetUp() override { write_small_log(db_dir()); }
  std::string db_dir() const { return dir_.sub("db"); }
  TempDir dir_;
};

// A misspelt option used to be taken for an unknown one and ignored (`--campaing X` exported
// every campaign) and a number read up to its first non-digit (`--from 173000abc` as 173000):
// now both are refused before anything is read, with the option named.
TEST_F(TallyctlCliTest, AMisspeltOptionOrAMalformedNumberExitsTwoAndExportsNothing) {
  const RunResult typo = run_tallyctl("export --data-dir " + db_dir() + " --campaing ordos");
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_NE(typo.output.find("unknown option --campaing"), std::string::npos) << typo.output;
  EXPECT_EQ(typo.output.find("\"kind\""), std::string::npos) << typo.output;

  for (const char* from : {"173000abc", "-1", "0x10", "4.5", "18446744073709551616"}) {
    const RunResult bad = run_tallyctl("export --data-dir " + db_dir() + " --from " + from);
    EXPECT_EQ(bad.exit_code, 2) << from << ": " << bad.output;
    EXPECT_NE(bad.output.find("--from: must be a whole number"), std::string::npos) << bad.output;
    EXPECT_EQ(bad.output.find("\"kind\""), std::string::npos) << bad.output;
  }
  for (const char* top : {"0", "10000", "3x", "+3"}) {
    const RunResult bad = run_tallyctl("fraud-report --data-dir " + db_dir() +
                                       " --campaign ordos --top " + std::string(top));
    EXPECT_EQ(bad.exit_code, 2) << top << ": " << bad.output;
    EXPECT_NE(bad.output.find("--top: must be a whole number in 1..9999"), std::string::npos)
        << bad.output;
  }
}

TEST_F(TallyctlCliTest, BadUsageExitsTwoWithAMessage) {
  const std::string data = " --data-dir " + db_dir();
  const std::pair<std::string, std::string> cases[] = {
      {"", "a command is required"},
      {"frobnicate", "unknown command \"frobnicate\""},
      {"--bogus", "unknown option --bogus"},
      {"verify", "verify: give one of --data-dir and --public"},
      {"verify" + data + " --public /nonexistent", "verify: give one of --data-dir and --public"},
      {"publish" + data + " --campaign ordos", "publish: --out is required"},
      {"verify-receipt r.json", "verify-receipt: --key is required"},
      {"log-keys", "log-keys: A subcommand is required"},
      {"tag-key" + data, "tag-key: --campaign is required"},
      {"verify --data-dir", "verify: --data-dir"},
      {"verify" + data + " --format xml", "verify: --format"},
      {"verify" + data + " stray", "verify: unexpected argument \"stray\""},
      {"results" + data + " --campaign ordos --format json --bom", "results: --bom: only with csv"},
      {"replay", "replay: FILE is required"},
      {"backup" + data, "backup: --to is required"},
      {"export" + data + " --redact=maybe", "export: "},
  };
  for (const auto& [args, message] : cases) {
    const RunResult result = run_tallyctl(args);
    EXPECT_EQ(result.exit_code, 2) << args << ": " << result.output;
    EXPECT_EQ(result.output.rfind("tallyctl: " + message, 0), 0u) << args << ": " << result.output;
  }
}

TEST_F(TallyctlCliTest, VerifyAsJsonAnswersInJsonWhenTheLogCannotBeRead) {
  TempDir empty;
  const RunResult run =
      run_tallyctl("verify --format json --data-dir " + empty.sub("missing") + " 2>/dev/null");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output.rfind("{\"ok\":false,\"error\":\"", 0), 0u) << run.output;
  EXPECT_EQ(run.output.back(), '\n');
}

TEST_F(TallyctlCliTest, TakesFlagEqualsValueAsFlagSpaceValue) {
  const RunResult spaced = run_tallyctl("export --data-dir " + db_dir() + " --from 3");
  const RunResult joined = run_tallyctl("export --data-dir=" + db_dir() + " --from=3");
  ASSERT_EQ(spaced.exit_code, 0) << spaced.output;
  EXPECT_EQ(joined.exit_code, 0) << joined.output;
  EXPECT_EQ(joined.output, spaced.output);
  EXPECT_EQ(spaced.output.find("\"seq\":2,"), std::string::npos) << spaced.output;
  EXPECT_NE(spaced.output.find("\"seq\":3,"), std::string::npos) << spaced.output;
}

TEST_F(TallyctlCliTest, VersionNamesTheReleaseAndTheRevision) {
  const RunResult version = run_tallyctl("--version");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_EQ(version.output, "tallyctl " + std::string(base::version()) + " (revision " +
                                std::string(base::revision()) + ")\n");
}

TEST_F(TallyctlCliTest, EveryCommandHasItsHelpWithTheExitStatus) {
  for (const std::string command :
       {"verify", "export", "replay", "results", "fraud-report", "backup", "compare-stream"}) {
    const RunResult help = run_tallyctl(command + " --help");
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.output;
    EXPECT_NE(help.output.find("Usage: tallyctl " + command + " [OPTIONS]"), std::string::npos)
        << help.output;
    EXPECT_NE(help.output.find("Exit status:\n  0 "), std::string::npos) << help.output;
    EXPECT_EQ(run_tallyctl("help " + command).output, help.output) << command;
  }
  const RunResult top = run_tallyctl("--help");
  EXPECT_EQ(top.exit_code, 0) << top.output;
  EXPECT_EQ(top.output.rfind("tallyctl - ", 0), 0u) << top.output;  // help2man's NAME
  for (const char* part : {"Usage: tallyctl [OPTIONS] SUBCOMMAND", "  verify ", "  compare-stream ",
                           "--version", "Exit status:\n", "  2  bad usage"}) {
    EXPECT_NE(top.output.find(part), std::string::npos) << part << "\n" << top.output;
  }
  EXPECT_EQ(run_tallyctl("help").output, top.output);
  // Lines fit a terminal (and help2man's paragraphs).
  std::istringstream lines(top.output + run_tallyctl("export --help").output);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
}

// Excel on Windows reads a CSV without a byte order mark in the local code page: the Chinese
// names turn to mojibake. --bom puts EF BB BF first; the rest is the same CSV.
TEST_F(TallyctlCliTest, ResultsCsvStartsWithTheByteOrderMarkOnlyWithBom) {
  const std::string results = "results --data-dir " + db_dir() + " --campaign ordos";
  const RunResult plain = run_tallyctl(results + " --format csv");
  const RunResult marked = run_tallyctl(results + " --format csv --bom");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  ASSERT_EQ(marked.exit_code, 0) << marked.output;
  EXPECT_EQ(plain.output.rfind("rank,candidate,", 0), 0u) << plain.output;
  EXPECT_EQ(marked.output, "\xEF\xBB\xBF" + plain.output);
  EXPECT_NE(plain.output.find("候选人c01"), std::string::npos) << plain.output;
  EXPECT_EQ(run_tallyctl(results + " --bom").output, marked.output);  // csv is the default
}

class TallyctlProgressTest : public ::testing::Test {
 protected:
  // More than kProgressEvery events: the line is drawn at the first of them.
  static constexpr int kVoters = 3 * static_cast<int>(kProgressEvery);

  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_large_log(db_dir(), kVoters);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db_dir() { return dir_->sub("db"); }
  static std::string file(const std::string& name) { return dir_->sub(name); }

  static TempDir* dir_;
};

TempDir* TallyctlProgressTest::dir_ = nullptr;

TEST_F(TallyctlProgressTest, VerifyDrawsItsProgressOnATerminalAndErasesIt) {
  const auto run = run_on_terminal(tallyctl_path() + " verify --data-dir " + db_dir());
  EXPECT_EQ(run.exit_code, 0) << run.screen;
  const std::size_t drawn = run.screen.find("\rverify: 1,024 events, ");
  ASSERT_NE(drawn, std::string::npos) << run.screen;
  EXPECT_NE(run.screen.find(" events/s", drawn), std::string::npos) << run.screen;
  // Erased before the report: spaces over it, back to the line's start.
  const std::size_t report = run.screen.find("verify: ok, " + std::to_string(kVoters + 1));
  ASSERT_NE(report, std::string::npos) << run.screen;
  EXPECT_NE(run.screen.rfind("      \r", report), std::string::npos) << run.screen;
}

TEST_F(TallyctlProgressTest, NoProgressWhenStderrIsAFileOrWithNoProgress) {
  const std::string errors = file("verify.err");
  const auto to_file =
      run_on_terminal(tallyctl_path() + " verify --data-dir " + db_dir() + " 2>" + errors);
  EXPECT_EQ(to_file.exit_code, 0) << to_file.screen;
  EXPECT_NE(to_file.screen.find("verify: ok, "), std::string::npos) << to_file.screen;
  EXPECT_EQ(to_file.screen.find("events/s"), std::string::npos) << to_file.screen;
  EXPECT_EQ(read_file(errors), "");

  const auto off =
      run_on_terminal(tallyctl_path() + " verify --no-progress --data-dir " + db_dir());
  EXPECT_EQ(off.exit_code, 0) << off.screen;
  EXPECT_EQ(off.screen.find("events/s"), std::string::npos) << off.screen;

  const RunResult piped = run_tallyctl("verify --data-dir " + db_dir());  // 2>&1 into a pipe
  EXPECT_EQ(piped.exit_code, 0) << piped.output;
  EXPECT_EQ(piped.output.find("events/s"), std::string::npos) << piped.output;
}

// Export writes its results as it reads: its line shows only when stdout goes elsewhere, and
// never in what it writes.
TEST_F(TallyctlProgressTest, ExportDrawsItsProgressOnlyWhenStdoutIsNotTheTerminal) {
  const std::string out = file("export.ndjson");
  const auto to_file =
      run_on_terminal(tallyctl_path() + " export --data-dir " + db_dir() + " >" + out);
  EXPECT_EQ(to_file.exit_code, 0) << to_file.screen;
  EXPECT_NE(to_file.screen.find("\rexport: 1,024 events, "), std::string::npos) << to_file.screen;
  const std::string exported = read_file(out);
  EXPECT_EQ(exported.find("events/s"), std::string::npos);
  EXPECT_EQ(exported.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(exported.begin(), exported.end(), '\n'), kVoters + 1);

  const auto on_screen = run_on_terminal(tallyctl_path() + " export --data-dir " + db_dir());
  EXPECT_EQ(on_screen.exit_code, 0);
  EXPECT_EQ(on_screen.screen.find("events/s"), std::string::npos);
}

TEST_F(TallyctlProgressTest, ResultsFraudReportAndBackupDrawTheirsToo) {
  const std::string ordos = " --data-dir " + db_dir() + " --campaign ordos";
  const std::pair<std::string, std::string> runs[] = {
      {"results" + ordos, "\rresults: 1,024 events, "},
      {"fraud-report" + ordos, "\rfraud-report: 1,024 events, "},
      {"backup --data-dir " + db_dir() + " --to " + file("copy"), "\rbackup: 1,024 records, "},
  };
  for (const auto& [args, line] : runs) {
    const auto run = run_on_terminal(tallyctl_path() + " " + args + " >/dev/null");
    EXPECT_EQ(run.exit_code, 0) << args << ": " << run.screen;
    EXPECT_NE(run.screen.find(line), std::string::npos) << args << ": " << run.screen;
  }
}

}  // namespace
}  // namespace tally::storage
