// Wire words and HTTP codes of every VoteStatus (DESIGN.md, "HTTP API", statuses table).
#include "tally/engine/vote_status.h"

#include <array>

namespace tally::engine {
namespace {

struct StatusInfo {
  std::string_view word;
  int http_code;
};

// Indexed by VoteStatus; the static_assert below keeps it in step with the enum.
constexpr std::array<StatusInfo, kVoteStatusCount> kStatusInfo = {{
    {"accepted", 200},
    {"duplicate", 409},
    {"quota_exceeded", 409},
    {"closed", 403},
    {"unknown_campaign", 404},
    {"unknown_candidate", 422},
    {"invalid", 400},
    {"unauthorized", 401},
    {"forbidden", 403},
    {"too_large", 413},
    {"rate_limited", 429},
    {"overloaded", 503},
    {"unavailable", 503},
}};
static_assert(kStatusInfo[static_cast<int>(VoteStatus::unavailable)].word == "unavailable");
static_assert(kStatusInfo[static_cast<int>(VoteStatus::invalid)].word == "invalid");

}  // namespace

std::string_view to_string(VoteStatus status) {
  const auto index = static_cast<std::size_t>(status);
  return index < kStatusInfo.size() ? kStatusInfo[index].word : std::string_view("unknown");
}

std::optional<VoteStatus> vote_status_from_string(std::string_view text) {
  for (std::size_t i = 0; i < kStatusInfo.size(); ++i) {
    if (kStatusInfo[i].word == text) return static_cast<VoteStatus>(i);
  }
  return std::nullopt;
}

int http_code(VoteStatus status) {
  const auto index = static_cast<std::size_t>(status);
  return index < kStatusInfo.size() ? kStatusInfo[index].http_code : 500;
}

}  // namespace tally::engine
