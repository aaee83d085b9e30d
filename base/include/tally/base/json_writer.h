// JsonWriter: compact JSON (no spaces) appended to a caller's string, with the commas between
// members and elements placed by the writer. Callers that reuse a buffer keep doing so: the
// writer only appends, and allocates nothing of its own.
//
// It checks nothing but where commas go. REQUIRES, unchecked: every value inside an object
// follows a key(); begin and end calls pair up; nesting at most kMaxDepth deep; raw() is given
// one whole JSON value. Strings must be valid UTF-8, as for append_json_string().
//
// Written here rather than taken from RapidJSON's Writer (Debian's rapidjson-dev) for export,
// which writes millions of stored votes: a vote's JSON takes 235 ns here and 468 ns with
// RapidJSON, which escapes a byte at a time into its own buffer (bench/base_bench,
// docs/BENCHMARKS.md).
//
// Thread safety: none. One writer per buffer, used by one thread at a time.
#pragma once

#include <cassert>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "tally/base/json.h"

namespace tally {

class JsonWriter {
 public:
  static constexpr int kMaxDepth = 16;

  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  // A member's name; the next call writes its value. A short name that needs no escaping (every
  // literal key) is written with its comma, quotes and colon in one append.
  JsonWriter& key(std::string_view name) {
    if (name.size() <= kShortKey && is_plain(name)) {
      char buffer[kShortKey + 4];
      std::size_t n = 0;
      if (take_comma()) buffer[n++] = ',';
      buffer[n++] = '"';
      std::memcpy(buffer + n, name.data(), name.size());
      n += name.size();
      buffer[n++] = '"';
      buffer[n++] = ':';
      out_.append(buffer, n);
    } else {
      separate();
      append_json_string(out_, name);
      out_.push_back(':');
    }
    after_key_ = true;
    return *this;
  }

  JsonWriter& string(std::string_view text) {
    separate();
    append_json_string(out_, text);
    return *this;
  }

  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonWriter& integer(T value) {
    char buffer[std::numeric_limits<T>::digits10 + 3];  // a comma, a sign and every digit
    buffer[0] = ',';
    const char* const start = take_comma() ? buffer : buffer + 1;
    const auto written = std::to_chars(buffer + 1, buffer + sizeof buffer, value);
    out_.append(start, static_cast<std::size_t>(written.ptr - start));
    return *this;
  }

  JsonWriter& boolean(bool value) { return raw(value ? "true" : "false"); }
  JsonWriter& null() { return raw("null"); }

  // A value already in JSON (a stored campaign, a number formatted by the caller).
  JsonWriter& raw(std::string_view json) {
    separate();
    out_.append(json);
    return *this;
  }

  // The buffer written to, for callers that note where a value ends.
  const std::string& text() const { return out_; }

 private:
  static constexpr std::size_t kShortKey = 32;

  // True when `text` is written as is inside quotes (see append_json_string).
  static bool is_plain(std::string_view text) {
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == '"' || byte == '\\') return false;
    }
    return true;
  }
  // Whether the next value or key needs a comma before it: not the first in its container,
  // nor a key's value. At depth 0 values are separate documents (one per line in NDJSON).
  bool take_comma() {
    if (after_key_) {
      after_key_ = false;
      return false;
    }
    const std::uint32_t bit = bit_of(depth_);
    const bool comma = (has_items_ & bit) != 0;
    has_items_ |= bit;
    return comma;
  }
  void separate() {
    if (take_comma()) out_.push_back(',');
  }
  // Depth 0 has no bit, so it never takes a comma.
  static std::uint32_t bit_of(int depth) { return (std::uint32_t{1} << depth) >> 1; }
  JsonWriter& open(char bracket) {
    separate();
    out_.push_back(bracket);
    assert(depth_ < kMaxDepth);
    ++depth_;
    has_items_ &= ~bit_of(depth_);
    return *this;
  }
  JsonWriter& close(char bracket) {
    assert(depth_ > 0);
    --depth_;
    out_.push_back(bracket);
    return *this;
  }

  std::string& out_;
  // Bit d - 1: the container open at depth d has an item already.
  std::uint32_t has_items_ = 0;
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace tally
