// FuzzWorld: a small in-memory campaign set and engine for the libFuzzer targets (fuzz/).
//
// Each fuzz input gets a fresh world, so that a crash reproduces from its input alone. The
// campaigns cover the rule shapes that take different engine paths: per-day dedupe (one vote
// per candidate), a campaign-long counter (several votes per candidate), and a closed window.
// The tables are sized small (expected_voters) so that building a world costs microseconds.
// Not safe for concurrent use: libFuzzer runs one input at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tally/base/clock.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"

namespace tally::fuzz {

// 2023-03-27T00:00:00+08:00 and 2023-04-08T00:00:00+08:00, the seed campaign's window.
inline constexpr std::int64_t kOpensAtMs = 1'679'846'400'000;
inline constexpr std::int64_t kClosesAtMs = 1'680'883'200'000;
inline constexpr std::int64_t kHourMs = 3'600'000;
// Table sizing of the fuzz campaigns: small, so that a world is cheap to build.
inline constexpr std::uint64_t kFuzzExpectedVoters = 64;

// Stops the fuzzer with a message: a broken invariant is a finding, like a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

inline engine::Campaign make_campaign(std::string id, engine::PeriodKind period,
                                      std::uint32_t max_votes_per_candidate,
                                      std::uint32_t max_candidates, std::int64_t opens_at_ms,
                                      std::int64_t closes_at_ms) {
  engine::Campaign campaign;
  campaign.id = std::move(id);
  campaign.title = "fuzz " + campaign.id;
  campaign.opens_at_ms = opens_at_ms;
  campaign.closes_at_ms = closes_at_ms;
  campaign.utc_offset_s = 8 * 3600;
  campaign.rules.period = period;
  campaign.rules.max_votes_per_candidate = max_votes_per_candidate;
  campaign.rules.max_candidates = max_candidates;
  campaign.expected_voters = kFuzzExpectedVoters;
  for (const char* candidate : {"c01", "c02", "c03"}) {
    engine::Candidate entry;
    entry.id = candidate;
    entry.name = std::string("name ") + candidate;
    entry.unit = "unit";
    entry.industry = "能源";
    campaign.candidates.push_back(std::move(entry));
  }
  return campaign;
}

struct FuzzWorld {
  FuzzWorld() : clock(kOpensAtMs + kHourMs), engine(clock, options()) {
    install(make_campaign("fz-day", engine::PeriodKind::day, 1, 2, kOpensAtMs, kClosesAtMs));
    install(make_campaign("fz-multi", engine::PeriodKind::campaign, 3, 2, kOpensAtMs, kClosesAtMs));
    install(make_campaign("fz-closed", engine::PeriodKind::day, 1, 3, kOpensAtMs - 48 * kHourMs,
                          kOpensAtMs - kHourMs));
  }

  static engine::EngineOptions options() {
    engine::EngineOptions options;
    options.default_expected_voters = kFuzzExpectedVoters;
    return options;
  }

  void install(const engine::Campaign& campaign) {
    const engine::PutOutcome outcome = engine.install_campaign(campaign, ++last_seq);
    if (outcome != engine::PutOutcome::created && outcome != engine::PutOutcome::updated &&
        outcome != engine::PutOutcome::unchanged && outcome != engine::PutOutcome::conflict) {
      fail("install_campaign: outcome out of range");
    }
    engine.publish(last_seq);
  }

  // Decides `ballot` and, when accepted, commits it (or releases it when `release` is set),
  // as the storage writer would. Returns the decision (its claim already used).
  engine::Decision decide_and_settle(const engine::Ballot& ballot, bool release) {
    engine::Decision decision = engine.decide(ballot);
    if (decision.status == engine::VoteStatus::accepted) {
      if (!decision.claim) fail("decide: accepted without a claim");
      if (release) {
        engine.release(std::move(decision.claim));
      } else {
        decision.seq = ++last_seq;
        engine.commit(std::move(decision.claim), decision.seq, 0);
        engine.publish(last_seq);
      }
    } else if (decision.claim) {
      fail("decide: a claim on a decision that is not accepted");
    }
    if (decision.status == engine::VoteStatus::invalid && decision.error.empty()) {
      fail("decide: invalid without an error");
    }
    return decision;
  }

  ManualClock clock;
  engine::Engine engine;
  std::uint64_t last_seq = 0;
};

// The event log of a world: kept in memory, committing each submission at once as the storage
// writer would (seqs in order, the engine committed and published, the waiter told). What the
// request fuzzer's votes and campaigns go through, so that they take ingest's real paths. A
// payload is the ballot's voter id: enough to check that each vote's bytes are its own.
class MemoryLog final : public engine::EventLog {
 public:
  explicit MemoryLog(FuzzWorld& world) : world_(world) {}

  void append_vote_payload(const engine::Ballot& ballot, const engine::Claim&, engine::FraudFlags,
                           std::string& payloads) const override {
    payloads += ballot.voter;
  }
  std::size_t submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                           engine::SubmitResult& refusal) override {
    refusal = engine::SubmitResult::queued;
    std::size_t previous_end = 0;
    for (engine::VoteToCommit& vote : votes) {
      if (vote.payload_begin < previous_end || vote.payload_end > payloads.size() ||
          vote.payload_begin >= vote.payload_end || vote.waiter == nullptr) {
        fail("submit_votes: a vote's payload is not its own range of the buffer");
      }
      previous_end = vote.payload_end;
      const std::uint64_t seq = ++world_.last_seq;
      world_.engine.commit(std::move(vote.claim), seq, vote.flags);
      world_.engine.publish(seq);
      vote.waiter->committed({engine::VoteStatus::accepted, seq, true, {}});
    }
    return votes.size();
  }
  engine::SubmitResult submit_campaign(const engine::Campaign& campaign,
                                       engine::CommitWaiter& waiter) override {
    engine::CommitOutcome outcome{engine::VoteStatus::accepted, 0, true,
                                  world_.engine.check_campaign(campaign)};
    if (outcome.campaign_outcome == engine::PutOutcome::created ||
        outcome.campaign_outcome == engine::PutOutcome::updated) {
      outcome.seq = ++world_.last_seq;
      const engine::PutOutcome installed = world_.engine.install_campaign(campaign, outcome.seq);
      if (installed != outcome.campaign_outcome) {
        fail("install_campaign: differs from check_campaign");
      }
      world_.engine.publish(outcome.seq);
    }
    waiter.committed(outcome);
    return engine::SubmitResult::queued;
  }
  bool ready() const override { return true; }
  std::optional<std::string> event_json(std::uint64_t) const override { return std::nullopt; }

 private:
  FuzzWorld& world_;
};

}  // namespace tally::fuzz
