// What late flags and committee decisions change in the engine's tallies (DESIGN.md
// "Adjudication"): a flag turns a vote suspect and counts its reason, void and restore move
// votes out of `valid` and back, a disqualified candidate is ranked apart; refused changes
// change nothing; the ranking and the JSON of /tally.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "tally/base/clock.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"

namespace tally::engine {
namespace {

// 2023-03-27T00:00:00+08:00, the opening of the test campaign, and noon of its first day.
constexpr std::int64_t kOpens = 1679846400000;
constexpr std::int64_t kNoon = kOpens + 12 * 3'600'000;

Campaign make_campaign() {
  Campaign campaign;
  campaign.id = "ordos";
  campaign.title = "test";
  campaign.opens_at_ms = kOpens;
  campaign.closes_at_ms = kOpens + 12 * 86'400'000LL;
  campaign.utc_offset_s = 8 * 3600;
  campaign.rules = {PeriodKind::day, 1, 4};
  campaign.expected_voters = 1000;
  for (const char* id : {"c01", "c02", "c03", "c04"}) {
    campaign.candidates.push_back({id, std::string("name-") + id, "unit", "能源"});
  }
  return campaign;
}

CandidateTally candidate(std::string id, std::uint64_t votes, std::uint64_t voided,
                         bool disqualified = false) {
  CandidateTally c;
  c.id = std::move(id);
  c.name = c.id;
  c.votes = votes;
  c.suspect = votes / 2;
  c.voided = voided;
  c.disqualified = disqualified;
  return c;
}

// (id, valid, rank, disqualified) of the first `n` candidates (all by default), in the
// tally's order.
using Row = std::tuple<std::string, std::uint64_t, std::uint32_t, bool>;
std::vector<Row> rows(const TallySnapshot& tally, std::size_t n = SIZE_MAX) {
  std::vector<Row> out;
  for (const CandidateTally& c : tally.candidates) {
    if (out.size() == n) break;
    out.emplace_back(c.id, c.valid, c.rank, c.disqualified);
  }
  return out;
}

TEST(RankTest, CandidatesInTheRunningAreRankedByValidVotesWithSharedRanks) {
  TallySnapshot tally;
  // Valid votes: a 5, b 4, c 4, d 3; e 9 and f 2 are disqualified. e has the most votes and
  // a the most raw votes: neither raw votes nor disqualified candidates decide the ranking.
  tally.candidates = {candidate("d", 3, 0),  candidate("f", 2, 0, true), candidate("c", 6, 2),
                      candidate("a", 10, 5), candidate("e", 9, 0, true), candidate("b", 4, 0)};
  rank(tally);
  EXPECT_EQ(rows(tally), (std::vector<Row>{{"a", 5, 1, false},
                                           {"b", 4, 2, false},
                                           {"c", 4, 2, false},
                                           {"d", 3, 4, false},
                                           {"e", 9, 0, true},
                                           {"f", 2, 0, true}}));
  EXPECT_EQ(tally.total, 34u);
  EXPECT_EQ(tally.voided, 7u);
  EXPECT_EQ(tally.valid, 27u);
  EXPECT_EQ(tally.suspect, 1u + 1 + 3 + 5 + 4 + 2);
}

TEST(RankTest, DisqualifiedCandidatesWithEqualValidVotesAreSortedById) {
  TallySnapshot tally;
  tally.candidates = {candidate("z", 1, 0, true), candidate("y", 2, 1, true), candidate("x", 0, 0)};
  rank(tally);
  EXPECT_EQ(rows(tally),
            (std::vector<Row>{{"x", 0, 1, false}, {"y", 1, 0, true}, {"z", 1, 0, true}}));
}

class EngineAdjudicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(engine_.install_campaign(make_campaign(), ++seq_), PutOutcome::created);
  }

  // Decides and commits a ballot with `flags` stored in its event; returns its seq.
  std::uint64_t vote(std::string_view voter, std::string_view candidate_id, FraudFlags flags = 0) {
    Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate_id;
    ballot.device = "phone";
    ballot.ua = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.38";
    Decision decision = engine_.decide(ballot);
    EXPECT_EQ(decision.status, VoteStatus::accepted);
    engine_.commit(std::move(decision.claim), ++seq_, flags);
    engine_.publish(seq_);
    return seq_;
  }
  // What the log's next event made visible.
  TallySnapshot published() {
    engine_.publish(++seq_);
    return *engine_.tally("ordos");
  }
  static const CandidateTally& of(const TallySnapshot& tally, std::string_view id) {
    for (const CandidateTally& c : tally.candidates) {
      if (c.id == id) return c;
    }
    ADD_FAILURE() << "no candidate " << id;
    return tally.candidates.front();
  }
  static std::uint64_t by_reason(const CandidateTally& c, FraudReason reason) {
    return c.suspect_by_reason[static_cast<std::size_t>(reason)];
  }

  ManualClock clock_{kNoon};
  FraudMonitor fraud_;
  Engine engine_{clock_, EngineOptions{.fraud = &fraud_}};
  std::uint64_t seq_ = 0;
};

// A log written by a later build may flag with a reason this one does not know: the vote turns
// suspect, and no count of a known reason (nor anything past the counts) changes.
TEST_F(EngineAdjudicationTest, ALateFlagOfAnUnknownReasonCountsSuspectOnly) {
  const std::uint64_t first = vote("a", "c01");
  const std::uint64_t last = vote("b", "c02");
  const auto monitor_before = fraud_.flag_counts("ordos");
  const MarkedVote votes[] = {{first, 0, 0}, {last, 1, 0}};
  ASSERT_TRUE(engine_.apply_flag("ordos", static_cast<FraudReason>(7), votes).ok());
  const TallySnapshot tally = published();
  EXPECT_EQ(tally.suspect, 2u);
  for (const auto& candidate : tally.candidates) {
    for (std::uint64_t count : candidate.suspect_by_reason) EXPECT_EQ(count, 0u) << candidate.id;
  }
  EXPECT_EQ(fraud_.flag_counts("ordos"), monitor_before);
}

TEST_F(EngineAdjudicationTest, ALateFlagTurnsOnlyUnflaggedVotesSuspectAndCountsOnlyNewReasons) {
  const std::uint64_t clean = vote("a", "c01");
  const std::uint64_t bot = vote("b", "c01", flag_of(FraudReason::bot_ua));
  const std::uint64_t flood = vote("c", "c02", flag_of(FraudReason::ip_flood));
  TallySnapshot tally = published();
  ASSERT_EQ(of(tally, "c01").suspect, 1u);
  ASSERT_EQ(tally.suspect, 2u);
  const auto monitor_before = fraud_.flag_counts("ordos");

  const MarkedVote first[] = {{clean, 0, 0}, {bot, 0, flag_of(FraudReason::bot_ua)}};
  ASSERT_TRUE(engine_.apply_flag("ordos", FraudReason::ip_flood, first).ok());
  // Not visible before the publish that follows the flag's commit.
  EXPECT_EQ(of(*engine_.tally("ordos"), "c01").suspect, 1u);
  tally = published();
  EXPECT_EQ(of(tally, "c01").suspect, 2u);  // the clean vote only: the other was suspect
  EXPECT_EQ(by_reason(of(tally, "c01"), FraudReason::ip_flood), 2u);
  EXPECT_EQ(by_reason(of(tally, "c01"), FraudReason::bot_ua), 1u);
  EXPECT_EQ(tally.suspect, 3u);
  EXPECT_EQ(tally.voided, 0u);
  // The fraud view counts the late reasons too.
  const auto monitor_after = fraud_.flag_counts("ordos");
  const auto ip_flood = static_cast<std::size_t>(FraudReason::ip_flood);
  EXPECT_EQ(monitor_after[ip_flood], monitor_before[ip_flood] + 2);

  // A second reason for a vote that is suspect already: counted under that reason only.
  const MarkedVote second[] = {{clean, 0, flag_of(FraudReason::ip_flood)}};
  ASSERT_TRUE(engine_.apply_flag("ordos", FraudReason::device_multi_account, second).ok());
  tally = published();
  EXPECT_EQ(of(tally, "c01").suspect, 2u);
  EXPECT_EQ(by_reason(of(tally, "c01"), FraudReason::device_multi_account), 1u);
  EXPECT_EQ(by_reason(of(tally, "c01"), FraudReason::ip_flood), 2u);

  // A reason the vote had already: nothing counted twice.
  const MarkedVote again[] = {{flood, 1, flag_of(FraudReason::ip_flood)}};
  ASSERT_TRUE(engine_.apply_flag("ordos", FraudReason::ip_flood, again).ok());
  tally = published();
  EXPECT_EQ(of(tally, "c02").suspect, 1u);
  EXPECT_EQ(by_reason(of(tally, "c02"), FraudReason::ip_flood), 1u);
  EXPECT_EQ(tally.suspect, 3u);
  EXPECT_EQ(tally.total, 3u);  // flags never change the votes
}

TEST_F(EngineAdjudicationTest, VoidedVotesLeaveValidAndTheRankingAndRestoredOnesComeBack) {
  const std::uint64_t a1 = vote("a1", "c01");
  const std::uint64_t a2 = vote("a2", "c01");
  vote("a3", "c01");
  vote("b1", "c02");
  vote("b2", "c02");
  TallySnapshot tally = published();
  ASSERT_EQ(tally.candidates[0].id, "c01");

  const MarkedVote voided[] = {{a1, 0, 0}, {a2, 0, 0}};
  ASSERT_TRUE(engine_.apply_void("ordos", voided, true).ok());
  tally = published();
  EXPECT_EQ(of(tally, "c01").votes, 3u);  // nothing is deleted
  EXPECT_EQ(of(tally, "c01").voided, 2u);
  EXPECT_EQ(of(tally, "c01").valid, 1u);
  EXPECT_EQ(rows(tally, 2), (std::vector<Row>{{"c02", 2, 1, false}, {"c01", 1, 2, false}}));
  EXPECT_EQ(tally.total, 5u);
  EXPECT_EQ(tally.voided, 2u);
  EXPECT_EQ(tally.valid, 3u);

  const MarkedVote restored[] = {{a2, 0, 0}};
  ASSERT_TRUE(engine_.apply_void("ordos", restored, false).ok());
  tally = published();
  EXPECT_EQ(of(tally, "c01").voided, 1u);
  EXPECT_EQ(of(tally, "c01").valid, 2u);
  EXPECT_EQ(rows(tally, 2), (std::vector<Row>{{"c01", 2, 1, false}, {"c02", 2, 1, false}}));
  EXPECT_EQ(tally.voided, 1u);
  EXPECT_EQ(tally.valid, 4u);
}

TEST_F(EngineAdjudicationTest, ADisqualifiedCandidateIsRankedApartUntilReinstated) {
  vote("a1", "c01");
  vote("a2", "c01");
  vote("b1", "c02");
  vote("c1", "c03");
  ASSERT_TRUE(engine_.set_disqualified("ordos", "c01", true).ok());
  TallySnapshot tally = published();
  EXPECT_EQ(
      rows(tally),
      (std::vector<Row>{
          {"c02", 1, 1, false}, {"c03", 1, 1, false}, {"c04", 0, 3, false}, {"c01", 2, 0, true}}));
  EXPECT_EQ(tally.total, 4u);  // its votes are still counted, and shown
  EXPECT_EQ(tally.valid, 4u);

  ASSERT_TRUE(engine_.set_disqualified("ordos", "c01", false).ok());
  tally = published();
  EXPECT_EQ(
      rows(tally),
      (std::vector<Row>{
          {"c01", 2, 1, false}, {"c02", 1, 2, false}, {"c03", 1, 2, false}, {"c04", 0, 4, false}}));
}

TEST_F(EngineAdjudicationTest, UnknownCampaignOrCandidateIsRefusedAndChangesNothing) {
  const std::uint64_t a = vote("a", "c01");
  const std::uint64_t b = vote("b", "c02");
  const std::string before = tally_to_json(published());
  const auto monitor_before = fraud_.flag_counts("ordos");

  const MarkedVote sound[] = {{a, 0, 0}};
  EXPECT_FALSE(engine_.apply_flag("nope", FraudReason::ip_flood, sound).ok());
  EXPECT_FALSE(engine_.apply_void("nope", sound, true).ok());
  EXPECT_FALSE(engine_.set_disqualified("nope", "c01", true).ok());
  // One vote of a known candidate, then one of an index the campaign does not have: the first
  // is not applied either.
  const MarkedVote half[] = {{a, 0, 0}, {b, 4, 0}};
  EXPECT_FALSE(engine_.apply_flag("ordos", FraudReason::ip_flood, half).ok());
  EXPECT_FALSE(engine_.apply_void("ordos", half, true).ok());
  EXPECT_FALSE(engine_.set_disqualified("ordos", "c99", true).ok());
  EXPECT_FALSE(engine_.set_disqualified("ordos", "", true).ok());

  TallySnapshot after = published();
  after.as_of_seq -= 1;  // the only change: one more publish
  EXPECT_EQ(tally_to_json(after), before);
  EXPECT_EQ(fraud_.flag_counts("ordos"), monitor_before);
}

TEST(TallyJsonTest, ShowsVoidValidRankAndDisqualifiedPerCandidateAndInTotal) {
  TallySnapshot tally;
  tally.campaign = "ordos";
  tally.as_of_seq = 42;
  tally.candidates = {candidate("c01", 5, 2), candidate("c02", 4, 0, true), candidate("c03", 1, 0)};
  tally.candidates[0].name = "候选人\"一\"";
  rank(tally);
  EXPECT_EQ(tally_to_json(tally),
            R"({"campaign":"ordos","as_of_seq":42,"total":10,"suspect":4,"void":2,"valid":8,)"
            R"("candidates":[)"
            R"({"id":"c01","name":"候选人\"一\"","votes":5,"suspect":2,"void":2,"valid":3,)"
            R"("rank":1,"disqualified":false},)"
            R"({"id":"c03","name":"c03","votes":1,"suspect":0,"void":0,"valid":1,"rank":2,)"
            R"("disqualified":false},)"
            R"({"id":"c02","name":"c02","votes":4,"suspect":2,"void":0,"valid":4,"rank":0,)"
            R"("disqualified":true}]})");
}

}  // namespace
}  // namespace tally::engine
