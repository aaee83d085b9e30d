// The vote log's RocksDB options on a real database: obsolete files are deleted paced, through
// `*.trash` (docs/STORAGE.md), not in one unlink that would hold the WAL syncs of that moment.
#include "db_layout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "log_world.h"
#include "rocksdb_logger.h"

namespace tally::storage {
namespace {

bool has_trash(const std::string& dir, const std::string& suffix) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().ends_with(suffix)) return true;
  }
  return false;
}

TEST(DbLayout, AnObsoleteWalIsDeletedPacedThroughTrash) {
  testing::TempDir dir;
  const std::string path = dir.sub("db");
  std::filesystem::create_directories(path);
  rocksdb::DBOptions options = write_db_options(path, stderr_info_log());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path, column_families(), &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* events = handles[kEventsIndex];

  // 48 MiB of incompressible records into `events`: one WAL of that size, and table files of
  // about as much after the flush, so the trash stays under the deleter's ratio and is paced
  // (at 128 MiB/s, a few hundred milliseconds of `*.log.trash`).
  std::mt19937_64 rng(7);
  std::string value(1 << 20, '\0');
  for (int i = 0; i < 48; ++i) {
    for (std::size_t j = 0; j < value.size(); j += 8) {
      const std::uint64_t word = rng();
      value.replace(j, 8, reinterpret_cast<const char*>(&word), 8);
    }
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.Put(events, "record-" + std::to_string(1000 + i), value).ok());
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), events).ok());

  // The flushed WAL goes through `*.log.trash`, then is gone.
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = has_trash(path, ".log.trash");
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(seen) << "the obsolete WAL was deleted without passing through the trash";
  while (has_trash(path, ".trash") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(has_trash(path, ".trash"));

  for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  ASSERT_TRUE(db->Close().ok());
}

// Pages of `file` in the page cache (mincore over a read-only mapping).
std::size_t resident_pages(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const auto size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
  std::size_t resident = 0;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> pages((size + page - 1) / page);
      if (::mincore(map, size, pages.data()) == 0) {
        for (unsigned char p : pages) resident += p & 1;
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return resident;
}

TEST(DbLayout, SyncedWalPagesLeaveThePageCache) {
  testing::TempDir dir;
  const std::string path = dir.sub("db");
  std::filesystem::create_directories(path);
  struct statfs fs {};
  ASSERT_EQ(::statfs(path.c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs: a file's pages are the file";
  rocksdb::DBOptions options = write_db_options(path, stderr_info_log());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path, column_families(), &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);

  // 8 MiB in 16 synced writes: about 2,050 pages of WAL, each synced.
  std::mt19937_64 rng(11);
  std::string value(512 << 10, '\0');
  rocksdb::WriteOptions synced;
  synced.sync = true;
  for (int i = 0; i < 16; ++i) {
    for (std::size_t j = 0; j < value.size(); j += 8) {
      const std::uint64_t word = rng();
      value.replace(j, 8, reinterpret_cast<const char*>(&word), 8);
    }
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.Put(handles[kEventsIndex], "record-" + std::to_string(i), value).ok());
    ASSERT_TRUE(db->Write(synced, &batch).ok());
  }
  std::size_t wal_bytes = 0;
  std::size_t resident = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() != ".log") continue;
    wal_bytes += entry.file_size();
    resident += resident_pages(entry.path().string());
  }
  EXPECT_GE(wal_bytes, 8u << 20);
  // What is left is the page holding each WAL's end (the next write fills it further).
  EXPECT_LE(resident, 4u) << "of " << wal_bytes / 4096 << " WAL pages";

  for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace tally::storage
