// A whole file's bytes, or an error that names the path and the system's reason. For the
// small files the tools and tallyd read whole: keys, receipts, a bundle's checkpoint.
#pragma once

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "tally/base/status.h"

namespace tally {

inline Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot be read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace tally
