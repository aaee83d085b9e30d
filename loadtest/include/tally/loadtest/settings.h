// The command line of tally-loadgen (DESIGN.md, "Load generator"; docs/LOADGEN.md), read with
// CLI11 into the option structs of the population, workload and runner. Pure functions.
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
  bool help = false;     // --help: print usage(), exit 0
  bool version = false;  // --version: print version_line(), exit 0
  std::string error;     // names the flag and the rule; the exit status is then 2
};

// The arguments after the program's name; each value is checked whole (a number is all
// digits, in its range).
ParsedArgs parse_args(const std::vector<std::string>& args);
// The --help text: a NAME line, usage, every flag with its default, the exit status.
std::string usage();
// "tally-loadgen 0.1.0 (revision 3f2a...)".
std::string version_line();

}  // namespace tally::loadtest
