// The process's own figures, read from /proc/self the way Prometheus clients' process
// collectors do (prometheus-cpp has none): the process_* metrics every Prometheus user
// expects next to an exporter's own.
#pragma once

#include <optional>

namespace tally::metrics::internal {

struct ProcessFigures {
  double cpu_seconds = 0;         // user + system
  double resident_bytes = 0;      // RSS
  double virtual_bytes = 0;       // VSZ
  double open_fds = 0;            // entries of /proc/self/fd
  double max_fds = 0;             // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  // since the Unix epoch
};

// nullopt when /proc cannot be read (not Linux, or a sandbox without it).
std::optional<ProcessFigures> read_process_figures();

}  // namespace tally::metrics::internal
