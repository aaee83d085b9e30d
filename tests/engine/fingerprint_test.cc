#include "tally/engine/fingerprint.h"

#include <gtest/gtest.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <string>

namespace tally::engine {
namespace {

// The fingerprint's definition: XXH3-128 of campaign id, one zero byte, voter id, as one
// stream. Computed here with xxHash's streaming API, independently of how the engine joins
// the bytes.
Key128 streamed(std::string_view campaign, std::string_view voter) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, campaign.data(), campaign.size());
  XXH3_128bits_update(&state, "", 1);
  XXH3_128bits_update(&state, voter.data(), voter.size());
  const XXH128_hash_t hash = XXH3_128bits_digest(&state);
  return {hash.high64, hash.low64};
}

TEST(Fingerprint, IsTheStreamOfCampaignZeroByteAndVoterAtEverySize) {
  // Sizes across XXH3's input classes (up to 16, 128 and 240 bytes, then long inputs) and
  // past the engine's stack buffer, where it streams.
  for (const std::size_t campaign_size : {1u, 5u, 64u, 300u}) {
    const std::string campaign(campaign_size, 'c');
    for (std::size_t voter_size = 0; voter_size <= 600; ++voter_size) {
      std::string voter(voter_size, 'v');
      if (voter_size > 0) voter[voter_size / 2] = static_cast<char>('a' + voter_size % 26);
      const Key128 got = voter_fingerprint(campaign, voter);
      const Key128 want = streamed(campaign, voter);
      ASSERT_EQ(got.hi, want.hi) << campaign_size << " + " << voter_size;
      ASSERT_EQ(got.lo, want.lo) << campaign_size << " + " << voter_size;
    }
  }
}

TEST(Fingerprint, EmptyViewsWithoutDataHashAsEmpty) {
  const Key128 got = voter_fingerprint("c", std::string_view{});
  const Key128 want = streamed("c", "");
  EXPECT_EQ(got, want);
}

TEST(Fingerprint, SeparatorKeepsSplitsApart) {
  const Key128 a = voter_fingerprint("ab", "c");
  const Key128 b = voter_fingerprint("a", "bc");
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tally::engine
