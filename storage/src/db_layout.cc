// RocksDB layout and read helpers of the vote log. See db_layout.h.
#include "db_layout.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/table.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "rocksdb_logger.h"
#include "wal_page_cache.h"
#include "write_failure.h"

namespace tally::storage {
namespace {

// Deletes obsolete WAL and table files a slice at a time, paced, instead of at once. On ext4
// mounted with `discard`, a deleted file's blocks are trimmed inside the journal commit that
// every WAL sync of a growing log waits for: deleting a 130 MB WAL in one go held acknowledged
// votes for about 20 ms, which was the whole p99 of a steady load. Files wait as `*.trash` in
// the data dir; once the trash outgrows 4x the table files, deletion is immediate again, so
// the disk space held back stays bounded. 4x, because tables are compressed: a 64 MiB WAL
// becomes about 24 MiB of table, and at 1x the first large WAL deletion of a young database
// already fell back to immediate. 128 MiB/s is above the WAL rate of the fastest batch load
// here, so trash does not pile up. Every open (RocksDB's own cleanup) deletes leftover trash,
// through this manager, paced.
std::shared_ptr<rocksdb::SstFileManager> paced_file_deleter(
    const std::shared_ptr<rocksdb::Logger>& logger) {
  constexpr std::int64_t kDeleteBytesPerSecond = 128 << 20;
  constexpr std::uint64_t kDeleteSliceBytes = 2u << 20;  // ftruncate step of a large file
  constexpr double kMaxTrashToTablesRatio = 4.0;
  rocksdb::Status status;
  std::shared_ptr<rocksdb::SstFileManager> manager(rocksdb::NewSstFileManager(
      rocksdb::Env::Default(), logger, /*trash_dir=*/"", kDeleteBytesPerSecond,
      /*delete_existing_trash=*/true, &status, kMaxTrashToTablesRatio, kDeleteSliceBytes));
  // RocksDB 7.8 ignores the trash-dir arguments; the status stays for older versions.
  if (!status.ok()) rocksdb::Warn(logger, "paced file deletion: %s", status.ToString().c_str());
  return manager;
}

// Whether a file in `dir` takes an O_DIRECT write: most disk filesystems do; tmpfs before
// Linux 6.6 refuses the open, and some others accept it and refuse the write.
bool takes_direct_writes(const std::string& dir) {
  const std::string path = dir + "/direct-io-probe.tmp";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  constexpr std::size_t kBlock = 4096;  // a logical block of any disk
  void* raw = std::aligned_alloc(kBlock, kBlock);
  bool written = false;
  if (raw != nullptr) {
    std::memset(raw, 0, kBlock);
    written = ::pwrite(fd, raw, kBlock, 0) == static_cast<ssize_t>(kBlock);
    std::free(raw);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return written;
}

}  // namespace

rocksdb::DBOptions write_db_options(const std::string& data_dir,
                                    std::shared_ptr<rocksdb::Logger> info_log) {
  rocksdb::DBOptions options;
  options.info_log_level = info_log->GetInfoLogLevel();
  options.info_log = std::move(info_log);
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  // Flushes and compactions run beside the writer; the machine is small.
  options.max_background_jobs = 2;
  // Bounds the WAL (and so restart time) when the events family is written much faster
  // than it flushes.
  options.max_total_wal_size = 256u << 20;
  // Flushes and compactions hand their file data to the disk a megabyte at a time instead of
  // in one burst at the end: a burst of tens of megabytes queues ahead of the WAL syncs that
  // acknowledged votes wait for.
  options.bytes_per_sync = 1u << 20;
  // Flushes and compactions write their tables past the page cache: the kernel's copy of
  // every flushed byte into it was 4 % of tallyd's CPU in batches, and nothing reads those
  // pages soon (reads go through RocksDB's block cache). The WAL stays buffered: RocksDB 7.8
  // has no direct WAL writes. Only where the data dir's filesystem takes O_DIRECT.
  options.use_direct_io_for_flush_and_compaction = takes_direct_writes(data_dir);
  options.sst_file_manager = paced_file_deleter(options.info_log);
  // One thread writes (the commit pipeline's); the meta family updates in place.
  options.allow_concurrent_memtable_write = false;
  // The WAL's synced pages go back to the kernel at once (wal_page_cache.h).
  options.env = wal_page_dropping_env();
  // After a failed write the commit writer calls Resume() on its own backoff (write_failure.h).
  return options;
}

namespace {

rocksdb::ColumnFamilyOptions tree_family_options() {
  rocksdb::ColumnFamilyOptions tree;
  // Like events: written once, in key order, about a third of the events' bytes.
  tree.write_buffer_size = 16u << 20;
  return tree;
}

}  // namespace

std::vector<rocksdb::ColumnFamilyDescriptor> column_families() {
  rocksdb::ColumnFamilyOptions events;
  // Records arrive in key order and are never overwritten: large memtables, few flushes.
  events.write_buffer_size = 64u << 20;
  events.max_write_buffer_number = 4;
  rocksdb::ColumnFamilyOptions meta;
  meta.write_buffer_size = 4u << 20;
  // Every commit batch rewrites the chain head and the last seq, values of fixed size: in
  // place, instead of a new memtable entry each time. The newest version of a key sorts first,
  // so each entry was inserted ahead of the last and searched for from the skiplist's top
  // (about a hundred key comparisons per batch in a full memtable), and filled 4 MiB with
  // two live keys between flushes. Needs allow_concurrent_memtable_write off (one writer).
  meta.inplace_update_support = true;
  // Its locks stripe in-place writers; there is one writer. (10,000 by default: 0.5 MiB of
  // mutexes per memtable.)
  meta.inplace_update_num_locks = 1;
  return {
      rocksdb::ColumnFamilyDescriptor(rocksdb::kDefaultColumnFamilyName,
                                      rocksdb::ColumnFamilyOptions()),
      rocksdb::ColumnFamilyDescriptor(kEventsFamily, events),
      rocksdb::ColumnFamilyDescriptor(kMetaFamily, meta),
      rocksdb::ColumnFamilyDescriptor(kTreeFamily, tree_family_options()),
      // Small: a few entries per late flag or decision.
      rocksdb::ColumnFamilyDescriptor(kMarksFamily, rocksdb::ColumnFamilyOptions()),
  };
}

MetaState read_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta_cf) {
  MetaState meta;
  std::string value;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta_cf, kMetaLastSeq, &value);
  if (s.IsNotFound()) return meta;
  if (!s.ok()) {
    meta.status = Status::error("meta.last_seq: " + s.ToString());
    return meta;
  }
  const auto last = parse_seq_key(value);
  if (!last) {
    meta.status = Status::error("meta.last_seq: not 8 bytes");
    return meta;
  }
  meta.last_seq = *last;
  s = db.Get(rocksdb::ReadOptions(), meta_cf, kMetaChainHead, &value);
  if (!s.ok() || value.size() != kChainBytes) {
    meta.status = Status::error("meta.chain_head: missing or not 32 bytes");
    return meta;
  }
  std::memcpy(meta.chain_head.data(), value.data(), kChainBytes);
  s = db.Get(rocksdb::ReadOptions(), meta_cf, kMetaStreamSeq, &value);
  if (s.ok()) {
    const auto stream_seq = parse_seq_key(value);
    if (!stream_seq) {
      meta.status = Status::error("meta.stream_seq: not 8 bytes");
      return meta;
    }
    meta.stream_seq = *stream_seq;
  } else if (!s.IsNotFound()) {
    meta.status = Status::error("meta.stream_seq: " + s.ToString());
  }
  return meta;
}

std::vector<std::string> read_persisted_tallies(rocksdb::DB& db,
                                                rocksdb::ColumnFamilyHandle* meta_cf) {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), meta_cf));
  const rocksdb::Slice prefix(kMetaTallyPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(it->value().ToString());
  }
  return out;
}

std::optional<std::string> find_event_record(rocksdb::DB& db,
                                             rocksdb::ColumnFamilyHandle* events_cf,
                                             std::uint64_t seq) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), events_cf));
  it->SeekForPrev(seq_key(seq));
  if (!it->Valid()) return std::nullopt;
  return it->value().ToString();
}

LogScan::LogScan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events_cf, std::uint64_t from_seq)
    : from_seq_(from_seq) {
  rocksdb::ReadOptions options;
  options.fill_cache = false;  // one pass over everything: keep the cache for lookups
  options.readahead_size = 4u << 20;
  it_.reset(db.NewIterator(options, events_cf));
}

bool LogScan::next() {
  if (first_) {
    first_ = false;
    if (from_seq_ > 1) {
      it_->SeekForPrev(seq_key(from_seq_));
      if (!it_->Valid()) it_->SeekToFirst();
    } else {
      it_->SeekToFirst();
    }
  } else if (it_->Valid()) {
    it_->Next();
  }
  return it_->Valid();
}

std::string_view LogScan::key() const {
  const rocksdb::Slice key = it_->key();
  return {key.data(), key.size()};
}

std::string_view LogScan::value() const {
  const rocksdb::Slice value = it_->value();
  return {value.data(), value.size()};
}

Status LogScan::status() const {
  const rocksdb::Status s = it_->status();
  if (s.ok()) return {};
  return Status::error("events: read: " + s.ToString());
}

ReadOnlyDb::~ReadOnlyDb() {
  if (!db) return;
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  db->Close().PermitUncheckedError();
}

Result<std::unique_ptr<ReadOnlyDb>> open_read_only(const std::string& data_dir) {
  auto out = std::make_unique<ReadOnlyDb>();
  rocksdb::DBOptions options;
  options.info_log = stderr_info_log();
  // Opened next to a running tallyd: read its files, take no lock, write nothing, with one
  // exception RocksDB makes: every open deletes the `*.trash` files it finds. Through the
  // same paced deleter as tallyd's, so that a tallyctl run does not bring back the stall of
  // deleting them at once (tallyd's own deleter then logs that some of them are gone).
  options.sst_file_manager = paced_file_deleter(options.info_log);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  // A running tallyd may retire a WAL between the open listing the directory and reading the
  // file (not found), or finish a flush between the open reading the manifest and the WALs
  // (a table "ahead of WALs": corruption). Both pass on a second look; a real corruption
  // stays and is reported after the last attempt.
  constexpr int kOpenAttempts = 5;
  // A read-only open must name only families that exist: a log from before the public log
  // has no tree.
  std::vector<std::string> existing;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = column_families();
  if (rocksdb::DB::ListColumnFamilies(options, data_dir, &existing).ok()) {
    std::erase_if(families, [&](const rocksdb::ColumnFamilyDescriptor& family) {
      return std::find(existing.begin(), existing.end(), family.name) == existing.end();
    });
  }
  for (int attempt = 1; attempt <= kOpenAttempts; ++attempt) {
    out->handles.clear();
    s = rocksdb::DB::OpenForReadOnly(options, data_dir, families, &out->handles, &raw,
                                     /*error_if_wal_file_exists=*/false);
    if ((!s.IsPathNotFound() && !s.IsCorruption()) || attempt == kOpenAttempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
  }
  if (!s.ok()) return Status::error("open " + data_dir + " read-only: " + s.ToString());
  out->db.reset(raw);
  if (out->handles.size() <= kMetaIndex) {
    return Status::error("open " + data_dir + " read-only: not a tally log (no events or meta)");
  }
  out->events_cf = out->handles[kEventsIndex];
  out->meta_cf = out->handles[kMetaIndex];
  for (std::size_t i = 0; i < families.size(); ++i) {
    if (families[i].name == kTreeFamily) out->tree_cf = out->handles[i];
    if (families[i].name == kMarksFamily) out->marks_cf = out->handles[i];
  }
  return out;
}

}  // namespace tally::storage
