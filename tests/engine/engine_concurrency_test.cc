// Property: threads deciding the same and different ballots at once, with one committer
// thread giving seqs as storage would, end with exactly one accepted ballot per
// (voter, candidate), every duplicate carrying the winner's seq, no voter above
// max_candidates, and tallies equal to the accepted count. Run under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tally/engine/engine.h"
#include "seed.h"

namespace tally::engine {
namespace {

// Only the prefetch, its keys thrown away: what a caller that decides later, or never, leaves.
void prefetch_only(const Engine& engine, const Ballot& ballot) {
  BallotKeys keys;
  engine.prefetch(ballot, keys);
}

constexpr std::int64_t kOpens = 1679846400000;

Campaign campaign(std::uint32_t max_candidates) {
  Campaign c;
  c.id = "race";
  c.title = "race";
  c.opens_at_ms = kOpens;
  c.closes_at_ms = kOpens + 86'400'000;
  c.rules = {PeriodKind::day, 1, max_candidates};
  c.expected_voters = 16;  // tiny tables: the race runs across many growths
  for (int i = 0; i < 6; ++i) c.candidates.push_back({"c" + std::to_string(i), "n", "", ""});
  return c;
}

// Stands in for the storage writer: one thread that numbers claims in arrival order.
class Committer {
 public:
  explicit Committer(Engine& engine) : engine_(engine), thread_([this] { run(); }) {}
  ~Committer() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    thread_.join();
  }
  // Returns the seq once committed (the caller waits, like an HTTP answer would).
  std::uint64_t commit(Claim claim) {
    std::atomic<std::uint64_t> seq{0};
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(claim), &seq});
    }
    while (seq.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    return seq.load();
  }

 private:
  struct Item {
    Claim claim;
    std::atomic<std::uint64_t>* seq;
  };
  void run() {
    std::uint64_t next = 1;
    for (;;) {
      std::deque<Item> batch;
      {
        std::lock_guard lock(mutex_);
        if (queue_.empty() && stop_) return;
        batch.swap(queue_);
      }
      if (batch.empty()) {
        std::this_thread::yield();
        continue;
      }
      for (Item& item : batch) {
        engine_.commit(std::move(item.claim), ++next, 0);
      }
      engine_.publish(next);
      std::uint64_t seq = next - batch.size();
      for (Item& item : batch) item.seq->store(++seq, std::memory_order_release);
    }
  }
  Engine& engine_;
  std::mutex mutex_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::thread thread_;
};

TEST(EngineConcurrency, RacingBallotsHaveOneWinnerAndDuplicatesCarryItsSeq) {
  const std::uint64_t seed = testing::test_seed();
  ManualClock clock(kOpens + 1000);
  Engine engine(clock);
  engine.install_campaign(campaign(6), 1);
  Committer committer(engine);
  constexpr int kThreads = 6;
  constexpr int kVoters = 400;
  struct Answer {
    VoteStatus status;
    std::uint64_t seq;
  };
  std::vector<std::map<std::pair<int, int>, std::vector<Answer>>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      for (int round = 0; round < 2; ++round) {
        for (int v = 0; v < kVoters; ++v) {
          const int candidate = static_cast<int>(rng() % 3);
          const std::string voter = "v" + std::to_string(v);
          const std::string cand = "c" + std::to_string(candidate);
          Ballot ballot{"race", cand, voter, {}, {}, {}, {}, {}};
          prefetch_only(engine, ballot);
          for (;;) {
            Decision decision = engine.decide(ballot);
            if (decision.status == VoteStatus::duplicate && decision.pending) {
              std::this_thread::yield();
              continue;  // asked again after the in-flight commit, as ingest does
            }
            Answer answer{decision.status, decision.seq};
            if (decision.status == VoteStatus::accepted) {
              answer.seq = committer.commit(std::move(decision.claim));
            }
            answers[t][{v, candidate}].push_back(answer);
            break;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<std::pair<int, int>, std::uint64_t> winner;
  std::uint64_t accepted = 0;
  for (const auto& per_thread : answers) {
    for (const auto& [key, list] : per_thread) {
      for (const Answer& answer : list) {
        if (answer.status == VoteStatus::accepted) {
          ASSERT_FALSE(winner.count(key)) << "two winners for voter " << key.first;
          winner[key] = answer.seq;
          ++accepted;
        }
      }
    }
  }
  for (const auto& per_thread : answers) {
    for (const auto& [key, list] : per_thread) {
      for (const Answer& answer : list) {
        ASSERT_TRUE(answer.status == VoteStatus::accepted || answer.status == VoteStatus::duplicate)
            << to_string(answer.status);
        if (answer.status == VoteStatus::duplicate) {
          EXPECT_EQ(answer.seq, winner.at(key));
        }
      }
    }
  }
  EXPECT_EQ(engine.tally("race")->total, accepted);
}

TEST(EngineConcurrency, QuotaIsNeverExceededUnderRacingBallots) {
  const std::uint64_t seed = testing::test_seed();
  ManualClock clock(kOpens + 1000);
  Engine engine(clock);
  constexpr std::uint32_t kMaxCandidates = 2;
  engine.install_campaign(campaign(kMaxCandidates), 1);
  Committer committer(engine);
  constexpr int kThreads = 6;
  constexpr int kVoters = 300;
  std::vector<std::vector<int>> accepted_per_voter(kThreads, std::vector<int>(kVoters, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 7 + t);
      for (int v = 0; v < kVoters; ++v) {
        // Each thread votes a different candidate for the same voter: they race for 2 slots.
        const std::string voter = "v" + std::to_string(v);
        const std::string cand = "c" + std::to_string((t + rng() % 2) % 6);
        Decision decision = engine.decide(Ballot{"race", cand, voter, {}, {}, {}, {}, {}});
        if (decision.status == VoteStatus::accepted) {
          // Some commits fail, as under storage errors: their quota slot must come back.
          if (rng() % 5 == 0) {
            engine.release(std::move(decision.claim));
          } else {
            committer.commit(std::move(decision.claim));
            ++accepted_per_voter[t][v];
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::uint64_t total = 0;
  for (int v = 0; v < kVoters; ++v) {
    int per_voter = 0;
    for (int t = 0; t < kThreads; ++t) per_voter += accepted_per_voter[t][v];
    ASSERT_LE(per_voter, static_cast<int>(kMaxCandidates)) << "voter " << v;
    total += per_voter;
  }
  EXPECT_EQ(engine.tally("race")->total, total);
}

// Property: ballots decided while their campaign's rules are replaced (a replacement lands
// only before the first claim, later ones conflict) are each judged by one version: none is
// answered `closed` by a version that gave up its tables, each voter counts at most once per
// candidate, and once the threads stop, the replaced versions' tables are freed. A race lasts
// until the first claim, so it runs afresh on a new campaign each round.
TEST(EngineConcurrency, BallotsWhileTheirCampaignIsReplaced) {
  const std::uint64_t seed = testing::test_seed();
  ManualClock clock(kOpens + 3'600'000);
  Engine engine(clock);
  Committer committer(engine);
  constexpr int kRounds = 150;
  constexpr int kThreads = 2;
  constexpr int kVoters = 4;
  int replaced = 0;
  int closed = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Alternately one and two candidates a voter: a counting change, so a new state.
    const auto version = [round](std::uint32_t max_candidates) {
      Campaign c = campaign(max_candidates);
      c.id = "race" + std::to_string(round);
      return c;
    };
    engine.install_campaign(version(2), 1);
    engine.prepare_tables();
    std::atomic<bool> go{false};
    std::atomic<int> round_closed{0};
    std::atomic<std::uint64_t> round_accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(seed * 17 + round * kThreads + t);
        while (!go.load(std::memory_order_acquire)) {
        }
        for (int v = 0; v < kVoters; ++v) {
          const std::string campaign_id = "race" + std::to_string(round);
          const std::string candidate = "c" + std::to_string(rng() % 2);
          const std::string voter = "v" + std::to_string(v);
          Ballot ballot;  // views into the strings above
          ballot.campaign = campaign_id;
          ballot.candidate = candidate;
          ballot.voter = voter;
          for (;;) {
            Decision decision = engine.decide(ballot);
            if (decision.status == VoteStatus::duplicate && decision.pending) {
              std::this_thread::yield();
              continue;
            }
            if (decision.status == VoteStatus::closed) round_closed.fetch_add(1);
            if (decision.status == VoteStatus::accepted) {
              committer.commit(std::move(decision.claim));
              round_accepted.fetch_add(1);
            }
            break;
          }
        }
      });
    }
    go.store(true, std::memory_order_release);
    // Three replacements at most: a ballot judged again once per replacement stays within
    // decide()'s bound on attempts (a storm of them answers `overloaded`).
    for (std::uint32_t i = 0; i < 3; ++i) {
      // Seq 1, as the first install: no vote is committed before a replacement lands. After
      // the first claim: a conflict, or unchanged when it repeats the version in place.
      const PutOutcome outcome = engine.install_campaign(version(1 + i % 2), 1);
      EXPECT_NE(outcome, PutOutcome::created);
      replaced += outcome == PutOutcome::updated;
    }
    for (auto& thread : threads) thread.join();
    closed += round_closed.load();
    EXPECT_GE(round_accepted.load(), static_cast<std::uint64_t>(kVoters)) << "round " << round;
    EXPECT_LE(round_accepted.load(), static_cast<std::uint64_t>(2 * kVoters)) << "round " << round;
    EXPECT_EQ(engine.tally("race" + std::to_string(round))->total, round_accepted.load());
  }
  std::printf("replaced %d times in %d rounds\n", replaced, kRounds);
  EXPECT_EQ(closed, 0);
  engine.prepare_tables();
  // Left: each campaign's period tables (no request ids were sent, nothing made ahead).
  EXPECT_EQ(engine.table_stats().generations_live, static_cast<std::uint64_t>(kRounds));
}

// Property: ballots decided while the period and the UTC day turn, with another thread
// making the next tables ahead all the while, count at most once per voter and period; the
// turn takes the tables made ahead (none is made on the vote path); tallies match answers.
TEST(EngineConcurrency, BallotsAcrossAPeriodStartWhileTablesAreMadeAhead) {
  const std::uint64_t seed = testing::test_seed();
  // The campaign's days are UTC days (offset 0); its window covers this midnight.
  constexpr std::int64_t kMidnight = kOpens + 8 * 3'600'000;
  ManualClock clock(kMidnight - 30'000);
  Engine engine(clock);
  engine.install_campaign(campaign(6), 1);
  Committer committer(engine);
  Ballot first;  // a ballot with a request id: the frontends send them
  first.campaign = "race";
  first.candidate = "c1";
  first.voter = "first";
  first.request_id = "first";
  Decision first_decision = engine.decide(first);
  ASSERT_EQ(first_decision.status, VoteStatus::accepted);
  committer.commit(std::move(first_decision.claim));
  engine.prepare_tables(60'000);
  const Engine::TableStats prepared = engine.table_stats();
  ASSERT_EQ(prepared.generations_made_ahead, 2u);  // the next day's period and request ids
  std::atomic<bool> done{false};
  std::thread preparer([&] {
    while (!done.load(std::memory_order_relaxed)) engine.prepare_tables(60'000);
  });
  constexpr int kThreads = 4;
  constexpr int kVoters = 300;
  std::atomic<int> decided{0};
  std::atomic<bool> turned{false};  // the second round waits for the new day
  std::vector<std::vector<int>> accepted(kThreads, std::vector<int>(kVoters, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 13 + t);
      for (int round = 0; round < 2; ++round) {
        while (round == 1 && !turned.load(std::memory_order_relaxed)) std::this_thread::yield();
        for (int v = 0; v < kVoters; ++v) {
          const std::string voter = "v" + std::to_string(v);
          const std::string request = std::to_string(t) + "-" + std::to_string(round) + "-" +
                                      std::to_string(v) + "-" + std::to_string(rng() % 1000);
          Ballot ballot;
          ballot.campaign = "race";
          ballot.candidate = "c0";
          ballot.voter = voter;
          ballot.request_id = request;
          prefetch_only(engine, ballot);  // as ingest does for a batch's next line: touches nothing
          for (;;) {
            Decision decision = engine.decide(ballot);
            if (decision.status == VoteStatus::duplicate && decision.pending) {
              std::this_thread::yield();
              continue;  // asked again after the in-flight commit, as ingest does
            }
            if (decision.status == VoteStatus::accepted) {
              committer.commit(std::move(decision.claim));
              ++accepted[t][v];
            }
            break;
          }
          decided.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  while (decided.load(std::memory_order_relaxed) < kThreads * kVoters / 2) {
    std::this_thread::yield();
  }
  clock.set_ms(kMidnight + 1'000);
  turned.store(true, std::memory_order_relaxed);
  for (auto& thread : threads) thread.join();
  done.store(true, std::memory_order_relaxed);
  preparer.join();

  std::uint64_t total = 0;
  for (int v = 0; v < kVoters; ++v) {
    int per_voter = 0;
    for (int t = 0; t < kThreads; ++t) per_voter += accepted[t][v];
    ASSERT_LE(per_voter, 2) << "voter " << v << ": more than once a day";
    total += per_voter;
  }
  EXPECT_GT(total, static_cast<std::uint64_t>(kVoters));  // both days counted
  EXPECT_EQ(engine.tally("race")->total, total + 1);      // and the first ballot
  EXPECT_EQ(engine.table_stats().generations_made_late, prepared.generations_made_late);
}

}  // namespace
}  // namespace tally::engine
