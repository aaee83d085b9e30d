// CandidateIndex: a campaign version's candidate ids → their indexes. Engine-internal (public
// for its tests).
//
// Every ballot looks its candidate up once. Open addressing in one flat array of at least
// twice the candidates (linear probing, a power of two), each slot the index and 32 bits of
// the id's XXH3 hash, so a lookup is one hash, usually one slot and one id comparison. A
// node-based std::unordered_map took about 390 instructions a ballot, most of them in its
// hash and bucket division, and two dependent loads more.
//
// Thread safety: built once; then read-only, by any number of threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tally/engine/campaign.h"

namespace tally::engine::internal {

class CandidateIndex {
 public:
  // `candidates` must outlive the index; their ids must be distinct (a Campaign's are).
  explicit CandidateIndex(const std::vector<Candidate>& candidates);
  CandidateIndex(const CandidateIndex&) = delete;  // would still refer to the original's ids
  CandidateIndex& operator=(const CandidateIndex&) = delete;

  std::optional<std::uint32_t> find(std::string_view id) const;

 private:
  struct Slot {
    std::uint32_t tag = 0;     // the hash's high 32 bits
    std::uint32_t number = 0;  // candidate index + 1; 0 = empty
  };

  const std::vector<Candidate>& candidates_;
  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
};

}  // namespace tally::engine::internal
