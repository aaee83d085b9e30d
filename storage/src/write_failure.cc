// Classifying failed writes, and RocksDB's automatic recovery turned off. See write_failure.h.
#include "write_failure.h"

#include <rocksdb/io_status.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace tally::storage {
namespace {

bool mentions(const rocksdb::Status& status, int error_number) {
  return status.ToString().find(std::strerror(error_number)) != std::string::npos;
}

// Writes stop at a hard error (a failed WAL write or flush): the writer's retry calls
// Resume() itself, on its own backoff. A soft error (a compaction out of space) stops no write
// and is left to RocksDB: turning its recovery off would stop flushes, and writes would stall.
class WriterResumes final : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "TallyWriterResumes"; }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status error,
                            bool* auto_recovery) override {
    if (error.severity() >= rocksdb::Status::Severity::kHardError) *auto_recovery = false;
  }
};

}  // namespace

WriteFailure classify_write_failure(const rocksdb::Status& status) {
  // A copy as an IOStatus, for its retryable flag (the Status keeps it, unexposed).
  const rocksdb::IOStatus io = rocksdb::status_to_io_status(rocksdb::Status(status));
  if (status.IsNoSpace()) {
    return {true, "the data dir's file system is full: free space on it"};
  }
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return {true, "RocksDB is busy recovering from an earlier failure"};
  }
  if (status.IsIOError() && io.GetRetryable()) {
    return {true, "a transient I/O error of the data dir's file system"};
  }
  if (status.IsCorruption()) {
    return {false,
            "the data dir's files are corrupt: run tallyctl verify, restore from a backup if it "
            "fails"};
  }
  if (mentions(status, EROFS)) {
    return {false,
            "the data dir's file system is read-only (often remounted so after disk errors): "
            "check the kernel log and the disk, remount it read-write"};
  }
  if (mentions(status, EACCES) || mentions(status, EPERM)) {
    return {false, "tallyd's user may not write the data dir: fix its owner or mode"};
  }
  if (status.IsIOError()) {
    return {false, "an I/O error of the data dir's disk: check the kernel log and the disk"};
  }
  return {false, "RocksDB refused the write"};
}

void leave_write_recovery_to_the_writer(rocksdb::DBOptions& options) {
  options.max_bgerror_resume_count = 0;
  options.listeners.push_back(std::make_shared<WriterResumes>());
}

}  // namespace tally::storage
