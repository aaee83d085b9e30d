// What the generator reads from the server and its files around a run: the ingest token
// (DATA_DIR/tokens.json), the candidate ids (GET /v1/campaigns/{id}) and tallies
// (GET /v1/campaigns/{id}/tally), and the --verify comparison of the tally's change with the
// accepted answers. Pure functions (JSON via simdjson), no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/loadtest/response.h"

namespace tally::loadtest {

// The first ingest token of a tokens file `{"ingest":[...],"admin":[...]}`, else its first
// admin token (admin tokens may post votes too); nullopt when it has neither.
std::optional<std::string> token_from_tokens_file(std::string_view json);

// Candidate ids of a campaign document (the definition itself, or an object holding it under
// "campaign"), in definition order; empty when none are found.
std::vector<std::string> candidate_ids(std::string_view json);

struct Tally {
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> votes;  // by candidate id
};
std::optional<Tally> parse_tally(std::string_view json);

// The --verify check: after - before must equal the accepted answers, in total and for every
// candidate (including candidates the run never voted for).
struct Verification {
  bool ok = true;
  std::uint64_t accepted = 0;            // accepted answers received
  std::uint64_t counted = 0;             // after.total - before.total
  std::vector<std::string> differences;  // one line per mismatch, for the report
};
Verification verify(const Tally& before, const Tally& after,
                    const std::vector<std::string>& candidates, const AnswerCounts& answers);

}  // namespace tally::loadtest
