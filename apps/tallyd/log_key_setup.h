// The public log's keys at tallyd's start (publog/log_keys.h): read from --log-keys (default
// DATA_DIR/log-keys), or made there on a lone server's first start. A replica group's node
// never makes them: every node must sign for the shard's one log, so a node without the
// group's keys refuses to start (docs/CLUSTER.md "Log keys"). Called from main only.
#pragma once

#include <memory>

#include "tally/base/status.h"
#include "tally/publog/log_keys.h"
#include "options.h"

namespace tally::tallyd {

// --log-keys, or its default.
std::string log_keys_dir(const Options& options);

// An error when they cannot be read or made; a node of a replica group without keys is a
// configuration error (main exits kExitUsage, which systemd does not restart).
Result<std::shared_ptr<const publog::LogKeys>> open_log_keys(const Options& options,
                                                             bool clustered);

}  // namespace tally::tallyd
