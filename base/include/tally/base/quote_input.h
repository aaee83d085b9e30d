// Quoting of user input inside error messages.
//
// Error messages travel into JSON answers and logs, so the text they quote must be short and
// printable whatever the input was. Pure function; safe everywhere.
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

}  // namespace tally
