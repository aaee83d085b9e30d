// The RocksDB layout of the vote log (column families, meta keys, options) and the small
// read helpers shared by VoteLog and the auditors' tools. Private to storage/.
//
// Layout: column family `events` maps seq_key(first seq) to one commit batch record
// (docs/EVENT_FORMAT.md); `meta` holds kMetaChainHead (32 bytes) and kMetaLastSeq (8 bytes,
// big-endian), written in the same WriteBatch as the record they describe.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/storage/event_format.h"

namespace tally::storage {

inline constexpr char kEventsFamily[] = "events";
inline constexpr char kMetaFamily[] = "meta";
// The public log's Merkle tree: one entry per commit batch record, under the same key
// (tree_store.h). Absent in a log written before the public log existed.
inline constexpr char kTreeFamily[] = "tree";
inline constexpr std::size_t kEventsIndex = 1;  // in column_families()
inline constexpr std::size_t kMetaIndex = 2;
inline constexpr std::size_t kTreeIndex = 3;
// Vote marks (vote_marks.h): what later flag and decision events say of a vote, under its
// seq_key(). Absent in a log written before adjudication existed.
inline constexpr char kMarksFamily[] = "marks";
inline constexpr std::size_t kMarksIndex = 4;
inline constexpr char kMetaChainHead[] = "chain_head";
inline constexpr char kMetaLastSeq[] = "last_seq";
// In a replica group: the stream seq of the last record (8 bytes, big-endian), written with
// it. Absent in a log that was never replicated.
inline constexpr char kMetaStreamSeq[] = "stream_seq";
// The log keys the public tree was made with: "<log id>:<tag secret check value>" (hex),
// written when the tree is first built or opened with keys. Recovery refuses other keys.
inline constexpr char kMetaPublicLogKeys[] = "public_log_keys";
// kMetaTallyPrefix + campaign id: the campaign's tally (the /tally JSON, with its as_of_seq)
// written at a clean shutdown. Never read by recovery (the log is authoritative); verify
// compares each with the recount at its as_of_seq.
inline constexpr char kMetaTallyPrefix[] = "tally/";
// A key no family ever holds (not 8 bytes, not a meta key, not under kMetaTallyPrefix): its
// deletion is written to each memtable, never to a WAL, to make VoteLog's resume() start a
// new WAL (vote_log.cc).
inline constexpr char kWalSwitchKey[] = "~wal-switch";

// Options of a writing instance for a database in `data_dir`, which must exist, with RocksDB's
// diagnostics going to `info_log` (rocksdb_logger.h) at its level.
rocksdb::DBOptions write_db_options(const std::string& data_dir,
                                    std::shared_ptr<rocksdb::Logger> info_log);
// Reads every persisted tally (kMetaTallyPrefix keys) as raw JSON.
std::vector<std::string> read_persisted_tallies(rocksdb::DB& db,
                                                rocksdb::ColumnFamilyHandle* meta_cf);

// default, events, meta, tree, marks: in that order (kEventsIndex, kMetaIndex, kTreeIndex,
// kMarksIndex).
std::vector<rocksdb::ColumnFamilyDescriptor> column_families();

// What `meta` says about the log's end.
struct MetaState {
  Status status;
  std::uint64_t last_seq = 0;
  ChainHash chain_head = kGenesisChain;
  std::uint64_t stream_seq = 0;  // 0: never replicated
};
MetaState read_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta_cf);

// The record holding `seq` (found with SeekForPrev on its key), or nullopt.
std::optional<std::string> find_event_record(rocksdb::DB& db,
                                             rocksdb::ColumnFamilyHandle* events_cf,
                                             std::uint64_t seq);

// Iterates the records of `events` in seq order (or from a seq on). Not thread-safe.
class LogScan {
 public:
  // Starts at the record holding `from_seq` (or the first record when 0).
  LogScan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events_cf, std::uint64_t from_seq = 0);
  // Advances to the next record; false at the end or on an error (see status()).
  bool next();
  std::string_view key() const;
  std::string_view value() const;
  Status status() const;

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  bool first_ = true;
  std::uint64_t from_seq_;
};

// A database opened for reading only, never harming a tallyd that holds it.
struct ReadOnlyDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* events_cf = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  // Null for a log that no tallyd with the public log has opened yet.
  rocksdb::ColumnFamilyHandle* tree_cf = nullptr;
  // Null for a log that no tallyd with adjudication has opened yet.
  rocksdb::ColumnFamilyHandle* marks_cf = nullptr;
  ~ReadOnlyDb();
};
Result<std::unique_ptr<ReadOnlyDb>> open_read_only(const std::string& data_dir);

}  // namespace tally::storage
