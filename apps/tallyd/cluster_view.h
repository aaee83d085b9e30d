// ClusterView over the cluster node: what ingest shows of the replica group.
#pragma once

#include <string>

#include "tally/cluster/node.h"
#include "tally/ingest/cluster_view.h"

namespace tally::tallyd {

class NodeView final : public ingest::ClusterView {
 public:
  explicit NodeView(const cluster::Node& node) : node_(node) {}
  std::string primary_address() const override { return node_.primary_address(); }
  std::string status_json() const override { return cluster::status_json(node_.status()); }

 private:
  const cluster::Node& node_;
};

}  // namespace tally::tallyd
