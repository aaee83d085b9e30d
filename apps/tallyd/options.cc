// tallyd's command line. See options.h.
#include "options.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <thread>

namespace tally::tallyd {
namespace {

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

void print_help() {
  const ingest::Limits limits;
  const storage::StorageOptions storage;
  std::printf(
      "tallyd: the tally vote counting server (plain HTTP; TLS ends at the gateway).\n"
      "\n"
      "usage: tallyd --data-dir DIR --listen HOST:PORT [--tokens FILE] [--campaign FILE]...\n"
      "              [--durability sync|async] [--io-threads N] [--demo] [--protect-reads]\n"
      "\n"
      "  --data-dir DIR          event log (RocksDB) and generated tokens; required\n"
      "  --listen HOST:PORT      address to serve; port 0 picks a free one (logged in the\n"
      "                          ready line). Default: 127.0.0.1:8080\n"
      "  --tokens FILE           {\"ingest\":[...],\"admin\":[...]} bearer tokens, re-read on\n"
      "                          SIGHUP. Admin tokens may also post votes. Default: DATA_DIR/\n"
      "                          tokens.json, created with random tokens (mode 0600) if absent\n"
      "  --campaign FILE         campaign definition to install (repeatable); a definition\n"
      "                          that differs from the one in force becomes a new version\n"
      "  --durability sync|async sync: a vote is answered after the WAL is synced; async:\n"
      "                          answered before the sync, answers say \"durable\":false and\n"
      "                          a machine crash may lose them. Default: sync\n"
      "  --io-threads N          HTTP threads. Default: number of CPUs (%u)\n"
      "  --demo                  install campaigns/demo.json with its window moved to open\n"
      "                          now (same 12-day length); print a curl line to vote\n"
      "  --protect-reads         reads (tally, campaigns, fraud, metrics, dashboard, health)\n"
      "                          need a token too. Default: reads are public\n"
      "  --cors-origin ORIGIN    browser pages of ORIGIN (https://host[:port], or * for any)\n"
      "                          may read campaigns, tallies, streams and fraud views\n"
      "                          (CORS; never votes). Repeatable. Default: no CORS headers\n"
      "\n"
      "replica group (DESIGN.md \"Replication and failover\"; docs/CLUSTER.md):\n"
      "  --cluster URLS          nats://host:port,... : join shard s0's replica group on these\n"
      "                          NATS JetStream servers (primary or standby). Default: alone\n"
      "  --node NAME             this node's name in the group, [A-Za-z0-9_-]{1,64}.\n"
      "                          Default: the host name\n"
      "  --advertise HOST:PORT   where other nodes and the gateway reach this one (the\n"
      "                          Tally-Primary header). Default: the listen address\n"
      "\n"
      "limits (over a limit: 413/431/429/503 with Retry-After, never a silent drop):\n"
      "  --max-header-bytes N    request line + headers (431). Default: %zu\n"
      "  --max-body-bytes N      body of a single vote and other calls (413). Default: %zu\n"
      "  --max-batch-bytes N     body of POST /v1/votes:batch (413). Default: %zu\n"
      "  --max-batch-lines N     lines of one batch (413). Default: %zu\n"
      "  --max-campaign-bytes N  body of PUT /v1/campaigns/{id} (413). Default: %zu\n"
      "  --max-inflight-body-bytes N  batch and campaign bodies read or handled at once;\n"
      "                          more get 503. Default: %zu\n"
      "  --max-connections N     open connections; more get 503. Default: %zu\n"
      "  --max-connections-per-peer N  open connections from one address; more get 429.\n"
      "                          Default: %zu\n"
      "  --idle-timeout-ms N     keep-alive wait for the next request. Default: %lld\n"
      "  --header-timeout-ms N   first byte to end of headers (slowloris). Default: %lld\n"
      "  --body-timeout-ms N     to receive a body. Default: %lld\n"
      "  --pipeline-depth N      pipelined requests read ahead per connection. Default: %zu\n"
      "  --max-tally-streams N   open GET .../tally/stream connections; more get 503.\n"
      "                          Default: %zu\n"
      "  --queue-depth N         votes waiting for the storage writer; more get 503\n"
      "                          overloaded. Default: %zu\n"
      "  --commit-batch-events N most events the writer commits (and replicates) as one\n"
      "                          record. Default: %zu\n"
      "\n"
      "testing only:\n"
      "  --unsafe-test-clock-offset-ms N  shifts the server clock by N ms (window and period\n"
      "                          tests). Never use in production. Default: 0\n"
      "\n"
      "signals: SIGTERM/SIGINT drain in-flight votes and exit 0; SIGHUP reloads the tokens.\n"
      "exit status: 0 stopped by a signal; 1 an error at start, or storage failed (after\n"
      "answering what it held: a restart recovers from the data dir); 2 bad usage;\n"
      "75 (replica group) stopped with a record whose outcome it could not learn.\n",
      std::max(1u, std::thread::hardware_concurrency()), limits.max_header_bytes,
      limits.max_body_bytes, limits.max_batch_body_bytes, limits.max_batch_lines,
      limits.max_campaign_body_bytes, limits.max_inflight_body_bytes, limits.max_connections,
      limits.max_connections_per_peer, static_cast<long long>(limits.idle_timeout.count()),
      static_cast<long long>(limits.header_timeout.count()),
      static_cast<long long>(limits.body_timeout.count()), limits.pipeline_depth,
      limits.max_tally_streams, storage.queue_capacity, storage.max_batch_events);
}

bool parse_options(int argc, char** argv, Options& options, bool& help) {
  options.server.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto& limits = options.server.limits;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return true;
    }
    if (flag == "--demo") {
      options.demo = true;
      continue;
    }
    if (flag == "--protect-reads") {
      options.server.protect_reads = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "tallyd: %s: needs a value (see --help)\n", argv[i]);
      return false;
    }
    const std::string_view value = argv[++i];
    bool ok = true;
    std::int64_t ms = 0;
    if (flag == "--data-dir") {
      options.data_dir = value;
    } else if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--tokens") {
      options.tokens_path = value;
    } else if (flag == "--campaign") {
      options.campaign_files.emplace_back(value);
    } else if (flag == "--cors-origin") {
      // `*`, or scheme://host[:port] as a browser sends it in Origin: nothing after the host.
      const std::size_t scheme = value.find("://");
      ok = value == "*" ||
           (scheme != std::string_view::npos && scheme > 0 && value.size() > scheme + 3 &&
            value.find_first_of("/?#@ ", scheme + 3) == std::string_view::npos);
      options.server.cors_origins.emplace_back(value);
    } else if (flag == "--durability") {
      if (value == "sync") {
        options.storage.durability = storage::Durability::sync;
      } else if (value == "async") {
        options.storage.durability = storage::Durability::async;
      } else {
        ok = false;
      }
    } else if (flag == "--io-threads") {
      ok = parse_int(value, options.server.io_threads) && options.server.io_threads >= 1 &&
           options.server.io_threads <= 256;
    } else if (flag == "--max-header-bytes") {
      ok = parse_int(value, limits.max_header_bytes) && limits.max_header_bytes >= 1024;
    } else if (flag == "--max-body-bytes") {
      ok = parse_int(value, limits.max_body_bytes) && limits.max_body_bytes >= 1024;
    } else if (flag == "--max-batch-bytes") {
      ok = parse_int(value, limits.max_batch_body_bytes) && limits.max_batch_body_bytes >= 1024;
    } else if (flag == "--max-batch-lines") {
      ok = parse_int(value, limits.max_batch_lines) && limits.max_batch_lines >= 1;
    } else if (flag == "--max-campaign-bytes") {
      ok = parse_int(value, limits.max_campaign_body_bytes) &&
           limits.max_campaign_body_bytes >= 1024;
    } else if (flag == "--max-connections") {
      ok = parse_int(value, limits.max_connections) && limits.max_connections >= 1;
    } else if (flag == "--max-inflight-body-bytes") {
      ok = parse_int(value, limits.max_inflight_body_bytes) &&
           limits.max_inflight_body_bytes >= 1024;
    } else if (flag == "--max-connections-per-peer") {
      ok =
          parse_int(value, limits.max_connections_per_peer) && limits.max_connections_per_peer >= 1;
    } else if (flag == "--idle-timeout-ms") {
      ok = parse_int(value, ms) && ms > 0;
      limits.idle_timeout = std::chrono::milliseconds(ms);
    } else if (flag == "--header-timeout-ms") {
      ok = parse_int(value, ms) && ms > 0;
      limits.header_timeout = std::chrono::milliseconds(ms);
    } else if (flag == "--body-timeout-ms") {
      ok = parse_int(value, ms) && ms > 0;
      limits.body_timeout = std::chrono::milliseconds(ms);
    } else if (flag == "--pipeline-depth") {
      ok = parse_int(value, limits.pipeline_depth) && limits.pipeline_depth >= 1;
    } else if (flag == "--max-tally-streams") {
      ok = parse_int(value, limits.max_tally_streams);
    } else if (flag == "--cluster") {
      options.cluster_servers.clear();
      std::string_view rest = value;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view url = rest.substr(0, comma);
        if (url.empty()) ok = false;
        options.cluster_servers.emplace_back(url);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      ok = ok && !options.cluster_servers.empty();
    } else if (flag == "--node") {
      options.node = value;
      ok = !value.empty() && value.size() <= 64 &&
           value.find_first_not_of(
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
               std::string_view::npos;
    } else if (flag == "--advertise") {
      options.advertise = value;
      ok = value.find(':') != std::string_view::npos && value.find(' ') == std::string_view::npos;
    } else if (flag == "--commit-batch-events") {
      ok = parse_int(value, options.storage.max_batch_events) &&
           options.storage.max_batch_events >= 1;
    } else if (flag == "--queue-depth") {
      ok = parse_int(value, options.storage.queue_capacity) && options.storage.queue_capacity >= 1;
    } else if (flag == "--unsafe-test-clock-offset-ms") {
      ok = parse_int(value, options.clock_offset_ms);
    } else {
      std::fprintf(stderr, "tallyd: unknown flag %s (see --help)\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "tallyd: %s: bad value \"%s\" (see --help)\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  if (options.data_dir.empty()) {
    std::fprintf(stderr, "tallyd: --data-dir is required (see --help)\n");
    return false;
  }
  const std::size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos ||
      !parse_int(std::string_view(options.listen).substr(colon + 1), options.server.port)) {
    std::fprintf(stderr, "tallyd: --listen: expected HOST:PORT, got \"%s\"\n",
                 options.listen.c_str());
    return false;
  }
  options.server.host = options.listen.substr(0, colon);
  if (options.server.host.size() > 2 && options.server.host.front() == '[') {
    options.server.host = options.server.host.substr(1, options.server.host.size() - 2);
  }
  options.storage.data_dir = options.data_dir;
  return true;
}

}  // namespace tally::tallyd
