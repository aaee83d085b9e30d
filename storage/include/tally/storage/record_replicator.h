// RecordReplicator: where the writer sends each commit batch record before its local write when
// the log belongs to a replica group (DESIGN.md "Replication and failover"). The cluster module
// implements it on NATS JetStream; storage never sees how.
//
// One record is on its way at a time: the next is sent once the replicas have confirmed the
// one before it, so that each follows an exact, known position. What overlaps is the local
// write: the writer writes a confirmed record while the next one is on its way.
// send(), answered(), confirm() and set_wake() are called on the writer thread only
// (set_wake() also while no writer runs).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "tally/base/status.h"

namespace tally::storage {

class RecordReplicator {
 public:
  // Starts making `record` (the events first_seq..last_seq, docs/EVENT_FORMAT.md) durable on
  // the replicas, right after the last record confirmed; returns without waiting. `record`
  // must stay valid until confirm() returns. REQUIRES: every record sent before is confirmed.
  virtual void send(std::string_view record, std::uint64_t first_seq, std::uint64_t last_seq) = 0;
  // Whether confirm() would return without waiting for the replicas' first answer.
  virtual bool answered() const = 0;
  // The outcome of the record sent: its position in the replicated log (its stream seq).
  // Blocks until the outcome is known. An error means the record is not in the replicated log
  // (another node took over, so this one is fenced), or that its outcome could not be learnt
  // before the log stopped: nothing of it may be counted here, and the writer stops.
  virtual Result<std::uint64_t> confirm() = 0;
  // `wake` is called, from any thread, when the record sent gets an answer (null: nothing is
  // called). Once set_wake() returns, the previous one is never called again.
  virtual void set_wake(std::function<void()> wake) = 0;
  // A record confirm() made durable on the replicas could not be written here (`why`): its
  // votes are counted (the replicas hold them), so they must not be answered `unavailable`.
  // The implementation does not return: it ends the process, and a restart catches up from
  // the replicas.
  [[noreturn]] virtual void replicated_not_written(std::string_view why) = 0;

 protected:
  ~RecordReplicator() = default;
};

}  // namespace tally::storage
