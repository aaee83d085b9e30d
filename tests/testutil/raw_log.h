// A closed log's RocksDB opened directly, as someone holding its files could: the tests that
// tamper with a log (tallyctl verify must name what was changed) share it.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tally/storage/event_format.h"

namespace tally::testing {

using storage::BatchEncoder;
using storage::ChainHash;
using storage::ChainHasher;
using storage::encode_vote_payload;
using storage::EventKind;
using storage::parse_seq_key;
using storage::seq_key;
using storage::VoteFields;

// Direct access to a closed log's records, as an attacker with the files would have: read,
// change, remove and append records (with their chain recomputed) and meta.
class RawLog {
 public:
  explicit RawLog(const std::string& dir) {
    // Every family the log has (RocksDB opens all or none); events and meta come first.
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"events", {}}, {"meta", {}}};
    for (const std::string& name : names) {
      if (name != rocksdb::kDefaultColumnFamilyName && name != "events" && name != "meta") {
        families.push_back({name, {}});
      }
    }
    rocksdb::DB* raw = nullptr;
    const auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, families, &handles_, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(raw);
  }
  ~RawLog() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  std::string get(std::uint64_t seq) {
    std::string value;
    EXPECT_TRUE(db_->Get({}, handles_[1], seq_key(seq), &value).ok());
    return value;
  }
  void put(std::uint64_t seq, const std::string& value) {
    EXPECT_TRUE(db_->Put({}, handles_[1], seq_key(seq), value).ok());
  }
  std::string get_meta(const std::string& key) {
    std::string value;
    EXPECT_TRUE(db_->Get({}, handles_[2], key, &value).ok()) << key;
    return value;
  }
  void put_meta(const std::string& key, const std::string& value) {
    EXPECT_TRUE(db_->Put({}, handles_[2], key, value).ok());
  }
  void remove(std::uint64_t seq) { EXPECT_TRUE(db_->Delete({}, handles_[1], seq_key(seq)).ok()); }
  // The public tree's entry of the record at `seq` (tree_store.h).
  std::string get_tree(std::uint64_t seq) {
    std::string value;
    EXPECT_TRUE(db_->Get({}, handles_.at(3), seq_key(seq), &value).ok());
    return value;
  }
  void put_tree(std::uint64_t seq, const std::string& value) {
    EXPECT_TRUE(db_->Put({}, handles_.at(3), seq_key(seq), value).ok());
  }
  ChainHash chain_head() {
    std::string value;
    EXPECT_TRUE(db_->Get({}, handles_[2], "chain_head", &value).ok());
    ChainHash chain{};
    std::memcpy(chain.data(), value.data(), std::min(value.size(), chain.size()));
    return chain;
  }
  // Appends one event with its chain and meta recomputed, so that only the rules can catch
  // it; returns its seq (the one after meta's last seq).
  std::uint64_t append(EventKind kind, const std::string& payload) {
    const std::uint64_t seq = parse_seq_key(get_meta("last_seq")).value_or(0) + 1;
    ChainHasher hasher;
    BatchEncoder encoder;
    encoder.begin(1);
    const ChainHash chain = encoder.add(hasher, chain_head(), kind, seq, payload);
    put(seq, std::string(encoder.record()));
    put_meta("chain_head", std::string(reinterpret_cast<const char*>(chain.data()), chain.size()));
    put_meta("last_seq", seq_key(seq));
    return seq;
  }
  // A forged vote appended as seq `seq`, which must be the log's next.
  void append_forged_vote(std::uint64_t seq, const VoteFields& vote) {
    std::string payload;
    encode_vote_payload(vote, payload);
    EXPECT_EQ(append(EventKind::vote, payload), seq);
  }

 private:
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace tally::testing
