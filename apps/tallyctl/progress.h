// tallyctl's progress line: while a command reads a large log, one line on stderr that
// redraws itself ("verify: 1,234,567 events, 251,004 events/s"), at most four times a second,
// erased when the work ends. Drawn only when stderr is a terminal, so that pipes, files and
// tests see nothing of it. Not thread-safe: one per command, on the thread that reads the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "tally/storage/scan_progress.h"

namespace tally::ctl {

// Whether a command should draw its progress line: stderr is a terminal, --no-progress was not
// given, and, for a command that writes its results to stdout as it reads (`streams`), stdout
// is not that terminal too (the line would break into the results).
bool progress_wanted(bool no_progress, bool streams);

class ProgressLine {
 public:
  // `label` starts the line ("verify"), `unit` names what is counted ("events"). A disabled
  // line draws nothing.
  ProgressLine(std::string label, std::string unit, bool enabled);
  ~ProgressLine() { erase(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Redraws with `done` counted, unless the line was drawn less than kRedraw ago.
  void update(std::uint64_t done);
  // Removes the line from the screen (before the command prints its results); a later
  // update() draws it again.
  void erase();
  // A callback for the storage calls that feeds update(); valid while this object lives.
  storage::ScanProgress hook();

 private:
  static constexpr std::chrono::milliseconds kRedraw{250};

  std::string label_;
  std::string unit_;
  bool enabled_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point drawn_at_{};
  std::size_t drawn_width_ = 0;  // of the text on screen, 0 when nothing is
};

}  // namespace tally::ctl
