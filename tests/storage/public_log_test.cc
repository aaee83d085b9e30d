// The public tree kept beside the vote log (docs/EVENT_FORMAT.md "Public log"): each vote's
// answer carries the leaf of its public form; checkpoints, inclusion and consistency proofs
// and receipts verify against it; recovery reopens it, builds it for a log written before it,
// and a standby applying the primary's records builds the same tree. A real RocksDB on disk.
#include "tally/publog/public_log.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tally/publog/log_keys.h"
#include "tally/publog/merkle.h"
#include "tally/publog/public_event.h"
#include "tally/storage/audit.h"
#include "tally/storage/public_audit.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"

namespace tally::testing {
namespace {

using publog::Hash;

std::shared_ptr<const publog::LogKeys> make_keys() {
  auto signing = publog::SigningKey::generate();
  EXPECT_TRUE(signing.ok());
  return std::make_shared<const publog::LogKeys>(
      publog::LogKeys{std::move(*signing), publog::TagSecret::generate()});
}

std::unique_ptr<storage::VoteLog> open_log(const std::string& dir, engine::Engine& engine,
                                           std::shared_ptr<const publog::LogKeys> keys,
                                           bool start = true) {
  storage::StorageOptions options;
  options.data_dir = dir;
  options.log_keys = std::move(keys);
  auto opened = storage::VoteLog::open(options);
  EXPECT_TRUE(opened.ok()) << opened.message();
  if (!opened.ok()) return nullptr;
  auto log = std::move(opened).value();
  auto recovered = log->recover(engine);
  EXPECT_TRUE(recovered.ok()) << recovered.message();
  if (start) log->start(engine);
  return log;
}

engine::Ballot ballot_of(int i, std::string& voter) {
  voter = "openid-" + std::to_string(i);
  engine::Ballot b;
  b.campaign = "ordos";
  b.candidate = i % 3 == 0 ? "c01" : "c02";
  b.voter = voter;
  if (i % 2 == 0) b.device = "device-1";
  b.ip = "10.1.2.3";
  if (i % 5 != 0) b.ua = "Mozilla/5.0 (Linux; Android 13) MicroMessenger/8.0.34.2340";
  return b;
}

// Commits the campaign, then `votes` ballots, in batches of 1..8 submitted together.
// Returns every leaf in seq order as the answers gave them (the campaign's from its receipt).
std::vector<Hash> write_votes(storage::VoteLog& log, engine::Engine& engine, int first, int votes,
                              bool with_campaign) {
  std::vector<Hash> leaves;
  if (with_campaign) {
    OutcomeWaiter waiter;
    EXPECT_EQ(log.submit_campaign(make_campaign(), waiter), engine::SubmitResult::queued);
    waiter.wait();
    if (auto* public_log = log.public_log()) {
      leaves.push_back(public_log->receipt(waiter.heard.seq).value.leaf);
    }
  }
  std::mt19937 random(7);
  for (int i = first; i < first + votes;) {
    const int batch = std::min<int>(first + votes - i, 1 + static_cast<int>(random() % 8));
    std::vector<std::unique_ptr<OutcomeWaiter>> waiters;
    std::vector<engine::VoteToCommit> queued;
    std::string payloads;
    for (int k = 0; k < batch; ++k, ++i) {
      std::string voter;
      const engine::Ballot ballot = ballot_of(i, voter);
      auto decision = engine.decide(ballot);
      EXPECT_EQ(decision.status, engine::VoteStatus::accepted);
      const std::size_t begin = payloads.size();
      log.append_vote_payload(ballot, decision.claim, decision.flags, payloads);
      waiters.push_back(std::make_unique<OutcomeWaiter>());
      queued.push_back({begin, payloads.size(), std::move(decision.claim), decision.flags,
                        waiters.back().get()});
    }
    engine::SubmitResult refusal{};
    EXPECT_EQ(log.submit_votes(queued, payloads, refusal), queued.size());
    for (auto& waiter : waiters) {
      const auto& outcome = waiter->wait();
      EXPECT_EQ(outcome.status, engine::VoteStatus::accepted);
      EXPECT_EQ(outcome.has_leaf, log.public_log() != nullptr);
      leaves.push_back(outcome.leaf);
    }
  }
  return leaves;
}

class PublicLogTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ManualClock clock_{kNoon};
  std::shared_ptr<const publog::LogKeys> keys_ = make_keys();
};

TEST_F(PublicLogTest, AnswersCarryTheLeavesOfTheTreeAndEveryProofVerifies) {
  engine::Engine engine(clock_);
  auto log = open_log(dir_.path(), engine, keys_);
  const std::vector<Hash> leaves = write_votes(*log, engine, 0, 150, true);
  publog::PublicLog& public_log = *log->public_log();
  ASSERT_EQ(public_log.size(), 151u);

  // The leaf of a vote is the hash of its public form, computed here from the ballot.
  const publog::TagKey key = keys_->tags.campaign_key("ordos");
  std::string voter, form;
  publog::append_public_vote(form, key, ballot_of(4, voter), kNoon, local_day(kNoon, 8 * 3600), 0);
  EXPECT_EQ(leaves[5], publog::leaf_hash(form)) << form;

  auto checkpoint = public_log.checkpoint(0);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.reason;
  EXPECT_EQ(checkpoint.value.size, 151u);
  EXPECT_EQ(checkpoint.value.root, publog::root_of_leaves(leaves));
  EXPECT_TRUE(keys_->signing.public_key().verifies(checkpoint.value));
  // Asked again for the same size: the same checkpoint.
  EXPECT_EQ(public_log.checkpoint(151).value, checkpoint.value);

  for (std::uint64_t seq = 1; seq <= 151; ++seq) {
    const std::uint64_t size = seq + (seq * 7) % (152 - seq);
    auto proof = public_log.inclusion(seq, size);
    ASSERT_TRUE(proof.ok()) << proof.reason;
    EXPECT_EQ(proof.value.leaf, leaves[seq - 1]);
    const Hash root = publog::root_of_leaves(std::span(leaves).first(size));
    EXPECT_TRUE(publog::verify_inclusion(leaves[seq - 1], seq - 1, size, proof.value.hashes, root))
        << seq << " in " << size;
    auto consistency = public_log.consistency(seq, size);
    ASSERT_TRUE(consistency.ok()) << consistency.reason;
    EXPECT_TRUE(publog::verify_consistency(seq, size,
                                           publog::root_of_leaves(std::span(leaves).first(seq)),
                                           root, consistency.value.hashes));
  }
  auto receipt = public_log.receipt(77);
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ(publog::check_receipt(receipt.value, public_log.key()), "");
  auto parsed = publog::parse_receipt(publog::receipt_json(receipt.value));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(publog::check_receipt(*parsed, public_log.key()), "");
  parsed->event.replace(parsed->event.find("c0"), 3, "c03");
  EXPECT_EQ(publog::check_receipt(*parsed, public_log.key()),
            "leaf: not the hash of the event (the event or the leaf was changed)");
}

// Past 256 leaves the proofs' upper siblings come from memory (upper_tree.h), which a
// restart rebuilds from the stored 256-leaf subtrees: every proof verifies before and after.
TEST_F(PublicLogTest, ProofsThroughTheUpperLevelsVerifyBeforeAndAfterARestart) {
  std::vector<Hash> leaves;
  const auto check_proofs = [&](publog::PublicLog& public_log) {
    const std::uint64_t size = leaves.size();
    for (std::uint64_t seq = 1; seq <= size; seq += 37) {
      for (const std::uint64_t tree_size : {size, seq + (size - seq) / 2, std::uint64_t{600}}) {
        if (tree_size < seq) continue;
        const Hash root = publog::root_of_leaves(std::span(leaves).first(tree_size));
        auto proof = public_log.inclusion(seq, tree_size);
        ASSERT_TRUE(proof.ok()) << proof.reason;
        EXPECT_TRUE(
            publog::verify_inclusion(leaves[seq - 1], seq - 1, tree_size, proof.value.hashes, root))
            << seq << " in " << tree_size;
        auto consistency = public_log.consistency(seq, tree_size);
        ASSERT_TRUE(consistency.ok()) << consistency.reason;
        EXPECT_TRUE(publog::verify_consistency(seq, tree_size,
                                               publog::root_of_leaves(std::span(leaves).first(seq)),
                                               root, consistency.value.hashes))
            << seq << " to " << tree_size;
      }
    }
    EXPECT_EQ(public_log.checkpoint(0).value.root, publog::root_of_leaves(leaves));
  };
  {
    engine::Engine engine(clock_);
    auto log = open_log(dir_.path(), engine, keys_);
    leaves = write_votes(*log, engine, 0, 1100, true);
    ASSERT_EQ(leaves.size(), 1101u);
    check_proofs(*log->public_log());
  }
  engine::Engine engine(clock_);
  auto log = open_log(dir_.path(), engine, keys_);
  check_proofs(*log->public_log());
  const auto more = write_votes(*log, engine, 1100, 300, false);
  leaves.insert(leaves.end(), more.begin(), more.end());
  check_proofs(*log->public_log());
}

TEST_F(PublicLogTest, QuestionsOutsideTheLogAreRefusedWithAReason) {
  engine::Engine engine(clock_);
  auto log = open_log(dir_.path(), engine, keys_);
  write_votes(*log, engine, 0, 3, true);
  publog::PublicLog& public_log = *log->public_log();
  using publog::LogError;
  EXPECT_EQ(public_log.inclusion(0, 0).error, LogError::bad_request);
  EXPECT_EQ(public_log.inclusion(5, 0).error, LogError::not_found);
  EXPECT_EQ(public_log.inclusion(5, 0).reason, "seq: 5 is beyond the log's 4 events");
  EXPECT_EQ(public_log.inclusion(1, 9).reason, "size: 9 is beyond the log's 4 events");
  EXPECT_EQ(public_log.inclusion(3, 2).error, LogError::bad_request);
  EXPECT_EQ(public_log.consistency(3, 2).reason, "from: 3 is above to 2");
  EXPECT_EQ(public_log.consistency(0, 2).error, LogError::bad_request);
  EXPECT_EQ(public_log.consistency(1, 5).error, LogError::not_found);
  EXPECT_EQ(public_log.checkpoint(5).error, LogError::not_found);
  EXPECT_EQ(public_log.receipt(5).error, LogError::not_found);
  EXPECT_EQ(public_log.receipt(0).error, LogError::bad_request);
}

TEST_F(PublicLogTest, RecoveryReopensTheTreeAndItGoesOn) {
  std::vector<Hash> leaves;
  Hash root_before{};
  {
    engine::Engine engine(clock_);
    auto log = open_log(dir_.path(), engine, keys_);
    leaves = write_votes(*log, engine, 0, 40, true);
    root_before = log->public_log()->checkpoint(0).value.root;
    log->stop();
  }
  engine::Engine engine(clock_);
  auto log = open_log(dir_.path(), engine, keys_);
  EXPECT_EQ(log->public_log()->checkpoint(41).value.root, root_before);
  const auto more = write_votes(*log, engine, 40, 25, false);
  leaves.insert(leaves.end(), more.begin(), more.end());
  EXPECT_EQ(log->public_log()->checkpoint(0).value.root, publog::root_of_leaves(leaves));
}

TEST_F(PublicLogTest, RecoveryBuildsTheTreeOfALogWrittenWithoutIt) {
  TempDir with_tree;
  Hash expected{};
  {
    engine::Engine engine(clock_);
    auto log = open_log(with_tree.path(), engine, keys_);
    write_votes(*log, engine, 0, 60, true);
    expected = log->public_log()->checkpoint(0).value.root;
  }
  {
    engine::Engine engine(clock_);
    auto log = open_log(dir_.path(), engine, nullptr);  // a build before the public log
    write_votes(*log, engine, 0, 60, true);
    EXPECT_EQ(log->public_log(), nullptr);
  }
  engine::Engine engine(clock_);
  auto log = open_log(dir_.path(), engine, keys_);
  auto checkpoint = log->public_log()->checkpoint(0);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.reason;
  EXPECT_EQ(checkpoint.value.size, 61u);
  EXPECT_EQ(checkpoint.value.root, expected);
  auto proof = log->public_log()->inclusion(17, 0);
  ASSERT_TRUE(proof.ok()) << proof.reason;
  EXPECT_TRUE(publog::verify_inclusion(proof.value.leaf, 16, 61, proof.value.hashes, expected));
}

TEST_F(PublicLogTest, RecoveryRefusesKeysOtherThanTheTreesOwn) {
  {
    engine::Engine engine(clock_);
    auto log = open_log(dir_.path(), engine, keys_);
    write_votes(*log, engine, 0, 5, true);
  }
  EXPECT_EQ(storage::recorded_log_id(dir_.path()), keys_->signing.public_key().log_id());
  const auto other_keys = make_keys();
  storage::StorageOptions options;
  options.data_dir = dir_.path();
  options.log_keys = other_keys;
  auto opened = storage::VoteLog::open(options);
  ASSERT_TRUE(opened.ok());
  engine::Engine engine(clock_);
  const Status recovered = (*opened)->recover(engine);
  ASSERT_FALSE(recovered.ok());
  EXPECT_NE(recovered.message().find("log keys: this log's public tree was made with the keys "
                                     "of log id " +
                                     keys_->signing.public_key().log_id()),
            std::string::npos)
      << recovered.message();
}

TEST_F(PublicLogTest, AStandbyApplyingThePrimarysRecordsBuildsTheSameTree) {
  Hash primary_root{};
  {
    engine::Engine engine(clock_);
    auto log = open_log(dir_.path(), engine, keys_);
    write_votes(*log, engine, 0, 90, true);
    primary_root = log->public_log()->checkpoint(0).value.root;
  }
  std::vector<std::string> records;
  ASSERT_TRUE(storage::for_each_record(dir_.path(), [&](std::uint64_t, std::string_view record) {
                records.emplace_back(record);
                return true;
              }).ok());
  TempDir standby_dir;
  engine::Engine engine(clock_);
  auto standby = open_log(standby_dir.path(), engine, keys_, /*start=*/false);
  std::uint64_t stream_seq = 0;
  for (const std::string& record : records) {
    auto applied = standby->apply_record(record, ++stream_seq, engine);
    ASSERT_TRUE(applied.ok()) << applied.message();
  }
  EXPECT_EQ(standby->public_log()->checkpoint(0).value.root, primary_root);
}

}  // namespace
}  // namespace tally::testing
