#include "candidate_index.h"

#define XXH_INLINE_ALL  // ids are short: the call would cost as much as the hash
#include <xxhash.h>

#include <algorithm>
#include <bit>

namespace tally::engine::internal {

CandidateIndex::CandidateIndex(const std::vector<Candidate>& candidates)
    : candidates_(candidates),
      slots_(std::bit_ceil(std::max<std::size_t>(2 * candidates.size(), 2))),
      mask_(slots_.size() - 1) {
  for (std::uint32_t i = 0; i < candidates.size(); ++i) {
    const std::string_view id = candidates[i].id;
    const std::uint64_t hash = XXH3_64bits(id.data(), id.size());
    std::uint64_t at = hash & mask_;
    while (slots_[at].number != 0) at = (at + 1) & mask_;
    slots_[at] = Slot{static_cast<std::uint32_t>(hash >> 32), i + 1};
  }
}

std::optional<std::uint32_t> CandidateIndex::find(std::string_view id) const {
  const std::uint64_t hash = XXH3_64bits(id.data(), id.size());
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  // The array is at most half full, so an empty slot ends every probe.
  for (std::uint64_t at = hash & mask_;; at = (at + 1) & mask_) {
    const Slot slot = slots_[at];
    if (slot.number == 0) return std::nullopt;
    if (slot.tag == tag && candidates_[slot.number - 1].id == id) return slot.number - 1;
  }
}

}  // namespace tally::engine::internal
