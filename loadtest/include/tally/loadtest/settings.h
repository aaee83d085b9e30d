// The command line of tally-loadgen (DESIGN.md, "Load generator"; docs/LOADGEN.md): parsed
// into the option structs of the population, workload and runner. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "tally/loadtest/population.h"
#include "tally/loadtest/runner.h"
#include "tally/loadtest/workload.h"

namespace tally::loadtest {

struct Settings {
  std::string target;  // HOST:PORT as given
  std::string token;   // --token, or read from --token-file
  std::string token_file;
  bool json = false;
  bool verify = false;
  RunOptions run;
  PopulationOptions population;  // candidates empty: fetch them from the server
  WorkloadOptions workload;
};

struct ParsedArgs {
  Settings settings;
  bool help = false;
  std::string error;  // names the flag and the rule
};

ParsedArgs parse_args(const std::vector<std::string>& args);
std::string usage();

}  // namespace tally::loadtest
