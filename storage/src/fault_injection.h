// The fault-injection file system behind StorageOptions::fail_io: while the shared switch is
// on, every write and sync of the data directory's files fails with an I/O error, as on a full
// or failing disk. For the disk-failure tests (tests/crash/disk_full_test.cc, vote_log_test);
// in the manner of RocksDB's own FaultInjectionTestFS.
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>

namespace tally::storage::internal {

// Wraps `base`; `fail_io` is the switch. `no_space`: the injected error is a full disk's
// (NoSpace, retryable, as RocksDB reports ENOSPC), not a plain I/O error.
std::shared_ptr<rocksdb::FileSystem> faulty_file_system(
    const std::shared_ptr<rocksdb::FileSystem>& base, std::shared_ptr<std::atomic<bool>> fail_io,
    bool no_space);

}  // namespace tally::storage::internal
