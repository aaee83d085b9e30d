// The simulated electorate: who votes, for whom, from where. A BallotGenerator turns a voter
// population (Zipf-skewed candidate choice, a fraction of retried ballots) and an attack
// scenario into vote JSON bodies (DESIGN.md, "HTTP API"), before the timed run so that body
// building never slows the load. Deterministic for a given seed. Not safe for concurrent use.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tally::loadtest {

// Who sends the ballots.
//   honest: voters in office crowds of ~40 behind one address, each with their own phone and
//           one of several WeChat user agents, voting for several candidates.
//   farm:   many accounts on four addresses of one /24, sixteen emulator device ids, one user
//           agent, every ballot for the same candidate.
//   phone:  one device id and one address with many accounts, every ballot for one candidate.
enum class Scenario : std::uint8_t { honest, farm, phone };

std::string_view to_string(Scenario scenario);
std::optional<Scenario> scenario_from_string(std::string_view text);

struct PopulationOptions {
  // Campaign id put in every ballot. Default: ordos-2023-zuimei.
  std::string campaign = "ordos-2023-zuimei";
  // Candidate ids, most popular first (Zipf rank order). REQUIRES: not empty.
  std::vector<std::string> candidates;
  // Distinct voters (accounts); a small population makes dedupe and quota answers common.
  // Default: 100000.
  std::uint64_t voters = 100'000;
  // Zipf exponent s of candidate choice: P(rank k) ~ 1/k^s; 0 is uniform. Default: 1.0.
  double zipf_exponent = 1.0;
  // Fraction of ballots that resend an earlier ballot byte for byte (same request_id), as a
  // frontend retrying after a timeout does; they answer `duplicate`. Default: 0.01.
  double retry_fraction = 0.01;
  // Distinct user agents of the honest crowd, each voter keeping one: honest_agents(agents).
  // Real crowds have hundreds to thousands; the stored log keeps each agent once per commit
  // batch, so this decides how much that saves. REQUIRES: >= 1. Default: 64 (every real
  // agent of the corpus, and some installs more).
  std::uint32_t agents = 64;
  // Default: honest.
  Scenario scenario = Scenario::honest;
  // Seeds the choices and names the voters (`h<seed>-<n>`), so runs with different seeds
  // bring new voters to a database that already has votes. Default: 1.
  std::uint64_t seed = 1;
  // Voter ids, devices and request ids end in a pass number, `.000`, that a run rewrites on
  // each pass over its prepared requests (RunOptions::fresh_passes). Default: false.
  bool pass_tags = false;
};

// `count` user agents of people voting from WeChat and its relatives: the corpus's real honest
// agents (tally/corpus/user_agents.h) in its order, then, past them, its Android WeChat agents
// with other install numbers (MMWEBID/<n>), as other phones of the same make send them.
std::vector<std::string> honest_agents(std::uint32_t count);

// Digits of a pass tag (`.000`): passes are numbered modulo 1000.
inline constexpr std::size_t kPassTagDigits = 3;

// Samples ranks 0..n-1 with P(k) proportional to 1/(k+1)^s. Immutable after construction.
class ZipfSampler {
 public:
  // REQUIRES: n >= 1, s >= 0.
  ZipfSampler(std::size_t n, double s);
  // Maps a uniform `u` in [0, 1) to a rank.
  std::size_t sample(double u) const;
  double probability(std::size_t rank) const;

 private:
  std::vector<double> cumulative_;  // cumulative_[k] = P(rank <= k); the last is 1
};

struct Ballot {
  std::string json;             // one vote object, no trailing newline
  std::uint16_t candidate = 0;  // index into PopulationOptions::candidates
  bool retry = false;           // a resend of an earlier ballot
  // With PopulationOptions::pass_tags: where in `json` the digits of the voter's, the
  // device's and the request id's pass tags start (0: no tag; `json` starts with '{').
  std::array<std::uint32_t, 3> pass_tags = {};
};

class BallotGenerator {
 public:
  explicit BallotGenerator(PopulationOptions options);
  Ballot next();
  const PopulationOptions& options() const { return options_; }

 private:
  Ballot fresh();

  PopulationOptions options_;
  ZipfSampler zipf_;
  std::mt19937_64 random_;
  std::uint64_t ballots_ = 0;
  std::vector<Ballot> recent_;       // ring of sent ballots that retries copy
  std::vector<std::string> agents_;  // the honest crowd's user agents (options_.agents)
  std::int64_t ts_ms_ = 0;
};

}  // namespace tally::loadtest
