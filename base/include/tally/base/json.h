// Small JSON writing helpers shared by every module that answers in JSON.
// Strings must be valid UTF-8 (ingest and campaign loading check it); control characters,
// quotes and backslashes are escaped. Pure functions. Whole objects and arrays: json_writer.h.
#pragma once

#include <string>
#include <string_view>

namespace tally {

// Appends `text` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view text);

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
// Written here rather than simdjson::validate_utf8 for what it checks: a ballot's fields,
// mostly ids of a few dozen bytes, where simdjson's dispatch costs more than the scan (28
// bytes: 6.8 against 16 ns; a 297-byte user agent: 32 against 16; bench/base_bench,
// docs/BENCHMARKS.md). Whole documents are validated by simdjson as it parses them.
bool is_valid_utf8(std::string_view text);

}  // namespace tally
