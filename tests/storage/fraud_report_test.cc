// tallyctl fraud-report against a real log: a farm behind one address and one phone comes first
// with its counts per candidate, flags and sample seqs; honest votes rank below it; text and
// JSON agree; bad usage exits 2. Runs the real binary from TALLY_BIN_DIR.
#include "tally/storage/fraud_report.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "tally/base/clock.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"

namespace tally::storage {
namespace {

using testing::LogWriter;
using testing::run_tallyctl;
using testing::RunResult;
using testing::TempDir;

// Seq 1: the campaign. Seqs 2..41: 40 farm accounts on one address and one phone, all for
// c03, flagged ip_flood and device_multi_account. Seqs 42..51: ten honest voters, each on
// their own address and phone, for c01 and c02 (one without a device: no_device).
void write_log(const std::string& dir) {
  LogWriter writer;
  ASSERT_NO_FATAL_FAILURE(writer.open(dir));
  const auto vote = [&](const std::string& voter, const char* candidate, const std::string& ip,
                        const std::string& device, engine::FraudFlags flags) {
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate;
    ballot.ip = ip;
    ballot.device = device;
    writer.vote(ballot, flags);
  };
  const engine::FraudFlags farm = engine::flag_of(engine::FraudReason::ip_flood) |
                                  engine::flag_of(engine::FraudReason::device_multi_account);
  for (int i = 0; i < 40; ++i) vote("farm-" + std::to_string(i), "c03", "39.1.2.3", "emu", farm);
  for (int i = 0; i < 10; ++i) {
    const std::string n = std::to_string(i);
    vote("honest-" + n, i % 2 == 0 ? "c01" : "c02", "218.21.5." + n, i == 9 ? "" : "phone-" + n,
         i == 9 ? engine::flag_of(engine::FraudReason::no_device) : 0);
  }
  writer.stop();
}

class FraudReportTest : public ::testing::Test {
 protected:
  void SetUp() override { write_log(db_dir()); }
  std::string db_dir() const { return dir_.sub("db"); }
  TempDir dir_;
};

TEST_F(FraudReportTest, PutsTheFarmFirstWithCandidatesFlagsAndSampleSeqs) {
  auto report = fraud_report(db_dir(), "ordos", 3);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->votes, 50u);
  EXPECT_EQ(report->suspect, 41u);
  ASSERT_EQ(report->ips.size(), 3u);
  const FraudCluster& farm = report->ips.front();
  EXPECT_EQ(farm.key, "39.1.2.3");
  EXPECT_EQ(farm.votes, 40u);
  EXPECT_EQ(farm.suspect, 40u);
  EXPECT_EQ(farm.voters, 40u);
  EXPECT_EQ(farm.candidates, (std::map<std::string, std::uint64_t>{{"c03", 40}}));
  EXPECT_EQ(farm.flags[static_cast<int>(engine::FraudReason::ip_flood)], 40u);
  EXPECT_EQ(farm.sample_seqs, (std::vector<std::uint64_t>{2, 3, 4, 5, 6}));
  // The honest voter without a device is suspect (no_device) and ranks next.
  EXPECT_EQ(report->ips[1].key, "218.21.5.9");
  ASSERT_EQ(report->subnets.size(), 2u);
  EXPECT_EQ(report->subnets[0].key, "39.1.2.0/24");
  EXPECT_EQ(report->subnets[1].key, "218.21.5.0/24");
  EXPECT_EQ(report->subnets[1].votes, 10u);
  EXPECT_EQ(report->subnets[1].candidates,
            (std::map<std::string, std::uint64_t>{{"c01", 5}, {"c02", 5}}));
  ASSERT_FALSE(report->devices.empty());
  EXPECT_EQ(report->devices.front().key, "emu");
  EXPECT_EQ(report->devices.front().voters, 40u);
}

TEST_F(FraudReportTest, TallyctlPrintsTextAndJson) {
  const RunResult text =
      run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign ordos --top 2");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_EQ(text.output.find("campaign ordos: 50 votes, 41 suspect ip_flood=40 "
                             "device_multi_account=40 no_device=1\n"
                             "largest clusters by IPs:\n"
                             "  39.1.2.3  votes 40  suspect 40  voters 40 ip_flood=40 "
                             "device_multi_account=40\n"
                             "    candidates c03=40\n"
                             "    sample seqs 2 3 4 5 6\n"),
            0u)
      << text.output;
  const RunResult json = run_tallyctl("fraud-report --data-dir " + db_dir() +
                                      " --campaign ordos --top 1 --format json");
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(json.output.find(
                R"({"campaign":"ordos","votes":50,"suspect":41,"flags":{"ip_flood":40,)"
                R"("device_multi_account":40,"no_device":1},"ips":[{"key":"39.1.2.3","votes":40,)"
                R"("suspect":40,"voters":40,"flags":{"ip_flood":40,"device_multi_account":40},)"
                R"("candidates":{"c03":40},"sample_seqs":[2,3,4,5,6]}],"subnets":[)"),
            0u)
      << json.output;
}

TEST_F(FraudReportTest, UnknownCampaignFailsAndBadUsageExitsTwo) {
  const RunResult unknown = run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign x");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("campaign x: not in the log"), std::string::npos);
  EXPECT_EQ(run_tallyctl("fraud-report --data-dir " + db_dir()).exit_code, 2);
  EXPECT_EQ(
      run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign ordos --top 0").exit_code,
      2);
  EXPECT_EQ(run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign ordos --format csv")
                .exit_code,
            2);
}

}  // namespace
}  // namespace tally::storage
