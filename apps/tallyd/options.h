// tallyd's command line: the options, their defaults (shown by --help), a config file with the
// same options (--config), environment variables for the data dir and listen address, and
// their parsing on CLI11.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tally/ingest/server.h"
#include "tally/storage/vote_log.h"

namespace tally::tallyd {

struct Options {
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string tokens_path;
  std::string log_keys_dir;  // --log-keys; default: DATA_DIR/log-keys
  std::vector<std::string> campaign_files;
  storage::StorageOptions storage;
  ingest::ServerOptions server;
  bool demo = false;
  // --cluster: the NATS servers of the replica group; empty when running alone.
  std::vector<std::string> cluster_servers;
  std::string node;       // --node; default: the host name
  std::string advertise;  // --advertise; default: the listen address
  std::string log_level = "info";

  std::int64_t clock_offset_ms = 0;
};

// The process's exit statuses, listed by --help.
inline constexpr int kExitStopped = 0;  // stopped by a signal, drained
inline constexpr int kExitFailed = 1;   // an error at start, or storage failed
inline constexpr int kExitUsage = 2;    // bad command line or config file
// 75, a replica group's record whose outcome is unknown, is the cluster's own exit
// (cluster/src/stream_replicator.h); --help lists it with these.

// Parses argv (and --config's file, and the environment). Returns the status to exit with
// when tallyd must not run: 0 after --help or --version (printed on stdout), kExitUsage after
// an unknown or malformed option (explained on stderr). Returns nothing when it should run.
std::optional<int> parse_options(int argc, const char* const* argv, Options& options);

}  // namespace tally::tallyd
