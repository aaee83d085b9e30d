// Small JSON writing helpers shared by every module that answers in JSON.
// Strings must be valid UTF-8 (ingest and campaign loading check it); control characters,
// quotes and backslashes are escaped. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tally {

// Appends `text` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view text);

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace tally
