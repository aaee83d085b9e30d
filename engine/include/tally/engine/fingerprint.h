// Voter fingerprints and table keys (XXH3, 128-bit): the only identity the engine keeps.
//
// fingerprint = XXH3-128(campaign id, voter); dedupe key = (fingerprint, candidate) within a
// period's table generation; quota key = fingerprint within that generation; request key =
// XXH3-128 of the request_id within the campaign's request table. xxHash is not a
// cryptographic hash: it separates honest voters, it does not resist a chosen collision
// (a voter who forges a collision only blocks a ballot of their own making).
// Pure functions. See docs/DEDUPE_TABLE.md for the false-duplicate bound.
#pragma once

#include <cstdint>
#include <string_view>

namespace tally::engine {

struct Key128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  bool operator==(const Key128&) const = default;
};

Key128 voter_fingerprint(std::string_view campaign_id, std::string_view voter);
Key128 dedupe_key(Key128 fingerprint, std::uint32_t candidate_index);
Key128 request_key(std::string_view request_id);

}  // namespace tally::engine
