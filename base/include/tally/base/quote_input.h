// Quoting of outside input inside error messages and log lines.
//
// Error messages travel into JSON answers and logs, so the text they quote must be short and
// printable whatever the input was; a log line's value must not be able to end the line or its
// field. Pure functions; safe everywhere.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tally {

// Longest part of an input that an error message repeats.
inline constexpr std::size_t kMaxQuotedBytes = 80;

// `text` as a double-quoted JSON string, cut after kMaxQuotedBytes (at a character boundary,
// marked by "..."), with every byte that is not part of valid UTF-8 shown as \xNN.
std::string quote_input(std::string_view text);

// Longest part of an outside value that a log line repeats.
inline constexpr std::size_t kMaxLoggedBytes = 1024;

// `text` as the value of a log line's `key="value"` field: quoted and escaped as quote_input()
// does (quotes, backslashes and control characters as JSON writes them, stray bytes as \xNN),
// cut after kMaxLoggedBytes. Whatever a campaign title, a path or an error message holds, its
// event stays one line whose fields a reader can split. Every value from outside that tallyd
// logs goes through here.
std::string log_value(std::string_view text);

}  // namespace tally
