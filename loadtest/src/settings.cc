#include "tally/loadtest/settings.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

namespace tally::loadtest {
namespace {

constexpr std::uint32_t kMaxBatchLines = 10'000;  // the server's batch limit
constexpr std::uint32_t kMaxConnections = 50'000;
constexpr double kDefaultDurationWithRequests = 300;  // safety bound when --requests is given
constexpr std::uint64_t kPreparedBallotBudget = 1'000'000;

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_real(std::string_view text) {
  try {
    std::size_t used = 0;
    const double value = std::stod(std::string(text), &used);
    if (used != text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
  } catch (...) {
    return std::nullopt;
  }
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

}  // namespace

std::string usage() {
  return "usage: tally-loadgen --target HOST:PORT [options]\n"
         "Sends votes to a running tallyd over keep-alive HTTP/1.1 connections and reports\n"
         "throughput, latency and answers by status (docs/LOADGEN.md).\n"
         "\n"
         "  --target HOST:PORT      tallyd to load; required\n"
         "  --token TOKEN           ingest bearer token\n"
         "  --token-file FILE       read the token from a tokens file (DATA_DIR/tokens.json)\n"
         "  --campaign ID           campaign to vote in. Default: ordos-2023-zuimei\n"
         "  --candidates A,B,...    candidate ids, most popular first. Default: fetched from\n"
         "                          GET /v1/campaigns/ID\n"
         "  --connections N         keep-alive connections. Default: 64\n"
         "  --threads N             generator I/O threads. Default: 1\n"
         "  --mode single|batch     POST /v1/votes or POST /v1/votes:batch. Default: single\n"
         "  --batch-size N          ballots per batch request, 1..10000. Default: 100\n"
         "  --pipeline N            requests in flight per connection. Default: 1\n"
         "  --rate R                open loop: R requests/s in total, latency from the due\n"
         "                          time; 0 is the closed loop. Default: 0\n"
         "  --duration SECONDS      stop sending after this long. Default: 10 (300 as a bound\n"
         "                          when --requests is given)\n"
         "  --requests N            stop after N requests; 0 for no limit. Default: 0\n"
         "  --prepare N             requests built before the run, then reused (reuse answers\n"
         "                          duplicate). Default: --requests if given, else 65536 single\n"
         "                          or 1000000/batch-size batch requests\n"
         "  --fresh-passes          each pass over the prepared requests renames their voters,\n"
         "                          devices and request ids (`.000` tags, a copy per request\n"
         "                          sent; they wrap after 1000 passes), so that a long run\n"
         "                          keeps bringing new voters\n"
         "  --voters N              distinct voters. Default: 100000\n"
         "  --zipf S                Zipf exponent of candidate choice, 0 = uniform. Default: 1.0\n"
         "  --agents N              distinct user agents of the honest crowd, 1..100000: the\n"
         "                          corpus's real WeChat agents (iOS, Android, desktop, mini-\n"
         "                          programs, WeCom), then Android ones of other installs.\n"
         "                          Default: 64\n"
         "  --retry-fraction F      share of ballots resent as retries, 0..1. Default: 0.01\n"
         "  --scenario honest|farm|phone  who votes. Default: honest\n"
         "  --seed N                random seed; also names the voters. Default: 1\n"
         "  --drain-timeout SECONDS wait for answers in flight after the stop. Default: 10\n"
         "  --json                  print one JSON object instead of the text report\n"
         "  --verify                compare the tally's change with the accepted answers;\n"
         "                          exit 1 on a difference\n"
         "  --help                  this text\n"
         "exit status: 0 done (and verified), 1 verification failed, 2 bad usage or no server\n";
}

ParsedArgs parse_args(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  Settings& s = parsed.settings;
  bool duration_given = false;
  std::optional<std::uint64_t> prepare;
  auto fail = [&parsed](const std::string& flag, const std::string& rule) {
    parsed.error = flag + ": " + rule;
    return parsed;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      parsed.help = true;
      return parsed;
    }
    if (flag == "--json") {
      s.json = true;
      continue;
    }
    if (flag == "--verify") {
      s.verify = true;
      continue;
    }
    if (flag == "--fresh-passes") {
      s.run.fresh_passes = true;
      s.population.pass_tags = true;
      continue;
    }
    if (i + 1 >= args.size()) return fail(flag, "unknown flag or missing value");
    const std::string& value = args[++i];
    if (flag == "--target") {
      const std::size_t colon = value.rfind(':');
      const auto port =
          colon == std::string::npos
              ? std::nullopt
              : parse_number<std::uint16_t>(std::string_view(value).substr(colon + 1));
      if (!port || *port == 0 || colon == 0) return fail(flag, "must be HOST:PORT, got " + value);
      s.target = value;
      s.run.host = value.substr(0, colon);
      if (s.run.host.size() > 2 && s.run.host.front() == '[') {
        s.run.host = s.run.host.substr(1, s.run.host.size() - 2);
      }
      s.run.port = *port;
      s.workload.host = value;
    } else if (flag == "--token") {
      s.token = value;
    } else if (flag == "--token-file") {
      s.token_file = value;
    } else if (flag == "--campaign") {
      s.population.campaign = value;
    } else if (flag == "--candidates") {
      s.population.candidates = split_commas(value);
      if (s.population.candidates.empty() || s.population.candidates.size() > 65535) {
        return fail(flag, "must list 1..65535 ids");
      }
    } else if (flag == "--connections") {
      const auto n = parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > kMaxConnections) return fail(flag, "must be 1..50000");
      s.run.connections = *n;
    } else if (flag == "--threads") {
      const auto n = parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > 256) return fail(flag, "must be 1..256");
      s.run.threads = *n;
    } else if (flag == "--mode") {
      if (value == "single") {
        s.workload.mode = Mode::single;
      } else if (value == "batch") {
        s.workload.mode = Mode::batch;
      } else {
        return fail(flag, "must be single or batch, got " + value);
      }
    } else if (flag == "--batch-size") {
      const auto n = parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > kMaxBatchLines) return fail(flag, "must be 1..10000");
      s.workload.batch_size = *n;
    } else if (flag == "--pipeline") {
      const auto n = parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > 1024) return fail(flag, "must be 1..1024");
      s.run.pipeline = *n;
    } else if (flag == "--rate") {
      const auto r = parse_real(value);
      if (!r || *r < 0) return fail(flag, "must be a number >= 0");
      s.run.rate = *r;
    } else if (flag == "--duration") {
      const auto d = parse_real(value);
      if (!d || *d <= 0 || *d > 86'400) return fail(flag, "must be in (0, 86400] seconds");
      s.run.duration_s = *d;
      duration_given = true;
    } else if (flag == "--requests") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n) return fail(flag, "must be a count >= 0");
      s.run.max_requests = *n;
    } else if (flag == "--prepare") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n || *n == 0 || *n > 100'000'000) return fail(flag, "must be 1..100000000");
      prepare = *n;
    } else if (flag == "--voters") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n || *n == 0) return fail(flag, "must be >= 1");
      s.population.voters = *n;
    } else if (flag == "--zipf") {
      const auto z = parse_real(value);
      if (!z || *z < 0 || *z > 10) return fail(flag, "must be 0..10");
      s.population.zipf_exponent = *z;
    } else if (flag == "--agents") {
      const auto n = parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > 100'000) return fail(flag, "must be 1..100000");
      s.population.agents = *n;
    } else if (flag == "--retry-fraction") {
      const auto f = parse_real(value);
      if (!f || *f < 0 || *f > 1) return fail(flag, "must be 0..1");
      s.population.retry_fraction = *f;
    } else if (flag == "--scenario") {
      const auto scenario = scenario_from_string(value);
      if (!scenario) return fail(flag, "must be honest, farm or phone, got " + value);
      s.population.scenario = *scenario;
    } else if (flag == "--seed") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n) return fail(flag, "must be a number >= 0");
      s.population.seed = *n;
    } else if (flag == "--drain-timeout") {
      const auto d = parse_real(value);
      if (!d || *d < 0 || *d > 3600) return fail(flag, "must be 0..3600 seconds");
      s.run.drain_timeout_s = *d;
    } else {
      return fail(flag, "unknown flag (see --help)");
    }
  }
  if (s.target.empty()) return fail("--target", "required");
  if (!s.token.empty() && !s.token_file.empty()) {
    return fail("--token", "give --token or --token-file, not both");
  }
  if (s.run.max_requests != 0 && !duration_given) s.run.duration_s = kDefaultDurationWithRequests;
  const std::uint64_t per_request =
      s.workload.mode == Mode::batch ? s.workload.batch_size : std::uint64_t{1};
  if (prepare) {
    s.workload.requests = *prepare;
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
