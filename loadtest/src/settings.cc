// tally-loadgen's command line, on CLI11. CLI11 compiles slowly: this is the one file of the
// load generator that includes it.
#include "tally/loadtest/settings.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include "tally/base/version.h"
#include "tally/cli/decimal.h"
#include "tally/cli/help_layout.h"

namespace tally::loadtest {
namespace {

constexpr std::uint32_t kMaxBatchLines = 10'000;  // the server's batch limit
constexpr std::uint32_t kMaxConnections = 50'000;
constexpr double kDefaultDurationWithRequests = 300;  // safety bound when --requests is given
constexpr std::uint64_t kPreparedBallotBudget = 1'000'000;

// A finite decimal number ("2.5", "1e3"): nothing before or after it.
std::optional<double> parse_real(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    if (!part.empty()) parts.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

constexpr std::size_t kHelpColumn =
    32;  // where descriptions start: past "--target HOST:PORT REQUIRED"

constexpr char kDescription[] =
    "tally-loadgen - load a running tallyd with votes and report what it answered\n"
    "\n"
    "Sends votes to a running tallyd over keep-alive HTTP/1.1 connections and reports "
    "throughput, latency and answers by status (docs/LOADGEN.md). Every request is built "
    "before the clock starts.";

constexpr char kExitStatus[] =
    "Exit status:\n"
    "  0  done (and, with --verify, the tally grew by exactly the accepted votes)\n"
    "  1  --verify found a difference\n"
    "  2  bad usage, or the server could not be reached\n";

// Takes in an option's value: stores it and returns "", or returns the rule it breaks.
using Reader = std::function<std::string(const std::string&)>;

void add(CLI::App& app, const std::string& name, const std::string& type, const std::string& help,
         Reader read) {
  app.add_option_function<std::string>(
         name,
         [name, read = std::move(read)](const std::string& value) {
           if (std::string rule = read(value); !rule.empty()) {
             throw CLI::ValidationError(name, rule + ", got \"" + value + "\"");
           }
         },
         help)
      ->type_name(type);
}

// A whole number in [min, max] into `target`.
template <typename T>
Reader count_into(T& target, T min, T max) {
  return [&target, min, max](const std::string& value) -> std::string {
    const auto n = cli::parse_decimal<T>(value, min, max);
    if (n) {
      target = *n;
      return {};
    }
    if (max == std::numeric_limits<T>::max()) {
      return "must be a whole number >= " + std::to_string(min);
    }
    return "must be " + std::to_string(min) + ".." + std::to_string(max);
  };
}

// A number in [min, max] (above min when `above_min`) into `target`; `rule` says which.
Reader real_into(double& target, double min, double max, bool above_min, std::string rule) {
  return [&target, min, max, above_min, rule = std::move(rule)](const std::string& value) {
    const auto x = parse_real(value);
    if (!x || *x < min || *x > max || (above_min && *x == min)) return rule;
    target = *x;
    return std::string();
  };
}

// What the flags set beyond Settings, for the defaults that depend on several flags.
struct Given {
  bool duration = false;
  std::optional<std::uint64_t> prepare;
};

// The command line, bound to `s` and `given`.
std::unique_ptr<CLI::App> make_app(Settings& s, Given& given) {
  auto app = std::make_unique<CLI::App>(kDescription, "tally-loadgen");
  cli::use_help_layout(*app, kHelpColumn);
  app->footer(kExitStatus);
  app->set_help_flag("-h,--help", "Print this help and exit");
  app->set_version_flag("--version", version_line, "Print the version and git revision and exit");
  // A flag given twice counts as given last, as scripts that append to a common set expect
  // (bench/compare/compare.sh overrides --connections).
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI::App& a = *app;

  add(a, "--target", "HOST:PORT", "The tallyd to load", [&s](const std::string& value) {
    const std::size_t colon = value.rfind(':');
    const auto port = colon == std::string::npos
                          ? std::nullopt
                          : cli::parse_decimal<std::uint16_t>(
                                std::string_view(value).substr(colon + 1), 1, 65535);
    if (!port || *port == 0 || colon == 0) return std::string("must be HOST:PORT");
    s.target = value;
    s.run.host = value.substr(0, colon);
    if (s.run.host.size() > 2 && s.run.host.front() == '[') {
      s.run.host = s.run.host.substr(1, s.run.host.size() - 2);
    }
    s.run.port = *port;
    s.workload.host = value;
    return std::string();
  });
  a.get_option("--target")->required();
  a.add_option("--token", s.token, "Ingest bearer token")->type_name("TOKEN");
  a.add_option("--token-file", s.token_file,
               "Read the ingest token from a tokens file in plaintext "
               "(DATA_DIR/tokens.generated)")
      ->type_name("FILE");
  a.add_option("--campaign", s.population.campaign,
               "Campaign to vote in. Default: ordos-2023-zuimei")
      ->type_name("ID");
  add(a, "--candidates", "A,B,...",
      "Candidate ids, most popular first. Default: fetched from GET /v1/campaigns/ID",
      [&s](const std::string& value) {
        s.population.candidates = split_commas(value);
        if (s.population.candidates.empty() || s.population.candidates.size() > 65535) {
          return std::string("must list 1..65535 ids");
        }
        return std::string();
      });
  add(a, "--connections", "N", "Keep-alive connections. Default: 64",
      count_into<std::uint32_t>(s.run.connections, 1, kMaxConnections));
  add(a, "--threads", "N", "Generator I/O threads. Default: 1",
      count_into<std::uint32_t>(s.run.threads, 1, 256));
  add(a, "--mode", "single|batch", "POST /v1/votes or POST /v1/votes:batch. Default: single",
      [&s](const std::string& value) {
        if (value != "single" && value != "batch") return std::string("must be single or batch");
        s.workload.mode = value == "single" ? Mode::single : Mode::batch;
        return std::string();
      });
  add(a, "--batch-size", "N", "Ballots per batch request, 1..10000. Default: 100",
      count_into<std::uint32_t>(s.workload.batch_size, 1, kMaxBatchLines));
  add(a, "--pipeline", "N", "Requests in flight per connection. Default: 1",
      count_into<std::uint32_t>(s.run.pipeline, 1, 1024));
  add(a, "--rate", "R",
      "Open loop: R requests/s in total, latency from the due time; 0 is the closed loop. "
      "Default: 0",
      real_into(s.run.rate, 0, HUGE_VAL, false, "must be a number >= 0"));
  add(a, "--duration", "SECONDS",
      "Stop sending after this long. Default: 10 (300 as a bound when --requests is given)",
      [&given, read = real_into(s.run.duration_s, 0, 86'400, true,
                                "must be in (0, 86400] seconds")](const std::string& value) {
        given.duration = true;
        return read(value);
      });
  add(a, "--requests", "N", "Stop after N requests; 0 for no limit. Default: 0",
      count_into<std::uint64_t>(s.run.max_requests, 0, UINT64_MAX));
  add(a, "--prepare", "N",
      "Requests built before the run, then reused (reuse answers duplicate). Default: "
      "--requests if given, else 65536 single or 1000000/batch-size batch requests",
      [&given, n = std::uint64_t{0}](const std::string& value) mutable {
        std::string rule = count_into<std::uint64_t>(n, 1, 100'000'000)(value);
        if (rule.empty()) given.prepare = n;
        return rule;
      });
  a.add_flag_callback(
      "--fresh-passes",
      [&s] {
        s.run.fresh_passes = true;
        s.population.pass_tags = true;
      },
      "Each pass over the prepared requests renames their voters, devices and request ids "
      "(`.000` tags, a copy per request sent; they wrap after 1000 passes), so that a long run "
      "keeps bringing new voters");
  add(a, "--voters", "N", "Distinct voters. Default: 100000",
      count_into<std::uint64_t>(s.population.voters, 1, UINT64_MAX));
  add(a, "--zipf", "S", "Zipf exponent of candidate choice, 0 = uniform. Default: 1.0",
      real_into(s.population.zipf_exponent, 0, 10, false, "must be 0..10"));
  add(a, "--agents", "N",
      "Distinct user agents of the honest crowd, 1..100000: the corpus's real WeChat agents "
      "(iOS, Android, desktop, mini-programs, WeCom), then Android ones of other installs. "
      "Default: 64",
      count_into<std::uint32_t>(s.population.agents, 1, 100'000));
  add(a, "--retry-fraction", "F", "Share of ballots resent as retries, 0..1. Default: 0.01",
      real_into(s.population.retry_fraction, 0, 1, false, "must be 0..1"));
  add(a, "--scenario", "honest|farm|phone", "Who votes. Default: honest",
      [&s](const std::string& value) {
        const auto scenario = scenario_from_string(value);
        if (!scenario) return std::string("must be honest, farm or phone");
        s.population.scenario = *scenario;
        return std::string();
      });
  add(a, "--seed", "N", "Random seed; also names the voters. Default: 1",
      count_into<std::uint64_t>(s.population.seed, 0, UINT64_MAX));
  add(a, "--drain-timeout", "SECONDS", "Wait for answers in flight after the stop. Default: 10",
      real_into(s.run.drain_timeout_s, 0, 3600, false, "must be 0..3600 seconds"));
  a.add_flag("--json", s.json, "Print one JSON object instead of the text report");
  a.add_flag("--verify", s.verify,
             "Compare the tally's change with the accepted answers; exit 1 on a difference");
  return app;
}

}  // namespace

std::string version_line() {
  return "tally-loadgen " + std::string(tally::base::version()) + " (revision " +
         std::string(tally::base::revision()) + ")";
}

std::string usage() {
  Settings s;
  Given given;
  return make_app(s, given)->help();
}

ParsedArgs parse_args(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  Settings& s = parsed.settings;
  Given given;
  const std::unique_ptr<CLI::App> app = make_app(s, given);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
    app->parse(reversed);
  } catch (const CLI::CallForHelp&) {
    parsed.help = true;
    return parsed;
  } catch (const CLI::CallForVersion&) {
    parsed.version = true;
    return parsed;
  } catch (const CLI::ParseError& e) {
    // What CLI11 could not place, in the order given: name the first.
    const std::vector<std::string> extras = app->remaining();
    if (!extras.empty() && extras.front().starts_with('-')) {
      parsed.error =
          extras.front().substr(0, extras.front().find('=')) + ": unknown flag (see --help)";
    } else if (!extras.empty()) {
      parsed.error = "unexpected argument \"" + extras.front() + "\" (see --help)";
    } else {
      parsed.error = e.what();
    }
    return parsed;
  }
  if (!s.token.empty() && !s.token_file.empty()) {
    parsed.error = "--token: give --token or --token-file, not both";
    return parsed;
  }
  if (s.run.max_requests != 0 && !given.duration) s.run.duration_s = kDefaultDurationWithRequests;
  const std::uint64_t per_request =
      s.workload.mode == Mode::batch ? s.workload.batch_size : std::uint64_t{1};
  if (given.prepare) {
    s.workload.requests = *given.prepare;
  } else if (s.run.max_requests != 0 &&
             s.run.max_requests * per_request <= 10 * kPreparedBallotBudget) {
    s.workload.requests = s.run.max_requests;
  } else if (s.workload.mode == Mode::batch) {
    s.workload.requests = std::max<std::uint64_t>(kPreparedBallotBudget / per_request, 16);
  }
  s.run.threads = std::min(s.run.threads, s.run.connections);
  return parsed;
}

}  // namespace tally::loadtest
