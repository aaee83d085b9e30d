// Reads /proc/self. See process_figures.h.
#include "process_figures.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tally::metrics::internal {

namespace {

// The fields of /proc/self/stat after the command name, which may hold spaces and parentheses
// (so the line is cut at its last ')'): field 3 (state) is [0].
std::optional<std::vector<std::string>> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  if (fields.size() < 22) return std::nullopt;
  return fields;
}

// The boot time (btime of /proc/stat), in seconds since the epoch.
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double seconds = 0;
      if (in >> seconds) return seconds;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessFigures> read_process_figures() {
  const auto fields = stat_fields();
  const auto booted = boot_time();
  if (!fields || !booted) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  ProcessFigures out;
  try {
    // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based, from pid).
    out.cpu_seconds = (std::stod((*fields)[11]) + std::stod((*fields)[12])) / ticks;
    out.start_time_seconds = *booted + std::stod((*fields)[19]) / ticks;
    out.virtual_bytes = std::stod((*fields)[20]);
    out.resident_bytes = std::stod((*fields)[21]) * page;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    out.open_fds += 1;
  }
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) out.max_fds = static_cast<double>(files.rlim_cur);
  return out;
}

}  // namespace tally::metrics::internal
