#include "tree_store.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "tally/storage/event_format.h"
#include "upper_tree.h"

namespace tally::storage {

namespace {

constexpr std::size_t kHeaderBytes = 1 + 4;
constexpr std::size_t kH = publog::kHashBytes;

// Σ countr_zero(x) for x = 1 .. n: each x contributes one per trailing zero, and the numbers
// up to n divisible by 2^k number floor(n / 2^k), which sum to n - popcount(n).
std::uint64_t completed_below(std::uint64_t n) {
  return n - static_cast<std::uint64_t>(std::popcount(n));
}

// Hashes an entry holds for its leaves first .. first + count - 1 (indices).
std::uint64_t hashes_of(std::uint64_t first, std::uint64_t count) {
  return count + completed_below(first + count) - completed_below(first);
}

// An entry's leaves: its header's u32, little-endian. REQUIRES: kHeaderBytes of it.
std::uint32_t leaves_in(const rocksdb::Slice& entry) {
  std::uint32_t count = 0;
  for (int i = 0; i < 4; ++i) {
    count |= std::uint32_t{static_cast<std::uint8_t>(entry[1 + i])} << (8 * i);
  }
  return count;
}

}  // namespace

void TreeEntries::build(publog::Frontier& frontier, std::span<const publog::Hash> leaves) {
  thread_local std::vector<publog::Hash> completed;
  count_ = 0;
  upper_.clear();
  std::size_t at = 0;
  while (at < leaves.size()) {
    // Up to the next multiple of kTreeEntryLeaves (leaf indices), or the record's end.
    const std::uint64_t first_index = frontier.size();
    const std::uint64_t room = kTreeEntryLeaves - first_index % kTreeEntryLeaves;
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(room, leaves.size() - at));
    completed.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t before = completed.size();
      frontier.append(leaves[at + i], &completed);
      // Levels kUpperLevel and up of what this leaf completed (hashes[0] is the leaf).
      const std::uint64_t index = first_index + i;
      for (std::uint32_t level = UpperTree::kUpperLevel; before + level < completed.size();
           ++level) {
        upper_.push_back({{level, ((index + 1) >> level) - 1}, completed[before + level]});
      }
    }
    if (bytes_.size() <= count_) bytes_.emplace_back();
    if (first_seqs_.size() <= count_) first_seqs_.emplace_back();
    std::string& entry = bytes_[count_];
    first_seqs_[count_] = first_index + 1;
    entry.clear();
    entry.push_back(static_cast<char>(kTreeEntryVersion));
    const auto count = static_cast<std::uint32_t>(n);
    for (int i = 0; i < 4; ++i) entry.push_back(static_cast<char>((count >> (8 * i)) & 0xFF));
    entry.append(reinterpret_cast<const char*>(completed.data()), completed.size() * kH);
    ++count_;
    at += n;
  }
}

StoredTree::StoredTree(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* tree_cf)
    : db_(db), tree_cf_(tree_cf) {}

Status StoredTree::load_entry(std::uint64_t index) const {
  if (!entry_.empty() && index >= entry_first_ && index < entry_first_ + entry_leaves_) return {};
  entry_.clear();
  if (!it_) it_.reset(db_.NewIterator(rocksdb::ReadOptions(), tree_cf_));
  it_->SeekForPrev(seq_key(index + 1));
  if (!it_->Valid()) {
    if (!it_->status().ok()) return Status::error("tree: read: " + it_->status().ToString());
    return Status::error("tree: no entry holds seq " + std::to_string(index + 1));
  }
  const auto first_seq = parse_seq_key(std::string_view(it_->key().data(), it_->key().size()));
  const rocksdb::Slice value = it_->value();
  if (!first_seq || *first_seq == 0 || value.size() < kHeaderBytes ||
      static_cast<std::uint8_t>(value[0]) != kTreeEntryVersion) {
    return Status::error("tree: the entry before seq " + std::to_string(index + 1) +
                         " is malformed");
  }
  const std::uint32_t count = leaves_in(value);
  const std::uint64_t first = *first_seq - 1;
  if (value.size() != kHeaderBytes + hashes_of(first, count) * kH) {
    return Status::error("tree: the entry of seq " + std::to_string(*first_seq) +
                         " has the wrong length");
  }
  if (index >= first + count) {
    return Status::error("tree: no entry holds seq " + std::to_string(index + 1));
  }
  entry_ = value;
  entry_first_ = first;
  entry_leaves_ = count;
  return {};
}

Result<publog::Hash> StoredTree::node(publog::NodeId id) const {
  // The subtree is completed by its last leaf.
  const std::uint64_t last = ((id.index + 1) << id.level) - 1;
  if (auto s = load_entry(last); !s.ok()) return s;
  const std::uint64_t offset = hashes_of(entry_first_, last - entry_first_) + id.level;
  publog::Hash out;
  std::memcpy(out.data(), entry_.data() + kHeaderBytes + offset * kH, kH);
  return out;
}

Status StoredTree::leaf_and_completed(std::uint64_t index, std::vector<publog::Hash>& out) const {
  out.clear();
  if (auto s = load_entry(index); !s.ok()) return s;
  const std::uint64_t offset = hashes_of(entry_first_, index - entry_first_);
  const auto count = static_cast<std::size_t>(1 + std::countr_zero(index + 1));
  out.resize(count);
  std::memcpy(out.data(), entry_.data() + kHeaderBytes + offset * kH, count * kH);
  return {};
}

Result<std::uint64_t> StoredTree::size() const {
  std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(rocksdb::ReadOptions(), tree_cf_));
  it->SeekToLast();
  if (!it->Valid()) {
    if (!it->status().ok()) return Status::error("tree: read: " + it->status().ToString());
    return std::uint64_t{0};
  }
  const auto first_seq = parse_seq_key(std::string_view(it->key().data(), it->key().size()));
  const rocksdb::Slice value = it->value();
  if (!first_seq || value.size() < kHeaderBytes) return Status::error("tree: last entry malformed");
  const std::uint32_t count = leaves_in(value);
  return *first_seq - 1 + count;
}

Result<publog::Frontier> StoredTree::frontier(std::uint64_t size) const {
  std::vector<publog::Hash> roots;
  for (const publog::NodeId id : publog::perfect_subtrees(size)) {
    auto hash = node(id);
    if (!hash.ok()) return hash.status();
    roots.push_back(*hash);
  }
  return publog::Frontier::from_subtrees(size, roots);
}

}  // namespace tally::storage
