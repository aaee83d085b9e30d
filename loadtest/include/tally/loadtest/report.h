// The result of a run as people read it (text) and as scripts read it (one JSON object):
// throughput, latency percentiles, answers by status and the --verify outcome.
// docs/LOADGEN.md explains each figure. Pure functions.
#pragma once

#include <optional>
#include <string>

#include "tally/loadtest/runner.h"
#include "tally/loadtest/server_info.h"
#include "tally/loadtest/settings.h"

namespace tally::loadtest {

struct Report {
  const Settings& settings;
  const Workload& workload;
  const RunResult& result;
  std::optional<Verification> verification;
};

std::string format_text(const Report& report);
std::string format_json(const Report& report);

}  // namespace tally::loadtest
