// The fault-injection file system. See fault_injection.h.
#include "fault_injection.h"

#include <string>
#include <utility>

namespace tally::storage::internal {
namespace {

// A writable file whose writes and syncs fail while the shared switch is on.
class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file,
                     std::shared_ptr<std::atomic<bool>> fail_io)
      : FSWritableFileOwnerWrapper(std::move(file)), fail_io_(std::move(fail_io)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (failing()) return injected();
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
  static rocksdb::IOStatus injected() { return rocksdb::IOStatus::IOError("injected fault"); }

  std::shared_ptr<std::atomic<bool>> fail_io_;
};

// The fault-injection file system of StorageOptions::fail_io.
class FaultyFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base,
                   std::shared_ptr<std::atomic<bool>> fail_io)
      : FileSystemWrapper(base), fail_io_(std::move(fail_io)) {}

  const char* Name() const override { return "TallyFaultyFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (fail_io_->load(std::memory_order_relaxed)) {
      return rocksdb::IOStatus::IOError("injected fault");
    }
    auto status = FileSystemWrapper::NewWritableFile(name, opts, result, dbg);
    if (status.ok()) {
      *result = std::make_unique<FaultyWritableFile>(std::move(*result), fail_io_);
    }
    return status;
  }

 private:
  std::shared_ptr<std::atomic<bool>> fail_io_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> faulty_file_system(
    const std::shared_ptr<rocksdb::FileSystem>& base, std::shared_ptr<std::atomic<bool>> fail_io) {
  return std::make_shared<FaultyFileSystem>(base, std::move(fail_io));
}

}  // namespace tally::storage::internal
