// The client side of HTTP/1.1 as tallyd speaks it: a minimal response parser (status line,
// Content-Length, Connection: close; no chunked bodies, which tallyd never sends) and the
// accounting of vote answers by status word. Pure code, no I/O. Not safe for concurrent use.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/vote_status.h"

namespace tally::loadtest {

struct Response {
  int http_code = 0;
  bool close = false;     // the server said Connection: close
  std::string_view body;  // valid until the next call to ResponseParser::next or append
};

// Feed bytes as they arrive, then take complete responses in order.
class ResponseParser {
 public:
  // Space for at least `bytes` more input; write there, then commit(n).
  char* prepare(std::size_t bytes);
  void commit(std::size_t bytes);
  void append(std::string_view bytes);

  // The next complete response, nullopt when more bytes are needed. Sets failed() on
  // input that is not an HTTP/1.1 response (the connection must then be dropped).
  std::optional<Response> next();
  bool failed() const { return failed_; }
  void reset();

 private:
  std::string buffer_;
  std::size_t begin_ = 0;  // start of unparsed input
  std::size_t end_ = 0;    // end of valid input; buffer_ beyond is scratch
  bool failed_ = false;
};

// Answers counted by ballot: one per single vote, one per line of a batch answer (or, when
// the whole batch is refused, the refusal's status for each of its ballots).
struct AnswerCounts {
  std::array<std::uint64_t, engine::kVoteStatusCount> by_status{};
  std::uint64_t other = 0;  // answers without a vote status word (404 not_found, ...)
  std::vector<std::uint64_t> accepted_by_candidate;

  void merge(const AnswerCounts& other_counts);
  std::uint64_t total() const;
  std::uint64_t of(engine::VoteStatus status) const {
    return by_status[static_cast<std::size_t>(status)];
  }
};

// Counts one answer to a request whose ballots were for `candidates` (indexes).
void count_answer(const Response& response, std::span<const std::uint16_t> candidates,
                  AnswerCounts& counts);

// The word after `"status":"` in a JSON object, empty when absent.
std::string_view status_word(std::string_view json);

}  // namespace tally::loadtest
