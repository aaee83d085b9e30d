#include "tally/engine/fingerprint.h"

#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace tally::engine {
namespace {

Key128 from_xxh(XXH128_hash_t hash) { return {hash.high64, hash.low64}; }

}  // namespace

Key128 voter_fingerprint(std::string_view campaign_id, std::string_view voter) {
  // The campaign id is a seed-like prefix: the same voter id in two campaigns is two voters.
  // Hashing campaign and voter as one stream with a separator byte that cannot occur in an id
  // keeps ("ab","c") and ("a","bc") apart. The bytes are joined on the stack and hashed in one
  // call: XXH3's streaming state (reset, three updates, digest) cost four times the
  // instructions of the one-shot hash of the same bytes, which gives the same value. Every
  // ballot the engine judges fits (a defined campaign's id, a checked voter field); the
  // stream stays for callers that hash unchecked ids.
  constexpr std::size_t kJoinedBytes = 512;
  static_assert(kMaxIdBytes + 1 + kMaxFieldBytes <= kJoinedBytes);
  const std::size_t joined = campaign_id.size() + 1 + voter.size();
  if (joined <= kJoinedBytes) {
    std::array<char, kJoinedBytes> bytes;
    // std::copy, not memcpy: an empty view's data() may be null.
    char* end = std::copy(campaign_id.begin(), campaign_id.end(), bytes.data());
    *end++ = '\0';
    std::copy(voter.begin(), voter.end(), end);
    return from_xxh(XXH3_128bits(bytes.data(), joined));
  }
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, campaign_id.data(), campaign_id.size());
  const char separator = '\0';
  XXH3_128bits_update(&state, &separator, 1);
  XXH3_128bits_update(&state, voter.data(), voter.size());
  return from_xxh(XXH3_128bits_digest(&state));
}

Key128 dedupe_key(Key128 fingerprint, std::uint32_t candidate_index) {
  std::array<unsigned char, 16> bytes;
  std::memcpy(bytes.data(), &fingerprint.hi, 8);
  std::memcpy(bytes.data() + 8, &fingerprint.lo, 8);
  return from_xxh(XXH3_128bits_withSeed(bytes.data(), bytes.size(), candidate_index));
}

Key128 request_key(std::string_view request_id) {
  return from_xxh(XXH3_128bits(request_id.data(), request_id.size()));
}

}  // namespace tally::engine
