#include "tally/loadtest/report.h"

#include <array>
#include <cstdio>

#include "tally/base/json.h"

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
  auto number = [](std::string& out, const char* key, double value) {
    out += '"';
    out += key;
    out += "\":";
    out += printf_string("%.6g", value);
  };
  auto count = [](std::string& out, const char* key, std::uint64_t value) {
    out += '"';
    out += key;
    out += "\":";
    out += std::to_string(value);
  };
  std::string out = "{\"target\":";
  append_json_string(out, s.target);
  out += ",\"campaign\":";
  append_json_string(out, s.population.campaign);
  out += ",\"scenario\":";
  append_json_string(out, to_string(s.population.scenario));
  out += ",\"mode\":";
  append_json_string(out, s.workload.mode == Mode::batch ? "batch" : "single");
  out += ',';
  count(out, "batch_size", s.workload.mode == Mode::batch ? s.workload.batch_size : 1);
  out += ',';
  count(out, "connections", s.run.connections);
  out += ',';
  count(out, "pipeline", s.run.pipeline);
  out += ',';
  count(out, "threads", s.run.threads);
  out += ',';
  number(out, "rate", s.run.rate);
  out += ',';
  number(out, "elapsed_s", r.elapsed_s);
  out += ',';
  count(out, "requests", r.requests_answered);
  out += ',';
  count(out, "votes", r.ballots_answered);
  out += ',';
  number(out, "requests_per_s", per_second(r.requests_answered, r.elapsed_s));
  out += ',';
  number(out, "votes_per_s", per_second(r.ballots_answered, r.elapsed_s));
  out += ',';
  number(out, "accepted_per_s",
         per_second(r.answers.of(engine::VoteStatus::accepted), r.elapsed_s));
  out += ",\"latency_ms\":{";
  for (std::size_t i = 0; i < kPercentiles.size(); ++i) {
    if (i > 0) out += ',';
    number(out, kPercentiles[i].label, ms(r.latency_ns.value_at_percentile(kPercentiles[i].value)));
  }
  out += ',';
  number(out, "mean", r.latency_ns.mean() / 1e6);
  out += "},\"statuses\":{";
  for (int i = 0; i < engine::kVoteStatusCount; ++i) {
    count(out, std::string(engine::to_string(static_cast<engine::VoteStatus>(i))).c_str(),
          r.answers.by_status[static_cast<std::size_t>(i)]);
    out += ',';
  }
  count(out, "other", r.answers.other);
  out += "},\"http\":{";
  bool first = true;
  for (const auto& [code, n] : r.http_codes) {
    if (!first) out += ',';
    first = false;
    count(out, std::to_string(code).c_str(), n);
  }
  out += "},";
  count(out, "transport_errors", r.transport_errors);
  out += ',';
  count(out, "unanswered", r.unanswered);
  out += ',';
  count(out, "reconnects", r.reconnects);
  out += ',';
  count(out, "behind_schedule", r.behind_schedule);
  out += ',';
  count(out, "prepared_requests", report.workload.size());
  out += ',';
  count(out, "prepared_retries", report.workload.retries());
  if (report.verification) {
    const Verification& v = *report.verification;
    out += ",\"verify\":{\"ok\":";
    out += v.ok ? "true" : "false";
    out += ',';
    count(out, "accepted", v.accepted);
    out += ',';
    count(out, "counted", v.counted);
    out += ",\"differences\":[";
    for (std::size_t i = 0; i < v.differences.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, v.differences[i]);
    }
    out += "]}";
  }
  out += "}\n";
  return out;
}

}  // namespace tally::loadtest
