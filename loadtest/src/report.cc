#include "tally/loadtest/report.h"

#include <array>
#include <cstdio>

#include "tally/base/json_writer.h"

namespace tally::loadtest {
namespace {

struct Percentile {
  const char* label;
  double value;
};
constexpr std::array<Percentile, 5> kPercentiles = {
    {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 100}}};

double per_second(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

std::string printf_string(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string mode_text(const Settings& s) {
  std::string text = s.workload.mode == Mode::batch
                         ? "batch of " + std::to_string(s.workload.batch_size)
                         : std::string("single");
  return text;
}

}  // namespace

std::string format_text(const Report& report) {
  const Settings& s = report.settings;
  const RunResult& r = report.result;
  std::string out;
  out += "target " + s.target + "  campaign " + s.population.campaign + "  scenario " +
         std::string(to_string(s.population.scenario)) + "\n";
  out += "mode " + mode_text(s) + "  connections " + std::to_string(s.run.connections) +
         "  pipeline " + std::to_string(s.run.pipeline) + "  threads " +
         std::to_string(s.run.threads) + "  " +
         (s.run.rate > 0 ? "open loop at " + printf_string("%.0f", s.run.rate) + " req/s"
                         : std::string("closed loop")) +
         "\n";
  out += "prepared " + std::to_string(report.workload.size()) + " requests, " +
         std::to_string(report.workload.ballots()) + " ballots (" +
         std::to_string(report.workload.retries()) + " retries)\n\n";
  out += "elapsed    " + printf_string("%.3f s", r.elapsed_s) + "\n";
  out += "requests   " + std::to_string(r.requests_answered) + " answered, " +
         printf_string("%.0f/s", per_second(r.requests_answered, r.elapsed_s)) + "\n";
  out +=
      "votes      " + std::to_string(r.ballots_answered) + " answered, " +
      printf_string("%.0f/s", per_second(r.ballots_answered, r.elapsed_s)) + "; accepted " +
      printf_string("%.0f/s", per_second(r.answers.of(engine::VoteStatus::accepted), r.elapsed_s)) +
      "\n";
  out += "latency    ";
  for (const Percentile& p : kPercentiles) {
    out += std::string(p.label) + " " +
           printf_string("%.3f ms", ms(r.latency_ns.value_at_percentile(p.value))) + "  ";
  }
  out += "\n";
  out += "answers    ";
  for (int i = 0; i < engine::kVoteStatusCount; ++i) {
    const std::uint64_t n = r.answers.by_status[static_cast<std::size_t>(i)];
    if (n == 0 && i > static_cast<int>(engine::VoteStatus::quota_exceeded)) continue;
    out += std::string(engine::to_string(static_cast<engine::VoteStatus>(i))) + " " +
           std::to_string(n) + "  ";
  }
  if (r.answers.other != 0) out += "other " + std::to_string(r.answers.other) + "  ";
  out += "\n";
  out += "http       ";
  for (const auto& [code, n] : r.http_codes) {
    out += std::to_string(code) + " " + std::to_string(n) + "  ";
  }
  out += "\n";
  out += "transport  errors " + std::to_string(r.transport_errors) + "  unanswered " +
         std::to_string(r.unanswered) + "  reconnects " + std::to_string(r.reconnects);
  if (s.run.rate > 0) out += "  behind schedule " + std::to_string(r.behind_schedule);
  out += "\n";
  if (report.verification) {
    const Verification& v = *report.verification;
    out += std::string("verify     ") + (v.ok ? "ok" : "FAILED") + ": tally grew by " +
           std::to_string(v.counted) + ", accepted answers " + std::to_string(v.accepted) + "\n";
    for (const std::string& line : v.differences) out += "           " + line + "\n";
  }
  return out;
}

std::string format_json(const Report& report) {
  const Settings& s = report.settings;
  const RunResult& r = report.result;
  std::string out;
  JsonWriter json(out);
  auto number = [&json](std::string_view key, double value) {
    json.key(key).raw(printf_string("%.6g", value));
  };
  auto count = [&json](std::string_view key, std::uint64_t value) { json.key(key).integer(value); };
  json.begin_object();
  json.key("target").string(s.target);
  json.key("campaign").string(s.population.campaign);
  json.key("scenario").string(to_string(s.population.scenario));
  json.key("mode").string(s.workload.mode == Mode::batch ? "batch" : "single");
  count("batch_size", s.workload.mode == Mode::batch ? s.workload.batch_size : 1);
  count("connections", s.run.connections);
  count("pipeline", s.run.pipeline);
  count("threads", s.run.threads);
  number("rate", s.run.rate);
  number("elapsed_s", r.elapsed_s);
  count("requests", r.requests_answered);
  count("votes", r.ballots_answered);
  number("requests_per_s", per_second(r.requests_answered, r.elapsed_s));
  number("votes_per_s", per_second(r.ballots_answered, r.elapsed_s));
  number("accepted_per_s", per_second(r.answers.of(engine::VoteStatus::accepted), r.elapsed_s));
  json.key("latency_ms").begin_object();
  for (const Percentile& p : kPercentiles) {
    number(p.label, ms(r.latency_ns.value_at_percentile(p.value)));
  }
  number("mean", r.latency_ns.mean() / 1e6);
  json.end_object();
  json.key("statuses").begin_object();
  for (int i = 0; i < engine::kVoteStatusCount; ++i) {
    count(engine::to_string(static_cast<engine::VoteStatus>(i)),
          r.answers.by_status[static_cast<std::size_t>(i)]);
  }
  count("other", r.answers.other);
  json.end_object();
  json.key("http").begin_object();
  for (const auto& [code, n] : r.http_codes) count(std::to_string(code), n);
  json.end_object();
  count("transport_errors", r.transport_errors);
  count("unanswered", r.unanswered);
  count("reconnects", r.reconnects);
  count("behind_schedule", r.behind_schedule);
  count("prepared_requests", report.workload.size());
  count("prepared_retries", report.workload.retries());
  if (report.verification) {
    const Verification& v = *report.verification;
    json.key("verify").begin_object();
    json.key("ok").boolean(v.ok);
    count("accepted", v.accepted);
    count("counted", v.counted);
    json.key("differences").begin_array();
    for (const std::string& difference : v.differences) json.string(difference);
    json.end_array();
    json.end_object();
  }
  json.end_object();
  out += '\n';
  return out;
}

}  // namespace tally::loadtest
