// A RocksDB environment whose WAL files give their synced pages back to the kernel. Private
// to storage/.
//
// The WAL is written once, synced, and read again only by recovery (from the disk, after a
// restart). Its pages otherwise stay in the page cache until the file is deleted after a
// flush, 64 MiB and more at a time, and every WAL byte goes into a page the kernel has just
// handed out: on a virtual machine that returns freed memory to its host (free page
// reporting, as here) each such page costs a host fault at its first touch. Pages dropped
// right after their sync are taken again by the next writes, still the guest's. In batch
// profiles the kernel's WAL copy went from 10 % of tallyd's samples to 1 % (docs/STORAGE.md).
//
// Only files named *.log (RocksDB's WALs) are wrapped; tables are written past the page
// cache already (use_direct_io_for_flush_and_compaction), and everything else is small.
#pragma once

#include <rocksdb/env.h>

namespace tally::storage {

// The process-wide environment for the writing instance (tallyd): RocksDB's default one with
// the WAL files wrapped as above. Lives as long as the process.
rocksdb::Env* wal_page_dropping_env();

}  // namespace tally::storage
