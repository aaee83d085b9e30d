// ClusterView: what ingest shows of a replica group (DESIGN.md "Replication and failover"):
// where the primary is, for the Tally-Primary header of a standby's 503, and GET /v1/cluster.
// tallyd adapts its cluster node to it; a server running alone has none.
//
// Thread safety: called from every io thread at once.
#pragma once

#include <string>

namespace tally::ingest {

class ClusterView {
 public:
  // The primary's HTTP address (host:port) as its lease names it; empty when nobody holds it.
  virtual std::string primary_address() const = 0;
  // GET /v1/cluster's body: node, role, epoch, shard, applied and stream seqs, lag, primary.
  virtual std::string status_json() const = 0;

 protected:
  ~ClusterView() = default;
};

}  // namespace tally::ingest
