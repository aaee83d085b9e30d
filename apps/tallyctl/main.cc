// tallyctl: the auditors' and operators' tool. Parses arguments and prints; the work is in
// tally/storage/audit.h. Exit status: 0 success, 1 a check failed or an error, 2 bad usage.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tally/cluster/stream_audit.h"
#include "tally/engine/engine.h"
#include "tally/storage/audit.h"
#include "tally/storage/fraud_report.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: tallyctl COMMAND [options]\n"
    "  verify  --data-dir DIR\n"
    "      chain intact, every accepted vote obeys the rules, meta agrees; exit 0 or 1\n"
    "  export  --data-dir DIR [--campaign ID] [--from SEQ] [--redact]\n"
    "          [--redact-key-file FILE]\n"
    "      NDJSON on stdout: campaign versions first, then votes; --redact replaces voter,\n"
    "      device and ip by keyed hashes (a random key unless --redact-key-file)\n"
    "  replay  FILE [--expect FILE]\n"
    "      tallies recomputed from an export, in the /tally shape, one line per campaign;\n"
    "      --expect compares votes per candidate and exits 1 on any difference\n"
    "  results --data-dir DIR --campaign ID --format csv|json\n"
    "      the committee's ranking with votes and suspect votes per candidate\n"
    "  fraud-report --data-dir DIR --campaign ID [--top N] [--format text|json]\n"
    "      the largest suspicious clusters by IP, subnet and device, with votes per\n"
    "      candidate, flags and sample seqs\n"
    "  backup  --data-dir DIR --to DIR2\n"
    "      a consistent copy, safe while tallyd runs\n"
    "  compare-stream --data-dir DIR --cluster nats://HOST:PORT,... [--shard s0]\n"
    "      a replica's log against its shard's stream, record for record: exit 0 when the\n"
    "      data dir holds the stream (or, with --prefix, a prefix of it)\n"
    "Databases are opened read-only: a running tallyd is never disturbed.\n";

// Options after the command: "--name value" pairs, "--flag" switches, positionals.
struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> positionals;
  std::string error;

  std::string get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return values.count(name) != 0; }
};

Args parse_args(int argc, char** argv, const std::vector<std::string_view>& switches) {
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      args.positionals.emplace_back(arg);
      continue;
    }
    bool is_switch = false;
    for (auto name : switches) is_switch = is_switch || arg == name;
    if (is_switch) {
      args.values[std::string(arg)] = "1";
    } else if (i + 1 < argc) {
      args.values[std::string(arg)] = argv[++i];
    } else {
      args.error = std::string(arg);
      args.error += ": needs a value";
    }
  }
  return args;
}

int usage_error(const std::string& message) {
  std::cerr << "tallyctl: " << message << "\n" << kUsage;
  return kExitUsage;
}

int failed(const std::string& message) {
  std::cerr << "tallyctl: " << message << "\n";
  return kExitFailed;
}

int run_verify(const Args& args) {
  if (!args.has("--data-dir")) return usage_error("verify: --data-dir is required");
  auto report = tally::storage::verify_log(args.get("--data-dir"));
  if (!report.ok()) return failed("verify: " + report.message());
  for (const auto& tally : report->tallies) {
    std::cout << "recount " << tally.campaign << ": " << tally.total << " votes, " << tally.suspect
              << " suspect\n";
  }
  if (!report->ok()) {
    for (const auto& problem : report->problems) std::cout << problem << "\n";
    std::cout << "verify: FAILED, " << report->problems.size() << " problem(s) in "
              << report->events << " events\n";
    return kExitFailed;
  }
  std::cout << "verify: ok, " << report->events << " events (" << report->votes << " votes, "
            << report->campaign_versions << " campaign versions"
            << (report->epochs > 0 ? ", " + std::to_string(report->epochs) + " epochs" : "")
            << "), last seq " << report->last_seq << ", chain head " << report->chain_head_hex
            << "\n";
  return kExitOk;
}

int run_export(const Args& args) {
  if (!args.has("--data-dir")) return usage_error("export: --data-dir is required");
  tally::storage::ExportOptions options;
  options.data_dir = args.get("--data-dir");
  options.campaign = args.get("--campaign");
  options.redact = args.has("--redact");
  if (args.has("--from")) {
    try {
      options.from_seq = std::stoull(args.get("--from"));
    } catch (const std::exception&) {
      return usage_error("export: --from must be a seq");
    }
  }
  if (args.has("--redact-key-file")) {
    std::ifstream key_file(args.get("--redact-key-file"), std::ios::binary);
    if (!key_file) return failed("export: cannot read " + args.get("--redact-key-file"));
    std::ostringstream key;
    key << key_file.rdbuf();
    options.redact_key = key.str();
    options.redact = true;
  }
  std::ios::sync_with_stdio(false);
  auto status = tally::storage::export_log(options, std::cout);
  if (!status.ok()) return failed("export: " + status.message());
  return kExitOk;
}

int run_replay(const Args& args) {
  if (args.positionals.size() != 1) return usage_error("replay: one export FILE is required");
  std::ifstream in(args.positionals[0]);
  if (!in) return failed("replay: cannot read " + args.positionals[0]);
  auto tallies = tally::storage::replay_export(in);
  if (!tallies.ok()) return failed("replay: " + args.positionals[0] + ": " + tallies.message());
  for (const auto& tally : *tallies) std::cout << tally::engine::tally_to_json(tally) << "\n";
  if (!args.has("--expect")) return kExitOk;
  std::ifstream expected(args.get("--expect"));
  if (!expected) return failed("replay: cannot read " + args.get("--expect"));
  auto differences = tally::storage::compare_tallies(*tallies, expected);
  if (!differences.ok()) return failed("replay: " + differences.message());
  for (const auto& difference : *differences) std::cerr << difference << "\n";
  return differences->empty() ? kExitOk : kExitFailed;
}

int run_results(const Args& args) {
  if (!args.has("--data-dir") || !args.has("--campaign")) {
    return usage_error("results: --data-dir and --campaign are required");
  }
  const std::string format = args.has("--format") ? args.get("--format") : "csv";
  if (format != "csv" && format != "json") return usage_error("results: --format csv|json");
  auto results = tally::storage::campaign_results(args.get("--data-dir"), args.get("--campaign"));
  if (!results.ok()) return failed("results: " + results.message());
  if (format == "csv") {
    std::cout << tally::storage::results_csv(*results);
  } else {
    std::cout << tally::engine::tally_to_json(results->tally) << "\n";
  }
  return kExitOk;
}

int run_fraud_report(const Args& args) {
  if (!args.has("--data-dir") || !args.has("--campaign")) {
    return usage_error("fraud-report: --data-dir and --campaign are required");
  }
  const std::string format = args.has("--format") ? args.get("--format") : "text";
  if (format != "text" && format != "json") return usage_error("fraud-report: --format text|json");
  std::size_t top = 10;
  if (args.has("--top")) {
    const std::string text = args.get("--top");
    if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != text.npos ||
        std::stoul(text) == 0) {
      return usage_error("fraud-report: --top must be 1..9999");
    }
    top = std::stoul(text);
  }
  auto report = tally::storage::fraud_report(args.get("--data-dir"), args.get("--campaign"), top);
  if (!report.ok()) return failed("fraud-report: " + report.message());
  std::cout << (format == "json" ? tally::storage::fraud_report_json(*report)
                                 : tally::storage::fraud_report_text(*report));
  return kExitOk;
}

int run_backup(const Args& args) {
  if (!args.has("--data-dir") || !args.has("--to")) {
    return usage_error("backup: --data-dir and --to are required");
  }
  auto status = tally::storage::backup_log(args.get("--data-dir"), args.get("--to"));
  if (!status.ok()) return failed(status.message());
  std::cout << "backup: " << args.get("--data-dir") << " -> " << args.get("--to") << "\n";
  return kExitOk;
}

int run_compare_stream(const Args& args) {
  if (!args.has("--data-dir") || !args.has("--cluster")) {
    return usage_error("compare-stream: --data-dir and --cluster are required");
  }
  std::vector<std::string> servers;
  std::stringstream list(args.get("--cluster"));
  for (std::string url; std::getline(list, url, ',');) {
    if (!url.empty()) servers.push_back(url);
  }
  const std::string shard = args.has("--shard") ? args.get("--shard") : "s0";
  auto compared = tally::cluster::compare_with_stream(servers, shard, args.get("--data-dir"));
  if (!compared.ok()) return failed("compare-stream: " + compared.message());
  for (const auto& problem : compared->problems) std::cout << problem << "\n";
  const bool ok = args.has("--prefix") ? compared->prefix() : compared->equal();
  std::cout << "compare-stream: " << (ok ? "ok" : "FAILED") << ", " << compared->matching << " of "
            << compared->local_records << " records match the stream's first " << compared->matching
            << "; the stream holds " << compared->stream_records << "\n";
  return ok ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  // A backup holds what the data dir holds (voters' ids, devices, addresses): it is created
  // for this user alone, whatever the caller's umask.
  ::umask(077);
  if (argc < 2) return usage_error("a command is required");
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  const Args args = parse_args(argc, argv, {"--redact", "--prefix"});
  if (!args.error.empty()) return usage_error(args.error);
  if (command == "verify") return run_verify(args);
  if (command == "export") return run_export(args);
  if (command == "replay") return run_replay(args);
  if (command == "results") return run_results(args);
  if (command == "backup") return run_backup(args);
  if (command == "fraud-report") return run_fraud_report(args);
  if (command == "compare-stream") return run_compare_stream(args);
  return usage_error("unknown command " + std::string(command));
}
