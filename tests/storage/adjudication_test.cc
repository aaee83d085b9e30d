// Adjudication over a real log on disk (DESIGN.md "Adjudication"): a device past its voter
// limit gets a late flag naming its first votes; the committee's decisions void and restore
// votes by seq or by cluster, disqualify and reinstate candidates, and a decision that changes
// nothing writes nothing; malformed decisions are refused; recovery, verify and export with
// replay give the live tally; verify names the seq of a flag or decision the log's votes
// contradict.
#include "tally/engine/adjudication.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tally/base/clock.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/storage/audit.h"
#include "tally/storage/event_format.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"
#include "raw_log.h"
#include "tallyd_process.h"

namespace tally::storage {
namespace {

using engine::DecisionAnswer;
using engine::DecisionRequest;
using engine::DecisionStatus;
using testing::kNoon;
using testing::TempDir;

constexpr char kUa[] =
    "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5127 "
    "MicroMessenger/8.0.37.2380(0x2800255B) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN";
constexpr char kFarmDevice[] = "emulator-1";
constexpr char kFarmSubnet[] = "198.51.100.0/24";
constexpr char kOffice[] = "203.0.113.5";

// Hears one decision's answer on the adjudicator's thread.
class DecisionWait final : public engine::DecisionWaiter {
 public:
  void decided(const DecisionAnswer& answer) override {
    std::lock_guard lock(mutex_);
    answer_ = answer;
    done_ = true;
    done_cv_.notify_one();
  }
  // The answer, or nullopt when none came within `timeout`.
  std::optional<DecisionAnswer> wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    if (!done_cv_.wait_for(lock, timeout, [this] { return done_; })) return std::nullopt;
    return answer_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  DecisionAnswer answer_;
};

// One server's state over `dir`: a clock, a fraud monitor, an engine and the log, recovered
// and started, the campaign put when the log is new. With `late_flags`, the monitor's
// crossings go to the log's adjudicator, as tallyd wires them.
class World {
 public:
  World(const std::string& dir, bool late_flags)
      : engine(clock, engine::EngineOptions{.fraud = &fraud}) {
    StorageOptions options;
    options.data_dir = dir;
    auto opened = VoteLog::open(options);
    if (!opened.ok()) {
      ADD_FAILURE() << opened.message();
      return;
    }
    log = std::move(opened).value();
    const Status recovered = log->recover(engine);
    EXPECT_TRUE(recovered.ok()) << recovered.message();
    if (late_flags) fraud.set_crossing_listener(log->crossing_listener());
    log->start(engine);
    if (log->last_seq() == 0) put_campaign(testing::make_campaign());
  }
  ~World() {
    fraud.set_crossing_listener(nullptr);
    if (log) log->stop();
  }

  void put_campaign(const engine::Campaign& campaign) {
    testing::OutcomeWaiter waiter;
    ASSERT_EQ(log->submit_campaign(campaign, waiter), engine::SubmitResult::queued);
    ASSERT_EQ(waiter.wait().status, engine::VoteStatus::accepted);
  }

  // Decides a ballot 100 ms after the last one and commits it with the flags the fraud
  // monitor gave it; its seq. The votes of a test span less than the adjudicator's settling
  // second after a crossing, so that no late flag is written before the test moves the clock.
  std::uint64_t vote(const std::string& voter, const char* candidate, const std::string& device,
                     const std::string& ip, std::string_view ua = kUa,
                     std::string_view campaign = "ordos") {
    clock.advance_ms(100);
    engine::Ballot ballot;
    ballot.campaign = campaign;
    ballot.voter = voter;
    ballot.candidate = candidate;
    ballot.device = device;
    ballot.ip = ip;
    ballot.ua = ua;
    engine::Decision decision = engine.decide(ballot);
    EXPECT_EQ(decision.status, engine::VoteStatus::accepted) << voter;
    if (decision.status != engine::VoteStatus::accepted) return 0;
    testing::OutcomeWaiter waiter;
    EXPECT_EQ(testing::submit_vote(*log, ballot, decision.claim, decision.flags, waiter),
              engine::SubmitResult::queued);
    return waiter.wait().seq;
  }

  DecisionAnswer decide(DecisionRequest request) {
    DecisionWait wait;
    DecisionStatus refusal{};
    if (!log->adjudication()->submit_decision(std::move(request), wait, refusal)) {
      DecisionAnswer answer;
      answer.status = refusal;
      answer.error = "not queued";
      return answer;
    }
    std::optional<DecisionAnswer> answer = wait.wait(std::chrono::seconds(30));
    EXPECT_TRUE(answer.has_value()) << "no answer within 30 s";
    return answer.value_or(DecisionAnswer{});
  }

  engine::TallySnapshot tally() const { return *engine.tally("ordos"); }
  std::string event(std::uint64_t seq) const { return log->event_json(seq).value_or(""); }

  ManualClock clock{kNoon};
  engine::FraudMonitor fraud;
  engine::Engine engine;
  std::unique_ptr<VoteLog> log;
};

// A request as the HTTP API would make it.
DecisionRequest request(const char* action, std::vector<std::uint64_t> seqs = {},
                        const char* scope = "", const char* key = "", const char* candidate = "") {
  return {"ordos", action, "评审委员会", "综合评定", std::move(seqs), scope, key, candidate};
}

// {"campaign","action","changed","events"}: the answer's body.
std::string body(const char* action, std::uint64_t changed, std::vector<std::uint64_t> events) {
  std::string out = std::string(R"({"campaign":"ordos","action":")") + action + R"(","changed":)" +
                    std::to_string(changed) + R"(,"events":[)";
  for (std::size_t i = 0; i < events.size(); ++i) {
    out += (i == 0 ? "" : ",") + std::to_string(events[i]);
  }
  return out + "]}";
}

// What a tally says of each candidate, in its order.
using Row = std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t,
                       std::uint32_t, bool>;  // id, votes, suspect, void, valid, rank, disqualified
std::vector<Row> rows(const engine::TallySnapshot& tally) {
  std::vector<Row> out;
  for (const engine::CandidateTally& c : tally.candidates) {
    out.emplace_back(c.id, c.votes, c.suspect, c.voided, c.valid, c.rank, c.disqualified);
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The votes every test casts. Seq 1 is the campaign; then eight accounts of one emulator, each
// on its own address of one /24, all for c03 (the sixth and later are past the device's five
// voters: flagged as cast); then six honest voters, three behind one office address.
struct Votes {
  std::vector<std::uint64_t> farm;
  std::vector<std::uint64_t> honest;
};
Votes cast_votes(World& world) {
  Votes votes;
  for (int i = 0; i < 8; ++i) {
    votes.farm.push_back(world.vote("farm-" + std::to_string(i), "c03", kFarmDevice,
                                    "198.51.100." + std::to_string(10 + i)));
  }
  const std::tuple<const char*, const char*> honest[] = {
      {"c01", kOffice},      {"c01", kOffice},      {"c02", kOffice},
      {"c02", "192.0.2.10"}, {"c04", "192.0.2.11"}, {"c01", "192.0.2.12"}};
  for (std::size_t i = 0; i < std::size(honest); ++i) {
    const auto& [candidate, ip] = honest[i];
    votes.honest.push_back(
        world.vote("honest-" + std::to_string(i), candidate, "phone-" + std::to_string(i), ip));
  }
  return votes;
}

// Waits (at most 10 s) for the late flag of the farm's device; its seq, 0 if none came.
std::uint64_t wait_for_late_flag(World& world) {
  // The adjudicator scans once the crossing vote is a second old in server time.
  world.clock.advance_ms(2000);
  if (!testing::wait_until([&] { return world.log->adjudication_figures().flag_events == 1; },
                           std::chrono::seconds(10), "the late flag is written")) {
    return 0;
  }
  return world.log->last_seq();
}

class AdjudicationTest : public ::testing::Test {
 protected:
  std::string db_dir() const { return dir_.sub("db"); }
  TempDir dir_;
};

TEST_F(AdjudicationTest, ADevicePastItsVoterLimitGetsALateFlagNamingItsFirstVotes) {
  World world(db_dir(), true);
  const Votes votes = cast_votes(world);
  ASSERT_EQ(votes.farm.front(), 2u);
  const std::string late = R"("late_flags":["device_multi_account"])";
  // Cast before the sixth voter, and the crossing not a second old: nothing said yet.
  EXPECT_FALSE(contains(world.event(votes.farm[0]), "device_multi_account"));
  EXPECT_EQ(world.tally().suspect, 3u);

  const std::uint64_t flag_seq = wait_for_late_flag(world);
  ASSERT_NE(flag_seq, 0u);
  const std::string flag = world.event(flag_seq);
  std::string named;
  for (int i = 0; i < 5; ++i) {
    named += (i == 0 ? "" : ",") + std::string(R"({"seq":)") + std::to_string(votes.farm[i]) +
             R"(,"candidate":2,"prior":[]})";
  }
  EXPECT_TRUE(contains(flag, R"("kind":"flag","campaign":"ordos","reason":"device_multi_account",)"
                             R"("scope":"device","key":"emulator-1",)"))
      << flag;
  EXPECT_TRUE(contains(flag, R"("votes":[)" + named + "]")) << flag;

  for (int i = 0; i < 8; ++i) {
    const std::string event = world.event(votes.farm[i]);
    if (i < 5) {
      EXPECT_TRUE(contains(event, R"("flags":[],)" + late)) << event;
    } else {  // flagged as cast: nothing late
      EXPECT_TRUE(contains(event, R"("flags":["device_multi_account"])")) << event;
      EXPECT_FALSE(contains(event, "late_flags")) << event;
    }
  }
  for (std::uint64_t seq : votes.honest) EXPECT_FALSE(contains(world.event(seq), "late_flags"));

  const engine::TallySnapshot tally = world.tally();
  EXPECT_EQ(tally.suspect, 8u);
  EXPECT_EQ(tally.total, 14u);
  for (const engine::CandidateTally& c : tally.candidates) {
    const std::uint64_t farm = c.id == "c03" ? 8 : 0;
    EXPECT_EQ(c.suspect, farm) << c.id;
    EXPECT_EQ(
        c.suspect_by_reason[static_cast<std::size_t>(engine::FraudReason::device_multi_account)],
        farm)
        << c.id;
  }
  EXPECT_EQ(world.fraud.flag_counts(
                "ordos")[static_cast<std::size_t>(engine::FraudReason::device_multi_account)],
            8u);
  const AdjudicationFigures figures = world.log->adjudication_figures();
  EXPECT_EQ(figures.crossings, 1u);
  EXPECT_EQ(figures.votes_flagged, 5u);
}

TEST_F(AdjudicationTest, DecisionsChangeOnlyVotesWhoseStateChangesAndRepeatsWriteNothing) {
  World world(db_dir(), false);
  const Votes votes = cast_votes(world);
  std::uint64_t last = world.log->last_seq();
  ASSERT_EQ(last, 15u);
  // Each decision: its answer, and what it wrote (one event, or nothing).
  const auto expect = [&](DecisionRequest decision, DecisionStatus status, std::uint64_t changed) {
    const std::string action = decision.action;
    const DecisionAnswer answer = world.decide(std::move(decision));
    EXPECT_EQ(answer.status, status) << action << ": " << answer.error;
    const bool recorded = status == DecisionStatus::recorded;
    if (recorded) ++last;
    EXPECT_EQ(world.log->last_seq(), last) << action;
    EXPECT_EQ(answer.body,
              body(action.c_str(), changed,
                   recorded ? std::vector<std::uint64_t>{last} : std::vector<std::uint64_t>{}))
        << action;
    return last;
  };
  const std::uint64_t farm0 = votes.farm[0];
  const std::uint64_t h3 = votes.honest[3];

  // By seq, a seq named twice counted once.
  const std::uint64_t first =
      expect(request("void", {h3, farm0, farm0}), DecisionStatus::recorded, 2);
  EXPECT_TRUE(contains(world.event(farm0), R"("voided_by":)" + std::to_string(first)));
  EXPECT_TRUE(contains(world.event(h3), R"("voided_by":)" + std::to_string(first)));
  EXPECT_FALSE(contains(world.event(votes.farm[1]), "voided_by"));
  const std::string decision = world.event(first);
  EXPECT_TRUE(contains(decision, R"("kind":"decision","campaign":"ordos","action":"void",)"
                                 R"("author":"评审委员会","reason":"综合评定",)"))
      << decision;
  EXPECT_TRUE(contains(decision, R"("votes":[{"seq":)" + std::to_string(farm0) +
                                     R"(,"candidate":2},{"seq":)" + std::to_string(h3) +
                                     R"(,"candidate":1}])"))
      << decision;
  expect(request("void", {farm0, h3}), DecisionStatus::unchanged, 0);
  expect(request("restore", {h3}), DecisionStatus::recorded, 1);
  EXPECT_FALSE(contains(world.event(h3), "voided_by"));
  expect(request("restore", {h3}), DecisionStatus::unchanged, 0);

  // By cluster: every vote of the campaign from the device, subnet or address.
  expect(request("void", {}, "device", kFarmDevice), DecisionStatus::recorded, 7);
  expect(request("void", {}, "device", kFarmDevice), DecisionStatus::unchanged, 0);
  expect(request("restore", {}, "subnet", kFarmSubnet), DecisionStatus::recorded, 8);
  expect(request("void", {}, "subnet", kFarmSubnet), DecisionStatus::recorded, 8);
  expect(request("void", {}, "ip", kOffice), DecisionStatus::recorded, 3);
  EXPECT_EQ(world.tally().voided, 11u);
  expect(request("restore", {}, "ip", kOffice), DecisionStatus::recorded, 3);

  // Candidates: a decision event each time the state changes.
  expect(request("disqualify", {}, "", "", "c04"), DecisionStatus::recorded, 1);
  expect(request("disqualify", {}, "", "", "c04"), DecisionStatus::unchanged, 0);
  expect(request("reinstate", {}, "", "", "c04"), DecisionStatus::recorded, 1);
  expect(request("reinstate", {}, "", "", "c04"), DecisionStatus::unchanged, 0);
  expect(request("disqualify", {}, "", "", "c02"), DecisionStatus::recorded, 1);

  const engine::TallySnapshot tally = world.tally();
  EXPECT_EQ(rows(tally), (std::vector<Row>{{"c01", 3, 0, 0, 3, 1, false},
                                           {"c04", 1, 0, 0, 1, 2, false},
                                           {"c03", 8, 3, 8, 0, 3, false},
                                           {"c02", 2, 0, 0, 2, 0, true}}));
  EXPECT_EQ(tally.as_of_seq, last);
  EXPECT_EQ(world.log->adjudication_figures().decision_events, last - 15);
  const std::string listed = world.log->adjudication()->decisions_json("ordos");
  std::size_t decisions = 0;
  for (std::size_t at = listed.find(R"("action":)"); at != std::string::npos;
       at = listed.find(R"("action":)", at + 1)) {
    ++decisions;
  }
  EXPECT_EQ(decisions, last - 15) << listed;
}

TEST_F(AdjudicationTest, MalformedDecisionsAreRefusedAndWriteNothing) {
  World world(db_dir(), false);
  const Votes votes = cast_votes(world);
  world.put_campaign(testing::make_campaign("other"));
  const std::uint64_t other_vote = world.vote("x", "c01", "phone-x", "192.0.2.99", kUa, "other");
  ASSERT_NE(other_vote, 0u);
  const DecisionAnswer sound = world.decide(request("void", {votes.honest[0]}));
  ASSERT_EQ(sound.status, DecisionStatus::recorded) << sound.error;
  const std::uint64_t decision_seq = world.log->last_seq();
  const std::string before = engine::tally_to_json(world.tally());

  const std::uint64_t farm0 = votes.farm[0];
  DecisionRequest unknown_campaign = request("void", {farm0});
  unknown_campaign.campaign = "nope";
  DecisionRequest no_author = request("void", {farm0});
  no_author.author = "";
  DecisionRequest no_reason = request("void", {farm0});
  no_reason.reason = "";
  DecisionRequest long_author = request("void", {farm0});
  long_author.author = std::string(kMaxAuthorBytes + 1, 'a');
  DecisionRequest long_reason = request("disqualify", {}, "", "", "c01");
  long_reason.reason = std::string(kMaxReasonBytes + 1, 'r');
  const std::tuple<const char*, DecisionRequest, DecisionStatus> refused[] = {
      {"an unknown campaign", unknown_campaign, DecisionStatus::unknown_campaign},
      {"an unknown candidate", request("disqualify", {}, "", "", "c99"),
       DecisionStatus::unknown_candidate},
      {"the campaign's event", request("void", {1}), DecisionStatus::not_found},
      {"a decision's event", request("void", {decision_seq}), DecisionStatus::not_found},
      {"a vote of another campaign", request("void", {farm0, other_vote}),
       DecisionStatus::not_found},
      {"a seq beyond the log", request("void", {farm0, 9999}), DecisionStatus::not_found},
      {"seq 0", request("restore", {0}), DecisionStatus::not_found},
      {"a cluster with no votes", request("void", {}, "device", "no-such-device"),
       DecisionStatus::not_found},
      {"seqs and a cluster", request("void", {farm0}, "device", kFarmDevice),
       DecisionStatus::invalid},
      {"neither seqs nor a cluster", request("void"), DecisionStatus::invalid},
      {"no author", no_author, DecisionStatus::invalid},
      {"no reason", no_reason, DecisionStatus::invalid},
      {"an author too long", long_author, DecisionStatus::invalid},
      {"a reason too long", long_reason, DecisionStatus::invalid},
      {"an unknown scope", request("void", {}, "asn", "4134"), DecisionStatus::invalid},
      {"a scope without a key", request("void", {}, "ip", ""), DecisionStatus::invalid},
      {"a key without a scope", request("void", {}, "", kOffice), DecisionStatus::invalid},
      {"a void naming a candidate", request("void", {farm0}, "", "", "c03"),
       DecisionStatus::invalid},
      {"a disqualify naming votes", request("disqualify", {farm0}, "", "", "c03"),
       DecisionStatus::invalid},
      {"a disqualify naming a cluster", request("disqualify", {}, "ip", kOffice, "c03"),
       DecisionStatus::invalid},
      {"a disqualify without a candidate", request("disqualify"), DecisionStatus::invalid},
      {"an unknown action", request("erase", {farm0}), DecisionStatus::invalid},
  };
  for (const auto& [what, decision, status] : refused) {
    const DecisionAnswer answer = world.decide(decision);
    EXPECT_EQ(answer.status, status) << what << ": " << answer.error;
    EXPECT_FALSE(answer.error.empty()) << what;
    EXPECT_EQ(world.log->last_seq(), decision_seq) << what;
  }
  EXPECT_EQ(engine::tally_to_json(world.tally()), before);
  EXPECT_FALSE(contains(world.event(farm0), "voided_by"));

  // A stopped log takes no decision.
  world.log->stop();
  DecisionWait never;
  DecisionStatus refusal = DecisionStatus::recorded;
  EXPECT_FALSE(
      world.log->adjudication()->submit_decision(request("void", {farm0}), never, refusal));
  EXPECT_EQ(refusal, DecisionStatus::unavailable);
}

TEST_F(AdjudicationTest, RecoveryVerifyAndReplayOfTheExportGiveTheLiveTally) {
  engine::TallySnapshot live;
  std::string farm0_event, h3_event;
  std::uint64_t last = 0;
  Votes votes;
  {
    World world(db_dir(), true);
    votes = cast_votes(world);
    ASSERT_NE(wait_for_late_flag(world), 0u);
    for (DecisionRequest decision :
         {request("void", {}, "device", kFarmDevice), request("void", {votes.honest[3]}),
          request("void", {votes.honest[0]}), request("restore", {votes.honest[0]}),
          request("disqualify", {}, "", "", "c04"), request("reinstate", {}, "", "", "c04"),
          request("disqualify", {}, "", "", "c02")}) {
      const DecisionAnswer answer = world.decide(decision);
      ASSERT_EQ(answer.status, DecisionStatus::recorded) << answer.error;
    }
    live = world.tally();
    farm0_event = world.event(votes.farm[0]);
    h3_event = world.event(votes.honest[3]);
    last = world.log->last_seq();
  }
  ASSERT_EQ(rows(live), (std::vector<Row>{{"c01", 3, 0, 0, 3, 1, false},
                                          {"c04", 1, 0, 0, 1, 2, false},
                                          {"c03", 8, 8, 8, 0, 3, false},
                                          {"c02", 2, 0, 1, 1, 0, true}}));
  EXPECT_TRUE(contains(farm0_event, "late_flags")) << farm0_event;
  EXPECT_TRUE(contains(farm0_event, "voided_by")) << farm0_event;

  {
    World restarted(db_dir(), true);
    const engine::TallySnapshot recovered = restarted.tally();
    EXPECT_EQ(rows(recovered), rows(live));
    EXPECT_EQ(recovered.as_of_seq, last);
    for (std::size_t i = 0; i < live.candidates.size(); ++i) {
      EXPECT_EQ(recovered.candidates[i].suspect_by_reason, live.candidates[i].suspect_by_reason);
    }
    EXPECT_EQ(restarted.event(votes.farm[0]), farm0_event);
    EXPECT_EQ(restarted.event(votes.honest[3]), h3_event);
    // Recovery re-learns the device's crossing without telling the adjudicator again.
    EXPECT_EQ(restarted.log->adjudication_figures().crossings, 0u);
  }

  const auto verified = verify_log(db_dir());
  ASSERT_TRUE(verified.ok()) << verified.message();
  for (const VerifyProblem& problem : verified->problems) ADD_FAILURE() << to_string(problem);
  EXPECT_EQ(verified->votes, 14u);
  EXPECT_EQ(verified->flags, 1u);
  EXPECT_EQ(verified->decisions, 7u);
  EXPECT_EQ(verified->last_seq, last);
  ASSERT_EQ(verified->tallies.size(), 1u);
  EXPECT_EQ(rows(verified->tallies[0]), rows(live));

  std::stringstream exported;
  ExportOptions options;
  options.data_dir = db_dir();
  const Status wrote = export_log(options, exported);
  ASSERT_TRUE(wrote.ok()) << wrote.message();
  const auto replayed = replay_export(exported);
  ASSERT_TRUE(replayed.ok()) << replayed.message();
  ASSERT_EQ(replayed->size(), 1u);
  EXPECT_EQ(rows(replayed->front()), rows(live));
  EXPECT_EQ(replayed->front().as_of_seq, last);
}

using testing::RawLog;

FlagFields flag_of(engine::FraudReason reason, std::vector<engine::MarkedVote> votes) {
  FlagFields flag;
  flag.campaign = "ordos";
  flag.reason = reason;
  flag.scope = engine::ClusterScope::ip;
  flag.key = "192.0.2.7";
  flag.server_ms = kNoon + 60'000;
  flag.votes = std::move(votes);
  return flag;
}
DecisionFields decision_of(DecisionAction action, std::vector<engine::MarkedVote> votes,
                           std::string_view candidate = {}) {
  DecisionFields decision;
  decision.campaign = "ordos";
  decision.action = action;
  decision.server_ms = kNoon + 60'000;
  decision.author = "someone";
  decision.reason = "forged";
  decision.candidate = candidate;
  decision.votes = std::move(votes);
  return decision;
}

// A log with a vote verify must contradict: seq 1 the campaign, 2 alice for c01, 3 bob for c02,
// 4 carol for c01 (no user agent: flagged bot_ua as cast), 5 a decision voiding seq 3; then
// one crafted event, seq 6, whose chain is sound.
TEST_F(AdjudicationTest, VerifyNamesTheSeqOfAFlagOrDecisionTheLogContradicts) {
  {
    World world(db_dir(), false);
    ASSERT_EQ(world.vote("alice", "c01", "phone-a", "192.0.2.7"), 2u);
    ASSERT_EQ(world.vote("bob", "c02", "phone-b", "192.0.2.8"), 3u);
    ASSERT_EQ(world.vote("carol", "c01", "phone-c", "192.0.2.9", ""), 4u);
    const DecisionAnswer voided = world.decide(request("void", {3}));
    ASSERT_EQ(voided.status, DecisionStatus::recorded) << voided.error;
    ASSERT_EQ(world.log->last_seq(), 5u);
  }
  const engine::FraudFlags bot = engine::flag_of(engine::FraudReason::bot_ua);
  const auto ip_flood = engine::FraudReason::ip_flood;
  struct Forged {
    const char* what;
    EventKind kind;
    std::string payload;
    std::string problem;  // empty: the log is sound
  };
  std::vector<Forged> cases;
  const auto flag = [&](const char* what, const FlagFields& fields, std::string problem) {
    std::string payload;
    encode_flag_payload(fields, payload);
    cases.push_back({what, EventKind::flag, payload, std::move(problem)});
  };
  const auto decision = [&](const char* what, const DecisionFields& fields, std::string problem) {
    std::string payload;
    encode_decision_payload(fields, payload);
    cases.push_back({what, EventKind::decision, payload, std::move(problem)});
  };
  flag("a sound flag", flag_of(ip_flood, {{2, 0, 0}, {4, 0, bot}}), "");
  decision("a sound restore", decision_of(DecisionAction::restore, {{3, 1, 0}}), "");
  decision("a sound disqualify", decision_of(DecisionAction::disqualify, {}, "c02"), "");
  flag("a flag naming the campaign's event", flag_of(ip_flood, {{1, 0, 0}}),
       "seq 6: flag names seq 1, which is not a vote of ordos");
  flag("a flag naming a decision", flag_of(ip_flood, {{2, 0, 0}, {5, 0, 0}}),
       "seq 6: flag names seq 5, which is not a vote of ordos");
  flag("a flag with a prior the vote did not have", flag_of(ip_flood, {{2, 0, bot}}),
       "seq 6: flag gives seq 2 prior flags it did not have, or a reason it had");
  flag("a flag without a prior the vote had", flag_of(ip_flood, {{4, 0, 0}}),
       "seq 6: flag gives seq 4 prior flags it did not have, or a reason it had");
  flag("a flag of a reason the vote had", flag_of(engine::FraudReason::bot_ua, {{4, 0, bot}}),
       "seq 6: flag gives seq 4 prior flags it did not have, or a reason it had");
  flag("a flag giving a vote another candidate", flag_of(ip_flood, {{2, 1, 0}}),
       "seq 6: flag gives seq 2 another candidate than its vote's");
  FlagFields elsewhere = flag_of(ip_flood, {{2, 0, 0}});
  elsewhere.campaign = "nope";
  flag("a flag of an unknown campaign", elsewhere, "seq 6: flag for unknown campaign \"nope\"");
  decision("a void of a void vote", decision_of(DecisionAction::void_votes, {{3, 1, 0}}),
           "seq 6: decision changes nothing for seq 3: already so");
  decision("a restore of a vote that counts", decision_of(DecisionAction::restore, {{2, 0, 0}}),
           "seq 6: decision changes nothing for seq 2: already so");
  decision("a void naming the campaign's event",
           decision_of(DecisionAction::void_votes, {{1, 0, 0}}),
           "seq 6: decision names seq 1, which is not a vote of ordos");
  decision("a disqualify of an unknown candidate",
           decision_of(DecisionAction::disqualify, {}, "c99"),
           "seq 6: decision names unknown candidate \"c99\"");
  decision("a reinstate of a candidate in the running",
           decision_of(DecisionAction::reinstate, {}, "c01"),
           "seq 6: decision changes nothing: candidate c01 is already so");

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Forged& forged = cases[i];
    const std::string copy = dir_.sub("case-" + std::to_string(i));
    std::filesystem::copy(db_dir(), copy, std::filesystem::copy_options::recursive);
    {
      RawLog raw(copy);
      ASSERT_EQ(raw.append(forged.kind, forged.payload), 6u) << forged.what;
    }
    const auto report = verify_log(copy);
    ASSERT_TRUE(report.ok()) << forged.what << ": " << report.message();
    EXPECT_EQ(report->last_seq, 6u) << forged.what;
    if (forged.problem.empty()) {
      EXPECT_TRUE(report->ok()) << forged.what << ": "
                                << (report->ok() ? "" : to_string(report->problems[0]));
      continue;
    }
    ASSERT_EQ(report->problems.size(), 1u) << forged.what;
    EXPECT_EQ(report->problems[0].seq, 6u) << forged.what;
    EXPECT_EQ(to_string(report->problems[0]), forged.problem) << forged.what;
  }
}

}  // namespace
}  // namespace tally::storage
