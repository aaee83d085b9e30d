// Campaign: one vote's definition (window, rules, candidates), loaded from JSON and validated.
//
// Sits at the start of the data flow: ingest and storage hand campaign JSON here, and the
// engine judges ballots against the version in force. Values are immutable once loaded and
// safe to share across threads. Contract: DESIGN.md, "Campaign".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/fraud_flags.h"

namespace tally::engine {

enum class PeriodKind : std::uint8_t { day, campaign };

struct Candidate {
  std::string id;        // [A-Za-z0-9_-]{1,64}, unique in the campaign
  std::string name;      // display name, 1..256 bytes
  std::string unit;      // employer or union unit, may be empty
  std::string industry;  // may be empty
  bool operator==(const Candidate&) const = default;
};

struct Rules {
  PeriodKind period = PeriodKind::day;
  std::uint32_t max_votes_per_candidate = 1;  // per voter, candidate and period
  std::uint32_t max_candidates = 1;           // distinct candidates per voter and period
  bool operator==(const Rules&) const = default;
};

// Fraud signal thresholds (DESIGN.md "Fraud signals"; the reasons for each default are in
// docs/FRAUD.md). The campaign JSON's optional "fraud" object sets them; it is written back only
// when it differs from these defaults.
struct FraudThresholds {
  // Sliding window of the ip_flood signal. Default: 600 (ten minutes).
  std::uint32_t window_s = 600;
  // ip_flood: look-alike votes (same source address, same user agent, same candidate) in the
  // window from one IP beyond which each further one is flagged. Default: 50.
  std::uint32_t ip_lookalike_votes = 50;
  // ip_flood: the same from one IPv4 /24 or IPv6 /64. Default: 150.
  std::uint32_t subnet_lookalike_votes = 150;
  // ip_flood: votes for one candidate from one IP arriving at machine-regular intervals
  // (coefficient of variation of the gaps below 0.1) beyond which they are flagged, whatever
  // their user agents. Default: 30.
  std::uint32_t regular_votes = 30;
  // device_multi_account: distinct voters on one device in one period beyond which the
  // device's votes are flagged. Default: 5.
  std::uint32_t device_max_voters = 5;
  // burst: a candidate's votes in the current minute must exceed this many times its average
  // over the previous baseline_minutes... Default: 10.
  std::uint32_t burst_factor = 10;
  // ...and this floor. Default: 120.
  std::uint32_t burst_min_per_minute = 120;
  // The burst baseline: minutes before the current one. Default: 30.
  std::uint32_t baseline_minutes = 30;
  // Reasons that turn a ballot into a `rate_limited` rejection instead of a flag.
  // Default: none.
  FraudFlags reject = 0;
  bool operator==(const FraudThresholds&) const = default;
};
inline constexpr std::uint32_t kMaxBaselineMinutes = 60;

// Limits that keep one campaign within the engine's design capacity.
inline constexpr std::size_t kMaxCandidates = 1000;
inline constexpr std::uint32_t kMaxVotesPerCandidate = 1000;
inline constexpr std::size_t kMaxIdBytes = 64;
inline constexpr std::size_t kMaxTextBytes = 256;
inline constexpr std::size_t kMaxTitleBytes = 1024;

struct Campaign {
  std::string id;  // [a-z0-9-]{1,64}
  std::string title;
  std::int64_t opens_at_ms = 0;   // inclusive
  std::int64_t closes_at_ms = 0;  // exclusive
  std::int32_t utc_offset_s = 0;  // the `day` period's calendar
  Rules rules;
  std::vector<Candidate> candidates;
  // Optional sizing hint: voters expected per period. The dedupe and quota tables are
  // allocated for it up front so that they rarely grow. Default: kDefaultExpectedVoters.
  std::uint64_t expected_voters = 0;
  // Fraud signal thresholds. Default: FraudThresholds{}.
  FraudThresholds fraud;

  bool operator==(const Campaign&) const = default;

  // Index of a candidate id, or nullopt. Linear: campaigns hold at most kMaxCandidates.
  std::optional<std::uint32_t> candidate_index(std::string_view candidate_id) const;
  // Period id of a server time: the local day number, or 0 for PeriodKind::campaign.
  std::int64_t period_of(std::int64_t server_ms) const;
  bool is_open_at(std::int64_t server_ms) const {
    return server_ms >= opens_at_ms && server_ms < closes_at_ms;
  }
  // "scheduled", "open" or "closed" at a server time.
  std::string_view state_at(std::int64_t server_ms) const;
};

inline constexpr std::uint64_t kDefaultExpectedVoters = 1'000'000;

// Parses and validates a definition. Every error names the field and the rule, e.g.
// "candidates[3].id: duplicate of candidates[1].id \"c02\"".
Result<Campaign> parse_campaign(std::string_view json);

// The canonical JSON of a definition (stable field order, times at the campaign's offset):
// what campaign events store. With a `state` (state_at() of some time), that is added as the
// last field: what GET /v1/campaigns/{id} shows.
std::string campaign_to_json(const Campaign& campaign, std::string_view state = {});

// True when `next` changes candidates or rules of `current` (which a campaign with votes
// refuses: 409 conflict); window, title and sizing changes are allowed.
bool changes_counting(const Campaign& current, const Campaign& next);

}  // namespace tally::engine
