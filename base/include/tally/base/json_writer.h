// JsonWriter: compact JSON (no spaces) appended to a caller's string, with the commas between
// members and elements placed by the writer. Callers that reuse a buffer keep doing so: the
// writer only appends, and allocates nothing of its own.
//
// It checks nothing but where commas go. REQUIRES, unchecked: every value inside an object
// follows a key(); begin and end calls pair up; nesting at most kMaxDepth deep; raw() is given
// one whole JSON value. Strings must be valid UTF-8, as for append_json_string().
//
// Thread safety: none. One writer per buffer, used by one thread at a time.
#pragma once

#include <cassert>
#include <charconv>
#include <concepts>
#include <cstdint>
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

  // A member's name; the next call writes its value.
  JsonWriter& key(std::string_view name) {
    separate();
    append_json_string(out_, name);
    out_.push_back(':');
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
    separate();
    char digits[std::numeric_limits<T>::digits10 + 2];  // every digit and a sign
    const auto written = std::to_chars(digits, digits + sizeof digits, value);
    out_.append(digits, written.ptr);
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
  // The comma before a value or key, unless it is the first in its container or a key's value.
  // At depth 0 values are separate documents (one per line in NDJSON): no comma.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    const std::uint32_t bit = bit_of(depth_);
    if ((has_items_ & bit) != 0) out_.push_back(',');
    has_items_ |= bit;
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
