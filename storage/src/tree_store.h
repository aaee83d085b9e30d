// The public log's Merkle tree in RocksDB (family `tree`, docs/EVENT_FORMAT.md "Where the tree
// lives"). One entry per commit batch record, under the record's key (its first seq), written
// in the record's WriteBatch: the leaves of its events, each followed by the perfect subtrees
// it completes. Every perfect subtree is thus stored once, in the entry of the event that
// completes it, and found with one SeekForPrev: proofs read O(log n) entries and never rehash
// the log. Private to storage/.
//
// Entry := version:u8 (1) leaves:u32 little-endian, then for each leaf of index j (seq j + 1):
// leaf hash, then the subtrees of levels 1 .. countr_zero(j + 1) that it completes.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/publog/merkle.h"

namespace tally::storage {

inline constexpr std::uint8_t kTreeEntryVersion = 1;

// Appends `leaves` to `frontier` and returns the tree entry of the record whose first seq is
// frontier.size() + 1, in `entry` (cleared first; reuse it across calls).
void build_tree_entry(publog::Frontier& frontier, std::span<const publog::Hash> leaves,
                      std::string& entry);

// Reads perfect subtrees from the tree family. Not thread-safe (it keeps its iterator and the
// last entry read); make one per reader. The database must outlive it.
class StoredTree final : public publog::NodeSource {
 public:
  StoredTree(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* tree_cf);
  Result<publog::Hash> node(publog::NodeId id) const override;
  // What the entry stores for leaf `index`: the leaf, then the subtrees it completes (1 +
  // countr_zero(index + 1) hashes), into `out` (cleared first). Reading leaves in order costs
  // one seek per entry.
  Status leaf_and_completed(std::uint64_t index, std::vector<publog::Hash>& out) const;
  // Leaves in the tree: the last entry's first seq - 1 + its leaves (0 when empty).
  Result<std::uint64_t> size() const;
  // The frontier of the first `size` leaves.
  Result<publog::Frontier> frontier(std::uint64_t size) const;

 private:
  // Loads the entry holding leaf `index` into entry_ (kept while it holds the next asked).
  Status load_entry(std::uint64_t index) const;

  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* tree_cf_;
  mutable std::unique_ptr<rocksdb::Iterator> it_;
  mutable std::string entry_;
  mutable std::uint64_t entry_first_ = 0;  // index of the entry's first leaf
  mutable std::uint64_t entry_leaves_ = 0;
};

}  // namespace tally::storage
