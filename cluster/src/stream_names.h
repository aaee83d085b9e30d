// The names a shard's log goes by in NATS: stream TALLY_S<k> on subject tally.s<k>.log (its
// only subject, so that the subject's "no message yet" is the stream's), and the lease key
// s<k> in bucket tally_leases.
#pragma once

#include <string>

#include "jetstream.h"

namespace tally::cluster::internal {

inline constexpr char kLeaseBucket[] = "tally_leases";

inline StreamSettings stream_of(const std::string& shard, int replicas) {
  std::string upper = shard;
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return StreamSettings{"TALLY_" + upper, "tally." + shard + ".log", replicas};
}

}  // namespace tally::cluster::internal
