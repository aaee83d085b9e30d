// tally-loadgen: loads a running tallyd with votes and reports throughput, latency and
// answers by status (docs/LOADGEN.md). Parses the flags, prepares every request, reads the
// tally before and after the run when --verify asks, runs, prints. Exit 0 done, 1 the tally
// does not match the accepted answers, 2 bad usage or unreachable server.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tally/loadtest/population.h"
#include "tally/loadtest/report.h"
#include "tally/loadtest/runner.h"
#include "tally/loadtest/server_info.h"
#include "tally/loadtest/settings.h"
#include "tally/loadtest/workload.h"

namespace {

using namespace tally::loadtest;

constexpr int kExitMismatch = 1;
constexpr int kExitUsage = 2;

int fail(const std::string& message) {
  std::cerr << "tally-loadgen: " << message << "\n";
  return kExitUsage;
}

std::optional<Tally> fetch_tally(const Settings& s, std::string& error) {
  const HttpResult answer = http_request(
      s.run.host, s.run.port, "GET", "/v1/campaigns/" + s.population.campaign + "/tally", s.token);
  if (answer.http_code != 200) {
    error = "GET tally: " + (answer.error.empty()
                                 ? "HTTP " + std::to_string(answer.http_code) + " " + answer.body
                                 : answer.error);
    return std::nullopt;
  }
  auto tally = parse_tally(answer.body);
  if (!tally) error = "GET tally: unreadable answer " + answer.body;
  return tally;
}

}  // namespace

int main(int argc, char** argv) {
  ParsedArgs parsed = parse_args(std::vector<std::string>(argv + 1, argv + argc));
  if (parsed.help) {
    std::cout << usage();
    return 0;
  }
  if (parsed.version) {
    std::cout << version_line() << "\n";
    return 0;
  }
  if (!parsed.error.empty()) return fail(parsed.error + "\nTry 'tally-loadgen --help'.");
  Settings& s = parsed.settings;

  if (!s.token_file.empty()) {
    std::ifstream in(s.token_file);
    std::stringstream text;
    text << in.rdbuf();
    auto token = token_from_tokens_file(text.str());
    if (!in || !token) return fail("--token-file: no ingest token in " + s.token_file);
    s.token = *token;
  }
  s.workload.token = s.token;

  if (s.population.candidates.empty()) {
    const HttpResult answer = http_request(s.run.host, s.run.port, "GET",
                                           "/v1/campaigns/" + s.population.campaign, s.token);
    if (answer.http_code != 200) {
      return fail(
          "GET /v1/campaigns/" + s.population.campaign + ": " +
          (answer.error.empty() ? "HTTP " + std::to_string(answer.http_code) : answer.error));
    }
    s.population.candidates = candidate_ids(answer.body);
    if (s.population.candidates.empty()) return fail("the campaign lists no candidates");
  }

  BallotGenerator generator(s.population);
  const Workload workload = Workload::build(generator, s.workload);

  std::string error;
  std::optional<Tally> before;
  if (s.verify) {
    before = fetch_tally(s, error);
    if (!before) return fail(error);
  }

  RunOutcome outcome = run(workload, s.run);
  if (!outcome.error.empty()) return fail(outcome.error);

  std::optional<Verification> verification;
  if (s.verify) {
    const std::optional<Tally> after = fetch_tally(s, error);
    if (!after) {
      Verification failed;
      failed.ok = false;
      failed.accepted = outcome.result.answers.of(tally::engine::VoteStatus::accepted);
      failed.differences.push_back(error);
      verification = failed;
    } else {
      verification = verify(*before, *after, s.population.candidates, outcome.result.answers);
    }
  }

  const Report report{s, workload, outcome.result, verification};
  std::cout << (s.json ? format_json(report) : format_text(report)) << std::flush;
  return verification && !verification->ok ? kExitMismatch : 0;
}
