// RecordReplicator: where the writer sends each commit batch record before its local write when
// the log belongs to a replica group (DESIGN.md "Replication and failover"). The cluster module
// implements it on NATS JetStream; storage never sees how. Called on the writer thread only.
#pragma once

#include <cstdint>
#include <string_view>

#include "tally/base/status.h"

namespace tally::storage {

class RecordReplicator {
 public:
  // Makes `record` (the events first_seq..last_seq, docs/EVENT_FORMAT.md) durable on the
  // replicas and returns its position in the replicated log (its stream seq). Blocks until the
  // outcome is known. An error means the record is not in the replicated log (another node
  // took over, so this one is fenced), or that its outcome could not be learnt before the log
  // stopped: nothing of it may be counted here, and the writer stops.
  virtual Result<std::uint64_t> replicate(std::string_view record, std::uint64_t first_seq,
                                          std::uint64_t last_seq) = 0;
  // A record replicate() made durable on the replicas could not be written here (`why`):
  // its votes are counted (the replicas hold them), so they must not be answered
  // `unavailable`. The implementation does not return: it ends the process, and a restart
  // catches up from the replicas.
  [[noreturn]] virtual void replicated_not_written(std::string_view why) = 0;

 protected:
  ~RecordReplicator() = default;
};

}  // namespace tally::storage
