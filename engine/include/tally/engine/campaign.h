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

#include "tally/engine/status.h"

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
// what campaign events store and GET /v1/campaigns/{id} shows.
std::string campaign_to_json(const Campaign& campaign);

// True when `next` changes candidates or rules of `current` (which a campaign with votes
// refuses: 409 conflict); window, title and sizing changes are allowed.
bool changes_counting(const Campaign& current, const Campaign& next);

}  // namespace tally::engine
