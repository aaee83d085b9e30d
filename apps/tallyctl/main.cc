// tallyctl: the auditors' and operators' tool. Parses the command line (CLI11, in this file
// only: it compiles slowly) and prints; the work is in tally/storage/audit.h. Exit status: 0
// success, 1 a check failed or an error, 2 bad usage.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/json.h"
#include "tally/base/json_writer.h"
#include "tally/base/read_file.h"
#include "tally/base/version.h"
#include "tally/cli/decimal.h"
#include "tally/cli/help_layout.h"
#include "tally/cluster/stream_audit.h"
#include "tally/engine/engine.h"
#include "tally/ingest/tokens.h"
#include "tally/publog/log_keys.h"
#include "tally/storage/audit.h"
#include "tally/storage/fraud_report.h"
#include "tally/storage/public_audit.h"
#include "progress.h"

namespace {

using tally::ctl::progress_wanted;
using tally::ctl::ProgressLine;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr std::uint64_t kMaxTop = 9999;

constexpr char kDescription[] =
    "tallyctl - audit and operate the vote log of a tally server\n"
    "\n"
    "Checks, exports, recounts and backs up the RocksDB data dir of tallyd, and makes its "
    "bearer tokens. Databases are opened read-only: a running tallyd is never disturbed. While a "
    "command reads a large log "
    "and stderr is a terminal, a progress line on stderr shows the events read and the rate "
    "(--no-progress turns it off).";

constexpr char kExitStatus[] =
    "Exit status:\n"
    "  0  success (the log verified, the stream matched, the replay agreed)\n"
    "  1  a check failed (verify, replay --expect, compare-stream), or an error\n"
    "     such as an unreadable data dir\n"
    "  2  bad usage: an unknown command or option, a missing required option, a\n"
    "     malformed value\n";

// Every option a command may take; each subcommand binds the ones it has.
struct Args {
  std::string data_dir;
  std::string campaign;
  std::uint64_t from_seq = 0;
  bool redact = false;
  std::string redact_key_file;
  std::string export_file;
  std::string expect_file;
  std::string verify_format = "text";
  std::string results_format = "csv";
  std::string fraud_format = "text";
  std::string fraud_lang;  // html: zh or en, else from the campaign's title
  std::string out_file;    // fraud-report --out
  bool bom = false;
  std::uint64_t top = 10;
  std::string to_dir;
  std::string cluster;
  std::string shard = "s0";
  bool prefix = false;
  bool no_progress = false;
  std::string token_kind;
  std::string tokens_file;
  std::string public_dir;    // verify --public
  std::string out_dir;       // publish, log-keys new
  std::string log_keys_dir;  // publish, tag-key
  std::string receipt_file;
  std::string key_file;
  std::string bundle_dir;
};

// An option whose value must be a whole decimal number in [min, max] ("--top: must be a whole
// number in 1..9999, got 0").
CLI::Option* add_number(CLI::App* command, const std::string& name, std::uint64_t& value,
                        std::uint64_t min, std::uint64_t max, const std::string& help) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  auto check = [min, max, range](std::string& text) -> std::string {
    if (tally::cli::parse_decimal(text, min, max)) return {};
    return "must be a whole number in " + range + ", got \"" + text + "\"";
  };
  return command
      ->add_option_function<std::string>(
          name,
          [&value, min, max](const std::string& text) {
            value = *tally::cli::parse_decimal(text, min, max);  // checked before this runs
          },
          help)
      ->check(CLI::Validator(check, ""))
      ->type_name("N");
}

// A check that the value is one of `words`, listed by the option's type name in the help.
CLI::Validator one_of(std::vector<std::string> words) {
  return CLI::IsMember(std::move(words)).description("");
}

CLI::Option* add_data_dir(CLI::App* command, Args& args) {
  return command
      ->add_option("--data-dir", args.data_dir, "The data dir of tallyd (opened read-only)")
      ->required()
      ->type_name("DIR");
}

void add_no_progress(CLI::App* command, Args& args) {
  command->add_flag("--no-progress", args.no_progress,
                    "No progress line on stderr, even when it is a terminal");
}

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* command = app.add_subcommand(name, description);
  command->footer(kExitStatus);
  return command;
}

std::string version_line() {
  return "tallyctl " + std::string(tally::base::version()) + " (revision " +
         std::string(tally::base::revision()) + ")";
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "tallyctl: " << (command.empty() ? "" : command + ": ") << message << "\n"
            << "Try 'tallyctl " << (command.empty() ? "" : command + " ") << "--help'.\n";
  return kExitUsage;
}

int failed(const std::string& message) {
  std::cerr << "tallyctl: " << message << "\n";
  return kExitFailed;
}

// verify --public: a published bundle, with nothing else (and the log's key, when given).
int run_verify_public(const Args& args) {
  std::optional<std::string> expected_key;
  if (!args.key_file.empty()) {
    auto key = tally::read_file(args.key_file);
    if (!key.ok()) return failed("verify: cannot read " + args.key_file);
    expected_key = std::move(*key);
  }
  ProgressLine progress("verify", "lines", progress_wanted(args.no_progress, false));
  const tally::storage::BundleCheck check =
      tally::storage::verify_bundle(args.public_dir, progress.hook(), expected_key);
  progress.erase();
  if (args.verify_format == "json") {
    std::string out;
    tally::JsonWriter json(out);
    json.begin_object().key("ok").boolean(check.ok);
    json.key("size").integer(check.size);
    json.key("root").string(check.root_hex);
    json.key("campaign").string(check.campaign);
    if (check.ok) {
      json.key("first_failure").null();
    } else {
      json.key("first_failure").begin_object();
      json.key("step").integer(check.step).key("line").integer(check.line);
      json.key("reason").string(check.reason).end_object();
    }
    json.end_object();
    std::cout << out << "\n";
  } else {
    std::cout << to_string(check) << "\n";
  }
  return check.ok ? kExitOk : kExitFailed;
}

int run_verify(const Args& args) {
  if (args.public_dir.empty() == args.data_dir.empty()) {
    return usage_error("verify", "give one of --data-dir and --public");
  }
  if (!args.public_dir.empty()) return run_verify_public(args);
  ProgressLine progress("verify", "events", progress_wanted(args.no_progress, false));
  auto report = tally::storage::verify_log(args.data_dir, progress.hook(), args.log_keys_dir);
  progress.erase();
  if (!report.ok()) {
    // A script reading the JSON gets an answer even when the log could not be read at all.
    if (args.verify_format == "json") {
      std::string line = "{\"ok\":false,\"error\":";
      tally::append_json_string(line, report.message());
      std::cout << line << "}\n";
    }
    return failed("verify: " + report.message());
  }
  if (args.verify_format == "json") {
    std::cout << tally::storage::verify_report_json(*report) << "\n";
    return report->ok() ? kExitOk : kExitFailed;
  }
  for (const auto& tally : report->tallies) {
    std::cout << "recount " << tally.campaign << ": " << tally.total << " votes, " << tally.suspect
              << " suspect";
    if (tally.voided > 0) std::cout << ", " << tally.voided << " void, " << tally.valid << " valid";
    std::cout << "\n";
  }
  if (report->public_tree == "checked") {
    std::cout << "public tree: " << report->last_seq << " leaves, root " << report->public_root_hex
              << "\n";
  } else if (!report->public_tree.empty()) {
    std::cout << "public tree: " << report->public_tree << "\n";
  }
  if (!report->ok()) {
    for (const auto& problem : report->problems) std::cout << to_string(problem) << "\n";
    std::cout << "verify: FAILED, " << report->problems.size() << " problem(s) in "
              << report->events << " events\n";
    return kExitFailed;
  }
  std::cout << "verify: ok, " << report->events << " events (" << report->votes << " votes, "
            << report->campaign_versions << " campaign versions"
            << (report->epochs > 0 ? ", " + std::to_string(report->epochs) + " epochs" : "")
            << (report->flags > 0 ? ", " + std::to_string(report->flags) + " flags" : "")
            << (report->decisions > 0 ? ", " + std::to_string(report->decisions) + " decisions"
                                      : "")
            << "), last seq " << report->last_seq << ", chain head " << report->chain_head_hex
            << "\n";
  return kExitOk;
}

int run_export(const Args& args) {
  tally::storage::ExportOptions options;
  options.data_dir = args.data_dir;
  options.campaign = args.campaign;
  options.redact = args.redact;
  options.from_seq = args.from_seq;
  if (!args.redact_key_file.empty()) {
    auto key = tally::read_file(args.redact_key_file);
    if (!key.ok()) return failed("export: cannot read " + args.redact_key_file);
    options.redact_key = std::move(*key);
    options.redact = true;
  }
  ProgressLine progress("export", "events", progress_wanted(args.no_progress, true));
  options.progress = progress.hook();
  std::ios::sync_with_stdio(false);
  auto status = tally::storage::export_log(options, std::cout);
  progress.erase();
  if (!status.ok()) return failed("export: " + status.message());
  return kExitOk;
}

int run_replay(const Args& args) {
  std::ifstream in(args.export_file);
  if (!in) return failed("replay: cannot read " + args.export_file);
  auto tallies = tally::storage::replay_export(in);
  if (!tallies.ok()) return failed("replay: " + args.export_file + ": " + tallies.message());
  for (const auto& tally : *tallies) std::cout << tally::engine::tally_to_json(tally) << "\n";
  if (args.expect_file.empty()) return kExitOk;
  std::ifstream expected(args.expect_file);
  if (!expected) return failed("replay: cannot read " + args.expect_file);
  auto differences = tally::storage::compare_tallies(*tallies, expected);
  if (!differences.ok()) return failed("replay: " + differences.message());
  for (const auto& difference : *differences) std::cerr << difference << "\n";
  return differences->empty() ? kExitOk : kExitFailed;
}

int run_results(const Args& args) {
  if (args.bom && args.results_format != "csv")
    return usage_error("results", "--bom: only with csv");
  ProgressLine progress("results", "events", progress_wanted(args.no_progress, false));
  auto results = tally::storage::campaign_results(args.data_dir, args.campaign, progress.hook());
  progress.erase();
  if (!results.ok()) return failed("results: " + results.message());
  if (args.results_format == "csv") {
    std::cout << tally::storage::results_csv(*results, args.bom);
  } else {
    std::cout << tally::engine::tally_to_json(results->tally) << "\n";
  }
  return kExitOk;
}

int run_fraud_report(const Args& args) {
  if (!args.fraud_lang.empty() && args.fraud_format != "html") {
    return usage_error("fraud-report", "--lang: only with html");
  }
  ProgressLine progress("fraud-report", "events", progress_wanted(args.no_progress, false));
  auto report =
      tally::storage::fraud_report(args.data_dir, args.campaign, args.top, progress.hook());
  progress.erase();
  if (!report.ok()) return failed("fraud-report: " + report.message());
  std::string document;
  if (args.fraud_format == "json") {
    document = tally::storage::fraud_report_json(*report);
  } else if (args.fraud_format == "html") {
    using tally::storage::ReportLanguage;
    const ReportLanguage language = args.fraud_lang.empty()
                                        ? tally::storage::report_language_of(report->title)
                                    : args.fraud_lang == "zh" ? ReportLanguage::zh
                                                              : ReportLanguage::en;
    document = tally::storage::fraud_report_html(*report, language);
  } else {
    document = tally::storage::fraud_report_text(*report);
  }
  if (args.out_file.empty()) {
    std::cout << document;
    return kExitOk;
  }
  std::ofstream out(args.out_file, std::ios::binary | std::ios::trunc);
  out << document;
  out.close();
  if (!out) return failed("fraud-report: cannot write " + args.out_file);
  return kExitOk;
}

int run_backup(const Args& args) {
  ProgressLine progress("backup", "records", progress_wanted(args.no_progress, false));
  auto status = tally::storage::backup_log(args.data_dir, args.to_dir, progress.hook());
  progress.erase();
  if (!status.ok()) return failed(status.message());
  // A restore is the copy put in the data dir's place. The frontends keep their tokens, so the
  // tokens file tallyd generated there goes with it (a file named by --tokens lives elsewhere
  // and is the operator's to keep).
  const std::filesystem::path tokens = std::filesystem::path(args.data_dir) / "tokens.json";
  std::error_code error;
  if (std::filesystem::exists(tokens, error)) {
    std::filesystem::copy_file(tokens, std::filesystem::path(args.to_dir) / "tokens.json", error);
    if (error) return failed("backup: copy " + tokens.string() + ": " + error.message());
  }
  // So do the public log's keys: a restored log signs with the key its checkpoints were
  // published under, and tags voters as before.
  const std::filesystem::path keys = std::filesystem::path(args.data_dir) / "log-keys";
  if (std::filesystem::exists(keys, error)) {
    std::filesystem::copy(keys, std::filesystem::path(args.to_dir) / "log-keys",
                          std::filesystem::copy_options::recursive, error);
    if (error) return failed("backup: copy " + keys.string() + ": " + error.message());
  }
  std::cout << "backup: " << args.data_dir << " -> " << args.to_dir << "\n";
  return kExitOk;
}

int run_compare_stream(const Args& args) {
  std::vector<std::string> servers;
  std::stringstream list(args.cluster);
  for (std::string url; std::getline(list, url, ',');) {
    if (!url.empty()) servers.push_back(url);
  }
  auto compared = tally::cluster::compare_with_stream(servers, args.shard, args.data_dir);
  if (!compared.ok()) return failed("compare-stream: " + compared.message());
  for (const auto& problem : compared->problems) std::cout << problem << "\n";
  const bool ok = args.prefix ? compared->prefix() : compared->equal();
  std::cout << "compare-stream: " << (ok ? "ok" : "FAILED") << ", " << compared->matching << " of "
            << compared->local_records << " records match the stream's first " << compared->matching
            << "; the stream holds " << compared->stream_records << "\n";
  return ok ? kExitOk : kExitFailed;
}

// A new random token on stdout, its digest appended to the tokens file (when one is named) by
// replacing the file whole, so that tallyd's SIGHUP never reads half of it.
int run_token_new(const Args& args) {
  auto token = tally::ingest::generate_token(args.token_kind);
  if (!token.ok()) return failed("token new: " + token.message());
  const std::string digest = tally::ingest::token_digest(*token);
  if (args.tokens_file.empty()) {
    std::cout << *token << "\n";
    std::cerr << "tallyctl: token new: its entry for the \"" << args.token_kind
              << "\" list of a tokens file: " << digest << "\n";
    return kExitOk;
  }
  tally::ingest::TokenSet tokens;
  std::error_code error;
  if (std::filesystem::exists(args.tokens_file, error)) {
    auto read = tally::ingest::read_tokens_file(args.tokens_file, false);
    if (!read.ok()) return failed("token new: " + read.message());
    tokens = std::move(read).value();
  }
  tally::ingest::entries_of(tokens, args.token_kind)->push_back(digest);
  if (auto status =
          tally::ingest::replace_file(args.tokens_file, tally::ingest::tokens_to_json(tokens));
      !status.ok()) {
    return failed("token new: " + status.message());
  }
  std::cout << *token << "\n";
  std::cerr << "tallyctl: token new: " << args.token_kind << " token's digest added to "
            << args.tokens_file
            << "; send tallyd SIGHUP (systemctl reload tallyd) to use it. The token is shown "
               "only here.\n";
  return kExitOk;
}

int run_publish(const Args& args) {
  tally::storage::PublishOptions options;
  options.data_dir = args.data_dir;
  options.campaign = args.campaign;
  options.out_dir = args.out_dir;
  options.log_keys_dir = args.log_keys_dir;
  ProgressLine progress("publish", "events", progress_wanted(args.no_progress, false));
  options.progress = progress.hook();
  auto report = tally::storage::publish_bundle(options);
  progress.erase();
  if (!report.ok()) return failed("publish: " + report.message());
  std::cout << "published " << args.out_dir << ": " << report->size << " events ("
            << report->campaign_votes << " votes of " << args.campaign << "), root "
            << report->root_hex << ", log id " << report->log_id << "\n";
  return kExitOk;
}

int run_verify_receipt(const Args& args) {
  const auto receipt = tally::read_file(args.receipt_file);
  if (!receipt.ok()) return failed("verify-receipt: cannot read " + args.receipt_file);
  const auto key = tally::read_file(args.key_file);
  if (!key.ok()) return failed("verify-receipt: cannot read " + args.key_file);
  const std::string why = tally::storage::verify_receipt(
      *receipt, *key,
      args.bundle_dir.empty() ? std::nullopt : std::optional<std::string>(args.bundle_dir));
  if (!why.empty()) {
    std::cout << "FAIL receipt: " << why << "\n";
    return kExitFailed;
  }
  std::cout << "receipt verifies" << (args.bundle_dir.empty() ? "" : " and is in the bundle")
            << "\n";
  return kExitOk;
}

int run_log_keys_new(const Args& args) {
  auto keys = tally::publog::create_log_keys(args.out_dir);
  if (!keys.ok()) return failed("log-keys new: " + keys.message());
  std::cout << "log keys written to " << args.out_dir << " (log id "
            << keys->signing.public_key().log_id()
            << "); install the directory on every node of the replica group and pass "
               "--log-keys\n";
  return kExitOk;
}

int run_tag_key(const Args& args) {
  auto key = tally::storage::campaign_tag_key(args.data_dir, args.log_keys_dir, args.campaign);
  if (!key.ok()) return failed("tag-key: " + key.message());
  std::cout << *key << "\n";
  return kExitOk;
}

// The digest of the token on stdin (one line), for a tokens file written by hand.
int run_token_hash() {
  std::string token;
  std::getline(std::cin, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  std::string rest;
  if (std::getline(std::cin, rest) && !rest.empty()) {
    return failed("token hash: one token on stdin, on one line");
  }
  if (auto status = tally::ingest::check_token(token); !status.ok()) {
    return failed("token hash: stdin: " + status.message());
  }
  std::cout << tally::ingest::token_digest(token) << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // A backup holds what the data dir holds (voters' ids, devices, addresses): it is created
  // for this user alone, whatever the caller's umask.
  ::umask(077);
  // `tallyctl help [COMMAND]`, as before CLI11, is `tallyctl [COMMAND] --help`.
  std::vector<std::string> words(argv + 1, argv + argc);
  if (!words.empty() && words.front() == "help") {
    words.erase(words.begin());
    words.emplace_back("--help");
  }
  Args args;
  CLI::App app(kDescription, "tallyctl");
  tally::cli::use_help_layout(app, 30);
  app.footer(kExitStatus);
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", version_line, "Print the version and git revision and exit");
  app.require_subcommand(1);
  // An option given twice counts as given last, as it always has.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  CLI::App* verify =
      add_command(app, "verify",
                  "Checks that the log is sound. The hash chain is intact, every accepted vote "
                  "obeys the rules (no duplicate, quota, window, known candidate), and the "
                  "stored tallies equal the recount. Exit 0 when sound, 1 when not.");
  add_data_dir(verify, args)->required(false);
  verify
      ->add_option("--public", args.public_dir,
                   "Check a bundle of tallyctl publish instead, with nothing else: the "
                   "checkpoint's signature, every line's leaf and the root, the rules on tags, "
                   "and the recount against results.json (docs/EVENT_FORMAT.md \"Bundle\")")
      ->type_name("DIR");
  verify
      ->add_option("--key", args.key_file,
                   "With --public: the log's public key (PEM) as obtained apart from the bundle "
                   "(GET /v1/log/key, the notice); the bundle's log-key.pem must be it. Without "
                   "it a bundle re-signed by a forger's own key would verify")
      ->type_name("PEM");
  verify
      ->add_option("--format", args.verify_format,
                   "Text (a line per problem, then a summary) or json (one object: ok, counts, "
                   "failures, first_failure, elapsed_s). Default: text")
      ->check(one_of({"text", "json"}))
      ->type_name("text|json");
  verify
      ->add_option("--log-keys", args.log_keys_dir,
                   "The log's keys, to check every hash of the public tree against the events' "
                   "public forms. Default: DATA_DIR/log-keys")
      ->type_name("DIR");
  add_no_progress(verify, args);

  CLI::App* exporter = add_command(
      app, "export",
      "Writes the log as NDJSON on stdout. Campaign versions first, then votes. The progress "
      "line is shown only when stdout is not the terminal.");
  add_data_dir(exporter, args);
  exporter->add_option("--campaign", args.campaign, "Only this campaign. Default: every campaign")
      ->type_name("ID");
  add_number(exporter, "--from", args.from_seq, 0, UINT64_MAX,
             "Votes from this seq on (campaign versions are always all included). Default: 0")
      ->type_name("SEQ");
  exporter->add_flag("--redact", args.redact,
                     "Replace voter, device and ip by keyed hashes (HMAC-SHA-256), with a random "
                     "key unless --redact-key-file");
  exporter
      ->add_option("--redact-key-file", args.redact_key_file,
                   "The hashes' key, read from FILE (implies --redact): the same voter hashes "
                   "alike across exports")
      ->type_name("FILE");
  add_no_progress(exporter, args);

  CLI::App* replay = add_command(
      app, "replay",
      "Recomputes the tallies from an export. Prints them in the /tally shape, one line per "
      "campaign.");
  replay->add_option("FILE", args.export_file, "An export (NDJSON) of tallyctl export")->required();
  replay
      ->add_option("--expect", args.expect_file,
                   "Compare votes and void votes per candidate with these tallies (the /tally "
                   "shape) and exit 1 "
                   "on any difference")
      ->type_name("FILE");

  CLI::App* results = add_command(
      app, "results",
      "Prints the committee's ranking of one campaign: per candidate its votes, suspect "
      "votes (flagged at commit or later), void votes and valid votes (votes - void), ranked "
      "by valid votes; disqualified candidates last, without a rank.");
  add_data_dir(results, args);
  results->add_option("--campaign", args.campaign, "The campaign")->required()->type_name("ID");
  results
      ->add_option("--format", args.results_format,
                   "Csv (RFC 4180, UTF-8) or json (the /tally shape). Default: csv")
      ->check(one_of({"csv", "json"}))
      ->type_name("csv|json");
  results->add_flag("--bom", args.bom,
                    "Start the CSV with a UTF-8 byte order mark, for Excel on Windows (which "
                    "otherwise shows Chinese names as mojibake)");
  add_no_progress(results, args);

  CLI::App* fraud = add_command(
      app, "fraud-report",
      "Prints the committee's evidence on one campaign. Totals, decisions and the ranking by "
      "valid votes, then the largest suspicious clusters by IP, subnet and device: their votes, "
      "flags, voters, devices, agents, candidates, timing, the decision taken on them and "
      "sample seqs.");
  add_data_dir(fraud, args);
  fraud->add_option("--campaign", args.campaign, "The campaign")->required()->type_name("ID");
  add_number(fraud, "--top", args.top, 1, kMaxTop, "Clusters of each kind. Default: 10");
  fraud
      ->add_option("--format", args.fraud_format,
                   "Text (aligned, for a terminal), json (one document, docs/FRAUD.md) or html "
                   "(a self-contained page to print on A4). Default: text")
      ->check(one_of({"text", "json", "html"}))
      ->type_name("text|json|html");
  fraud
      ->add_option("--lang", args.fraud_lang,
                   "The html page's language. Default: zh when the campaign's title holds "
                   "Chinese characters, else en")
      ->check(one_of({"zh", "en"}))
      ->type_name("zh|en");
  fraud->add_option("--out", args.out_file, "Write the report to FILE. Default: stdout")
      ->type_name("FILE");
  add_no_progress(fraud, args);

  CLI::App* backup = add_command(
      app, "backup",
      "Copies the log, consistently, while tallyd runs. The copy is readable by this user "
      "only.");
  add_data_dir(backup, args);
  backup->add_option("--to", args.to_dir, "The copy's directory; must not exist or be empty")
      ->required()
      ->type_name("DIR");
  add_no_progress(backup, args);

  CLI::App* compare = add_command(
      app, "compare-stream",
      "Holds a replica's log to its shard's stream. Record for record: exit 0 when the data dir "
      "holds the stream (or, with --prefix, a prefix of it).");
  add_data_dir(compare, args);
  compare->add_option("--cluster", args.cluster, "The NATS servers")
      ->required()
      ->type_name("nats://HOST:PORT,...");
  compare->add_option("--shard", args.shard, "The shard. Default: s0")->type_name("NAME");
  compare->add_flag("--prefix", args.prefix, "The data dir may hold a prefix of the stream");

  CLI::App* publish = add_command(
      app, "publish",
      "Writes the public bundle of the log for the notice: every event's public form (voters, "
      "devices and addresses as keyed tags), a signed checkpoint, the log's public key, the "
      "campaign's results (CSV and JSON) and how to check them, in Chinese and English.");
  add_data_dir(publish, args);
  publish->add_option("--campaign", args.campaign, "The campaign whose results it publishes")
      ->required()
      ->type_name("ID");
  publish->add_option("--out", args.out_dir, "The bundle's directory; must not exist or be empty")
      ->required()
      ->type_name("DIR");
  publish
      ->add_option("--log-keys", args.log_keys_dir,
                   "The log's keys (they sign the checkpoint). Default: DATA_DIR/log-keys")
      ->type_name("DIR");
  add_no_progress(publish, args);

  CLI::App* verify_receipt = add_command(
      app, "verify-receipt",
      "Checks a voter's receipt (GET /v1/votes/{seq}/receipt) offline: the checkpoint's "
      "signature, the leaf of the event, the inclusion proof. With --bundle, also that the "
      "published bundle holds the event at its seq.");
  verify_receipt->add_option("FILE", args.receipt_file, "The receipt (JSON)")->required();
  verify_receipt->add_option("--key", args.key_file, "The log's public key (PEM)")
      ->required()
      ->type_name("PEM");
  verify_receipt->add_option("--bundle", args.bundle_dir, "A bundle of tallyctl publish")
      ->type_name("DIR");

  CLI::App* log_keys = add_command(
      app, "log-keys",
      "Makes the public log's keys (a signing key and a tag secret) for a replica group, whose "
      "nodes must share them.");
  log_keys->require_subcommand(1);
  CLI::App* log_keys_new =
      add_command(*log_keys, "new", "Writes new log keys into a directory (mode 0700).");
  log_keys_new->add_option("--out", args.out_dir, "The directory; must hold no keys")
      ->required()
      ->type_name("DIR");

  CLI::App* tag_key = add_command(
      app, "tag-key",
      "Prints a campaign's tag key (64 hex digits), for auditors who receive the full export: "
      "with it they tie each public event's tags to the stored values.");
  add_data_dir(tag_key, args);
  tag_key->add_option("--campaign", args.campaign, "The campaign")->required()->type_name("ID");
  tag_key->add_option("--log-keys", args.log_keys_dir, "The log's keys. Default: DATA_DIR/log-keys")
      ->type_name("DIR");

  CLI::App* token = add_command(
      app, "token",
      "Makes bearer tokens and their digests for tallyd's tokens file. The file holds digests "
      "(sha256:...) only; tallyd re-reads it on SIGHUP.");
  token->require_subcommand(1);
  CLI::App* token_new = add_command(
      *token, "new",
      "Prints a new random token, once, on stdout. With --tokens, adds its digest to that file "
      "(replaced atomically; created 0600 if absent). Then send tallyd SIGHUP to use it.");
  token_new->add_option("--kind", args.token_kind, "The token's kind")
      ->required()
      ->check(one_of({"ingest", "admin", "read"}))
      ->type_name("ingest|admin|read");
  token_new
      ->add_option("--tokens", args.tokens_file,
                   "The tokens file to add its digest to. Default: none; the digest is printed "
                   "on stderr")
      ->type_name("FILE");
  CLI::App* token_hash = add_command(
      *token, "hash",
      "Prints the digest (sha256:...) of the token read from stdin. For the tokens file, in "
      "place of the token in plaintext.");

  try {
    std::reverse(words.begin(), words.end());  // CLI11 takes them last first
    app.parse(words);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const auto chosen = app.get_subcommands();
    std::string command = chosen.empty() ? "" : chosen.front()->get_name();
    for (const CLI::App* sub : chosen.empty() ? chosen : chosen.front()->get_subcommands()) {
      command += " " + sub->get_name();  // "token new"
    }
    // What CLI11 could not place, in the order given: name the first (CLI11's message lists
    // them last first).
    const std::vector<std::string> extras = app.remaining(true);
    if (!extras.empty() && extras.front().starts_with('-')) {
      return usage_error(command,
                         "unknown option " + extras.front().substr(0, extras.front().find('=')));
    }
    if (!extras.empty() && chosen.empty()) {
      return usage_error("", "unknown command \"" + extras.front() + "\"");
    }
    if (!extras.empty()) {
      return usage_error(command, "unexpected argument \"" + extras.front() + "\"");
    }
    if (chosen.empty()) return usage_error("", "a command is required");
    return usage_error(command, e.what());
  }

  if (*verify) return run_verify(args);
  if (*exporter) return run_export(args);
  if (*replay) return run_replay(args);
  if (*results) return run_results(args);
  if (*fraud) return run_fraud_report(args);
  if (*backup) return run_backup(args);
  if (*compare) return run_compare_stream(args);
  if (*token_new) return run_token_new(args);
  if (*token_hash) return run_token_hash();
  if (*publish) return run_publish(args);
  if (*verify_receipt) return run_verify_receipt(args);
  if (*log_keys_new) return run_log_keys_new(args);
  if (*tag_key) return run_tag_key(args);
  return usage_error("", "a command is required");
}
