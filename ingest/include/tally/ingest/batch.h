// Batch lines: splits the NDJSON body of POST /v1/votes:batch into its ballots.
//
// The vote path calls for_each_batch_line() once per batch, before any line is decided, so a
// batch over the line limit counts nothing (DESIGN.md "HTTP API"). Pure, safe everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tally::ingest {

// One non-empty line of a batch body: its byte range, blanks trimmed, and its 1-based number
// among all input lines (empty lines count), which the batch answer echoes as "line".
struct BatchLine {
  std::size_t begin = 0;
  std::size_t size = 0;
  std::uint32_t number = 0;
};

// Calls `on_line(const BatchLine&)` for each line of `body` that is not empty once trimmed of
// spaces and tabs (and of a trailing '\r'), in order. Lines end at '\n'. `on_line` returns
// false to stop; the result is false when it stopped early.
template <typename OnLine>
bool for_each_batch_line(std::string_view body, OnLine&& on_line) {
  std::size_t begin = 0;
  std::uint32_t number = 0;
  while (begin < body.size()) {
    std::size_t end = body.find('\n', begin);
    if (end == std::string_view::npos) end = body.size();
    ++number;
    std::size_t last = end;
    while (last > begin &&
           (body[last - 1] == '\r' || body[last - 1] == ' ' || body[last - 1] == '\t')) {
      --last;
    }
    std::size_t first = begin;
    while (first < last && (body[first] == ' ' || body[first] == '\t')) ++first;
    if (first < last && !on_line(BatchLine{first, last - first, number})) return false;
    begin = end + 1;
  }
  return true;
}

}  // namespace tally::ingest
