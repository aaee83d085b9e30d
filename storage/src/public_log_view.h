// PublicLogView: the publog::PublicLog port over the vote log's RocksDB (the `tree` family for
// proofs and roots, `events` for receipts' public forms) and the log's signing key. Owned by
// VoteLog, which tells it the committed size: every tree entry up to that size is written
// (and in sync mode synced) before the size is published, so any proof it gives is of events
// in the log. Private to storage/.
//
// Checkpoints are signed when asked for and the last kCheckpointsKept are kept, so that
// /tally, its streams and proofs asked at the same size share one signature: a size is signed
// once while kept, under the mutex (a signature takes tens of microseconds, and sizes change
// once per commit batch).
//
// Thread safety: every member is safe for concurrent use (RocksDB reads; one mutex around the
// kept checkpoints).
#pragma once

#include <rocksdb/db.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "tally/publog/log_keys.h"
#include "tally/publog/public_log.h"
#include "tally/storage/public_log_figures.h"
#include "upper_tree.h"

namespace tally::storage {

class PublicLogView final : public publog::PublicLog {
 public:
  static constexpr std::size_t kCheckpointsKept = 64;

  struct Sources {
    rocksdb::DB* db = nullptr;
    rocksdb::ColumnFamilyHandle* events_cf = nullptr;
    rocksdb::ColumnFamilyHandle* tree_cf = nullptr;
    std::shared_ptr<const publog::LogKeys> keys;
    const publog::TagKeyring* keyring = nullptr;
    const UpperTree* upper_tree = nullptr;  // the tree's upper levels (upper_tree.h)
    std::function<std::uint64_t()> committed_size;
    std::function<std::int64_t()> now_ms;  // server time for checkpoints
  };
  explicit PublicLogView(Sources sources);

  std::uint64_t size() const override { return sources_.committed_size(); }
  publog::LogAnswer<publog::Checkpoint> checkpoint(std::uint64_t size) override;
  publog::LogAnswer<publog::InclusionProof> inclusion(std::uint64_t seq,
                                                      std::uint64_t size) override;
  publog::LogAnswer<publog::ConsistencyProof> consistency(std::uint64_t from,
                                                          std::uint64_t to) override;
  publog::LogAnswer<publog::Receipt> receipt(std::uint64_t seq) override;
  const publog::PublicKey& key() const override { return sources_.keys->signing.public_key(); }

  // Signatures and proofs so far (the tree's own figures are the writer's).
  void add_figures(PublicLogFigures& figures) const;

 private:
  // Counts one proof (or receipt) that took since `start`.
  void count_proof(std::chrono::steady_clock::time_point start);

  Sources sources_;
  std::mutex mutex_;
  std::map<std::uint64_t, publog::Checkpoint> kept_;  // guarded by mutex_; by size
  // Relaxed: statistics, ordered with nothing else.
  std::atomic<std::uint64_t> signed_{0}, sign_ns_{0}, proofs_{0}, proof_ns_{0};
};

}  // namespace tally::storage
