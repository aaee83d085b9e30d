// What the public log costs and holds, for metrics (tally_public_log_* in docs/METRICS.md).
// Plain values.
#pragma once

#include <cstdint>

namespace tally::storage {

struct PublicLogFigures {
  bool enabled = false;         // the log keeps a public tree (it has log keys)
  std::uint64_t tree_size = 0;  // leaves in the tree (= the committed seq)
  // The writer's time adding leaves to the tree and encoding the tree entries, all batches.
  std::uint64_t tree_append_ns = 0;
  std::uint64_t checkpoints_signed = 0;
  std::uint64_t sign_ns = 0;
  std::uint64_t proofs_served = 0;  // inclusion and consistency proofs, receipts
  std::uint64_t proof_ns = 0;
};

}  // namespace tally::storage
