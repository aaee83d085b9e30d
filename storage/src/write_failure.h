// What a failed RocksDB write means for the writer: whether it may pass, so that the batch is
// held and written again (docs/STORAGE.md "Failures"), and what it means in words for the
// operator. Private to storage/.
//
// RocksDB 7.8 stops taking writes after a failed WAL write or flush (a background error) until
// DB::Resume(). A full disk (ENOSPC: IsNoSpace(), marked retryable) and I/O errors that the
// file system marks retryable are a "hard" error that Resume() clears once the cause is gone;
// any other I/O error (EIO, EROFS, EACCES) is "fatal" and corruption "unrecoverable": Resume()
// refuses both, only a new process (a restart) gets past them.
#pragma once

#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/status.h>

#include <string_view>

namespace tally::storage {

struct WriteFailure {
  bool may_pass = false;     // worth waiting for: hold the batch, Resume(), write it again
  std::string_view meaning;  // for the log: what it means and what the operator can do
};

// Classifies the status of a failed DB::Write() or DB::Resume(). REQUIRES: !status.ok().
WriteFailure classify_write_failure(const rocksdb::Status& status);

// Leaves recovery from a failed write to the writer: RocksDB's own (the SstFileManager polling
// for free space every 5 s, a thread resuming after a retryable error) makes the writer's
// Resume() answer Busy meanwhile, and in tests it did not recover within 7 s of the space
// coming back. Sets max_bgerror_resume_count to 0 and adds a listener that turns off the
// automatic recovery of errors that stop writes.
void leave_write_recovery_to_the_writer(rocksdb::DBOptions& options);

}  // namespace tally::storage
