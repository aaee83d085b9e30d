// Reads /proc/self. See process_figures.h.
#include "process_figures.h"

#include <sys/resource.h>
#include <time.h>
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

// The boot time in seconds since the epoch: the wall clock less the time since boot. Not
// /proc/stat's btime, which the service's sandbox hides (ProcSubset=pid leaves a process its
// own /proc/self and nothing else).
double boot_time() {
  timespec now{};
  timespec since_boot{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  ::clock_gettime(CLOCK_BOOTTIME, &since_boot);
  const auto seconds = [](const timespec& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  };
  return seconds(now) - seconds(since_boot);
}

}  // namespace

std::optional<ProcessFigures> read_process_figures() {
  const auto fields = stat_fields();
  if (!fields) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  ProcessFigures out;
  try {
    // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based, from pid).
    out.cpu_seconds = (std::stod((*fields)[11]) + std::stod((*fields)[12])) / ticks;
    out.start_time_seconds = boot_time() + std::stod((*fields)[19]) / ticks;
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
