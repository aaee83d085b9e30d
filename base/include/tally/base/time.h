// Timestamps and periods: RFC 3339 parsing for campaign files, and the period a server time
// falls in (a calendar day at the campaign's UTC offset, or the whole campaign).
// Pure functions; safe everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/base/status.h"

namespace tally {

inline constexpr std::int64_t kMsPerDay = 86'400'000;

// "2023-03-27T00:00:00+08:00" (or "...Z", optional ".sss" fraction) -> ms since the epoch.
Result<std::int64_t> parse_rfc3339_ms(std::string_view text);

// "+08:00" / "-05:30" / "Z" -> offset in seconds east of UTC, within ±14:00.
Result<std::int32_t> parse_utc_offset(std::string_view text);

// ms since the epoch -> "2023-03-27T00:00:00+08:00" at the given offset (ms dropped when 0).
std::string format_rfc3339(std::int64_t ms, std::int32_t utc_offset_s);
std::string format_utc_offset(std::int32_t utc_offset_s);

// Day number (days since 1970-01-01 at that offset) of a server time: the `day` period id.
constexpr std::int64_t local_day(std::int64_t ms, std::int32_t utc_offset_s) {
  const std::int64_t local = ms + std::int64_t{utc_offset_s} * 1000;
  return local >= 0 ? local / kMsPerDay : -((-local + kMsPerDay - 1) / kMsPerDay);
}

}  // namespace tally
