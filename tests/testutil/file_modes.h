// Who may read what a test left on disk: the data at rest is its owner's alone.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tally::testing {

// `path`'s permission bits (0700, 0644, ...).
inline unsigned mode_of(const std::filesystem::path& path) {
  return static_cast<unsigned>(std::filesystem::status(path).permissions() &
                               std::filesystem::perms::mask);
}

// `root` and everything under it: how many entries, and those a group or other users may
// read, write or enter.
struct ModeScan {
  std::size_t entries = 0;
  std::vector<std::string> open_to_others;
};

inline ModeScan scan_modes(const std::filesystem::path& root) {
  ModeScan scan;
  const auto look = [&](const std::filesystem::path& path) {
    ++scan.entries;
    if ((mode_of(path) & 077U) != 0) scan.open_to_others.push_back(path.string());
  };
  look(root);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) look(entry.path());
  return scan;
}

}  // namespace tally::testing
