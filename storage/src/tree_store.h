// The public log's Merkle tree in RocksDB (family `tree`, docs/EVENT_FORMAT.md "Where the tree
// lives"). A commit batch record's leaves go in its WriteBatch as entries of at most
// kTreeEntryLeaves leaves, split at multiples of it, each under its first seq: the leaves,
// each followed by the perfect subtrees it completes. Every perfect subtree is thus stored
// once, in the entry of the leaf that completes it, and found with one SeekForPrev: proofs
// read O(log n) small entries and never rehash the log. Private to storage/.
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
// Most leaves in one entry (up to twice as many hashes, 16 KiB): a proof reads O(log n)
// entries for 32 bytes of each, and a record of 8,192 events in one entry made each read half
// a megabyte (docs/BENCHMARKS.md "Public log").
inline constexpr std::uint64_t kTreeEntryLeaves = 256;

// The entries of one record's leaves: keys (first seqs) and bytes. Reusable: build() clears.
class TreeEntries {
 public:
  // Appends `leaves` (of seqs frontier.size() + 1, ...) to `frontier` and encodes their
  // entries.
  void build(publog::Frontier& frontier, std::span<const publog::Hash> leaves);
  std::size_t size() const { return count_; }
  std::uint64_t first_seq(std::size_t i) const { return first_seqs_[i]; }
  std::string_view bytes(std::size_t i) const { return bytes_[i]; }
  // The subtrees of `min_level` and up that these leaves completed (UpperTree's).
  struct Completed {
    publog::NodeId id;
    publog::Hash hash;
  };
  const std::vector<Completed>& upper() const { return upper_; }

 private:
  std::vector<Completed> upper_;
  std::vector<std::uint64_t> first_seqs_;
  std::vector<std::string> bytes_;  // kept across build() calls: their capacity is reused
  std::size_t count_ = 0;
};

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
  // The entry read last stays where the iterator is: its bytes are read in place, not copied.
  mutable std::unique_ptr<rocksdb::Iterator> it_;
  mutable rocksdb::Slice entry_;
  mutable std::uint64_t entry_first_ = 0;  // index of the entry's first leaf
  mutable std::uint64_t entry_leaves_ = 0;
};

}  // namespace tally::storage
