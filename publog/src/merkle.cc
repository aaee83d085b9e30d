// RFC 9162 §2.1 over stored perfect subtrees. The recursions of the RFC (MTH, PATH, SUBPROOF)
// split a range at the largest power of two below its size, so every range they visit starts
// at a multiple of that power: a range whose size is a power of two is a stored perfect
// subtree, and any other range is its perfect left part and a smaller range to its right.
// Proofs therefore read O(log n) stored nodes and hash only to join right edges.
//
// SHA256_Init/Update/Final rather than EVP (or the one-shot SHA256(), which is EVP_Q_digest
// in OpenSSL 3.0): see storage/src/event_format.cc. EVP fetches the digest and makes a
// context per call, an allocation per node on the writer thread and on every proof.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tally/publog/merkle.h"

#include <openssl/sha.h>

#include <algorithm>
#include <bit>

#include "hex.h"

namespace tally::publog {

namespace {

// The largest power of two strictly below n. REQUIRES: n >= 2.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// MTH of leaves [begin, end), from stored perfect subtrees. REQUIRES: begin < end, and begin a
// multiple of bit_floor(end - begin) (every range of the RFC's recursions is).
Result<Hash> range_root(const NodeSource& source, std::uint64_t begin, std::uint64_t end) {
  const std::uint64_t n = end - begin;
  if (std::has_single_bit(n)) {
    const auto level = static_cast<std::uint32_t>(std::countr_zero(n));
    return source.node({level, begin >> level});
  }
  // The right edge: perfect subtrees for the set bits of n, largest first, joined from the
  // right (the smaller subtree is always the right child).
  std::vector<Hash> parts;
  std::uint64_t at = begin;
  for (int bit = 63; bit >= 0; --bit) {
    const std::uint64_t width = std::uint64_t{1} << bit;
    if ((n & width) == 0) continue;
    auto part = source.node({static_cast<std::uint32_t>(bit), at >> bit});
    if (!part.ok()) return part.status();
    parts.push_back(*part);
    at += width;
  }
  Hash root = parts.back();
  for (std::size_t i = parts.size() - 1; i-- > 0;) root = node_hash(parts[i], root);
  return root;
}

}  // namespace

Hash leaf_hash(std::string_view bytes) {
  static constexpr unsigned char kLeafPrefix = 0x00;
  Hash out;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, &kLeafPrefix, 1);
  SHA256_Update(&ctx, bytes.data(), bytes.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

Hash node_hash(const Hash& left, const Hash& right) {
  static constexpr unsigned char kNodePrefix = 0x01;
  Hash out;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, &kNodePrefix, 1);
  SHA256_Update(&ctx, left.data(), left.size());
  SHA256_Update(&ctx, right.data(), right.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

Hash empty_root() {
  Hash out;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Final(out.data(), &ctx);
  return out;
}

std::string to_hex(const Hash& hash) {
  std::string out;
  out.reserve(2 * kHashBytes);
  internal::append_hex(out, hash.data(), hash.size());
  return out;
}

bool parse_hex(std::string_view text, Hash& out) {
  return internal::parse_hex(text, out.data(), out.size());
}

Hash root_of_leaves(std::span<const Hash> leaves) {
  if (leaves.empty()) return empty_root();
  if (leaves.size() == 1) return leaves[0];
  const std::size_t k = split_point(leaves.size());
  return node_hash(root_of_leaves(leaves.first(k)), root_of_leaves(leaves.subspan(k)));
}

void Frontier::append(const Hash& leaf, std::vector<Hash>* completed) {
  if (completed != nullptr) completed->push_back(leaf);
  roots_.push_back(leaf);
  ++size_;
  // Each trailing zero bit of the new size is a pair of equal subtrees that now join.
  for (std::uint64_t rest = size_; (rest & 1) == 0; rest >>= 1) {
    const Hash right = roots_.back();
    roots_.pop_back();
    roots_.back() = node_hash(roots_.back(), right);
    if (completed != nullptr) completed->push_back(roots_.back());
  }
}

Hash Frontier::root() const {
  if (roots_.empty()) return empty_root();
  Hash root = roots_.back();
  for (std::size_t i = roots_.size() - 1; i-- > 0;) root = node_hash(roots_[i], root);
  return root;
}

Result<Frontier> Frontier::from_subtrees(std::uint64_t size, std::span<const Hash> roots) {
  if (static_cast<std::size_t>(std::popcount(size)) != roots.size()) {
    return Status::error("tree of " + std::to_string(size) +
                         " leaves: " + std::to_string(roots.size()) + " subtree roots given, " +
                         std::to_string(std::popcount(size)) + " expected");
  }
  Frontier frontier;
  frontier.size_ = size;
  frontier.roots_.assign(roots.begin(), roots.end());
  return frontier;
}

std::vector<NodeId> perfect_subtrees(std::uint64_t size) {
  std::vector<NodeId> out;
  std::uint64_t at = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const std::uint64_t width = std::uint64_t{1} << bit;
    if ((size & width) == 0) continue;
    out.push_back({static_cast<std::uint32_t>(bit), at >> bit});
    at += width;
  }
  return out;
}

Result<Hash> root_at(const NodeSource& source, std::uint64_t size) {
  if (size == 0) return empty_root();
  return range_root(source, 0, size);
}

Result<std::vector<Hash>> inclusion_proof(const NodeSource& source, std::uint64_t index,
                                          std::uint64_t size) {
  if (index >= size) {
    return Status::error("leaf " + std::to_string(index) + " is not in a tree of " +
                         std::to_string(size) + " leaves");
  }
  // PATH(m, D[begin:end]) from the top down: each step adds the sibling of the half that
  // holds the leaf; the RFC lists them from the leaf up.
  std::vector<Hash> proof;
  std::uint64_t begin = 0;
  std::uint64_t end = size;
  while (end - begin > 1) {
    const std::uint64_t k = split_point(end - begin);
    const bool in_left = index < begin + k;
    auto sibling =
        in_left ? range_root(source, begin + k, end) : range_root(source, begin, begin + k);
    if (!sibling.ok()) return sibling.status();
    proof.push_back(*sibling);
    if (in_left) {
      end = begin + k;
    } else {
      begin += k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash>> consistency_proof(const NodeSource& source, std::uint64_t old_size,
                                            std::uint64_t new_size) {
  if (old_size == 0 || old_size > new_size) {
    return Status::error("no consistency proof from " + std::to_string(old_size) + " to " +
                         std::to_string(new_size) + " leaves");
  }
  // SUBPROOF(m, D[begin:end], whole) from the top down, as in inclusion_proof().
  std::vector<Hash> proof;
  std::uint64_t begin = 0;
  std::uint64_t end = new_size;
  bool whole = true;  // b of the RFC: the old tree is the whole of D[0:old_size]
  for (;;) {
    const std::uint64_t m = old_size - begin;
    if (m == end - begin) {
      if (!whole) {
        auto root = range_root(source, begin, end);
        if (!root.ok()) return root.status();
        proof.push_back(*root);
      }
      break;
    }
    const std::uint64_t k = split_point(end - begin);
    if (m <= k) {
      auto right = range_root(source, begin + k, end);
      if (!right.ok()) return right.status();
      proof.push_back(*right);
      end = begin + k;
    } else {
      auto left = range_root(source, begin, begin + k);
      if (!left.ok()) return left.status();
      proof.push_back(*left);
      begin += k;
      whole = false;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t size,
                      std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return false;
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, std::span<const Hash> proof) {
  if (old_size == 0 || old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  std::vector<Hash> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace tally::publog
