// tallyd's command line on CLI11. See options.h.
//
// CLI11 is header-only and slow to compile: this is the one translation unit that includes it.
// Numbers are parsed here rather than by CLI11, whose integer conversion takes any base
// ("010" is 8, "0x10" is 16): a limit is written in decimal, whole, within its range, or the
// start is refused.
#include "options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <string_view>
#include <thread>

#include "tally/base/version.h"
#include "tally/cli/decimal.h"
#include "tally/cli/help_layout.h"

namespace tally::tallyd {
namespace {

constexpr char kDescription[] =
    "tallyd - the tally vote counting server\n"
    "\n"
    "Checks ballots against their campaign's rules, deduplicates them, makes them durable in "
    "RocksDB and answers over plain HTTP (TLS ends at the gateway in front). Contract: "
    "DESIGN.md; operators: README.md and `man tallyd`.";

constexpr char kFooter[] =
    "Every option may also be set in the --config file: one `name = value` line\n"
    "per option, without the leading dashes (TOML: strings quoted, repeated\n"
    "options as [\"a\", \"b\"]). The command line wins over the file, the file over\n"
    "TALLY_DATA_DIR and TALLY_LISTEN.\n"
    "\n"
    "Signals:\n"
    "  SIGTERM, SIGINT  drain the votes in flight and exit 0\n"
    "  SIGHUP           reload the tokens file (a bad file keeps the previous ones)\n"
    "\n"
    "Exit status:\n"
    "  0   stopped by a signal, every vote in flight answered\n"
    "  1   an error at start, or storage failed (after answering what it held;\n"
    "      a restart recovers from the data dir); a full disk only after\n"
    "      --storage-retry-seconds\n"
    "  2   bad usage: an unknown option, a malformed value, a bad config file\n"
    "  75  (replica group) stopped holding a record whose outcome it could not\n"
    "      learn";

// Adds `--name N` that sets `target` from a strict decimal in [min, max]; --help shows the
// current value as the default.
template <typename Int>
CLI::Option* add_number(CLI::App& app, const std::string& name, Int& target, Int min, Int max,
                        const std::string& help) {
  auto set = [&target, name, min, max](const std::string& text) {
    const auto value = cli::parse_decimal(text, min, max);
    if (!value) {
      throw CLI::ValidationError(name, "expected a whole decimal number in [" +
                                           std::to_string(min) + ", " + std::to_string(max) +
                                           "], got \"" + text + "\"");
    }
    target = *value;
  };
  return app.add_option_function<std::string>(name, set, help)
      ->type_name("N")
      ->default_str(std::to_string(target));
}

CLI::Option* add_milliseconds(CLI::App& app, const std::string& name,
                              std::chrono::milliseconds& target, const std::string& help) {
  auto set = [&target, name](const std::string& text) {
    const auto ms = cli::parse_decimal<std::int64_t>(text, 1, 86'400'000);
    if (!ms) {
      throw CLI::ValidationError(
          name, "expected milliseconds, a whole number in [1, 86400000], got \"" + text + "\"");
    }
    target = std::chrono::milliseconds(*ms);
  };
  return app.add_option_function<std::string>(name, set, help)
      ->type_name("MS")
      ->default_str(std::to_string(target.count()));
}

bool is_node_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
             std::string_view::npos;
}

// "HOST:PORT" (HOST may be "[v6]"): the port in [0, 65535]; port 0 picks a free one.
bool split_listen(const std::string& listen, std::string& host, std::uint16_t& port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const auto parsed =
      cli::parse_decimal<std::uint16_t>(std::string_view(listen).substr(colon + 1), 0, 65535);
  if (!parsed) return false;
  port = *parsed;
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return true;
}

void add_options(CLI::App& app, Options& options) {
  auto& limits = options.server.limits;
  constexpr std::size_t kMiB = 1024 * 1024;
  constexpr std::size_t kGiB = 1024 * kMiB;

  app.add_option("--data-dir", options.data_dir,
                 "event log (RocksDB) and generated tokens; created 0700")
      ->type_name("DIR")
      ->envname("TALLY_DATA_DIR")
      ->required();
  app.add_option("--listen", options.listen,
                 "address to serve; port 0 picks a free one (logged in the ready line)")
      ->type_name("HOST:PORT")
      ->envname("TALLY_LISTEN")
      ->capture_default_str()
      ->check([](const std::string& value) {
        std::string host;
        std::uint16_t port = 0;
        return split_listen(value, host, port) ? std::string()
                                               : "expected HOST:PORT, got \"" + value + "\"";
      });
  app.add_option("--tokens", options.tokens_path,
                 "{\"ingest\":[...],\"admin\":[...],\"read\":[...]} bearer tokens' digests "
                 "(\"sha256:HEX\", from tallyctl token new or token hash), re-read on SIGHUP. "
                 "Default: DATA_DIR/tokens.json, created if absent with the digests of random "
                 "tokens, which are shown once in DATA_DIR/tokens.generated")
      ->type_name("FILE");
  app.add_option("--log-keys", options.log_keys_dir,
                 "directory of the public log's keys (signing-key.pem, tag-secret): they sign "
                 "its checkpoints and make its voter tags. Default: DATA_DIR/log-keys, created "
                 "on first start when running alone; a replica group's nodes share one set, "
                 "made once with tallyctl log-keys new, and must be given it")
      ->type_name("DIR");
  app.add_option("--campaign", options.campaign_files,
                 "campaign definition to install (repeatable); one that differs from the "
                 "version in force becomes a new version")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  app.add_option_function<std::string>(
         "--durability",
         [&options](const std::string& value) {
           options.storage.durability =
               value == "sync" ? storage::Durability::sync : storage::Durability::async;
         },
         "sync: a vote is answered after the WAL is synced; async: before the sync, answers "
         "say \"durable\":false and a machine crash may lose them")
      ->type_name("MODE")
      ->check(CLI::IsMember({"sync", "async"}))
      ->default_str("sync");
  app.add_option_function<std::string>(
         "--storage-retry-seconds",
         [&options](const std::string& text) {
           const auto seconds = cli::parse_decimal<std::int64_t>(text, 0, 3600);
           if (!seconds) {
             throw CLI::ValidationError(
                 "--storage-retry-seconds",
                 "expected a whole decimal number in [0, 3600], got \"" + text + "\"");
           }
           options.storage.retry_for = std::chrono::seconds(*seconds);
         },
         "how long a write that failed in a way that may pass (a full disk) is retried, its "
         "votes held unanswered and new ones answered 503, before storage fails; 0: fail at "
         "the first failure. Not in a replica group (its primary steps down)")
      ->type_name("N")
      ->default_str(std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(options.storage.retry_for).count()));
  add_number(app, "--io-threads", options.server.io_threads, 1, 256, "HTTP threads");
  app.add_flag("--demo", options.demo,
               "install campaigns/demo.json with its window moved to open now (same 12-day "
               "length); print a curl line to vote");
  app.add_flag("--protect-reads", options.server.protect_reads,
               "reads (tally, campaigns, fraud, metrics, dashboard, health) need a token too "
               "(a read token is enough). Default: reads are public");
  app.add_option("--cors-origin", options.server.cors_origins,
                 "browser pages of ORIGIN (https://host[:port], or * for any) may read "
                 "campaigns, tallies, streams and fraud views (CORS; never votes). Repeatable. "
                 "Default: no CORS headers")
      ->type_name("ORIGIN")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->check([](const std::string& origin) {
        // `*`, or scheme://host[:port] as a browser sends it in Origin: nothing after the host.
        const std::size_t scheme = origin.find("://");
        const bool ok = origin == "*" ||
                        (scheme != std::string::npos && scheme > 0 && origin.size() > scheme + 3 &&
                         origin.find_first_of("/?#@ ", scheme + 3) == std::string::npos);
        return ok ? std::string() : "expected scheme://host[:port] or *, got \"" + origin + "\"";
      });
  app.add_option("--log-level", options.log_level,
                 "least severe log lines written, RocksDB's included (docs/LOGS.md): trace, debug, "
                 "info, warn, error")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  constexpr char kCluster[] = "Replica group (docs/CLUSTER.md)";
  app.add_option_function<std::string>(
         "--cluster",
         [&options](const std::string& urls) {
           options.cluster_servers.clear();
           std::string_view rest = urls;
           while (!rest.empty()) {
             const std::size_t comma = rest.find(',');
             const std::string_view url = rest.substr(0, comma);
             if (url.empty()) {
               throw CLI::ValidationError("--cluster", "an empty server in \"" + urls + "\"");
             }
             options.cluster_servers.emplace_back(url);
             rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
           }
         },
         "join shard s0's replica group on these NATS JetStream servers (primary or "
         "standby). Default: alone")
      ->type_name("nats://HOST:PORT,...")
      ->group(kCluster);
  app.add_option("--node", options.node,
                 "this node's name in the group, [A-Za-z0-9_-]{1,64}. Default: the host name")
      ->type_name("NAME")
      ->check([](const std::string& name) {
        return is_node_name(name) ? std::string()
                                  : "expected [A-Za-z0-9_-]{1,64}, got \"" + name + "\"";
      })
      ->group(kCluster);
  app.add_option("--advertise", options.advertise,
                 "where other nodes and the gateway reach this one (the Tally-Primary header). "
                 "Default: the listen address")
      ->type_name("HOST:PORT")
      ->check([](const std::string& value) {
        std::string host;
        std::uint16_t port = 0;
        return split_listen(value, host, port) && value.find(' ') == std::string::npos
                   ? std::string()
                   : "expected HOST:PORT, got \"" + value + "\"";
      })
      ->group(kCluster);

  constexpr char kLimits[] = "Limits (over one: 413, 431, 429 or 503 with Retry-After)";
  add_number(app, "--max-header-bytes", limits.max_header_bytes, std::size_t{1024}, kMiB,
             "request line and headers (431)")
      ->group(kLimits);
  add_number(app, "--max-body-bytes", limits.max_body_bytes, std::size_t{1024}, 64 * kMiB,
             "body of a single vote and other calls (413)")
      ->group(kLimits);
  add_number(app, "--max-batch-bytes", limits.max_batch_body_bytes, std::size_t{1024}, kGiB,
             "body of POST /v1/votes:batch (413)")
      ->group(kLimits);
  add_number(app, "--max-batch-lines", limits.max_batch_lines, std::size_t{1},
             std::size_t{1'000'000}, "lines of one batch (413)")
      ->group(kLimits);
  add_number(app, "--max-campaign-bytes", limits.max_campaign_body_bytes, std::size_t{1024},
             64 * kMiB, "body of PUT /v1/campaigns/{id} (413)")
      ->group(kLimits);
  add_number(app, "--max-inflight-body-bytes", limits.max_inflight_body_bytes, std::size_t{1024},
             64 * kGiB, "batch and campaign bodies read or handled at once; more get 503")
      ->group(kLimits);
  add_number(app, "--max-connections", limits.max_connections, std::size_t{1},
             std::size_t{1'000'000}, "open connections; more get 503")
      ->group(kLimits);
  add_number(app, "--max-connections-per-peer", limits.max_connections_per_peer, std::size_t{1},
             std::size_t{1'000'000}, "open connections from one address; more get 429")
      ->group(kLimits);
  add_milliseconds(app, "--idle-timeout-ms", limits.idle_timeout,
                   "keep-alive wait for the next request")
      ->group(kLimits);
  add_milliseconds(app, "--header-timeout-ms", limits.header_timeout,
                   "first byte to end of headers (slowloris)")
      ->group(kLimits);
  add_milliseconds(app, "--body-timeout-ms", limits.body_timeout, "to receive a body")
      ->group(kLimits);
  add_number(app, "--pipeline-depth", limits.pipeline_depth, std::size_t{1}, std::size_t{1024},
             "pipelined requests read ahead per connection")
      ->group(kLimits);
  add_number(app, "--max-tally-streams", limits.max_tally_streams, std::size_t{0},
             std::size_t{1'000'000}, "open GET .../tally/stream connections; more get 503")
      ->group(kLimits);
  add_number(app, "--queue-depth", options.storage.queue_capacity, std::size_t{1},
             std::size_t{100'000'000}, "votes waiting for the storage writer; more get 503")
      ->group(kLimits);
  add_number(app, "--commit-batch-events", options.storage.max_batch_events, std::size_t{1},
             std::size_t{1'000'000},
             "most events the writer commits (and replicates) as one record")
      ->group(kLimits);

  constexpr std::int64_t kTenYearsMs = 10LL * 366 * 24 * 3600 * 1000;
  add_number(app, "--unsafe-test-clock-offset-ms", options.clock_offset_ms, -kTenYearsMs,
             kTenYearsMs,
             "shifts the server clock by N ms (window and period tests). Never use in production")
      ->group("Testing only");
}

}  // namespace

std::optional<int> parse_options(int argc, const char* const* argv, Options& options) {
  options.server.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app(kDescription, "tallyd");
  app.footer(kFooter);
  cli::use_help_layout(app, 34);
  app.set_version_flag("--version", "tallyd " + std::string(base::version()) + " (revision " +
                                        std::string(base::revision()) + ")");
  app.set_config("--config", "", "read options from FILE (see below)")->type_name("FILE");
  app.allow_config_extras(false);  // a misspelt key in the file is an error, not ignored
  // An option given twice takes its last value, as scripts that append an override expect.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_options(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" that exit 0 after printing to stdout; the rest print
    // their reason to stderr and are a usage error, whatever code CLI11 would give them.
    const int code = app.exit(error);
    return code == 0 ? kExitStopped : kExitUsage;
  }
  split_listen(options.listen, options.server.host, options.server.port);
  options.storage.data_dir = options.data_dir;
  return std::nullopt;
}

}  // namespace tally::tallyd
