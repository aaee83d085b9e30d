#include "tally/publog/log_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tally/base/read_file.h"

namespace tally::publog {

namespace {

std::string path_in(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

// Writes `text` to `path` through a temporary file renamed over it, synced, with `mode`.
Status write_file(const std::string& path, const std::string& text, mode_t mode) {
  const std::string temporary = path + ".new";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::error(temporary + ": cannot be created: " + std::strerror(errno));
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::error(temporary + ": write failed: " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return Status::error(temporary + ": " + why);
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::error(path + ": cannot be written: " + std::strerror(errno));
  }
  // The rename is durable once the directory is: events signed under a key must not outlive
  // the key's file in a power loss.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::error(dir + ": " + std::strerror(errno));
  const int synced = ::fsync(dir_fd);
  ::close(dir_fd);
  if (synced != 0) return Status::error(dir + ": fsync failed: " + std::strerror(errno));
  return {};
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

Result<LogKeys> read_log_keys(const std::string& dir) {
  const std::string signing_path = path_in(dir, kSigningKeyFile);
  auto pem = read_file(signing_path);
  if (!pem.ok()) return pem.status();
  auto signing = SigningKey::from_pem(*pem);
  if (!signing.ok()) return Status::error(signing_path + ": " + signing.message());
  const std::string secret_path = path_in(dir, kTagSecretFile);
  auto secret_text = read_file(secret_path);
  if (!secret_text.ok()) return secret_text.status();
  auto secret = TagSecret::from_hex(trimmed(*secret_text));
  if (!secret.ok()) return Status::error(secret_path + ": " + secret.message());
  return LogKeys{std::move(*signing), *secret};
}

bool log_keys_exist(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(path_in(dir, kSigningKeyFile), ec) ||
         std::filesystem::exists(path_in(dir, kTagSecretFile), ec);
}

Result<LogKeys> create_log_keys(const std::string& dir) {
  if (log_keys_exist(dir)) {
    return Status::error(dir + ": holds log keys already; a log's keys are never replaced");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error(dir + ": cannot be created: " + ec.message());
  ::chmod(dir.c_str(), 0700);
  auto signing = SigningKey::generate();
  if (!signing.ok()) return signing.status();
  const TagSecret secret = TagSecret::generate();
  // The tag secret first: a directory with a signing key but no secret would read as broken.
  if (auto s = write_file(path_in(dir, kTagSecretFile), secret.hex() + "\n", 0600); !s.ok()) {
    return s;
  }
  if (auto s = write_file(path_in(dir, kSigningKeyFile), signing->private_pem(), 0600); !s.ok()) {
    return s;
  }
  if (auto s = write_file(path_in(dir, kPublicKeyFile), signing->public_key().pem(), 0600);
      !s.ok()) {
    return s;
  }
  return LogKeys{std::move(*signing), secret};
}

}  // namespace tally::publog
