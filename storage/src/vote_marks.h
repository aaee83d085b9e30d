// Vote marks: what later events say of a committed vote (DESIGN.md "Adjudication"): the
// reasons late flags added to it, and the decision that voided it. Kept in the RocksDB family
// `marks` under the vote's seq_key(), written in the same WriteBatch as the flag or decision
// that changes them, so that GET /v1/votes/{seq}, the export and the next flag or decision
// read them without holding every marked vote in memory (docs/EVENT_FORMAT.md "Marks").
// Private to storage/.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/base/status.h"
#include "tally/engine/fraud_flags.h"
#include "tally/storage/event_format.h"

namespace tally::storage {

// value := late_flags:varint32 voided_by:varint64
std::string encode_marks(const VoteMarks& marks);
std::optional<VoteMarks> decode_marks(std::string_view value);

// The marks of `seq` (empty when none, or when the log has no marks family: `cf` null).
Result<VoteMarks> read_marks(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::uint64_t seq);

// Adds to `batch` the marks a flag or decision event (of seq `seq`) changes: each of its votes
// read, changed and written back (deleted when nothing is left). Any other kind: nothing.
// Writing the same event again gives the same marks (a retried write stores them once).
rocksdb::Status put_marks(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf,
                          rocksdb::WriteBatch& batch, const StoredEvent& event, std::uint64_t seq);

}  // namespace tally::storage
