// Numbers on the command line and in config files: whole, decimal, within their range. CLI11's
// own conversion would read "010" as octal, "0x10" as hex, "-1" as the largest unsigned number
// and "173000abc" as 173000.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace tally::cli {

// `text` as a number in [min, max]: digits only (a leading '-' for a signed type), all of it.
template <typename Int>
std::optional<Int> parse_decimal(std::string_view text, Int min, Int max) {
  if (text.empty() || text.front() == '+') return std::nullopt;
  Int value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

}  // namespace tally::cli
