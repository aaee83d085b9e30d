// The public log's Merkle tree: RFC 6962 / RFC 9162 hashing over the public form of every
// event, in seq order (leaf index = seq - 1). docs/EVENT_FORMAT.md "Public log" is the
// contract; this is its code.
//
// - leaf_hash(), node_hash(): the two hashes of RFC 9162 §2.1.1.
// - Frontier: the tree's right edge (one perfect subtree root per set bit of its size), enough
//   to append a leaf and to give the root. Appending hands out every perfect subtree it
//   completes, which is what storage keeps (storage/src/tree_store.h).
// - NodeSource: where proofs read perfect subtrees from; inclusion_proof(),
//   consistency_proof() and root_at() take O(log n) reads of it and hash nothing but the
//   subtrees they combine.
// - verify_inclusion(), verify_consistency(): RFC 9162 §2.1.3.2 and §2.1.4.2, for auditors
//   and receipts.
//
// Pure values and functions; SHA-256 from OpenSSL's libcrypto. A Frontier belongs to one
// thread at a time; the free functions are safe everywhere.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"

namespace tally::publog {

inline constexpr std::size_t kHashBytes = 32;
using Hash = std::array<std::uint8_t, kHashBytes>;

// SHA-256(0x00 ‖ bytes): a leaf.
Hash leaf_hash(std::string_view bytes);
// SHA-256(0x01 ‖ left ‖ right): an interior node.
Hash node_hash(const Hash& left, const Hash& right);
// SHA-256 of nothing: the root of the empty tree.
Hash empty_root();

std::string to_hex(const Hash& hash);
// 64 lowercase hex digits; false on anything else.
bool parse_hex(std::string_view text, Hash& out);

// A perfect subtree: the 2^level leaves from index << level on. Level 0 is a leaf.
struct NodeId {
  std::uint32_t level = 0;
  std::uint64_t index = 0;
  bool operator==(const NodeId&) const = default;
};

// The root of the leaves given (MTH of RFC 9162), computed from them: for tests and for
// verifiers that hold every leaf.
Hash root_of_leaves(std::span<const Hash> leaves);

class Frontier {
 public:
  std::uint64_t size() const { return size_; }
  // Appends a leaf. `completed` (when not null) gets the hashes of the perfect subtrees this
  // leaf completes, the leaf itself first, then level 1, 2, ... (each completes the next):
  // 1 + (trailing zero bits of the new size) hashes.
  void append(const Hash& leaf, std::vector<Hash>* completed = nullptr);
  // MTH of the leaves so far.
  Hash root() const;
  // A frontier for `size` leaves from the perfect subtrees of its binary form, largest first
  // (perfect_subtrees(size) says which).
  static Result<Frontier> from_subtrees(std::uint64_t size, std::span<const Hash> roots);

 private:
  std::uint64_t size_ = 0;
  // One root per set bit of size_, the largest (the leftmost leaves) first.
  std::vector<Hash> roots_;
};

// The perfect subtrees that make up the first `size` leaves, left to right (largest first).
std::vector<NodeId> perfect_subtrees(std::uint64_t size);

// Where proofs read stored perfect subtrees. Implementations read storage; errors pass through.
class NodeSource {
 public:
  virtual Result<Hash> node(NodeId id) const = 0;

 protected:
  ~NodeSource() = default;
};

// MTH of the first `size` leaves. REQUIRES: size at most the source's tree size.
Result<Hash> root_at(const NodeSource& source, std::uint64_t size);
// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
// REQUIRES: index < size.
Result<std::vector<Hash>> inclusion_proof(const NodeSource& source, std::uint64_t index,
                                          std::uint64_t size);
// The consistency proof between the trees of the first `old_size` and `new_size` leaves
// (RFC 9162 §2.1.4.1). REQUIRES: 0 < old_size <= new_size.
Result<std::vector<Hash>> consistency_proof(const NodeSource& source, std::uint64_t old_size,
                                            std::uint64_t new_size);

// Whether `proof` shows `leaf` at `index` in the tree of `size` leaves whose root is `root`.
bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t size,
                      std::span<const Hash> proof, const Hash& root);
// Whether `proof` shows the tree of `old_size` leaves (root `old_root`) to be a prefix of the
// tree of `new_size` leaves (root `new_root`).
bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, std::span<const Hash> proof);

}  // namespace tally::publog
