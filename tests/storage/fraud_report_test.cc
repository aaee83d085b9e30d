// tallyctl fraud-report against a real log with late flags and decisions: a farm behind one
// address and one phone comes first with its counts per candidate, flags (stored and late),
// timing and the decision that voided it; the summary ranks candidates by valid votes with
// the disqualified apart, as tallyctl results does; text, JSON and HTML agree, and the page
// escapes what the log holds; bad usage exits 2. Runs the real binary from TALLY_BIN_DIR.
#include "tally/storage/fraud_report.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <string>
#include <thread>

#include "tally/base/clock.h"
#include "tally/engine/adjudication.h"
#include "tally/storage/audit.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"
#include "tallyd_process.h"

namespace tally::storage {
namespace {

using testing::kNoon;
using testing::run_tallyctl;
using testing::RunResult;
using testing::TempDir;

constexpr char kFarmUa[] =
    "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5127 "
    "MMWEBSDK/20230504 MMWEBID/4727 MicroMessenger/8.0.37.2380(0x2800255B) WeChat/arm64 "
    "Weixin NetType/WIFI Language/zh_CN ABI/arm64";
constexpr char kFarmShortUa[] = "Android 13; V2183A MicroMessenger/8.0.37.2380";
constexpr char kReason[] = "同一设备 40 个账号 <script>alert(1)</script> & \"mass\" voting";
constexpr char kAuthor[] = "评审组 <张三>";
constexpr std::int64_t kFarmGapMs = 2000;
constexpr std::int64_t kDecidedAt = kNoon + 3'600'000;

struct Waiter final : engine::DecisionWaiter {
  void decided(const engine::DecisionAnswer& heard) override {
    answer = heard;
    // release: wait() that sees `done` also sees `answer`.
    done.store(true, std::memory_order_release);
  }
  engine::DecisionAnswer wait() {
    while (!done.load(std::memory_order_acquire)) std::this_thread::yield();
    return answer;
  }
  std::atomic<bool> done{false};
  engine::DecisionAnswer answer;
};

// Seq 1: the campaign. Seqs 2..41: 40 farm accounts on one address, one phone and one agent,
// all for c03, one every 2 s from noon; the first ten unflagged, the rest flagged ip_flood and
// device_multi_account when cast. Seqs 42..51: ten honest voters, each on their own address
// and phone, for c01 and c02 (one without a device: no_device; one with markup and an escape
// in its agent). Seq 52: one for c04. Seq 53: the late flag of the farm's address (ip_flood
// on seqs 2..11). Seq 54: the committee voids the farm's device. Seq 55: c04 disqualified.
void write_log(const std::string& dir) {
  ManualClock clock(kNoon);
  engine::Engine engine(clock);
  std::unique_ptr<VoteLog> log = testing::started_log(dir, engine);
  ASSERT_NE(log, nullptr);
  const auto vote = [&](const std::string& voter, const char* candidate, const std::string& ip,
                        const std::string& device, const std::string& ua, std::int64_t at_ms,
                        engine::FraudFlags flags) {
    clock.set_ms(at_ms);
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate;
    ballot.ip = ip;
    ballot.device = device;
    ballot.ua = ua;
    auto decision = engine.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    testing::OutcomeWaiter waiter;
    ASSERT_EQ(testing::submit_vote(*log, ballot, decision.claim, flags, waiter),
              engine::SubmitResult::queued);
    waiter.wait();
  };
  const engine::FraudFlags farm = engine::flag_of(engine::FraudReason::ip_flood) |
                                  engine::flag_of(engine::FraudReason::device_multi_account);
  for (int i = 0; i < 40; ++i) {
    vote("farm-" + std::to_string(i), "c03", "39.1.2.3", "emu", kFarmUa, kNoon + i * kFarmGapMs,
         i < 10 ? 0 : farm);
  }
  for (int i = 0; i < 10; ++i) {
    const std::string n = std::to_string(i);
    vote("honest-" + n, i % 2 == 0 ? "c01" : "c02", "218.21.5." + n, i == 9 ? "" : "phone-" + n,
         i == 3 ? "Mozilla/5.0 <b>\x1b[31m" : "Mozilla/5.0 (iPhone) MicroMessenger/8.0.38",
         kNoon + 600'000 + i * 37'000,
         i == 9 ? engine::flag_of(engine::FraudReason::no_device) : 0);
  }
  vote("honest-x", "c04", "218.21.6.1", "phone-x", "Mozilla/5.0", kNoon + 900'000, 0);

  // The farm's address crossed ip_flood with its eleventh vote: the ten before it are flagged.
  engine::ClusterCrossing crossing;
  crossing.campaign = "ordos";
  crossing.reason = engine::FraudReason::ip_flood;
  crossing.scope = engine::ClusterScope::ip;
  crossing.key = "39.1.2.3";
  crossing.ua = kFarmUa;
  crossing.candidate = 2;  // c03
  crossing.at_ms = kNoon + 10 * kFarmGapMs;
  crossing.window_ms = 600'000;
  log->crossing_listener()->crossed(crossing);
  ASSERT_TRUE(testing::wait_until([&] { return log->adjudication_figures().flag_events == 1; },
                                  std::chrono::seconds(30), "the late flag is written"));

  clock.set_ms(kDecidedAt);
  const auto decide = [&](engine::DecisionRequest request) {
    Waiter waiter;
    engine::DecisionStatus refusal{};
    ASSERT_TRUE(log->adjudication()->submit_decision(std::move(request), waiter, refusal));
    const engine::DecisionAnswer answer = waiter.wait();
    ASSERT_EQ(answer.status, engine::DecisionStatus::recorded) << answer.error;
  };
  decide({"ordos", "void", kAuthor, kReason, {}, "device", "emu", ""});
  decide({"ordos", "disqualify", "评审组", "材料不实", {}, "", "", "c04"});
  log->stop();
}

class FraudReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    write_log(db_dir());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db_dir() { return dir_->sub("db"); }
  static std::string tallyctl(const std::string& options) {
    const RunResult run =
        run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign ordos " + options);
    EXPECT_EQ(run.exit_code, 0) << options << ": " << run.output;
    return run.output;
  }
  static TempDir* dir_;
};
TempDir* FraudReportTest::dir_ = nullptr;

TEST_F(FraudReportTest, PutsTheFarmFirstWithItsEvidenceAndTheDecisionOnIt) {
  auto report = fraud_report(db_dir(), "ordos", 3);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->title, "最美产业工人");
  EXPECT_EQ(report->utc_offset_s, 8 * 3600);
  EXPECT_EQ(report->as_of_seq, 55u);
  EXPECT_EQ(report->votes, 51u);
  EXPECT_EQ(report->flagged, 31u);
  EXPECT_EQ(report->late, 10u);
  EXPECT_EQ(report->suspect, 41u);
  EXPECT_EQ(report->void_votes, 40u);
  EXPECT_EQ(report->valid, 11u);
  EXPECT_EQ(report->flags[static_cast<int>(engine::FraudReason::ip_flood)], 40u);
  EXPECT_EQ(report->flags[static_cast<int>(engine::FraudReason::device_multi_account)], 30u);

  ASSERT_EQ(report->decisions.size(), 2u);
  const ReportDecision& voided = report->decisions[0];
  EXPECT_EQ(voided.seq, 54u);
  EXPECT_EQ(voided.action, DecisionAction::void_votes);
  EXPECT_EQ(voided.author, kAuthor);
  EXPECT_EQ(voided.reason, kReason);
  EXPECT_EQ(voided.server_ms, kDecidedAt);
  EXPECT_EQ(voided.scope, engine::ClusterScope::device);
  EXPECT_EQ(voided.key, "emu");
  EXPECT_EQ(voided.votes, 40u);
  EXPECT_EQ(report->decisions[1].action, DecisionAction::disqualify);
  EXPECT_EQ(report->decisions[1].candidate, "c04");

  const FraudCluster& farm = report->ips.front();
  EXPECT_EQ(farm.key, "39.1.2.3");
  EXPECT_EQ(farm.votes, 40u);
  EXPECT_EQ(farm.suspect, 40u);
  EXPECT_EQ(farm.flagged, 30u);
  EXPECT_EQ(farm.late, 10u);
  EXPECT_EQ(farm.void_votes, 40u);
  EXPECT_EQ(farm.voters, 40u);
  EXPECT_EQ(farm.devices, 1u);
  EXPECT_EQ(farm.agents, 1u);
  EXPECT_EQ(farm.ips, 1u);
  EXPECT_EQ(farm.candidates, (std::map<std::string, std::uint64_t>{{"c03", 40}}));
  EXPECT_EQ(farm.top_candidate, "c03");
  EXPECT_DOUBLE_EQ(farm.top_share(), 1.0);
  EXPECT_EQ(farm.flags[static_cast<int>(engine::FraudReason::ip_flood)], 40u);
  EXPECT_EQ(farm.first_ms, kNoon);
  EXPECT_EQ(farm.last_ms, kNoon + 39 * kFarmGapMs);
  EXPECT_NEAR(static_cast<double>(farm.median_gap_ms), kFarmGapMs, kFarmGapMs * 0.05);
  EXPECT_EQ(farm.peak_per_minute, 30u);  // 12:00:00..12:00:58
  ASSERT_EQ(farm.top_devices.size(), 1u);
  EXPECT_EQ(farm.top_devices[0].key, "emu");
  EXPECT_EQ(farm.top_devices[0].votes, 40u);
  ASSERT_EQ(farm.top_agents.size(), 1u);
  EXPECT_EQ(farm.top_agents[0].key, kFarmShortUa);
  ASSERT_EQ(farm.decisions.size(), 1u);
  EXPECT_EQ(farm.decisions[0].seq, 54u);
  EXPECT_FALSE(farm.decisions[0].names_cluster);  // it named the device
  EXPECT_EQ(farm.decisions[0].void_votes, 40u);
  EXPECT_EQ(farm.sample_seqs, (std::vector<std::uint64_t>{2, 3, 4, 5, 6}));

  // The honest voter without a device is suspect (no_device) and ranks next.
  EXPECT_EQ(report->ips[1].key, "218.21.5.9");
  EXPECT_TRUE(report->ips[1].decisions.empty());
  ASSERT_GE(report->subnets.size(), 2u);
  EXPECT_EQ(report->subnets[0].key, "39.1.2.0/24");
  EXPECT_EQ(report->subnets[1].key, "218.21.5.0/24");
  EXPECT_EQ(report->subnets[1].candidates,
            (std::map<std::string, std::uint64_t>{{"c01", 5}, {"c02", 5}}));
  EXPECT_DOUBLE_EQ(report->subnets[1].top_share(), 0.5);
  const FraudCluster& emu = report->devices.front();
  EXPECT_EQ(emu.key, "emu");
  ASSERT_EQ(emu.decisions.size(), 1u);
  EXPECT_TRUE(emu.decisions[0].names_cluster);
  EXPECT_EQ(emu.decisions[0].void_votes, 40u);
}

TEST_F(FraudReportTest, RanksCandidatesAsTallyctlResultsDoes) {
  auto report = fraud_report(db_dir(), "ordos", 3);
  ASSERT_TRUE(report.ok()) << report.message();
  auto results = campaign_results(db_dir(), "ordos");
  ASSERT_TRUE(results.ok()) << results.message();
  ASSERT_EQ(report->results.candidates.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const engine::CandidateTally& got = report->results.candidates[i];
    const engine::CandidateTally& want = results->tally.candidates[i];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.rank, want.rank);
    EXPECT_EQ(got.valid, want.valid);
    EXPECT_EQ(got.voided, want.voided);
    EXPECT_EQ(got.suspect, want.suspect);
    EXPECT_EQ(got.disqualified, want.disqualified);
  }
  EXPECT_EQ(report->results.candidates.back().id, "c04");
  EXPECT_TRUE(report->results.candidates.back().disqualified);
  EXPECT_EQ(report->results.candidates[2].id, "c03");
  EXPECT_EQ(report->results.candidates[2].valid, 0u);
}

TEST_F(FraudReportTest, TextIsAlignedAndShowsTheDecisionOnEachCluster) {
  const std::string text = tallyctl("--top 2");
  EXPECT_EQ(text.find("fraud report: 最美产业工人 (campaign ordos), as of seq 55; times at "
                      "UTC+08:00\n"
                      "  votes    51\n"
                      "  suspect  41 (flagged 31, late 10)\n"
                      "  void     40\n"
                      "  valid    11\n"
                      "  flags    ip_flood=40 device_multi_account=30 no_device=1\n"
                      "decisions (2):\n"),
            0u)
      << text;
  EXPECT_NE(
      text.find("  seq  time                 action      concerns       votes  author         "
                "reason\n"
                "   54  2023-03-27 13:00:00  void        device emu        40  评审组 <张三>  "
                "同一设备 40 个账号 <script>alert(1)</script> & \"mass\" voting\n"
                "   55  2023-03-27 13:00:00  disqualify  candidate c04      -  评审组         "
                "材料不实\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("candidates by valid votes:\n"
                      "  rank  id   name       votes  suspect  void  valid\n"
                      "     1  c01  候选人c01      5        0     0      5\n"
                      "     1  c02  候选人c02      5        1     0      5\n"
                      "     3  c03  候选人c03     40       40    40      0\n"
                      "  disqualified:\n"
                      "     -  c04  候选人c04      1        0     0      1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("largest clusters by IPs:\n"
                      "  39.1.2.3\n"
                      "    votes        40, suspect 40 (flagged 30, late 10), void 40\n"
                      "    sources      40 voters, 1 device, 1 agent, 1 IP\n"
                      "    candidates   c03 候选人c03 40 (100%)\n"
                      "    time         2023-03-27 12:00:00 .. 2023-03-27 12:01:18, median gap "
                      "2.0 s, peak 30/min\n"
                      "    devices      emu 40\n"
                      "    agents       Android 13; V2183A MicroMessenger/8.0.37.2380 40\n"
                      "    flags        ip_flood=40 device_multi_account=30\n"
                      "    decision     seq 54 void device emu by 评审组 <张三> at 2023-03-27 "
                      "13:00:00: 40 of these votes void by it; \"同一设备 40 个账号"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    sample seqs  2 3 4 5 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("seq 54 void device emu by 评审组 <张三> at 2023-03-27 13:00:00 (names "
                      "this cluster): 40 of these votes void by it"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    devices      none\n"), std::string::npos) << text;  // 218.21.5.9
  // A terminal escape in an agent is not passed through.
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST_F(FraudReportTest, JsonParsesAndCarriesTheEvidence) {
  const std::string json = tallyctl("--top 2 --format json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["campaign"]), "ordos");
  EXPECT_EQ(std::string_view(doc["title"]), "最美产业工人");
  EXPECT_EQ(std::string_view(doc["utc_offset"]), "+08:00");
  EXPECT_EQ(std::uint64_t(doc["votes"]), 51u);
  EXPECT_EQ(std::uint64_t(doc["suspect"]), 41u);
  EXPECT_EQ(std::uint64_t(doc["late"]), 10u);
  EXPECT_EQ(std::uint64_t(doc["void"]), 40u);
  EXPECT_EQ(std::uint64_t(doc["valid"]), 11u);
  simdjson::dom::element decision = doc["decisions"].at(0);
  EXPECT_EQ(std::uint64_t(decision["seq"]), 54u);
  EXPECT_EQ(std::string_view(decision["action"]), "void");
  EXPECT_EQ(std::string_view(decision["author"]), kAuthor);
  EXPECT_EQ(std::string_view(decision["reason"]), kReason);
  EXPECT_EQ(std::string_view(decision["time"]), "2023-03-27T13:00:00+08:00");
  EXPECT_EQ(std::string_view(decision["scope"]), "device");
  EXPECT_EQ(std::string_view(decision["key"]), "emu");
  EXPECT_EQ(std::uint64_t(decision["votes"]), 40u);
  simdjson::dom::element last = doc["candidates"].at(3);
  EXPECT_EQ(std::string_view(last["id"]), "c04");
  EXPECT_TRUE(bool(last["disqualified"]));
  simdjson::dom::element farm = doc["ips"].at(0);
  EXPECT_EQ(std::string_view(farm["key"]), "39.1.2.3");
  EXPECT_EQ(std::uint64_t(farm["late"]), 10u);
  EXPECT_EQ(std::uint64_t(farm["void"]), 40u);
  EXPECT_EQ(std::uint64_t(farm["candidates"]["c03"]), 40u);
  EXPECT_EQ(std::string_view(farm["top_candidate"]), "c03");
  EXPECT_DOUBLE_EQ(double(farm["top_share"]), 1.0);
  EXPECT_EQ(std::string_view(farm["first"]), "2023-03-27T12:00:00+08:00");
  EXPECT_EQ(std::uint64_t(farm["peak_per_minute"]), 30u);
  EXPECT_EQ(std::string_view(farm["top_agents"].at(0)["key"]), kFarmShortUa);
  EXPECT_EQ(std::uint64_t(farm["decisions"].at(0)["seq"]), 54u);
  EXPECT_FALSE(bool(farm["decisions"].at(0)["names_cluster"]));
  EXPECT_EQ(std::uint64_t(farm["sample_seqs"].at(4)), 6u);
  EXPECT_TRUE(bool(doc["devices"].at(0)["decisions"].at(0)["names_cluster"]));
  EXPECT_TRUE(doc["ips"].at(1)["median_gap_ms"].is_null());  // one vote
}

// Counts non-overlapping occurrences of `what` in `text`.
std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(FraudReportTest, HtmlIsASelfContainedEscapedPageInTheCampaignsLanguage) {
  const TempDir out;
  tallyctl("--top 2 --format html --out " + out.sub("report.html"));
  const std::string html = testing::read_text(out.sub("report.html"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n<html lang=\"zh-CN\">", 0), 0u) << html;
  EXPECT_NE(html.find("投票异常情况报告"), std::string::npos);
  EXPECT_NE(html.find("@page{size:A4"), std::string::npos);
  // The decision, escaped, on the summary and on the clusters it voided.
  EXPECT_EQ(count(html,
                  "同一设备 40 个账号 &lt;script&gt;alert(1)&lt;/script&gt; &amp; "
                  "&quot;mass&quot; voting"),
            4u)
      << html;
  EXPECT_NE(html.find("评审组 &lt;张三&gt;"), std::string::npos);
  EXPECT_NE(html.find("<code>39.1.2.3</code>"), std::string::npos);
  EXPECT_NE(html.find("<code>emu</code>"), std::string::npos);
  EXPECT_NE(html.find("作废"), std::string::npos);
  EXPECT_NE(html.find("已取消资格"), std::string::npos);
  EXPECT_NE(html.find("Mozilla/5.0 &lt;b&gt;"), std::string::npos);
  // Nothing runs, nothing is fetched, nothing unescaped.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  for (const char* tag : {"table", "tr", "section", "h2", "h3", "thead", "tbody", "code"}) {
    EXPECT_EQ(count(html, std::string("<") + tag + ">") + count(html, std::string("<") + tag + " "),
              count(html, std::string("</") + tag + ">"))
        << tag;
  }
  EXPECT_EQ(html.substr(html.size() - 8), "</html>\n");

  const std::string english = tallyctl("--top 1 --format html --lang en");
  EXPECT_EQ(english.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
  EXPECT_NE(english.find("Fraud report"), std::string::npos);
  EXPECT_NE(english.find("Largest clusters by device"), std::string::npos);
}

TEST(FraudReportLanguage, ChineseWhenTheTitleHoldsIdeographs) {
  EXPECT_EQ(report_language_of("最美产业工人"), ReportLanguage::zh);
  EXPECT_EQ(report_language_of("Best worker 2023 最美"), ReportLanguage::zh);
  EXPECT_EQ(report_language_of("Best worker 2023"), ReportLanguage::en);
  EXPECT_EQ(report_language_of("Ünïcödé — ½"), ReportLanguage::en);
}

TEST(ShortenUserAgent, KeepsThePlatformAndTheApp) {
  EXPECT_EQ(shorten_user_agent(kFarmUa), kFarmShortUa);
  EXPECT_EQ(shorten_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) "
                               "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
                               "MicroMessenger/8.0.38(0x1800262c) NetType/WIFI Language/zh_CN"),
            "iPhone; iPhone OS 16_5 MicroMessenger/8.0.38");
  EXPECT_EQ(shorten_user_agent("curl/8.1.2"), "curl/8.1.2");
  EXPECT_EQ(shorten_user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                               "Gecko) HeadlessChrome/114.0.5735.133 Safari/537.36"),
            "X11; Linux x86_64 HeadlessChrome/114.0.5735.133");
  EXPECT_LE(shorten_user_agent(std::string(300, 'x')).size(), 48u);
}

TEST_F(FraudReportTest, UnknownCampaignFailsAndBadUsageExitsTwo) {
  const RunResult unknown = run_tallyctl("fraud-report --data-dir " + db_dir() + " --campaign x");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("campaign x: not in the log"), std::string::npos);
  const std::string ordos = "fraud-report --data-dir " + db_dir() + " --campaign ordos";
  EXPECT_EQ(run_tallyctl("fraud-report --data-dir " + db_dir()).exit_code, 2);
  EXPECT_EQ(run_tallyctl(ordos + " --top 0").exit_code, 2);
  EXPECT_EQ(run_tallyctl(ordos + " --format csv").exit_code, 2);
  EXPECT_EQ(run_tallyctl(ordos + " --format html --lang fr").exit_code, 2);
  const RunResult lang = run_tallyctl(ordos + " --lang en");
  EXPECT_EQ(lang.exit_code, 2) << lang.output;
  EXPECT_NE(lang.output.find("--lang: only with html"), std::string::npos) << lang.output;
  const RunResult unwritable = run_tallyctl(ordos + " --out /nonexistent/dir/report.txt");
  EXPECT_EQ(unwritable.exit_code, 1) << unwritable.output;
  EXPECT_NE(unwritable.output.find("cannot write /nonexistent/dir/report.txt"), std::string::npos);
}

}  // namespace
}  // namespace tally::storage
