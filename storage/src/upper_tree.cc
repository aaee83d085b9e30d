#include "upper_tree.h"

namespace tally::storage {

UpperTree::UpperTree() {
  for (std::uint32_t level = kUpperLevel; level <= kMaxLevel; ++level) {
    const std::uint64_t nodes = std::uint64_t{1} << (kMaxLevel - level);
    Level& table = levels_[level];
    table.block_count = static_cast<std::size_t>((nodes + kBlockNodes - 1) / kBlockNodes);
    table.blocks = std::make_unique<std::atomic<Block*>[]>(table.block_count);
    for (std::size_t i = 0; i < table.block_count; ++i) {
      table.blocks[i].store(nullptr, std::memory_order_relaxed);
    }
  }
}

UpperTree::~UpperTree() {
  for (Level& table : levels_) {
    for (std::size_t i = 0; i < table.block_count; ++i) {
      delete table.blocks[i].load(std::memory_order_relaxed);
    }
  }
}

void UpperTree::add(publog::NodeId id, const publog::Hash& hash) {
  if (!holds(id)) return;
  Level& table = levels_[id.level];
  std::atomic<Block*>& slot = table.blocks[id.index / kBlockNodes];
  Block* block = slot.load(std::memory_order_relaxed);  // the writer's own store
  if (block == nullptr) {
    block = new Block();
    // Release: a reader that acquires the pointer sees the block constructed.
    slot.store(block, std::memory_order_release);
    blocks_made_.fetch_add(1, std::memory_order_relaxed);
  }
  (*block)[id.index % kBlockNodes] = hash;
}

const publog::Hash& UpperTree::node(publog::NodeId id) const {
  const Block* block =
      levels_[id.level].blocks[id.index / kBlockNodes].load(std::memory_order_acquire);
  return (*block)[id.index % kBlockNodes];
}

std::size_t UpperTree::bytes() const {
  std::size_t tables = 0;
  for (const Level& table : levels_) tables += table.block_count * sizeof(std::atomic<Block*>);
  return tables + blocks_made_.load(std::memory_order_relaxed) * sizeof(Block);
}

}  // namespace tally::storage
