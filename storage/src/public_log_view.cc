#include "public_log_view.h"

#include <chrono>
#include <vector>

#include "db_layout.h"
#include "public_form.h"
#include "tree_store.h"

namespace tally::storage {

namespace {

using publog::LogAnswer;
using publog::LogError;

std::string beyond(std::string_view what, std::uint64_t value, std::uint64_t size) {
  return std::string(what) + ": " + std::to_string(value) + " is beyond the log's " +
         std::to_string(size) + " events";
}

std::uint64_t ns_since(std::chrono::steady_clock::time_point start) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
}

}  // namespace

PublicLogView::PublicLogView(Sources sources) : sources_(std::move(sources)) {}

void PublicLogView::count_proof(std::chrono::steady_clock::time_point start) {
  proofs_.fetch_add(1, std::memory_order_relaxed);
  proof_ns_.fetch_add(ns_since(start), std::memory_order_relaxed);
}

LogAnswer<publog::Checkpoint> PublicLogView::checkpoint(std::uint64_t size) {
  const std::uint64_t current = sources_.committed_size();
  if (size == 0) size = current;
  if (size > current) {
    return LogAnswer<publog::Checkpoint>::fail(LogError::not_found, beyond("size", size, current));
  }
  std::lock_guard lock(mutex_);
  if (auto it = kept_.find(size); it != kept_.end()) return {it->second};
  const StoredTree stored(*sources_.db, sources_.tree_cf);
  const TreeNodes tree(stored, *sources_.upper_tree);
  auto root = publog::root_at(tree, size);
  if (!root.ok()) return LogAnswer<publog::Checkpoint>::fail(LogError::unavailable, root.message());
  const auto start = std::chrono::steady_clock::now();
  auto signed_checkpoint = sources_.keys->signing.sign(size, *root, sources_.now_ms());
  if (!signed_checkpoint.ok()) {
    return LogAnswer<publog::Checkpoint>::fail(LogError::unavailable, signed_checkpoint.message());
  }
  signed_.fetch_add(1, std::memory_order_relaxed);
  sign_ns_.fetch_add(ns_since(start), std::memory_order_relaxed);
  kept_.emplace(size, *signed_checkpoint);
  // The smallest size goes: the oldest, unless an old size was just asked for (then itself).
  if (kept_.size() > kCheckpointsKept) kept_.erase(kept_.begin());
  return {std::move(*signed_checkpoint)};
}

LogAnswer<publog::InclusionProof> PublicLogView::inclusion(std::uint64_t seq, std::uint64_t size) {
  using Answer = LogAnswer<publog::InclusionProof>;
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t current = sources_.committed_size();
  if (seq == 0) return Answer::fail(LogError::bad_request, "seq: must be 1 or more");
  if (size == 0) size = current;
  if (size > current) return Answer::fail(LogError::not_found, beyond("size", size, current));
  if (seq > current) return Answer::fail(LogError::not_found, beyond("seq", seq, current));
  if (seq > size) {
    return Answer::fail(
        LogError::bad_request,
        "seq: " + std::to_string(seq) + " is not in a tree of size " + std::to_string(size));
  }
  const StoredTree stored(*sources_.db, sources_.tree_cf);
  const TreeNodes tree(stored, *sources_.upper_tree);
  publog::InclusionProof proof;
  proof.seq = seq;
  proof.size = size;
  auto leaf = tree.node({0, seq - 1});
  if (!leaf.ok()) return Answer::fail(LogError::unavailable, leaf.message());
  proof.leaf = *leaf;
  auto hashes = publog::inclusion_proof(tree, seq - 1, size);
  if (!hashes.ok()) return Answer::fail(LogError::unavailable, hashes.message());
  proof.hashes = std::move(*hashes);
  count_proof(start);
  return {std::move(proof)};
}

LogAnswer<publog::ConsistencyProof> PublicLogView::consistency(std::uint64_t from,
                                                               std::uint64_t to) {
  using Answer = LogAnswer<publog::ConsistencyProof>;
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t current = sources_.committed_size();
  if (from == 0) return Answer::fail(LogError::bad_request, "from: must be 1 or more");
  if (to == 0) return Answer::fail(LogError::bad_request, "to: must be 1 or more");
  if (from > to) {
    return Answer::fail(LogError::bad_request,
                        "from: " + std::to_string(from) + " is above to " + std::to_string(to));
  }
  if (to > current) return Answer::fail(LogError::not_found, beyond("to", to, current));
  const StoredTree stored(*sources_.db, sources_.tree_cf);
  const TreeNodes tree(stored, *sources_.upper_tree);
  auto hashes = publog::consistency_proof(tree, from, to);
  if (!hashes.ok()) return Answer::fail(LogError::unavailable, hashes.message());
  count_proof(start);
  return {publog::ConsistencyProof{from, to, std::move(*hashes)}};
}

LogAnswer<publog::Receipt> PublicLogView::receipt(std::uint64_t seq) {
  using Answer = LogAnswer<publog::Receipt>;
  const auto start = std::chrono::steady_clock::now();
  auto checkpoint = this->checkpoint(0);
  if (!checkpoint.ok()) return Answer::fail(checkpoint.error, checkpoint.reason);
  if (seq == 0) return Answer::fail(LogError::bad_request, "seq: must be 1 or more");
  if (seq > checkpoint.value.size) {
    return Answer::fail(LogError::not_found, beyond("seq", seq, checkpoint.value.size));
  }
  auto record = find_event_record(*sources_.db, sources_.events_cf, seq);
  if (!record)
    return Answer::fail(LogError::unavailable, "seq " + std::to_string(seq) + ": not stored");
  StoredEvent event;
  if (auto s = decode_event(*record, seq, event); !s.ok()) {
    return Answer::fail(LogError::unavailable, s.message());
  }
  publog::Receipt receipt;
  receipt.seq = seq;
  receipt.leaf = public_leaf(event, *sources_.keyring, receipt.event);
  if (receipt.event.empty()) {
    return Answer::fail(LogError::unavailable, "seq " + std::to_string(seq) + ": not stored");
  }
  const StoredTree stored(*sources_.db, sources_.tree_cf);
  const TreeNodes tree(stored, *sources_.upper_tree);
  // The event's public form must be the leaf the tree holds: a receipt that could not verify
  // is not handed out (tallyctl verify finds what differs).
  auto stored_leaf = stored.node({0, seq - 1});
  if (!stored_leaf.ok() || *stored_leaf != receipt.leaf) {
    return Answer::fail(LogError::unavailable, "seq " + std::to_string(seq) +
                                                   ": the public tree disagrees with the event");
  }
  auto proof = publog::inclusion_proof(tree, seq - 1, checkpoint.value.size);
  if (!proof.ok()) return Answer::fail(LogError::unavailable, proof.message());
  receipt.proof = std::move(*proof);
  receipt.checkpoint = std::move(checkpoint.value);
  count_proof(start);
  return {std::move(receipt)};
}

void PublicLogView::add_figures(PublicLogFigures& figures) const {
  figures.checkpoints_signed = signed_.load(std::memory_order_relaxed);
  figures.sign_ns = sign_ns_.load(std::memory_order_relaxed);
  figures.proofs_served = proofs_.load(std::memory_order_relaxed);
  figures.proof_ns = proof_ns_.load(std::memory_order_relaxed);
}

}  // namespace tally::storage
