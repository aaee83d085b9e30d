// Lowercase hex of byte strings, and back: how the public log writes hashes, keys and
// signatures. Private to publog/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tally::publog::internal {

// One resize, then the digits written in place: four tags a vote on the ingest threads.
inline void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + 2 * n);
  char* digits = out.data() + at;
  for (std::size_t i = 0; i < n; ++i) {
    digits[2 * i] = kDigits[bytes[i] >> 4];
    digits[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
}

// Lowercase only, as every hash, key and signature is written (docs/EVENT_FORMAT.md): one
// value has one spelling, as in a canonical line.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Exactly 2n lowercase hex digits into `out`; false on anything else.
inline bool parse_hex(std::string_view text, std::uint8_t* out, std::size_t n) {
  if (text.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

}  // namespace tally::publog::internal
