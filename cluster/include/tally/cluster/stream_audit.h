// Compares a node's data dir with its shard's stream, record for record: the invariant of a
// replica group is that every node's log is a prefix of the stream (DESIGN.md "Replication and
// failover"). What `tallyctl compare-stream` runs; read-only on both sides.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tally/base/status.h"

namespace tally::cluster {

struct StreamComparison {
  std::uint64_t stream_records = 0;  // messages in the stream
  std::uint64_t local_records = 0;   // records in the data dir
  std::uint64_t matching = 0;        // leading records equal byte for byte
  // Each difference, naming the stream seq and the record's first seq; empty when the data
  // dir is a prefix of the stream.
  std::vector<std::string> problems;
  bool prefix() const { return problems.empty(); }
  bool equal() const { return problems.empty() && local_records == stream_records; }
};

// `servers`: the NATS servers (nats://host:port); `shard`: s0.
Result<StreamComparison> compare_with_stream(const std::vector<std::string>& servers,
                                             const std::string& shard, const std::string& data_dir);

}  // namespace tally::cluster
