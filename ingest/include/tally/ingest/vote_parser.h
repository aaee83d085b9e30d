// VoteParser: turns one JSON ballot (a request body or one NDJSON line) into an engine::Ballot.
//
// First step of the vote path: bytes -> Ballot -> engine.decide(). Uses simdjson On-Demand
// with its error codes (never exceptions); the whole input must be valid UTF-8 and one JSON
// object. Unknown fields are ignored; every ballot returned ok() has passed
// engine::check_ballot() (its UTF-8 scan skipped: the whole input was validated), so it is
// decided with FieldCheck::done_by_caller.
// Not safe for concurrent use: each thread has its own (ingest keeps two per thread, to parse
// a batch line ahead), and the Ballot's views point into its buffers until its next parse(). After
// warm-up, parse() does not allocate.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "tally/engine/engine.h"

namespace tally::ingest {

struct ParsedBallot {
  engine::Ballot ballot;
  // Set when the input is not a valid ballot: names the field and the rule, e.g.
  // "voter: longer than 256 bytes". Static storage.
  std::string_view error;
  bool ok() const { return error.empty(); }
};

class VoteParser {
 public:
  VoteParser();
  ~VoteParser();
  VoteParser(const VoteParser&) = delete;
  VoteParser& operator=(const VoteParser&) = delete;

  // Parses `json`. The ballot's `ip` is the `ip` field when present, else `peer_ip`.
  // The returned views stay valid until the next call on this parser.
  ParsedBallot parse(std::string_view json, std::string_view peer_ip);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::ingest
