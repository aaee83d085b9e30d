#include "candidate_index.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace tally::engine::internal {
namespace {

std::uint64_t hash_of(const std::string& id) { return XXH3_64bits(id.data(), id.size()); }

std::vector<Candidate> candidates_of(const std::vector<std::string>& ids) {
  std::vector<Candidate> candidates;
  for (const std::string& id : ids) candidates.push_back({id, "name-" + id, "unit", "能源"});
  return candidates;
}

// Ids named prefix0, prefix1, ... whose hash lands in `slot` of a table of `slots`.
std::vector<std::string> ids_in_slot(std::uint64_t slot, std::uint64_t slots, std::size_t n) {
  std::vector<std::string> ids;
  for (int i = 0; ids.size() < n; ++i) {
    std::string id = "w" + std::to_string(i);
    if ((hash_of(id) & (slots - 1)) == slot) ids.push_back(std::move(id));
  }
  return ids;
}

TEST(CandidateIndex, ProbeWrapsFromTheLastSlotToTheFirst) {
  // Two candidates: four slots. Both ids hash to the last one, so the second is stored in slot
  // 0, and a third id of that slot probes 3, 0, 1 before it meets an empty one.
  const std::vector<std::string> ids = ids_in_slot(3, 4, 3);
  const std::vector<Candidate> candidates = candidates_of({ids[0], ids[1]});
  const CandidateIndex index(candidates);
  EXPECT_EQ(index.find(ids[0]), 0u);
  EXPECT_EQ(index.find(ids[1]), 1u);
  EXPECT_EQ(index.find(ids[2]), std::nullopt);
}

TEST(CandidateIndex, SameTagAndSlotIsNotTheSameId) {
  // Two ids whose hashes agree in the 32 bits kept beside the index and in the slot bit (one
  // candidate: two slots): the lookup must compare the ids themselves.
  std::unordered_map<std::uint64_t, std::string> seen;
  std::string stored, other;
  for (int i = 0; other.empty(); ++i) {
    std::string id = "t" + std::to_string(i);
    const std::uint64_t hash = hash_of(id);
    const std::uint64_t tag_and_slot = (hash >> 32) << 1 | (hash & 1);
    if (auto [it, inserted] = seen.emplace(tag_and_slot, id); !inserted) {
      stored = it->second;
      other = id;
    }
  }
  const std::vector<Candidate> candidates = candidates_of({stored});
  const CandidateIndex index(candidates);
  EXPECT_EQ(index.find(stored), 0u);
  EXPECT_EQ(index.find(other), std::nullopt) << stored << " and " << other;
}

TEST(CandidateIndex, EveryIdOfAFieldIsFoundAtItsIndex) {
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back("c" + std::to_string(i * 7919));
  const std::vector<Candidate> candidates = candidates_of(ids);
  const CandidateIndex index(candidates);
  for (std::uint32_t i = 0; i < ids.size(); ++i) EXPECT_EQ(index.find(ids[i]), i) << ids[i];
  EXPECT_EQ(index.find("c1"), std::nullopt);
  EXPECT_EQ(index.find(""), std::nullopt);
}

TEST(CandidateIndex, NoCandidatesFindsNothing) {
  const std::vector<Candidate> none;
  const CandidateIndex index(none);
  EXPECT_EQ(index.find("c01"), std::nullopt);
}

}  // namespace
}  // namespace tally::engine::internal
