// The tree against RFC 6962's reference vectors (the Certificate Transparency test data that
// every implementation checks itself against), and proofs from stored subtrees against the
// RFC's verification algorithms for every leaf and size pair of trees up to 70 leaves.
#include "tally/publog/merkle.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace tally::publog {
namespace {

Hash h(std::string_view hex) {
  Hash out{};
  EXPECT_TRUE(parse_hex(hex, out)) << hex;
  return out;
}

std::string bytes(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// The eight reference leaves of RFC 6962's test data and the roots of their prefixes.
const std::vector<std::string> kLeaves = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string> kRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

// Perfect subtrees as storage keeps them: every one a Frontier hands out on append.
class MemoryTree final : public NodeSource {
 public:
  void append(const Hash& leaf) {
    std::vector<Hash> completed;
    const std::uint64_t index = frontier_.size();
    frontier_.append(leaf, &completed);
    for (std::uint32_t level = 0; level < completed.size(); ++level) {
      nodes_[{level, ((index + 1) >> level) - 1}] = completed[level];
    }
  }
  Result<Hash> node(NodeId id) const override {
    auto it = nodes_.find({id.level, id.index});
    if (it == nodes_.end()) return Status::error("no such node");
    ++reads;
    return it->second;
  }
  const Frontier& frontier() const { return frontier_; }
  mutable std::uint64_t reads = 0;

 private:
  Frontier frontier_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, Hash> nodes_;
};

MemoryTree reference_tree() {
  MemoryTree tree;
  for (const auto& leaf : kLeaves) tree.append(leaf_hash(bytes(leaf)));
  return tree;
}

TEST(Merkle, RootsMatchTheReferenceForEveryPrefix) {
  std::vector<Hash> leaves;
  Frontier frontier;
  EXPECT_EQ(to_hex(frontier.root()), kRoots[0]);
  for (std::size_t n = 1; n <= kLeaves.size(); ++n) {
    leaves.push_back(leaf_hash(bytes(kLeaves[n - 1])));
    frontier.append(leaves.back());
    EXPECT_EQ(to_hex(root_of_leaves(leaves)), kRoots[n]) << n;
    EXPECT_EQ(to_hex(frontier.root()), kRoots[n]) << n;
  }
  const MemoryTree tree = reference_tree();
  for (std::uint64_t n = 0; n <= kLeaves.size(); ++n) {
    EXPECT_EQ(to_hex(*root_at(tree, n)), kRoots[n]) << n;
  }
}

TEST(Merkle, InclusionProofsMatchTheReference) {
  const MemoryTree tree = reference_tree();
  struct Case {
    std::uint64_t index, size;
    std::vector<std::string> path;
  };
  const Case cases[] = {
      {0,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1,
       5,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (const Case& c : cases) {
    auto proof = inclusion_proof(tree, c.index, c.size);
    ASSERT_TRUE(proof.ok()) << proof.message();
    std::vector<std::string> got;
    for (const Hash& p : *proof) got.push_back(to_hex(p));
    EXPECT_EQ(got, c.path) << c.index << " in " << c.size;
    const Hash leaf = leaf_hash(bytes(kLeaves[c.index]));
    EXPECT_TRUE(verify_inclusion(leaf, c.index, c.size, *proof, h(kRoots[c.size])));
  }
}

TEST(Merkle, ConsistencyProofsMatchTheReference) {
  const MemoryTree tree = reference_tree();
  struct Case {
    std::uint64_t old_size, new_size;
    std::vector<std::string> path;
  };
  const Case cases[] = {
      {1, 1, {}},
      {1,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (const Case& c : cases) {
    auto proof = consistency_proof(tree, c.old_size, c.new_size);
    ASSERT_TRUE(proof.ok()) << proof.message();
    std::vector<std::string> got;
    for (const Hash& p : *proof) got.push_back(to_hex(p));
    EXPECT_EQ(got, c.path) << c.old_size << " to " << c.new_size;
    EXPECT_TRUE(verify_consistency(c.old_size, c.new_size, h(kRoots[c.old_size]),
                                   h(kRoots[c.new_size]), *proof));
  }
}

TEST(Merkle, EveryProofOfEveryShapeVerifiesAndNoAlteredOneDoes) {
  constexpr std::uint64_t kLeavesMax = 70;
  MemoryTree tree;
  std::vector<Hash> leaves;
  for (std::uint64_t i = 0; i < kLeavesMax; ++i) {
    leaves.push_back(leaf_hash("event " + std::to_string(i)));
    tree.append(leaves.back());
  }
  std::vector<Hash> roots{empty_root()};
  for (std::uint64_t n = 1; n <= kLeavesMax; ++n) {
    roots.push_back(root_of_leaves(std::span(leaves).first(n)));
  }
  for (std::uint64_t size = 1; size <= kLeavesMax; ++size) {
    ASSERT_EQ(*root_at(tree, size), roots[size]) << size;
    for (std::uint64_t index = 0; index < size; ++index) {
      auto proof = inclusion_proof(tree, index, size);
      ASSERT_TRUE(proof.ok());
      ASSERT_TRUE(verify_inclusion(leaves[index], index, size, *proof, roots[size]))
          << index << " in " << size;
      // Another leaf or another index: refused.
      if (size > 1) {
        EXPECT_FALSE(
            verify_inclusion(leaves[(index + 1) % size], index, size, *proof, roots[size]));
        EXPECT_FALSE(
            verify_inclusion(leaves[index], (index + 1) % size, size, *proof, roots[size]));
      }
      if (!proof->empty()) {
        auto altered = *proof;
        altered.back()[0] ^= 1;
        EXPECT_FALSE(verify_inclusion(leaves[index], index, size, altered, roots[size]));
      }
    }
    for (std::uint64_t old_size = 1; old_size <= size; ++old_size) {
      auto proof = consistency_proof(tree, old_size, size);
      ASSERT_TRUE(proof.ok());
      ASSERT_TRUE(verify_consistency(old_size, size, roots[old_size], roots[size], *proof))
          << old_size << " to " << size;
      if (old_size < size) {
        if (old_size > 1) {  // the root of another size: refused
          EXPECT_FALSE(
              verify_consistency(old_size, size, roots[old_size - 1], roots[size], *proof));
        }
        auto altered = *proof;
        altered.front()[31] ^= 1;
        EXPECT_FALSE(verify_consistency(old_size, size, roots[old_size], roots[size], altered));
      }
    }
  }
}

TEST(Merkle, ProofsReadLogarithmicallyManyStoredNodes) {
  MemoryTree tree;
  constexpr std::uint64_t kSize = (1u << 12) + 1234;
  for (std::uint64_t i = 0; i < kSize; ++i) tree.append(leaf_hash(std::to_string(i)));
  for (const std::uint64_t index : {std::uint64_t{0}, std::uint64_t{777}, kSize - 1}) {
    tree.reads = 0;
    ASSERT_TRUE(inclusion_proof(tree, index, kSize).ok());
    // A path of about log2(n) siblings, one of which may join up to log2(n) right-edge parts.
    EXPECT_LE(tree.reads, 2u * 13u) << index;
  }
  tree.reads = 0;
  ASSERT_TRUE(consistency_proof(tree, 1000, kSize).ok());
  EXPECT_LE(tree.reads, 2u * 13u);
}

TEST(Merkle, FrontierRebuiltFromItsSubtreesGoesOnAsTheOriginal) {
  MemoryTree tree;
  for (int i = 0; i < 45; ++i) tree.append(leaf_hash(std::to_string(i)));
  std::vector<Hash> roots;
  for (const NodeId id : perfect_subtrees(45)) roots.push_back(*tree.node(id));
  auto rebuilt = Frontier::from_subtrees(45, roots);
  ASSERT_TRUE(rebuilt.ok());
  Frontier original = tree.frontier();
  EXPECT_EQ(rebuilt->root(), original.root());
  rebuilt->append(leaf_hash("next"));
  original.append(leaf_hash("next"));
  EXPECT_EQ(rebuilt->root(), original.root());
  EXPECT_FALSE(Frontier::from_subtrees(45, std::span(roots).first(2)).ok());
}

TEST(Merkle, RefusesProofsOutsideTheTree) {
  const MemoryTree tree = reference_tree();
  EXPECT_FALSE(inclusion_proof(tree, 8, 8).ok());
  EXPECT_FALSE(consistency_proof(tree, 0, 8).ok());
  EXPECT_FALSE(consistency_proof(tree, 5, 4).ok());
  EXPECT_FALSE(inclusion_proof(tree, 3, 9).ok());  // size beyond what is stored
  EXPECT_FALSE(verify_inclusion(leaf_hash(""), 8, 8, {}, h(kRoots[8])));
}

}  // namespace
}  // namespace tally::publog
