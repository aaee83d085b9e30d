#include "wal_page_cache.h"

#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace tally::storage {
namespace {

constexpr std::uint64_t kPageBytes = 4096;

bool is_wal(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".log") == 0;
}

// After each successful sync, asks the kernel to drop the file's cached pages up to the last
// whole page written (posix_fadvise DONTNEED, through RocksDB's InvalidateCache). The page
// that holds the end of the file stays: the next write fills it further, and a dropped one
// would be read back from the disk first. DONTNEED drops clean pages only, so bytes written
// after the sync began are never lost from the cache before they reach the disk.
class PageDroppingFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  using FSWritableFileOwnerWrapper::FSWritableFileOwnerWrapper;

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    return counted(target()->Append(data, options, dbg), data.size());
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    return counted(target()->Append(data, options, info, dbg), data.size());
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return synced([&] { return target()->Sync(options, dbg); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return synced([&] { return target()->Fsync(options, dbg); });
  }

 private:
  rocksdb::IOStatus counted(rocksdb::IOStatus s, std::size_t bytes) {
    // Relaxed: Sync() may run on another thread (IsSyncThreadSafe); a size it reads late only
    // drops less, and bytes appended after its read are not named by it.
    if (s.ok()) written_.fetch_add(bytes, std::memory_order_relaxed);
    return s;
  }
  template <typename SyncCall>
  rocksdb::IOStatus synced(SyncCall sync) {
    const std::uint64_t written = written_.load(std::memory_order_relaxed);
    rocksdb::IOStatus s = sync();
    if (s.ok()) drop_up_to(written);
    return s;
  }
  void drop_up_to(std::uint64_t synced) {
    const std::uint64_t end = synced / kPageBytes * kPageBytes;
    std::lock_guard lock(drop_mutex_);
    if (end <= dropped_) return;
    // A refusal (a file system without the advice) leaves the pages cached, as before.
    (void)target()->InvalidateCache(static_cast<std::size_t>(dropped_),
                                    static_cast<std::size_t>(end - dropped_));
    dropped_ = end;
  }

  std::atomic<std::uint64_t> written_{0};
  std::mutex drop_mutex_;      // Syncs may overlap; one drop at a time
  std::uint64_t dropped_ = 0;  // pages below it were given back
};

class WalPageDroppingFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  const char* Name() const override { return "TallyWalPageDropping"; }

  // New files only: RocksDB 7.8 reuses no WAL file under tallyd's point-in-time recovery
  // (docs/STORAGE.md), so ReuseWritableFile is left to the target.
  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(path, options, result, dbg);
    if (s.ok() && is_wal(path)) *result = std::make_unique<PageDroppingFile>(std::move(*result));
    return s;
  }
};

}  // namespace

rocksdb::Env* wal_page_dropping_env() {
  static const std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(
      std::make_shared<WalPageDroppingFileSystem>(rocksdb::FileSystem::Default()));
  return env.get();
}

}  // namespace tally::storage
