// Where RocksDB's own diagnostics go. Private to storage/.
//
// The writing instance (VoteLog, tallyd's) sends them through spdlog's default logger, the
// process's log (journald or stderr), marked `rocksdb:` and at mapped levels; the auditors'
// read-only and backup opens (tallyctl) write warnings and worse to stderr, keeping stdout for
// their output. Either way RocksDB writes no LOG file into the data dir: on a full disk its
// failed write would be followed by more writes to the same file (which the library asserts
// against), and a read-only open next to a running tallyd must write nothing there. Both
// loggers are safe for concurrent use (RocksDB logs from its background threads).
#pragma once

#include <rocksdb/env.h>

#include <memory>

namespace tally::storage {

// RocksDB's lines through spdlog's default logger as it is now, at its level: DEBUG as trace,
// INFO and the header (the options dumped at each open) as debug, since they are many and
// routine, WARN as warn, ERROR as error, FATAL as critical. The logger's own level follows,
// so that RocksDB formats nothing the log would drop.
std::shared_ptr<rocksdb::Logger> spdlog_info_log();

// Warnings and worse on stderr, `rocksdb: [LEVEL] text` (tallyctl).
std::shared_ptr<rocksdb::Logger> stderr_info_log();

}  // namespace tally::storage
