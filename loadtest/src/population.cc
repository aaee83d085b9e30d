#include "tally/loadtest/population.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "tally/base/json_writer.h"
#include "tally/corpus/user_agents.h"

namespace tally::loadtest {
namespace {

constexpr std::size_t kRecentBallots = 4096;  // how far back a retry may reach
constexpr std::uint64_t kCrowdSize = 40;      // honest voters behind one office address
constexpr std::uint64_t kFarmAddresses = 4;
constexpr std::uint64_t kFarmDevices = 16;

// A 64-bit mix (splitmix64's finalizer) for stable per-voter attributes.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string format(const char* pattern, unsigned long long a, unsigned long long b = 0,
                   unsigned long long c = 0, unsigned long long d = 0) {
  char text[96];
  const int length = std::snprintf(text, sizeof text, pattern, a, b, c, d);
  return std::string(text, static_cast<std::size_t>(std::max(length, 0)));
}

// The agent a farm's scripted phones all send: a real WeChat one, as farms copy.
std::string_view farm_agent() {
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    if (sample.kind == corpus::AgentKind::wechat_android) return sample.agent;
  }
  return corpus::real_user_agents().front().agent;
}

}  // namespace

std::vector<std::string> honest_agents(std::uint32_t count) {
  std::vector<std::string> real, installs;
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    if (!corpus::is_honest(sample.kind)) continue;
    real.emplace_back(sample.agent);
    // WeChat on Android names the install in MMWEBID/<digits>: other installs of the same
    // phone and version send the same agent with another number there.
    if (sample.agent.find("MMWEBID/") != std::string_view::npos) installs.push_back(real.back());
  }
  std::vector<std::string> out;
  out.reserve(count);
  for (std::uint32_t k = 0; k < count; ++k) {
    if (k < real.size() || installs.empty()) {
      out.push_back(real[k % real.size()]);
      continue;
    }
    out.push_back(corpus::with_install_number(installs[k % installs.size()], k));
  }
  return out;
}

std::string_view to_string(Scenario scenario) {
  switch (scenario) {
    case Scenario::honest: return "honest";
    case Scenario::farm: return "farm";
    case Scenario::phone: return "phone";
  }
  return "honest";
}

std::optional<Scenario> scenario_from_string(std::string_view text) {
  for (Scenario s : {Scenario::honest, Scenario::farm, Scenario::phone}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

ZipfSampler::ZipfSampler(std::size_t n, double s) : cumulative_(std::max<std::size_t>(n, 1)) {
  double total = 0;
  for (std::size_t k = 0; k < cumulative_.size(); ++k) {
    total += 1.0 / std::pow(static_cast<double>(k + 1), s);
    cumulative_[k] = total;
  }
  for (double& c : cumulative_) c /= total;
  cumulative_.back() = 1.0;
}

std::size_t ZipfSampler::sample(double u) const {
  const auto at = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min(static_cast<std::size_t>(at - cumulative_.begin()), cumulative_.size() - 1);
}

double ZipfSampler::probability(std::size_t rank) const {
  return rank == 0 ? cumulative_[0] : cumulative_[rank] - cumulative_[rank - 1];
}

BallotGenerator::BallotGenerator(PopulationOptions options)
    : options_(std::move(options)),
      zipf_(options_.candidates.size(), options_.zipf_exponent),
      random_(options_.seed),
      ts_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count()) {
  options_.voters = std::max<std::uint64_t>(options_.voters, 1);
  recent_.reserve(kRecentBallots);
  agents_ = honest_agents(std::max<std::uint32_t>(options_.agents, 1));
}

Ballot BallotGenerator::next() {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (!recent_.empty() && unit(random_) < options_.retry_fraction) {
    Ballot copy = recent_[random_() % recent_.size()];
    copy.retry = true;
    return copy;
  }
  Ballot ballot = fresh();
  if (recent_.size() < kRecentBallots) {
    recent_.push_back(ballot);
  } else {
    recent_[ballots_ % kRecentBallots] = ballot;
  }
  return ballot;
}

Ballot BallotGenerator::fresh() {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::uint64_t voter = random_() % options_.voters;
  const std::uint64_t number = ballots_++;
  const std::uint64_t seed = options_.seed;
  Ballot ballot;
  std::string voter_id, device, ip;
  std::string_view agent;
  switch (options_.scenario) {
    case Scenario::honest: {
      ballot.candidate = static_cast<std::uint16_t>(zipf_.sample(unit(random_)));
      voter_id = format("h%llu-%llu", seed, voter);
      device = format("dev-%016llx", mix(seed * 0x9e3779b97f4a7c15ULL + voter));
      const std::uint64_t crowd = mix(seed + voter / kCrowdSize);
      ip = format("10.%llu.%llu.%llu", crowd & 0xff, (crowd >> 8) & 0xff, (crowd >> 16) & 0xff);
      agent = agents_[mix(voter ^ seed) % agents_.size()];
      break;
    }
    case Scenario::farm: {
      ballot.candidate = static_cast<std::uint16_t>(options_.candidates.size() - 1);
      voter_id = format("farm%llu-%llu", seed, voter);
      device = format("emu-%llu-%llu", seed, voter % kFarmDevices);
      ip = format("203.0.113.%llu", 10 + voter % kFarmAddresses);
      agent = farm_agent();
      break;
    }
    case Scenario::phone: {
      ballot.candidate = static_cast<std::uint16_t>(options_.candidates.size() - 1);
      voter_id = format("phone%llu-%llu", seed, voter);
      device = format("phone-%llu", seed);
      ip = "100.64.7.21";
      agent = agents_.front();
      break;
    }
  }
  std::string request_id =
      format("r%llu-%llu-%llu", seed, static_cast<unsigned>(options_.scenario), number);
  constexpr std::string_view kFirstPass = ".000";
  static_assert(kFirstPass.size() == kPassTagDigits + 1);
  if (options_.pass_tags) {  // each pass a new crowd: accounts and their phones
    voter_id += kFirstPass;
    device += kFirstPass;
    request_id += kFirstPass;
  }
  // The tag's digits end just before the field's closing quote (the ids need no escaping).
  std::size_t tags = 0;
  const auto mark_tag = [&](const std::string& written) {
    if (options_.pass_tags) {
      ballot.pass_tags.at(tags++) = static_cast<std::uint32_t>(written.size() - 1 - kPassTagDigits);
    }
  };
  ballot.json.reserve(448);
  JsonWriter json(ballot.json);
  json.begin_object();
  json.key("campaign").string(options_.campaign);
  json.key("candidate").string(options_.candidates[ballot.candidate]);
  json.key("voter").string(voter_id);
  mark_tag(json.text());
  json.key("device").string(device);
  mark_tag(json.text());
  json.key("ip").string(ip);
  json.key("ua").string(agent);
  json.key("ts").integer(ts_ms_ + static_cast<std::int64_t>(number / 64));
  json.key("request_id").string(request_id);
  mark_tag(json.text());
  json.end_object();
  return ballot;
}

}  // namespace tally::loadtest
