#include "tally/engine/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "tally/base/time.h"
#include "tally/corpus/user_agents.h"
#include "key_table.h"
#include "manual_background.h"

namespace tally::engine {
namespace {

// Only the prefetch, its keys thrown away: what a caller that decides later, or never, leaves.
void prefetch_only(const Engine& engine, const Ballot& ballot) {
  BallotKeys keys;
  engine.prefetch(ballot, keys);
}

// 2023-03-27T00:00:00+08:00 and the 12-day window of the seed campaign.
constexpr std::int64_t kOpens = 1679846400000;
constexpr std::int64_t kCloses = kOpens + 12 * kMsPerDay;
constexpr std::int64_t kHour = 3'600'000;

Campaign make_campaign(std::uint32_t max_votes_per_candidate = 1, std::uint32_t max_candidates = 2,
                       PeriodKind period = PeriodKind::day) {
  Campaign campaign;
  campaign.id = "ordos";
  campaign.title = "test";
  campaign.opens_at_ms = kOpens;
  campaign.closes_at_ms = kCloses;
  campaign.utc_offset_s = 8 * 3600;
  campaign.rules = {period, max_votes_per_candidate, max_candidates};
  campaign.expected_voters = 1000;
  for (const char* id : {"c01", "c02", "c03", "c04"}) {
    campaign.candidates.push_back({id, std::string("name-") + id, "unit", "能源"});
  }
  return campaign;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { install(make_campaign()); }
  void install(const Campaign& campaign) { engine_.install_campaign(campaign, ++seq_); }

  Ballot ballot(std::string_view voter, std::string_view candidate) {
    Ballot b;
    b.campaign = "ordos";
    b.voter = voter;
    b.candidate = candidate;
    return b;
  }
  // decide + commit as storage would; returns the decision (seq filled in when accepted).
  Decision vote(const Ballot& b, FraudFlags flags = 0) {
    Decision decision = engine_.decide(b);
    if (decision.status == VoteStatus::accepted) {
      decision.seq = ++seq_;
      engine_.commit(std::move(decision.claim), decision.seq, flags);
      engine_.publish(seq_);
    }
    return decision;
  }
  // As vote(), handing decide() what prefetch() worked out.
  Decision vote_with(const Ballot& b, const BallotKeys& keys) {
    Decision decision = engine_.decide(b, Engine::FieldCheck::run, &keys);
    if (decision.status == VoteStatus::accepted) {
      decision.seq = ++seq_;
      engine_.commit(std::move(decision.claim), decision.seq, 0);
      engine_.publish(seq_);
    }
    return decision;
  }
  std::uint64_t votes_of(std::string_view candidate) {
    const TallySnapshot tally = *engine_.tally("ordos");
    for (const auto& c : tally.candidates) {
      if (c.id == candidate) return c.votes;
    }
    return ~0ULL;
  }

  static EngineOptions with_background(BackgroundWork& background) {
    EngineOptions options;
    options.background = &background;
    return options;
  }

  ManualClock clock_{kOpens + kHour};
  // Large tables' next arrays are made when a test runs it; declared before the engine, whose
  // tables submit to it.
  testing::ManualBackground background_;
  Engine engine_{clock_, with_background(background_)};
  std::uint64_t seq_ = 0;
};

TEST_F(EngineTest, PreparedTablesServeTheFirstBallotsAsUsual) {
  EXPECT_EQ(engine_.table_stats().bytes, 0u);  // tables are made on first use...
  engine_.prepare_tables();                    // ...or ahead of it
  const std::uint64_t prepared = engine_.table_stats().bytes;
  EXPECT_GT(prepared, 0u);
  engine_.prepare_tables();  // idempotent: the same tables
  EXPECT_EQ(engine_.table_stats().bytes, prepared);
  const Decision first = vote(ballot("alice", "c01"));
  ASSERT_EQ(first.status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
  EXPECT_EQ(engine_.table_stats().bytes, prepared);  // the prepared tables took the keys
  EXPECT_EQ(votes_of("c01"), 1u);
}

// tally_table_growths_total: the campaign expects 1,000 voters (tables of 1,335 slots, which
// grow at 1,001 keys); 3,000 voters make the dedupe and quota tables double, twice each.
TEST_F(EngineTest, TableGrowthsAreCountedWhenVotersOutnumberExpectedVoters) {
  EXPECT_EQ(engine_.table_stats().table_growths, 0u);
  for (int i = 0; i < 900; ++i) {
    ASSERT_EQ(vote(ballot("voter-" + std::to_string(i), "c01")).status, VoteStatus::accepted);
  }
  EXPECT_EQ(engine_.table_stats().table_growths, 0u);
  for (int i = 900; i < 3000; ++i) {
    ASSERT_EQ(vote(ballot("voter-" + std::to_string(i), "c01")).status, VoteStatus::accepted);
  }
  EXPECT_EQ(engine_.table_stats().table_growths, 4u);
}

// A large table whose ballots stop between the load limits (0.75 and 0.85) holds the next
// array made for it beside its own; preparing tables grows into it, which frees the old one.
// 64,000 voters in tables sized for 60,000 (80,000 slots: past 0.75, short of 0.85).
TEST_F(EngineTest, PreparingTablesGrowsTablesWhoseBallotsStoppedIntoTheirMadeArrays) {
  Campaign campaign = make_campaign();
  campaign.expected_voters = 60'000;
  install(campaign);
  // The arrays are made only after the voting, so that no ballot finds them made and grows
  // into them itself.
  for (int i = 0; i < 64'000; ++i) {
    ASSERT_EQ(vote(ballot("voter-" + std::to_string(i), "c01")).status, VoteStatus::accepted);
  }
  const Engine::TableStats held = engine_.table_stats();
  EXPECT_EQ(held.table_growths, 0u);
  EXPECT_EQ(background_.run_all(), 2u);  // the dedupe and quota tables' next arrays
  engine_.prepare_tables();
  const Engine::TableStats grown = engine_.table_stats();
  EXPECT_EQ(grown.table_growths, 2u);
  EXPECT_LT(grown.bytes, held.bytes);
  EXPECT_EQ(vote(ballot("voter-0", "c01")).status, VoteStatus::duplicate);
  EXPECT_EQ(votes_of("c01"), 64'000u);
}

// Raising expected_voters changes no counting (same state), and the tables made from then on
// are sized by it: what an operator does when tally_table_growths_total climbs.
TEST_F(EngineTest, RaisedExpectedVotersSizesTheTablesMadeAfterIt) {
  Campaign raised = make_campaign();
  raised.expected_voters = 100'000;
  ASSERT_EQ(engine_.install_campaign(raised, ++seq_), PutOutcome::updated);
  ASSERT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  const TableFigures dedupe =
      engine_.table_stats().by_kind[static_cast<std::size_t>(TableKind::dedupe)];
  EXPECT_GE(dedupe.bytes, std::uint64_t{100'000} * 16);  // 16-byte slots, load at most 0.75
}

// The figures behind tally_table_keys / tally_table_bytes: each table's own keys and bytes.
TEST_F(EngineTest, TableStatsCountEachTableApart) {
  const auto figures = [this](TableKind kind) {
    return engine_.table_stats().by_kind[static_cast<std::size_t>(kind)];
  };
  Ballot with_request = ballot("alice", "c01");
  with_request.request_id = "r-1";
  ASSERT_EQ(vote(with_request).status, VoteStatus::accepted);
  ASSERT_EQ(vote(ballot("alice", "c02")).status, VoteStatus::accepted);
  ASSERT_EQ(vote(ballot("bob", "c01")).status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("bob", "c01")).status, VoteStatus::duplicate);  // holds no new key

  EXPECT_EQ(figures(TableKind::dedupe).keys, 3u);      // (alice, c01), (alice, c02), (bob, c01)
  EXPECT_EQ(figures(TableKind::quota).keys, 2u);       // alice, bob
  EXPECT_EQ(figures(TableKind::request_id).keys, 1u);  // r-1
  const Engine::TableStats stats = engine_.table_stats();
  EXPECT_EQ(stats.keys, 6u);
  std::uint64_t bytes = 0;
  for (const TableFigures& table : stats.by_kind) {
    EXPECT_GT(table.bytes, 0u);
    bytes += table.bytes;
  }
  EXPECT_EQ(stats.bytes, bytes);
  EXPECT_EQ(table_kind_name(TableKind::request_id), "request_id");
}

// Prefetching a ballot (the next line of a batch) only loads slots: it makes no table, holds
// no key and changes no answer, whatever the ballot.
TEST_F(EngineTest, PrefetchChangesNothing) {
  Ballot with_request = ballot("alice", "c01");
  with_request.request_id = "r-1";
  prefetch_only(engine_, with_request);  // before any table exists
  EXPECT_EQ(engine_.table_stats().bytes, 0u);
  EXPECT_EQ(engine_.table_stats().generations_made_late, 0u);

  ASSERT_EQ(vote(with_request).status, VoteStatus::accepted);
  const Engine::TableStats after_vote = engine_.table_stats();
  Ballot unknown_campaign = ballot("bob", "c01");
  unknown_campaign.campaign = "nope";
  Ballot bob_request = ballot("bob", "c02");
  bob_request.request_id = "r-2";
  for (const Ballot& b :
       {with_request, ballot("bob", "c01"), ballot("bob", "nope"), unknown_campaign, bob_request}) {
    prefetch_only(engine_, b);
  }
  EXPECT_EQ(engine_.table_stats().keys, after_vote.keys);
  EXPECT_EQ(engine_.table_stats().generations_made_late, after_vote.generations_made_late);
  EXPECT_EQ(vote(with_request).status, VoteStatus::duplicate);
  EXPECT_EQ(vote(bob_request).status, VoteStatus::accepted);  // bob's key was not taken

  clock_.set_ms(kCloses + kHour);  // closed: prefetching makes no table for a new period
  prefetch_only(engine_, ballot("carol", "c01"));
  EXPECT_EQ(engine_.table_stats().generations_made_late, after_vote.generations_made_late);
}

// decide() takes prefetch()'s keys only for the ballot they were worked out for: another
// ballot, even one of the same shape, gets its own.
TEST_F(EngineTest, PrefetchedKeysServeOnlyTheirOwnBallot) {
  const std::string alice = "alice", bob = "bob-", c01 = "c01", c02 = "c02";
  Ballot first = ballot(alice, c01);
  first.request_id = "r-1";
  BallotKeys keys;
  engine_.prefetch(first, keys);
  Ballot other = ballot(bob, c02);  // same field sizes, other bytes
  other.request_id = "r-2";
  ASSERT_EQ(vote_with(other, keys).status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c02"), 1u);
  EXPECT_EQ(votes_of("c01"), 0u);

  const Decision counted = vote_with(first, keys);
  ASSERT_EQ(counted.status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c01"), 1u);
  const Decision again = vote_with(first, keys);  // the request id, from the keys
  EXPECT_EQ(again.status, VoteStatus::duplicate);
  EXPECT_EQ(again.seq, counted.seq);
  Ballot retry = ballot(alice, c02);  // another candidate, the same request id
  retry.request_id = "r-1";
  EXPECT_EQ(vote_with(retry, keys).status, VoteStatus::duplicate);
  EXPECT_EQ(vote(ballot("alice", "c02")).status, VoteStatus::accepted);  // no request id

  Ballot unknown = ballot(bob, "c99");
  engine_.prefetch(unknown, keys);
  EXPECT_EQ(vote_with(unknown, keys).status, VoteStatus::unknown_candidate);
}

// A ballot is judged at the server time its keys were worked out at (the clock is read once
// per ballot); without keys, at the time decide() reads.
TEST_F(EngineTest, PrefetchedBallotsAreJudgedAtThePrefetchTime) {
  clock_.set_ms(kCloses - 1);
  const Ballot last = ballot("alice", "c01");
  BallotKeys keys;
  engine_.prefetch(last, keys);
  clock_.set_ms(kCloses);  // closes_at is exclusive
  const Decision judged = vote_with(last, keys);
  EXPECT_EQ(judged.status, VoteStatus::accepted);
  EXPECT_EQ(judged.server_ms, kCloses - 1);
  EXPECT_EQ(vote(ballot("bob", "c01")).status, VoteStatus::closed);
}

// A ballot timed just before a period turned, when another ballot has already begun the new
// period's tables, is judged again at a fresh time: its server time falls in the period it
// counts in, as tallyctl verify checks.
TEST_F(EngineTest, ABallotTimedBeforeANewPeriodBeganIsJudgedAgainInIt) {
  const std::int64_t midnight = kOpens + kMsPerDay;  // local midnight at +08:00
  clock_.set_ms(midnight - 1);
  const Ballot late = ballot("alice", "c01");
  BallotKeys keys;
  engine_.prefetch(late, keys);
  clock_.set_ms(midnight);
  ASSERT_EQ(vote(ballot("bob", "c01")).status, VoteStatus::accepted);  // begins the new day
  const Decision judged = vote_with(late, keys);
  ASSERT_EQ(judged.status, VoteStatus::accepted);
  EXPECT_EQ(judged.period, make_campaign().period_of(midnight));
  EXPECT_EQ(judged.server_ms, midnight);
}

// Keys worked out under one campaign version are not used under the next: the candidates
// may have moved.
TEST_F(EngineTest, PrefetchedKeysOfAReplacedCampaignAreWorkedOutAgain) {
  const Ballot b = ballot("alice", "c03");
  BallotKeys keys;
  engine_.prefetch(b, keys);
  Campaign reordered = make_campaign();
  std::swap(reordered.candidates[0], reordered.candidates[2]);  // c03 first, c01 third
  ASSERT_EQ(engine_.install_campaign(reordered, ++seq_), PutOutcome::updated);
  ASSERT_EQ(vote_with(b, keys).status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c03"), 1u);
  EXPECT_EQ(votes_of("c01"), 0u);
}

// A campaign version replaced before its first ballot gives up its tables: changing the rules
// again and again does not pile them up, and the last version counts in tables of its own.
TEST_F(EngineTest, AReplacedCampaignVersionGivesUpItsTables) {
  engine_.prepare_tables();  // the open campaign's live tables
  const std::uint64_t held = engine_.table_stats().generations_live;
  ASSERT_GT(held, 0u);
  for (std::uint32_t i = 0; i < 5; ++i) {
    // A counting change: a new campaign state, with new tables.
    ASSERT_EQ(engine_.install_campaign(make_campaign(1, 3 + i), ++seq_), PutOutcome::updated);
    engine_.prepare_tables();  // makes the new version's tables and frees the old version's
    EXPECT_EQ(engine_.table_stats().generations_live, held) << "version " << i + 2;
  }
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("alice", "c02")).status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
  EXPECT_EQ(engine_.table_stats().generations_live, held);
}

TEST_F(EngineTest, PreparingTablesOfAClosedCampaignMakesNone) {
  clock_.set_ms(kCloses + kHour);
  engine_.prepare_tables();
  EXPECT_EQ(engine_.table_stats().bytes, 0u);
}

// The daily quota resets at the period's start (midnight at +08:00): the tables of the next
// period are made and mapped within the lead before it, and its first ballot takes them.
TEST_F(EngineTest, NextPeriodTablesAreMadeAheadAndTakenByItsFirstBallot) {
  const std::int64_t second_day = kOpens + kMsPerDay;
  clock_.set_ms(second_day - 30'000);
  ASSERT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  const Engine::TableStats before = engine_.table_stats();
  EXPECT_EQ(before.generations_made_ahead, 0u);
  EXPECT_EQ(before.generations_made_late, 1u);  // the first day's, by alice's ballot
  engine_.prepare_tables(60'000);
  const Engine::TableStats prepared = engine_.table_stats();
  EXPECT_EQ(prepared.generations_made_ahead, 1u);  // the second day's period tables
  EXPECT_GT(prepared.bytes, before.bytes);         // held (and counted) before the period begins
  engine_.prepare_tables(60'000);                  // idempotent
  EXPECT_EQ(engine_.table_stats().generations_made_ahead, 1u);
  // Still the first day: the prepared tables are not live yet.
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);

  clock_.set_ms(second_day + 1'000);
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);  // a new day's quota
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
  EXPECT_EQ(engine_.table_stats().generations_made_late, 1u);  // no table made on the way
  EXPECT_EQ(votes_of("c01"), 2u);
}

TEST_F(EngineTest, NextUtcDayRequestTablesAreMadeAheadAndOldIdsStillAnswer) {
  const std::int64_t utc_midnight = kOpens + 8 * kHour;
  clock_.set_ms(utc_midnight - 30'000);
  Ballot first = ballot("alice", "c01");
  first.request_id = "req-before-midnight";
  const Decision accepted = vote(first);
  ASSERT_EQ(accepted.status, VoteStatus::accepted);
  engine_.prepare_tables(60'000);
  EXPECT_EQ(engine_.table_stats().generations_made_ahead, 1u);  // the UTC day's request ids

  clock_.set_ms(utc_midnight + 1'000);
  const std::uint64_t late = engine_.table_stats().generations_made_late;
  Ballot second = ballot("bob", "c02");
  second.request_id = "req-after-midnight";
  EXPECT_EQ(vote(second).status, VoteStatus::accepted);
  EXPECT_EQ(engine_.table_stats().generations_made_late, late);
  const Decision retried = vote(first);  // yesterday's request id, a day later in UTC
  EXPECT_EQ(retried.status, VoteStatus::duplicate);
  EXPECT_EQ(retried.seq, accepted.seq);
  EXPECT_EQ(vote(second).status, VoteStatus::duplicate);
}

TEST_F(EngineTest, TablesPreparedForAPeriodThatPassedUnusedAreReplaced) {
  const std::int64_t second_day = kOpens + kMsPerDay;
  clock_.set_ms(second_day - 30'000);
  engine_.prepare_tables(60'000);
  EXPECT_EQ(engine_.table_stats().generations_made_ahead, 1u);
  clock_.set_ms(second_day + kMsPerDay + kHour);  // no ballot on the second day at all
  const std::uint64_t late = engine_.table_stats().generations_made_late;
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  EXPECT_EQ(engine_.table_stats().generations_made_late, late + 1);  // the third day's
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
}

TEST_F(EngineTest, ACampaignOpeningWithinTheLeadGetsItsTablesAhead) {
  clock_.set_ms(kOpens - 30'000);
  engine_.prepare_tables();
  EXPECT_EQ(engine_.table_stats().bytes, 0u);  // not open yet, no lead
  engine_.prepare_tables(60'000);
  const std::uint64_t prepared = engine_.table_stats().bytes;
  EXPECT_GT(prepared, 0u);
  EXPECT_EQ(engine_.table_stats().generations_made_ahead, 2u);  // period and request ids
  clock_.set_ms(kOpens + 1'000);
  Ballot first = ballot("alice", "c01");
  first.request_id = "req-1";
  EXPECT_EQ(vote(first).status, VoteStatus::accepted);
  EXPECT_EQ(engine_.table_stats().bytes, prepared);
  EXPECT_EQ(engine_.table_stats().generations_made_late, 0u);  // the opening made none
}

// The request-id table made ahead for an opening campaign is kept while its UTC day lasts
// (frontends may send their first request id late), then freed if no ballot brought one.
TEST_F(EngineTest, AnOpeningsRequestIdTableIsFreedOnceItsDayPassedUnused) {
  clock_.set_ms(kOpens - 30'000);
  engine_.prepare_tables(60'000);
  const std::uint64_t at_opening = engine_.table_stats().generations_live;
  EXPECT_EQ(at_opening, 2u);  // the first period's tables and the UTC day's request ids
  clock_.set_ms(kOpens + 1'000);
  ASSERT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);  // no request id
  engine_.prepare_tables(60'000);
  EXPECT_EQ(engine_.table_stats().generations_live, at_opening);
  clock_.set_ms(kOpens + 8 * kHour + 1'000);  // the next UTC day (the campaign is at +08:00)
  engine_.prepare_tables(60'000);
  EXPECT_EQ(engine_.table_stats().generations_live, at_opening - 1);
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
  Ballot with_id = ballot("bob", "c01");
  with_id.request_id = "req-1";
  EXPECT_EQ(vote(with_id).status, VoteStatus::accepted);  // makes its own request-id table
}

// Frontends that send no request ids get no request-id tables from the preparation; once a
// ballot brings one, its day's table is mapped, and the next day's made ahead.
TEST_F(EngineTest, RequestIdTablesArePreparedOnlyWhereRequestIdsAreSent) {
  clock_.set_ms(kOpens + 8 * kHour - 30'000);  // UTC midnight in 30 s
  engine_.prepare_tables(60'000);
  const Engine::TableStats without = engine_.table_stats();
  EXPECT_EQ(without.generations_made_ahead, 0u);
  EXPECT_EQ(without.generations_made_late, 1u);  // the period's dedupe and quota tables only
  Ballot with_id = ballot("alice", "c01");
  with_id.request_id = "req-1";
  ASSERT_EQ(vote(with_id).status, VoteStatus::accepted);
  EXPECT_EQ(engine_.table_stats().generations_made_late, 2u);  // today's, by the ballot
  engine_.prepare_tables(60'000);
  EXPECT_EQ(engine_.table_stats().generations_made_ahead, 1u);  // tomorrow's (UTC)
  EXPECT_GT(engine_.table_stats().bytes, without.bytes);
}

TEST_F(EngineTest, FirstBallotIsAcceptedAndCounted) {
  const Decision decision = vote(ballot("alice", "c01"));
  EXPECT_EQ(decision.status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c01"), 1u);
  EXPECT_EQ(engine_.tally("ordos")->as_of_seq, decision.seq);
}

TEST_F(EngineTest, RepeatedBallotIsDuplicateWithOriginalSeq) {
  const Decision first = vote(ballot("alice", "c01"));
  vote(ballot("bob", "c01"));
  const Decision again = vote(ballot("alice", "c01"));
  EXPECT_EQ(again.status, VoteStatus::duplicate);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_FALSE(again.pending);
  EXPECT_EQ(votes_of("c01"), 2u);
}

TEST_F(EngineTest, BallotMatchingAnInFlightCommitIsPendingDuplicate) {
  Decision first = engine_.decide(ballot("alice", "c01"));
  ASSERT_EQ(first.status, VoteStatus::accepted);
  const Decision racing = engine_.decide(ballot("alice", "c01"));
  EXPECT_EQ(racing.status, VoteStatus::duplicate);
  EXPECT_TRUE(racing.pending);
  engine_.commit(std::move(first.claim), 77, 0);
  engine_.publish(77);
  const Decision settled = engine_.decide(ballot("alice", "c01"));
  EXPECT_EQ(settled.status, VoteStatus::duplicate);
  EXPECT_EQ(settled.seq, 77u);
}

TEST_F(EngineTest, ReleasedClaimLetsTheVoterVoteAgain) {
  Decision first = engine_.decide(ballot("alice", "c01"));
  ASSERT_EQ(first.status, VoteStatus::accepted);
  engine_.release(std::move(first.claim));
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c01"), 1u);
}

TEST_F(EngineTest, DroppedClaimReleasesItself) {
  { Decision first = engine_.decide(ballot("alice", "c01")); }
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
}

TEST_F(EngineTest, MaxCandidatesPerPeriodGivesQuotaExceeded) {
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("alice", "c02")).status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("alice", "c03")).status, VoteStatus::quota_exceeded);
  // A duplicate still answers duplicate, not quota_exceeded.
  EXPECT_EQ(vote(ballot("alice", "c01")).status, VoteStatus::duplicate);
  // A released claim gives its quota slot back.
  EXPECT_EQ(vote(ballot("carol", "c01")).status, VoteStatus::accepted);
  Decision held = engine_.decide(ballot("carol", "c02"));
  ASSERT_EQ(held.status, VoteStatus::accepted);
  EXPECT_EQ(engine_.decide(ballot("carol", "c03")).status, VoteStatus::quota_exceeded);
  engine_.release(std::move(held.claim));
  EXPECT_EQ(vote(ballot("carol", "c03")).status, VoteStatus::accepted);
}

TEST(EngineRules, SeveralVotesPerCandidateCountUpToTheLimit) {
  ManualClock clock(kOpens);
  Engine engine(clock);
  engine.install_campaign(make_campaign(3, 1), 1);
  Ballot b{"ordos", "c01", "alice", {}, {}, {}, {}, {}};
  std::uint64_t seq = 1;
  for (int i = 0; i < 3; ++i) {
    Decision decision = engine.decide(b);
    ASSERT_EQ(decision.status, VoteStatus::accepted) << i;
    engine.commit(std::move(decision.claim), ++seq, 0);
  }
  EXPECT_EQ(engine.decide(b).status, VoteStatus::quota_exceeded);
  b.candidate = "c02";
  EXPECT_EQ(engine.decide(b).status, VoteStatus::quota_exceeded);  // max_candidates 1
  engine.publish(seq);
  EXPECT_EQ(engine.tally("ordos")->candidates[0].votes, 3u);
}

TEST_F(EngineTest, WindowOpensInclusiveAndClosesExclusive) {
  clock_.set_ms(kOpens - 1);
  EXPECT_EQ(vote(ballot("a", "c01")).status, VoteStatus::closed);
  clock_.set_ms(kOpens);
  EXPECT_EQ(vote(ballot("a", "c01")).status, VoteStatus::accepted);
  clock_.set_ms(kCloses - 1);
  EXPECT_EQ(vote(ballot("b", "c01")).status, VoteStatus::accepted);
  clock_.set_ms(kCloses);
  EXPECT_EQ(vote(ballot("c", "c01")).status, VoteStatus::closed);
}

TEST_F(EngineTest, CountedBallotIsDuplicateEvenAfterCloseWithinItsPeriod) {
  const Decision first = vote(ballot("a", "c01"));
  Campaign closing = make_campaign();
  closing.closes_at_ms = clock_.now_ms() + 1;  // an operator closes the vote now
  install(closing);
  clock_.advance_ms(kHour);
  EXPECT_EQ(vote(ballot("b", "c01")).status, VoteStatus::closed);
  const Decision retry = vote(ballot("a", "c01"));
  EXPECT_EQ(retry.status, VoteStatus::duplicate);
  EXPECT_EQ(retry.seq, first.seq);
}

TEST_F(EngineTest, DayPeriodTurnsOverAtMidnightAtTheCampaignOffset) {
  // 23:59:59.999 +08:00 on the first day, then 00:00:00.000 +08:00 on the second.
  const std::int64_t midnight = kOpens + kMsPerDay;
  clock_.set_ms(midnight - 1);
  const Decision day1 = vote(ballot("a", "c01"));
  ASSERT_EQ(day1.status, VoteStatus::accepted);
  EXPECT_EQ(vote(ballot("a", "c01")).status, VoteStatus::duplicate);
  clock_.set_ms(midnight);
  const Decision day2 = vote(ballot("a", "c01"));
  EXPECT_EQ(day2.status, VoteStatus::accepted);
  EXPECT_EQ(day2.period, day1.period + 1);
  EXPECT_EQ(votes_of("c01"), 2u);
  // Midnight UTC is 08:00 local: no new period there.
  clock_.set_ms(midnight + 16 * kHour - 1);
  EXPECT_EQ(vote(ballot("a", "c01")).status, VoteStatus::duplicate);
}

TEST_F(EngineTest, PeriodsNeverGoBackWhenTheClockDoes) {
  const std::int64_t midnight = kOpens + kMsPerDay;
  clock_.set_ms(midnight + kHour);
  const Decision day2 = vote(ballot("a", "c01"));
  ASSERT_EQ(day2.status, VoteStatus::accepted);
  clock_.set_ms(midnight - kHour);  // a ballot read the clock just before the rollover
  const Decision late = vote(ballot("a", "c01"));
  EXPECT_EQ(late.status, VoteStatus::duplicate);
  EXPECT_EQ(late.seq, day2.seq);
  EXPECT_EQ(late.period, day2.period);
}

TEST(EngineRules, CampaignPeriodNeverTurnsOver) {
  ManualClock clock(kOpens);
  Engine engine(clock);
  engine.install_campaign(make_campaign(1, 2, PeriodKind::campaign), 1);
  Ballot b{"ordos", "c01", "alice", {}, {}, {}, {}, {}};
  Decision first = engine.decide(b);
  ASSERT_EQ(first.status, VoteStatus::accepted);
  engine.commit(std::move(first.claim), 2, 0);
  clock.set_ms(kOpens + 5 * kMsPerDay);
  const Decision later = engine.decide(b);
  EXPECT_EQ(later.status, VoteStatus::duplicate);
  EXPECT_EQ(later.seq, 2u);
}

TEST_F(EngineTest, UnknownCampaignAndCandidate) {
  Ballot b = ballot("a", "c01");
  b.campaign = "nope";
  EXPECT_EQ(vote(b).status, VoteStatus::unknown_campaign);
  EXPECT_EQ(vote(ballot("a", "c99")).status, VoteStatus::unknown_candidate);
}

TEST_F(EngineTest, EveryCandidateOfALargeFieldCountsUnderItsOwnId) {
  // Candidate lookup is a hash table: 300 ids sharing prefixes and lengths, each found and
  // counted under its own index; near misses of real ids are unknown.
  Campaign campaign = make_campaign();
  campaign.candidates.clear();
  for (int i = 0; i < 300; ++i) {
    const std::string id = (i % 3 == 0 ? "c" : i % 3 == 1 ? "cand-" : "x") + std::to_string(i);
    campaign.candidates.push_back({id, "name-" + id, "unit", "能源"});
  }
  install(campaign);
  // Candidate i gets i % 5 + 1 votes, so a lookup that answered another index shows.
  std::map<std::string, std::uint64_t> expected;
  for (int i = 0; i < 300; ++i) {
    const std::string& id = campaign.candidates[i].id;
    for (int k = 0; k <= i % 5; ++k) {
      const std::string voter = "v" + std::to_string(i) + "-" + std::to_string(k);
      ASSERT_EQ(vote(ballot(voter, id)).status, VoteStatus::accepted) << id;
    }
    expected[id] = i % 5 + 1;
  }
  const TallySnapshot tally = *engine_.tally("ordos");
  std::map<std::string, std::uint64_t> counted;
  for (const auto& candidate : tally.candidates) counted[candidate.id] = candidate.votes;
  EXPECT_EQ(counted, expected);
  for (const char* near : {"c1", "C0", "cand-0", "c0 ", "x", "cand-1000", "x28"}) {
    EXPECT_EQ(vote(ballot("late", near)).status, VoteStatus::unknown_candidate) << near;
  }
}

TEST_F(EngineTest, InvalidFieldsNameTheFieldAndRule) {
  Ballot b = ballot("", "c01");
  Decision decision = vote(b);
  EXPECT_EQ(decision.status, VoteStatus::invalid);
  EXPECT_EQ(decision.error, "voter: required");
  const std::string long_voter(257, 'v');
  decision = vote(ballot(long_voter, "c01"));
  EXPECT_EQ(decision.error, "voter: longer than 256 bytes");
  b = ballot("a", "c01");
  const std::string long_request(129, 'r');
  b.request_id = long_request;
  EXPECT_EQ(vote(b).error, "request_id: longer than 128 bytes");
  b = ballot("a", "c01");
  b.ua = "\xff\xfe";
  EXPECT_EQ(vote(b).error, "ua: not valid UTF-8");
  b = ballot("a", "c01");
  const std::string long_ua(kMaxUaBytes + 1, 'u');
  b.ua = long_ua;
  EXPECT_EQ(vote(b).error, "ua: longer than 1024 bytes");
  EXPECT_EQ(votes_of("c01"), 0u);
}

// Every real agent of the corpus is taken whole, up to the limit of DESIGN.md (1,024 bytes),
// and each field at its own limit: WeChat on Android sends about 300 bytes, over the 256 of
// the other fields.
TEST_F(EngineTest, RealUserAgentsAndFieldsAtTheirLimitsAreAccepted) {
  std::size_t n = 0;
  std::size_t longest = 0;
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    const std::string voter = "corpus-" + std::to_string(n++);
    Ballot b = ballot(voter, "c02");
    b.ua = sample.agent;
    EXPECT_EQ(vote(b).status, VoteStatus::accepted) << sample.client;
    longest = std::max(longest, sample.agent.size());
  }
  EXPECT_GT(longest, kMaxFieldBytes) << "the corpus has no agent over the other fields' limit";
  const std::string at_limit(kMaxUaBytes, 'u');
  const std::string voter(kMaxFieldBytes, 'v');
  const std::string request(kMaxRequestIdBytes, 'r');
  Ballot b = ballot(voter, "c03");
  b.ua = at_limit;
  b.request_id = request;
  b.device = voter;
  EXPECT_EQ(vote(b).status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c02"), n);
}

TEST_F(EngineTest, PrecedenceInvalidBeforeUnknownCampaignBeforeUnknownCandidate) {
  Ballot b = ballot("", "c99");
  b.campaign = "nope";
  EXPECT_EQ(vote(b).status, VoteStatus::invalid);
  b.voter = "a";
  EXPECT_EQ(vote(b).status, VoteStatus::unknown_campaign);
}

TEST_F(EngineTest, KnownRequestIdAnswersDuplicateWhateverTheRulesSayNow) {
  Ballot b = ballot("a", "c01");
  b.request_id = "req-1";
  const Decision first = vote(b);
  ASSERT_EQ(first.status, VoteStatus::accepted);
  // Next day the dedupe key would allow a new vote, and later the window is closed: the
  // request id still wins, even before the candidate check.
  clock_.set_ms(kOpens + kHour + kMsPerDay);
  EXPECT_EQ(vote(b).seq, first.seq);
  Campaign closing = make_campaign();
  closing.closes_at_ms = clock_.now_ms();
  install(closing);
  clock_.advance_ms(kHour);
  b.candidate = "c99";
  const Decision retry = vote(b);
  EXPECT_EQ(retry.status, VoteStatus::duplicate);
  EXPECT_EQ(retry.seq, first.seq);
}

TEST_F(EngineTest, RejectedBallotLeavesNoRequestIdBehind) {
  vote(ballot("a", "c01"));
  vote(ballot("a", "c02"));
  Ballot b = ballot("a", "c03");
  b.request_id = "req-2";
  EXPECT_EQ(vote(b).status, VoteStatus::quota_exceeded);
  b.voter = "someone-else";
  EXPECT_EQ(vote(b).status, VoteStatus::accepted);
}

TEST_F(EngineTest, TallyRanksWithCompetitionRankingAndCountsSuspect) {
  vote(ballot("a", "c02"));
  vote(ballot("b", "c02"), flag_of(FraudReason::bot_ua));
  vote(ballot("a", "c03"));
  vote(ballot("c", "c01"));
  const TallySnapshot tally = *engine_.tally("ordos");
  ASSERT_EQ(tally.candidates.size(), 4u);
  EXPECT_EQ(tally.total, 4u);
  EXPECT_EQ(tally.suspect, 1u);
  EXPECT_EQ(tally.candidates[0].id, "c02");
  EXPECT_EQ(tally.candidates[0].rank, 1u);
  EXPECT_EQ(tally.candidates[0].suspect, 1u);
  EXPECT_EQ(tally.candidates[1].id, "c01");  // tie broken by id
  EXPECT_EQ(tally.candidates[1].rank, 2u);
  EXPECT_EQ(tally.candidates[2].id, "c03");
  EXPECT_EQ(tally.candidates[2].rank, 2u);
  EXPECT_EQ(tally.candidates[3].rank, 4u);
  EXPECT_EQ(tally_to_json(tally).substr(0, 45), R"({"campaign":"ordos","as_of_seq":5,"total":4,")");
}

TEST_F(EngineTest, UncommittedVotesAreNotInTheTally) {
  Decision held = engine_.decide(ballot("a", "c01"));
  ASSERT_EQ(held.status, VoteStatus::accepted);
  EXPECT_EQ(votes_of("c01"), 0u);
  engine_.commit(std::move(held.claim), ++seq_, 0);
  EXPECT_EQ(votes_of("c01"), 0u);  // not published yet
  engine_.publish(seq_);
  EXPECT_EQ(votes_of("c01"), 1u);
}

TEST_F(EngineTest, CampaignWithVotesRefusesCountingChangesButAcceptsWindowChanges) {
  vote(ballot("a", "c01"));
  Campaign changed = make_campaign();
  changed.rules.max_candidates = 3;
  EXPECT_EQ(engine_.check_campaign(changed), PutOutcome::conflict);
  EXPECT_EQ(engine_.install_campaign(changed, ++seq_), PutOutcome::conflict);
  Campaign closing = make_campaign();
  closing.closes_at_ms = clock_.now_ms();  // close the vote now
  EXPECT_EQ(engine_.install_campaign(closing, ++seq_), PutOutcome::updated);
  EXPECT_EQ(vote(ballot("b", "c01")).status, VoteStatus::closed);
  EXPECT_EQ(engine_.install_campaign(closing, ++seq_), PutOutcome::unchanged);
  EXPECT_EQ(votes_of("c01"), 1u);
}

TEST_F(EngineTest, CampaignWithoutVotesMayChangeItsCandidates) {
  Campaign changed = make_campaign();
  changed.candidates.pop_back();
  EXPECT_EQ(engine_.check_campaign(changed), PutOutcome::updated);
  EXPECT_EQ(engine_.install_campaign(changed, ++seq_), PutOutcome::updated);
  EXPECT_EQ(vote(ballot("a", "c04")).status, VoteStatus::unknown_candidate);
  EXPECT_EQ(engine_.tally("ordos")->candidates.size(), 3u);
}

TEST(EngineRecovery, ReplayedVotesRestoreTalliesDuplicatesQuotasAndRequestIds) {
  ManualClock clock(kOpens + kHour);
  Engine engine(clock);
  engine.install_campaign(make_campaign(), 1);
  const std::int64_t period = local_day(kOpens + kHour, 8 * 3600);
  auto stored = [](std::string_view candidate, std::string_view voter,
                   std::string_view request_id) {
    return Ballot{"ordos", candidate, voter, {}, {}, {}, request_id, {}};
  };
  ASSERT_TRUE(engine.replay_vote(stored("c01", "alice", ""), kOpens, period, 0, 2).ok());
  ASSERT_TRUE(engine.replay_vote(stored("c02", "alice", ""), kOpens, period, 1, 3).ok());
  ASSERT_TRUE(engine.replay_vote(stored("c01", "bob", "req-9"), kOpens, period, 0, 4).ok());
  EXPECT_FALSE(engine.replay_vote(stored("c77", "bob", ""), kOpens, period, 0, 5).ok());
  engine.publish(4);
  EXPECT_EQ(engine.tally("ordos")->total, 3u);
  EXPECT_EQ(engine.tally("ordos")->suspect, 1u);
  Ballot b{"ordos", "c01", "alice", {}, {}, {}, {}, {}};
  Decision decision = engine.decide(b);
  EXPECT_EQ(decision.status, VoteStatus::duplicate);
  EXPECT_EQ(decision.seq, 2u);
  b.candidate = "c03";
  EXPECT_EQ(engine.decide(b).status, VoteStatus::quota_exceeded);
  Ballot retry{"ordos", "c03", "someone", {}, {}, {}, "req-9", {}};
  decision = engine.decide(retry);
  EXPECT_EQ(decision.status, VoteStatus::duplicate);
  EXPECT_EQ(decision.seq, 4u);
  // A new seq after recovery continues above the replayed ones.
  Decision fresh = engine.decide(Ballot{"ordos", "c03", "carol", {}, {}, {}, {}, {}});
  ASSERT_EQ(fresh.status, VoteStatus::accepted);
  engine.commit(std::move(fresh.claim), 5, 0);
  EXPECT_EQ(engine.decide(Ballot{"ordos", "c03", "carol", {}, {}, {}, {}, {}}).seq, 5u);
}

TEST(EngineTables, StatsCountKeysAndBytes) {
  ManualClock clock(kOpens);
  Engine engine(clock);
  engine.install_campaign(make_campaign(), 1);
  std::uint64_t seq = 1;
  for (int i = 0; i < 100; ++i) {
    const std::string voter = "v" + std::to_string(i);
    Decision d = engine.decide(Ballot{"ordos", "c01", voter, {}, {}, {}, {}, {}});
    ASSERT_EQ(d.status, VoteStatus::accepted);
    engine.commit(std::move(d.claim), ++seq, 0);
  }
  EXPECT_GE(engine.table_stats().keys, 100u);
  EXPECT_GT(engine.table_stats().bytes, 0u);
}

}  // namespace
}  // namespace tally::engine
