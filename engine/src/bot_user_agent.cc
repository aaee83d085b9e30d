// is_bot_user_agent(): the bot markers, and two searches for them that give the same answers.
// The portable one tests the byte pairs at every position against bitmaps; the AVX2 one
// picks the positions where a marker can start 32 at a time (a Teddy-style filter of nibble
// masks) and runs the same test on those only. See tally/engine/internal/bot_scan.h.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "bot_scan.h"

namespace tally::engine {
namespace {

// The markers of is_bot_user_agent(), lower case: each at least 4 bytes long and starting with
// two letters (make_bot_marker_index() refuses others).
constexpr std::string_view kBotMarkers[] = {
    "headlesschrome",  "headless",       "phantomjs",
    "selenium",        "webdriver",      "puppeteer",
    "playwright",      "curl/",          "wget/",
    "python-requests", "python-urllib",  "python/",
    "aiohttp",         "httpx",          "go-http-client",
    "okhttp",          "java/",          "apache-httpclient",
    "libwww-perl",     "scrapy",         "node-fetch",
    "axios/",          "postmanruntime", "httpclient",
    "spider",          "crawler",        "bot/",
    "slimerjs",        "electron/",
};
constexpr std::size_t kBotMarkerCount = std::size(kBotMarkers);

}  // namespace

std::span<const std::string_view> bot_user_agent_markers() { return kBotMarkers; }

namespace {
constexpr std::size_t kLetterPairs = 26 * 26;

// One bit per pair of bytes, indexed by pair_bit().
using PairBits = std::array<std::uint64_t, 65536 / 64>;

// One pass over a user agent finds every marker: at each position, the bit of the byte pair
// there (set for every marker's first two bytes in any letter case), then the bit of the next
// pair (the markers' bytes 2 and 3), and only where both are set the markers that start with
// those two letters are compared. Built at compile time.
struct BotMarkerIndex {
  PairBits starts{};
  PairBits follows{};
  // The markers (indices into kBotMarkers) of letter pair p: by_pair[group[p]..group[p + 1]).
  std::array<std::uint8_t, kLetterPairs + 1> group{};
  std::array<std::uint8_t, kBotMarkerCount> by_pair{};
  std::size_t shortest = ~std::size_t{0};
};

constexpr bool is_lower_letter(char c) { return c >= 'a' && c <= 'z'; }
constexpr char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

// The bit of a byte pair: the two bytes as a little-endian 16-bit load reads them.
constexpr std::size_t pair_bit(char first, char second) {
  return (std::size_t{static_cast<unsigned char>(second)} << 8) | static_cast<unsigned char>(first);
}

// 0..675 for two lower-case letters.
constexpr std::size_t letter_pair(char first, char second) {
  return static_cast<std::size_t>(first - 'a') * 26 + static_cast<std::size_t>(second - 'a');
}

// Sets the bits of a lower-case pair in every letter case.
constexpr void set_pair_bits(PairBits& bits, char first, char second) {
  for (const char a : {first, to_upper(first)}) {
    for (const char b : {second, to_upper(second)}) {
      const std::size_t bit = pair_bit(a, b);
      bits[bit / 64] |= std::uint64_t{1} << (bit % 64);
    }
  }
}

constexpr BotMarkerIndex make_bot_marker_index() {
  BotMarkerIndex index;
  std::array<std::uint8_t, kLetterPairs + 1> count{};
  for (std::string_view marker : kBotMarkers) {
    // A throw is not a constant expression: a marker of another shape fails the build.
    if (marker.size() < 4 || !is_lower_letter(marker[0]) || !is_lower_letter(marker[1])) {
      throw "a bot marker must be 4 bytes or more and start with two lower-case letters";
    }
    index.shortest = std::min(index.shortest, marker.size());
    ++count[letter_pair(marker[0], marker[1]) + 1];
    set_pair_bits(index.starts, marker[0], marker[1]);
    set_pair_bits(index.follows, marker[2], marker[3]);
  }
  for (std::size_t p = 0; p < kLetterPairs; ++p) {
    index.group[p + 1] = static_cast<std::uint8_t>(index.group[p] + count[p + 1]);
  }
  std::array<std::uint8_t, kLetterPairs> filled{};
  for (std::size_t m = 0; m < kBotMarkerCount; ++m) {
    const std::size_t p = letter_pair(kBotMarkers[m][0], kBotMarkers[m][1]);
    index.by_pair[index.group[p] + filled[p]++] = static_cast<std::uint8_t>(m);
  }
  return index;
}

constexpr BotMarkerIndex kBotMarkerIndex = make_bot_marker_index();

// Whether the pair of bytes at `at` has its bit set.
bool has_pair(const PairBits& bits, const char* at) {
  std::uint16_t two;
  std::memcpy(&two, at, sizeof(two));
  const std::size_t bit = std::endian::native == std::endian::little ? two : pair_bit(at[0], at[1]);
  return (bits[bit / 64] >> (bit % 64) & 1) != 0;
}

// Whether the pair bits of the four bytes at `at` let a marker start there.
[[gnu::always_inline]] inline bool pairs_allow(const char* at) {
  return has_pair(kBotMarkerIndex.starts, at) && has_pair(kBotMarkerIndex.follows, at + 2);
}

// Whether a marker starts at `at`, with `room` bytes from there to the end of the text: the
// markers that start with its two letters, compared. REQUIRES: pairs_allow(at).
// Inlined: as a call per letter pair it made the portable scan 1.4x slower.
[[gnu::always_inline]] inline bool marker_at(const char* at, std::size_t room) {
  // Both bytes are letters (the bits are set for letter pairs only): | 0x20 lowers them.
  const std::size_t pair =
      letter_pair(static_cast<char>(at[0] | 0x20), static_cast<char>(at[1] | 0x20));
  for (std::size_t k = kBotMarkerIndex.group[pair]; k < kBotMarkerIndex.group[pair + 1]; ++k) {
    const std::string_view marker = kBotMarkers[kBotMarkerIndex.by_pair[k]];
    if (marker.size() > room) continue;
    std::size_t j = 2;
    while (j < marker.size() && to_lower(at[j]) == marker[j]) ++j;
    if (j == marker.size()) return true;
  }
  return false;
}

// REQUIRES: n >= kBotMarkerIndex.shortest.
bool has_marker_by_pairs(const char* text, std::size_t n) {
  const char* const last = text + (n - kBotMarkerIndex.shortest);  // the last possible start
  for (const char* at = text; at <= last; ++at) {
    if (pairs_allow(at) && marker_at(at, static_cast<std::size_t>(text + n - at))) return true;
  }
  return false;
}

#if defined(__x86_64__)
// The filter: a byte string can start a marker only if each of its first three bytes, with
// the case bit (0x20) set, has a low nibble and a high nibble that some marker of one bucket
// has at that byte. The markers are cut into 8 buckets in sorted order, so that a bucket's
// markers share leading bytes and its masks admit few other strings. The case bit maps upper
// to lower case and leaves '/' and '-' (markers' other bytes) as they are, so no occurrence
// in any case is filtered out; what the filter lets through, pairs_allow() and marker_at()
// decide.
constexpr std::size_t kBuckets = 8;
constexpr std::size_t kFilterBytes = 3;

struct NibbleMasks {
  // lo[k][x]: the buckets with a marker whose byte k has low nibble x; hi[k][x]: high nibble.
  std::array<std::array<std::uint8_t, 16>, kFilterBytes> lo{};
  std::array<std::array<std::uint8_t, 16>, kFilterBytes> hi{};
};

constexpr NibbleMasks make_nibble_masks() {
  std::array<std::string_view, kBotMarkerCount> sorted{};
  std::copy(std::begin(kBotMarkers), std::end(kBotMarkers), sorted.begin());
  std::sort(sorted.begin(), sorted.end());
  NibbleMasks masks;
  for (std::size_t r = 0; r < kBotMarkerCount; ++r) {
    const auto bucket = static_cast<std::uint8_t>(1u << (r * kBuckets / kBotMarkerCount));
    for (std::size_t k = 0; k < kFilterBytes; ++k) {
      const auto c = static_cast<unsigned char>(sorted[r][k]);
      // A throw is not a constant expression: a byte the case bit would change fails the build.
      if ((c | 0x20) != c) {
        throw "a bot marker's first three bytes must not change with the case bit set";
      }
      masks.lo[k][c & 0x0f] |= bucket;
      masks.hi[k][c >> 4] |= bucket;
    }
  }
  return masks;
}

constexpr NibbleMasks kNibbleMasks = make_nibble_masks();

// The filter, 32 positions at a time: per filter byte, two shuffles look up the buckets of each
// byte's nibbles (a shuffle looks up each 128-bit lane apart, so both lanes hold the masks).
__attribute__((target("avx2"))) bool has_marker_avx2(const char* text, std::size_t n) {
  // A block of 32 positions reads 34 bytes from its first: up to 30 past the text's end.
  constexpr std::size_t kPadding = 32;
  alignas(32) char copy[kMaxUaBytes + kPadding];
  std::memcpy(copy, text, n);
  std::memset(copy + n, 0, kPadding);
  const std::size_t last = n - kBotMarkerIndex.shortest;  // the last possible start
  const __m256i case_bit = _mm256_set1_epi8(0x20);
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  __m256i lo[kFilterBytes];
  __m256i hi[kFilterBytes];
  for (std::size_t k = 0; k < kFilterBytes; ++k) {
    lo[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kNibbleMasks.lo[k].data())));
    hi[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kNibbleMasks.hi[k].data())));
  }
  for (std::size_t first = 0; first <= last; first += 32) {
    __m256i buckets = _mm256_set1_epi8(-1);
    for (std::size_t k = 0; k < kFilterBytes; ++k) {
      const __m256i bytes = _mm256_or_si256(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(copy + first + k)), case_bit);
      const __m256i by_low = _mm256_shuffle_epi8(lo[k], _mm256_and_si256(bytes, low_nibble));
      const __m256i by_high =
          _mm256_shuffle_epi8(hi[k], _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_nibble));
      buckets = _mm256_and_si256(buckets, _mm256_and_si256(by_low, by_high));
    }
    auto candidates = ~static_cast<std::uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(buckets, _mm256_setzero_si256())));
    while (candidates != 0) {
      const std::size_t at = first + static_cast<std::size_t>(std::countr_zero(candidates));
      if (at > last) break;
      if (pairs_allow(text + at) && marker_at(text + at, n - at)) return true;
      candidates &= candidates - 1;
    }
  }
  return false;
}
#endif

}  // namespace

namespace internal {

bool bot_scan_available(BotScan scan) {
  switch (scan) {
    case BotScan::pairs: return true;
    case BotScan::avx2:
#if defined(__x86_64__)
      return __builtin_cpu_supports("avx2");
#else
      return false;
#endif
  }
  return false;
}

bool is_bot_user_agent_by(BotScan scan, std::string_view ua) {
  if (ua.empty()) return true;
  // Only the first kMaxUaBytes bytes count (a ballot's agent is at most that long), so that a
  // marker past the 300 bytes of an Android WeChat agent is still found.
  const std::size_t n = std::min(ua.size(), kMaxUaBytes);
  if (n < kBotMarkerIndex.shortest) return false;
#if defined(__x86_64__)
  if (scan == BotScan::avx2) return has_marker_avx2(ua.data(), n);
#endif
  return has_marker_by_pairs(ua.data(), n);
}

}  // namespace internal

bool is_bot_user_agent(std::string_view ua) {
  static const internal::BotScan kScan = internal::bot_scan_available(internal::BotScan::avx2)
                                             ? internal::BotScan::avx2
                                             : internal::BotScan::pairs;
  return internal::is_bot_user_agent_by(kScan, ua);
}

}  // namespace tally::engine
