// VoteStatus: every answer a ballot can get, spelled as on the wire (DESIGN.md, statuses).
//
// The engine decides accepted, duplicate, quota_exceeded, closed, unknown_campaign,
// unknown_candidate and invalid; ingest adds the transport ones (auth, size, load, storage).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tally::engine {

enum class VoteStatus : std::uint8_t {
  accepted,
  duplicate,
  quota_exceeded,
  closed,
  unknown_campaign,
  unknown_candidate,
  invalid,
  unauthorized,
  forbidden,
  too_large,
  rate_limited,
  overloaded,
  unavailable,
};

inline constexpr int kVoteStatusCount = static_cast<int>(VoteStatus::unavailable) + 1;

std::string_view to_string(VoteStatus status);
std::optional<VoteStatus> vote_status_from_string(std::string_view text);

// The HTTP code DESIGN.md gives each status (too_large answers 413 here; 431 is ingest's
// choice for over-long request lines and headers).
int http_code(VoteStatus status);

}  // namespace tally::engine
