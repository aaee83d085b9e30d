// The public tree's upper levels in memory: every perfect subtree of 256 leaves or more (level
// kUpperLevel and up), about one node per 128 leaves (10M events: 2.5 MB). A proof then reads
// from storage only the entries of the 256-leaf blocks its lowest siblings lie in, one or two,
// instead of a seek per level (docs/EVENT_FORMAT.md "Where the tree lives"). Private to
// storage/.
//
// Thread safety: one writer (the log's writing thread: the writer, recovery, a standby's
// apply) adds nodes; any thread reads those of subtrees within a committed size. Nodes go into
// blocks that never move: a block's pointer is stored with release once made, and a node is
// written before the writer publishes the committed size that covers it (the log's last seq,
// release), which a reader acquires before it asks. A reader therefore never sees a block or a
// node half made.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "tally/base/status.h"
#include "tally/publog/merkle.h"

namespace tally::storage {

class UpperTree {
 public:
  // Subtrees of 2^kUpperLevel leaves and up: the leaves of a level-8 subtree are exactly one
  // 256-leaf block of entries (tree_store.h kTreeEntryLeaves).
  static constexpr std::uint32_t kUpperLevel = 8;
  // Trees of up to 2^34 leaves (17 billion events) keep every upper node here; the block
  // tables are sized for that up front (1 MiB of pointers). Beyond it, nodes are read from
  // storage as the lower levels are.
  static constexpr std::uint32_t kMaxLevel = 34;

  UpperTree();
  ~UpperTree();
  UpperTree(const UpperTree&) = delete;
  UpperTree& operator=(const UpperTree&) = delete;

  bool holds(publog::NodeId id) const {
    return id.level >= kUpperLevel && id.level <= kMaxLevel &&
           id.index / kBlockNodes < levels_[id.level].block_count;
  }
  // Writer only. Ignored unless holds(id).
  void add(publog::NodeId id, const publog::Hash& hash);
  // REQUIRES: holds(id), and the subtree within a committed size.
  const publog::Hash& node(publog::NodeId id) const;
  // Bytes held (blocks and their tables).
  std::size_t bytes() const;

 private:
  static constexpr std::size_t kBlockNodes = 1024;
  using Block = std::array<publog::Hash, kBlockNodes>;
  struct Level {
    std::unique_ptr<std::atomic<Block*>[]> blocks;
    std::size_t block_count = 0;
  };
  std::array<Level, kMaxLevel + 1> levels_;
  std::atomic<std::size_t> blocks_made_{0};  // relaxed: a statistic
};

// Proofs' node source: the upper levels from memory, the lower from storage.
class TreeNodes final : public publog::NodeSource {
 public:
  TreeNodes(const publog::NodeSource& stored, const UpperTree& upper)
      : stored_(stored), upper_(upper) {}
  Result<publog::Hash> node(publog::NodeId id) const override {
    if (upper_.holds(id)) return upper_.node(id);
    return stored_.node(id);
  }

 private:
  const publog::NodeSource& stored_;
  const UpperTree& upper_;
};

}  // namespace tally::storage
