// RFC 3339 timestamps and UTC offsets for campaign definitions.
//
// Only the profile of RFC 3339 section 5.6 is accepted: a full date, "T", a full time with an
// optional fraction, and "Z" or a numeric offset. Leap seconds (second 60) are refused: server
// time never holds one, so a window edge on one could never be reached exactly.
#include "tally/base/time.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tally/base/quote_input.h"

namespace tally {
namespace {

namespace chrono = std::chrono;

constexpr std::string_view kRfc3339Shape = "YYYY-MM-DDTHH:MM:SS[.fraction](Z|\u00B1HH:MM)";
// Longer inputs are refused before parsing: the longest useful form is 35 bytes.
constexpr std::size_t kMaxTimeBytes = 64;
constexpr std::int32_t kMaxUtcOffsetS = 14 * 3600;
constexpr std::int64_t kMsPerHour = 3'600'000;
constexpr std::int64_t kMsPerMinute = 60'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads `count` decimal digits at `pos`; false when any is not a digit.
bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (!is_digit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

std::int64_t days_from_civil(int year, unsigned month, unsigned day) {
  return chrono::sys_days{chrono::year{year} / chrono::month{month} / chrono::day{day}}
      .time_since_epoch()
      .count();
}

Status range_error(std::string_view field, std::string_view range, int got, std::string_view text) {
  return Status::error(std::string(field) + " must be " + std::string(range) + ", got " +
                       std::to_string(got) + " in " + quote_input(text));
}

Status shape_error(std::string_view text) {
  return Status::error("expected " + std::string(kRfc3339Shape) + ", got " + quote_input(text));
}

}  // namespace

Result<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  if (text.size() > kMaxTimeBytes) {
    return Status::error("longer than " + std::to_string(kMaxTimeBytes) +
                         " bytes: " + quote_input(text));
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  // Fixed layout up to the seconds: YYYY-MM-DDTHH:MM:SS (RFC 3339 allows a lower-case t).
  if (text.size() < 20 || !read_digits(text, 0, 4, year) || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't') || !read_digits(text, 11, 2, hour) || text[13] != ':' ||
      !read_digits(text, 14, 2, minute) || text[16] != ':' || !read_digits(text, 17, 2, second)) {
    return shape_error(text);
  }
  std::size_t pos = 19;
  std::int64_t fraction_ms = 0;
  if (text[pos] == '.') {
    ++pos;
    const std::size_t digits_start = pos;
    while (pos < text.size() && is_digit(text[pos])) {
      // Digits past the third are below a millisecond: truncated, as server time is.
      if (pos - digits_start < 3) fraction_ms = fraction_ms * 10 + (text[pos] - '0');
      ++pos;
    }
    const std::size_t digit_count = pos - digits_start;
    if (digit_count == 0) return shape_error(text);
    for (std::size_t i = digit_count; i < 3; ++i) fraction_ms *= 10;
  }
  std::int64_t offset_ms = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    int offset_hour = 0, offset_minute = 0;
    if (!read_digits(text, pos + 1, 2, offset_hour) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !read_digits(text, pos + 4, 2, offset_minute)) {
      return shape_error(text);
    }
    if (offset_hour > 23) return range_error("offset hour", "00..23", offset_hour, text);
    if (offset_minute > 59) return range_error("offset minute", "00..59", offset_minute, text);
    offset_ms = offset_hour * kMsPerHour + offset_minute * kMsPerMinute;
    if (negative) offset_ms = -offset_ms;
    pos += 6;
  } else {
    return shape_error(text);
  }
  if (pos != text.size()) return shape_error(text);

  if (month < 1 || month > 12) return range_error("month", "01..12", month, text);
  const chrono::year_month_day_last month_end{chrono::year{year} / chrono::month(month) /
                                              chrono::last};
  const auto last_day = static_cast<int>(static_cast<unsigned>(month_end.day()));
  if (day < 1 || day > last_day) {
    char year_month[16];
    std::snprintf(year_month, sizeof year_month, "%04d-%02d", year, month);
    return range_error(std::string("day of ") + year_month, "01.." + std::to_string(last_day), day,
                       text);
  }
  if (hour > 23) return range_error("hour", "00..23", hour, text);
  if (minute > 59) return range_error("minute", "00..59", minute, text);
  if (second > 59) return range_error("second", "00..59 (no leap seconds)", second, text);

  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * kMsPerDay + hour * kMsPerHour + minute * kMsPerMinute + second * 1000 +
         fraction_ms - offset_ms;
}

Result<std::int32_t> parse_utc_offset(std::string_view text) {
  if (text == "Z" || text == "z") return std::int32_t{0};
  int hours = 0, minutes = 0;
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || !read_digits(text, 1, 2, hours) ||
      text[3] != ':' || !read_digits(text, 4, 2, minutes)) {
    return Status::error("expected \u00B1HH:MM or Z, got " + quote_input(text));
  }
  if (minutes > 59) return Status::error("minutes must be 00..59, got " + quote_input(text));
  const std::int32_t magnitude_s = hours * 3600 + minutes * 60;
  if (magnitude_s > kMaxUtcOffsetS) {
    return Status::error("must be within \u00B114:00, got " + quote_input(text));
  }
  return text[0] == '-' ? -magnitude_s : magnitude_s;
}

std::string format_utc_offset(std::int32_t utc_offset_s) {
  const std::int64_t magnitude_s = utc_offset_s < 0 ? -std::int64_t{utc_offset_s} : utc_offset_s;
  char text[32];
  std::snprintf(text, sizeof text, "%c%02lld:%02lld", utc_offset_s < 0 ? '-' : '+',
                static_cast<long long>(magnitude_s / 3600),
                static_cast<long long>(magnitude_s / 60 % 60));
  return text;
}

std::string format_rfc3339(std::int64_t ms, std::int32_t utc_offset_s) {
  // Local times outside years 0000..9999 have no RFC 3339 form: they are clamped to that
  // range (every parsed time lies inside it). Clamping ms first keeps the sum from overflowing.
  static const std::int64_t kMinLocalMs = days_from_civil(0, 1, 1) * kMsPerDay;
  static const std::int64_t kMaxLocalMs = (days_from_civil(9999, 12, 31) + 1) * kMsPerDay - 1;
  const std::int64_t offset_ms = std::int64_t{utc_offset_s} * 1000;
  const std::int64_t local_ms =
      std::clamp(std::clamp(ms, kMinLocalMs - kMsPerDay, kMaxLocalMs + kMsPerDay) + offset_ms,
                 kMinLocalMs, kMaxLocalMs);
  const std::int64_t days = floor_div(local_ms, kMsPerDay);
  const std::int64_t ms_of_day = local_ms - days * kMsPerDay;
  const chrono::year_month_day date{chrono::sys_days{chrono::days{days}}};

  char text[48];
  int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02lld:%02lld:%02lld",
                             static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                             static_cast<unsigned>(date.day()),
                             static_cast<long long>(ms_of_day / kMsPerHour),
                             static_cast<long long>(ms_of_day / kMsPerMinute % 60),
                             static_cast<long long>(ms_of_day / 1000 % 60));
  if (ms_of_day % 1000 != 0) {
    std::snprintf(text + length, sizeof text - static_cast<std::size_t>(length), ".%03lld",
                  static_cast<long long>(ms_of_day % 1000));
  }
  std::string out(text);
  out += utc_offset_s == 0 ? std::string("Z") : format_utc_offset(utc_offset_s);
  return out;
}

}  // namespace tally
