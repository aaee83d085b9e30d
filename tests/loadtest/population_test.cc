#include "tally/loadtest/population.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tally/corpus/user_agents.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/loadtest/workload.h"

namespace tally::loadtest {
namespace {

std::vector<std::string> twenty_candidates() {
  std::vector<std::string> ids;
  for (int i = 1; i <= 20; ++i) ids.push_back((i < 10 ? "c0" : "c") + std::to_string(i));
  return ids;
}

PopulationOptions options_for(Scenario scenario) {
  PopulationOptions options;
  options.candidates = twenty_candidates();
  options.scenario = scenario;
  options.voters = 5000;
  options.seed = 42;
  return options;
}

struct ParsedBallot {
  std::string candidate, voter, device, ip, ua, request_id;
};

ParsedBallot parse_ballot(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(simdjson::padded_string(json)).get(root), simdjson::SUCCESS) << json;
  ParsedBallot ballot;
  auto text = [&](const char* key, std::string& out) {
    std::string_view value;
    EXPECT_EQ(root[key].get_string().get(value), simdjson::SUCCESS) << key << " in " << json;
    EXPECT_LE(value.size(), std::string_view(key) == "ua"           ? engine::kMaxUaBytes
                            : std::string_view(key) == "request_id" ? engine::kMaxRequestIdBytes
                                                                    : engine::kMaxFieldBytes)
        << key;
    out = std::string(value);
  };
  std::string campaign;
  text("campaign", campaign);
  EXPECT_EQ(campaign, "ordos-2023-zuimei");
  text("candidate", ballot.candidate);
  text("voter", ballot.voter);
  text("device", ballot.device);
  text("ip", ballot.ip);
  text("ua", ballot.ua);
  text("request_id", ballot.request_id);
  std::int64_t ts = 0;
  EXPECT_EQ(root["ts"].get_int64().get(ts), simdjson::SUCCESS);
  return ballot;
}

TEST(ZipfSampler, ProbabilitiesFollowThePowerLaw) {
  const ZipfSampler zipf(20, 1.0);
  double sum = 0;
  for (std::size_t k = 0; k < 20; ++k) sum += zipf.probability(k);
  EXPECT_NEAR(sum, 1.0, 1e-12);
  for (std::size_t k = 1; k < 20; ++k) {
    EXPECT_NEAR(zipf.probability(0) / zipf.probability(k), static_cast<double>(k + 1), 1e-9);
  }
  const ZipfSampler uniform(20, 0.0);
  for (std::size_t k = 0; k < 20; ++k) EXPECT_NEAR(uniform.probability(k), 0.05, 1e-12);
}

TEST(ZipfSampler, SampledFrequenciesMatchTheDistribution) {
  const std::uint64_t seed = 7;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const ZipfSampler zipf(20, 1.2);
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<double> counts(20);
  const int samples = 400'000;
  for (int i = 0; i < samples; ++i) ++counts[zipf.sample(unit(random))];
  for (std::size_t k = 0; k < 20; ++k) {
    const double expected = zipf.probability(k) * samples;
    // Five standard deviations of a binomial count.
    EXPECT_NEAR(counts[k], expected, 5 * std::sqrt(expected) + 1) << "rank " << k;
  }
  for (std::size_t k = 1; k < 20; ++k) EXPECT_GT(counts[k - 1], counts[k]);
}

TEST(BallotGenerator, HonestBallotsAreValidJsonFromVariedCrowds) {
  BallotGenerator generator(options_for(Scenario::honest));
  std::set<std::string> agents, candidates, voters, devices, ips;
  for (int i = 0; i < 5000; ++i) {
    const Ballot ballot = generator.next();
    const ParsedBallot parsed = parse_ballot(ballot.json);
    EXPECT_EQ(parsed.candidate, twenty_candidates()[ballot.candidate]);
    agents.insert(parsed.ua);
    candidates.insert(parsed.candidate);
    voters.insert(parsed.voter);
    devices.insert(parsed.device);
    ips.insert(parsed.ip);
  }
  // The crowd's agents are the corpus's real ones, iPhones and desktops among them, and none
  // is one the fraud signals take for a bot.
  EXPECT_GE(agents.size(), 30u);
  std::set<std::string_view> real;
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    if (corpus::is_honest(sample.kind)) real.insert(sample.agent);
  }
  std::size_t from_corpus = 0, iphones = 0;
  for (const std::string& agent : agents) {
    from_corpus += real.count(agent);
    iphones += agent.find("iPhone") != std::string::npos ? 1 : 0;
    EXPECT_FALSE(engine::is_bot_user_agent(agent)) << agent;
  }
  EXPECT_GE(from_corpus, real.size() - 2) << "most real agents are drawn in 5000 ballots";
  EXPECT_GE(iphones, 5u);
  EXPECT_GE(candidates.size(), 15u);
  EXPECT_EQ(devices.size(), voters.size());   // one phone per voter
  EXPECT_LT(ips.size(), voters.size() / 10);  // crowds share addresses
  EXPECT_GT(ips.size(), 20u);
}

TEST(BallotGenerator, AgentsOptionGivesThatManyDistinctAgentsUnderTheFieldLimit) {
  PopulationOptions options = options_for(Scenario::honest);
  options.agents = 200;
  BallotGenerator generator(options);
  std::set<std::string> agents;
  for (int i = 0; i < 20'000; ++i) agents.insert(parse_ballot(generator.next().json).ua);
  EXPECT_GT(agents.size(), 190u);  // 5000 voters over 200 agents: nearly all are drawn
  EXPECT_LE(agents.size(), 200u);
  for (const std::string& agent : agents) {
    EXPECT_LE(agent.size(), engine::kMaxUaBytes) << agent;
    EXPECT_FALSE(engine::is_bot_user_agent(agent)) << agent;
  }
}

TEST(BallotGenerator, RetriesResendAnEarlierBallotByteForByte) {
  PopulationOptions options = options_for(Scenario::honest);
  options.retry_fraction = 0.2;
  BallotGenerator generator(options);
  std::set<std::string> sent;
  int retries = 0;
  for (int i = 0; i < 10'000; ++i) {
    const Ballot ballot = generator.next();
    if (ballot.retry) {
      ++retries;
      EXPECT_TRUE(sent.count(ballot.json)) << ballot.json;
    } else {
      EXPECT_TRUE(sent.insert(ballot.json).second);  // fresh ballots have fresh request ids
    }
  }
  EXPECT_NEAR(retries, 2000, 300);
}

TEST(BallotGenerator, FarmUsesFewAddressesOneAgentAndOneCandidate) {
  BallotGenerator generator(options_for(Scenario::farm));
  std::set<std::string> agents, candidates, voters, ips, subnets;
  for (int i = 0; i < 5000; ++i) {
    const ParsedBallot parsed = parse_ballot(generator.next().json);
    agents.insert(parsed.ua);
    candidates.insert(parsed.candidate);
    voters.insert(parsed.voter);
    ips.insert(parsed.ip);
    subnets.insert(parsed.ip.substr(0, parsed.ip.rfind('.')));
  }
  EXPECT_EQ(agents.size(), 1u);
  EXPECT_EQ(candidates.size(), 1u);
  EXPECT_LE(ips.size(), 4u);
  EXPECT_EQ(subnets.size(), 1u);
  EXPECT_GT(voters.size(), 1000u);
}

TEST(BallotGenerator, PhoneIsOneDeviceWithManyAccounts) {
  BallotGenerator generator(options_for(Scenario::phone));
  std::set<std::string> devices, voters, candidates;
  for (int i = 0; i < 5000; ++i) {
    const ParsedBallot parsed = parse_ballot(generator.next().json);
    devices.insert(parsed.device);
    voters.insert(parsed.voter);
    candidates.insert(parsed.candidate);
  }
  EXPECT_EQ(devices.size(), 1u);
  EXPECT_EQ(candidates.size(), 1u);
  EXPECT_GT(voters.size(), 1000u);
}

TEST(BallotGenerator, SameSeedGivesSameBallotsAndOtherSeedsOtherVoters) {
  BallotGenerator a(options_for(Scenario::honest)), b(options_for(Scenario::honest));
  PopulationOptions other = options_for(Scenario::honest);
  other.seed = 43;
  BallotGenerator c(other);
  // Every field but `ts`, which follows the clock from each generator's construction (the
  // two may be built a millisecond apart).
  const auto fields = [](const ParsedBallot& p) {
    return std::vector<std::string>{p.candidate, p.voter, p.device, p.ip, p.ua, p.request_id};
  };
  for (int i = 0; i < 100; ++i) {
    const ParsedBallot first = parse_ballot(a.next().json);
    EXPECT_EQ(fields(first), fields(parse_ballot(b.next().json)));
    EXPECT_NE(first.voter, parse_ballot(c.next().json).voter);
  }
}

TEST(Workload, BatchRequestsCarryNdjsonWithAMatchingContentLength) {
  BallotGenerator generator(options_for(Scenario::honest));
  WorkloadOptions options;
  options.mode = Mode::batch;
  options.batch_size = 50;
  options.requests = 3;
  options.token = "secret";
  const Workload workload = Workload::build(generator, options);
  ASSERT_EQ(workload.size(), 3u);
  EXPECT_EQ(workload.ballots(), 150u);
  for (std::size_t i = 0; i < workload.size(); ++i) {
    const std::string& wire = workload.wire(i);
    EXPECT_EQ(wire.rfind("POST /v1/votes:batch HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(wire.find("Authorization: Bearer secret\r\n"), std::string::npos);
    const std::size_t head_end = wire.find("\r\n\r\n");
    const std::string body = wire.substr(head_end + 4);
    EXPECT_NE(wire.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
              std::string::npos);
    std::size_t lines = 0, at = 0;
    for (std::size_t next; (next = body.find('\n', at)) != std::string::npos; at = next + 1) {
      const ParsedBallot parsed = parse_ballot(body.substr(at, next - at));
      EXPECT_EQ(parsed.candidate, twenty_candidates()[workload.candidates(i)[lines]]);
      ++lines;
    }
    EXPECT_EQ(lines, 50u);
  }
}

// With pass tags, every ballot's voter, device and request id end in `.000`, and the workload knows
// where their digits are in each request: a pass rewrites them there.
TEST(Workload, PassTagsPointAtTheDigitsOfEveryVoterAndRequestId) {
  for (const Scenario scenario : {Scenario::honest, Scenario::farm, Scenario::phone}) {
    PopulationOptions population = options_for(scenario);
    population.pass_tags = true;
    population.retry_fraction = 0.2;  // a resent ballot keeps its tags where they were
    BallotGenerator generator(population);
    WorkloadOptions options;
    options.mode = Mode::batch;
    options.batch_size = 20;
    options.requests = 4;
    const Workload workload = Workload::build(generator, options);
    for (std::size_t i = 0; i < workload.size(); ++i) {
      std::string wire = workload.wire(i);
      const auto tags = workload.pass_tags(i);
      ASSERT_EQ(tags.size(), 60u);
      for (const std::uint32_t at : tags) {
        EXPECT_EQ(wire.substr(at - 1, kPassTagDigits + 2), ".000\"");
        wire.replace(at, kPassTagDigits, "417");
      }
      const std::string body = wire.substr(wire.find("\r\n\r\n") + 4);
      std::size_t at = 0;
      for (std::size_t next; (next = body.find('\n', at)) != std::string::npos; at = next + 1) {
        const ParsedBallot parsed = parse_ballot(body.substr(at, next - at));
        EXPECT_TRUE(parsed.voter.ends_with(".417")) << parsed.voter;
        EXPECT_TRUE(parsed.device.ends_with(".417")) << parsed.device;
        EXPECT_TRUE(parsed.request_id.ends_with(".417")) << parsed.request_id;
      }
    }
  }
}

}  // namespace
}  // namespace tally::loadtest
