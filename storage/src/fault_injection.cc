// The fault-injection file system. See fault_injection.h.
#include "fault_injection.h"

#include <string>
#include <utility>

namespace tally::storage::internal {
namespace {

// As RocksDB's POSIX file system reports ENOSPC (NoSpace, retryable), or another errno.
rocksdb::IOStatus injected_fault(bool no_space) {
  if (!no_space) return rocksdb::IOStatus::IOError("injected fault");
  rocksdb::IOStatus status = rocksdb::IOStatus::NoSpace("injected fault");
  status.SetRetryable(true);
  return status;
}

// A writable file whose writes and syncs fail while the shared switch is on.
class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file,
                     std::shared_ptr<std::atomic<bool>> fail_io, bool no_space)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fail_io_(std::move(fail_io)),
        no_space_(no_space) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (failing()) return torn(data, options, dbg);
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (failing()) return torn(data, options, dbg);
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, std::uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
    return FSWritableFileOwnerWrapper::Flush(options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  // Relaxed: a test flips the switch and then submits; which write is the first to fail
  // does not matter, only that failing writes are reported.
  bool failing() const { return fail_io_->load(std::memory_order_relaxed); }
  rocksdb::IOStatus injected() const { return injected_fault(no_space_); }
  // A full disk takes what fits, then refuses the rest: half the data reaches the file, and a
  // WAL is left ending in part of a record, as on a real full disk.
  rocksdb::IOStatus torn(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) {
    if (no_space_ && data.size() > 1) {
      FSWritableFileOwnerWrapper::Append(rocksdb::Slice(data.data(), data.size() / 2), options, dbg)
          .PermitUncheckedError();
    }
    return injected();
  }

  std::shared_ptr<std::atomic<bool>> fail_io_;
  bool no_space_;
};

// The fault-injection file system of StorageOptions::fail_io.
class FaultyFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base,
                   std::shared_ptr<std::atomic<bool>> fail_io, bool no_space)
      : FileSystemWrapper(base), fail_io_(std::move(fail_io)), no_space_(no_space) {}

  const char* Name() const override { return "TallyFaultyFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (fail_io_->load(std::memory_order_relaxed)) return injected_fault(no_space_);
    auto status = FileSystemWrapper::NewWritableFile(name, opts, result, dbg);
    if (status.ok()) {
      *result = std::make_unique<FaultyWritableFile>(std::move(*result), fail_io_, no_space_);
    }
    return status;
  }

 private:
  std::shared_ptr<std::atomic<bool>> fail_io_;
  bool no_space_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> faulty_file_system(
    const std::shared_ptr<rocksdb::FileSystem>& base, std::shared_ptr<std::atomic<bool>> fail_io,
    bool no_space) {
  return std::make_shared<FaultyFileSystem>(base, std::move(fail_io), no_space);
}

}  // namespace tally::storage::internal
