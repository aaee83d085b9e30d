// tallyd's command line: the options, their defaults (shown by --help) and their parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tally/ingest/server.h"
#include "tally/storage/vote_log.h"

namespace tally::tallyd {

struct Options {
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string tokens_path;
  std::vector<std::string> campaign_files;
  storage::StorageOptions storage;
  ingest::ServerOptions server;
  bool demo = false;
  // --cluster: the NATS servers of the replica group; empty when running alone.
  std::vector<std::string> cluster_servers;
  std::string node;       // --node; default: the host name
  std::string advertise;  // --advertise; default: the listen address

  std::int64_t clock_offset_ms = 0;
};

// Prints --help: every flag with its default.
void print_help();

// Parses argv; on error prints it to stderr and returns false. `help` is set by --help/-h.
bool parse_options(int argc, char** argv, Options& options, bool& help);

}  // namespace tally::tallyd
