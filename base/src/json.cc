// JSON string writing and UTF-8 validation (RFC 8259 section 7, RFC 3629 section 4).
#include "tally/base/json.h"

#include <cstdint>
#include <cstring>

#include "tally/base/quote_input.h"

namespace tally {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0 when it is not one.
// Follows the table of well-formed byte sequences in RFC 3629: the second byte's range is
// narrowed after E0 and F0 (no overlongs), ED (no surrogates) and F4 (nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  const std::uint8_t lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint8_t second_min = 0x80;
  std::uint8_t second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;  // 80..C1 (continuation or overlong lead) and F5..FF never start a character.
  }
  if (text.size() < length) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
  }
  return length;
}

// True when one of the eight bytes of `word` is escaped in a JSON string: below 0x20, '"' or
// '\\'. Exact for "any byte" (the borrow of a hit can only mark bytes above it). Bytes of
// 0x80 and above never count: their high bit is masked out by ~word.
bool has_escaped_byte(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t below_space = (word - kOnes * 0x20) & ~word;
  const std::uint64_t zero_quote = (quote - kOnes) & ~quote;
  const std::uint64_t zero_backslash = (backslash - kOnes) & ~backslash;
  return ((below_space | zero_quote | zero_backslash) & kHigh) != 0;
}

void append_hex_byte(std::string& out, std::uint8_t value) {
  out.push_back(kHexDigits[value >> 4]);
  out.push_back(kHexDigits[value & 0xF]);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  std::size_t run_start = 0;  // start of the bytes not yet copied
  std::size_t i = 0;
  while (i < text.size()) {
    // Export writes hundreds of bytes a vote, nearly all copied as they are: eight such bytes
    // are passed at a time.
    if (text.size() - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, sizeof word);
      if (!has_escaped_byte(word)) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<std::uint8_t>(text[i++]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.substr(run_start, i - 1 - run_start));
    run_start = i;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        append_hex_byte(out, c);
        break;
    }
  }
  out.append(text.substr(run_start));
  out.push_back('"');
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    // Ballot fields are mostly ASCII: skip eight such bytes at a time.
    if (text.size() - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    if (static_cast<std::uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(text.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

namespace {

std::string quoted_within(std::string_view text, std::size_t max_bytes) {
  std::string shown;
  bool cut = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence_length(text.substr(i));
    const std::size_t shown_length = length == 0 ? 4 : length;  // \xNN for a stray byte
    if (shown.size() + shown_length > max_bytes) {
      cut = true;
      break;
    }
    if (length == 0) {
      shown.append("\\x");
      append_hex_byte(shown, static_cast<std::uint8_t>(text[i]));
      ++i;
    } else {
      shown.append(text.substr(i, length));
      i += length;
    }
  }
  if (cut) shown.append("...");
  std::string out;
  append_json_string(out, shown);
  return out;
}

}  // namespace

std::string quote_input(std::string_view text) { return quoted_within(text, kMaxQuotedBytes); }

std::string log_value(std::string_view text) { return quoted_within(text, kMaxLoggedBytes); }

}  // namespace tally
