#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace tally::ctl {
namespace {

// 1234567 -> "1,234,567": a count read at a glance while it changes.
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// The whole text in one write, so that the terminal never shows half a line.
void write_stderr(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

bool progress_wanted(bool no_progress, bool streams) {
  if (no_progress || ::isatty(STDERR_FILENO) == 0) return false;
  return !streams || ::isatty(STDOUT_FILENO) == 0;
}

ProgressLine::ProgressLine(std::string label, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(enabled),
      started_(std::chrono::steady_clock::now()) {}

void ProgressLine::erase() {
  if (drawn_width_ == 0) return;
  write_stderr("\r" + std::string(drawn_width_, ' ') + "\r");
  drawn_width_ = 0;
}

void ProgressLine::update(std::uint64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_width_ != 0 && now - drawn_at_ < kRedraw) return;
  drawn_at_ = now;
  const double seconds = std::chrono::duration<double>(now - started_).count();
  std::string text = label_ + ": " + grouped(done) + " " + unit_;
  if (seconds >= 0.001) {
    text += ", " + grouped(static_cast<std::uint64_t>(static_cast<double>(done) / seconds)) + " " +
            unit_ + "/s";
  }
  // Pad over a longer line drawn before; the text is ASCII, so bytes are columns.
  const std::size_t width = text.size();
  if (width < drawn_width_) text.append(drawn_width_ - width, ' ');
  drawn_width_ = std::max(drawn_width_, width);
  write_stderr("\r" + text);
}

storage::ScanProgress ProgressLine::hook() {
  if (!enabled_) return {};
  return [this](std::uint64_t done) { update(done); };
}

}  // namespace tally::ctl
