// Test fixture helpers: run the real build/bin/tallyd on a free port and talk HTTP/1.1 to
// it over plain sockets. The fixture owns a temporary directory (data dir, log, campaign
// files) and removes it when done. Not thread-safe except HttpClient instances, one per
// thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tally::testing {

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Polls `condition` every `every` until it holds; fails, naming `what`, once `timeout` has
// passed. Tests wait for what they can observe (a log line, an answer, a gauge), not for a
// time they hope is enough.
template <typename Condition>
::testing::AssertionResult wait_until(
    Condition&& condition, std::chrono::milliseconds timeout, const std::string& what,
    std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure()
             << "gave up after " << timeout.count() << " ms waiting until " << what;
    }
    std::this_thread::sleep_for(every);
  }
}

// The number after "key": in a JSON text (searching from `from`), or -1.
inline long long number_of(const std::string& json, const std::string& key, std::size_t from = 0) {
  const std::string marker = "\"" + key + "\":";
  const std::size_t at = json.find(marker, from);
  if (at == std::string::npos) return -1;
  return std::atoll(json.c_str() + at + marker.size());
}

// The "status" word of an answer, or "" when there is none.
inline std::string status_of(const std::string& json) {
  const std::string marker = R"("status":")";
  const std::size_t at = json.find(marker);
  if (at == std::string::npos) return {};
  const std::size_t begin = at + marker.size();
  return json.substr(begin, json.find('"', begin) - begin);
}

// A parsed HTTP answer; status 0 when the connection ended before a full answer.
struct HttpAnswer {
  int status = 0;
  std::string headers;  // raw header block, lowercase names not guaranteed
  std::string body;
  bool has_header(const std::string& name_colon) const {
    return headers.find(name_colon) != std::string::npos;
  }
};

// One blocking TCP connection to 127.0.0.1:port with a receive timeout.
class HttpClient {
 public:
  explicit HttpClient(int port, int timeout_ms = 10'000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Sends raw bytes; false when the peer closed or reset.
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // Reads one answer (status line, headers, Content-Length body; no body after a HEAD),
  // skipping interim (1xx) ones.
  HttpAnswer read_answer(bool after_head = false) {
    HttpAnswer answer;
    do {
      answer = read_any_answer(after_head);
    } while (answer.status / 100 == 1);
    return answer;
  }

  // Reads the next answer, an interim one such as 100 Continue included.
  HttpAnswer read_any_answer(bool after_head = false) {
    HttpAnswer answer;
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return answer;
    }
    const std::string head = buffer_.substr(0, header_end);
    buffer_.erase(0, header_end + 4);
    if (head.compare(0, 9, "HTTP/1.1 ") != 0) return answer;
    const int status = std::atoi(head.c_str() + 9);
    answer.headers = head;
    std::size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "}) {
      const std::size_t at = head.find(name);
      if (at != std::string::npos) length = std::strtoull(head.c_str() + at + 16, nullptr, 10);
    }
    if (after_head) length = 0;
    while (buffer_.size() < length) {
      if (!fill()) return answer;
    }
    answer.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    answer.status = status;
    return answer;
  }

  // Everything the server sends until it closes the connection, with what was read ahead.
  std::string rest() {
    while (fill()) {
    }
    return std::exchange(buffer_, {});
  }

  // What the server sends next, with what was read ahead; empty at its end (`closed` then
  // says whether it closed the connection or the receive timeout passed).
  std::string rest_or_timeout(bool& closed) {
    if (buffer_.empty()) {
      char chunk[65536];
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got > 0) return std::string(chunk, static_cast<std::size_t>(got));
      closed = got == 0 || errno == ECONNRESET;
      return {};
    }
    return std::exchange(buffer_, {});
  }

  // True when the server closed the connection (EOF) within the receive timeout.
  bool closed_by_peer() {
    char byte;
    for (;;) {
      const ssize_t got = ::recv(fd_, &byte, 1, 0);
      if (got == 0) return true;
      if (got < 0) return errno == ECONNRESET;
    }
  }

  HttpAnswer request(const std::string& method, const std::string& target,
                     const std::string& body = {}, const std::string& token = {},
                     const std::string& extra_headers = {}) {
    if (!send_raw(format(method, target, body, token, extra_headers))) return {};
    return read_answer(method == "HEAD");
  }

  static std::string format(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& token,
                            const std::string& extra_headers = {}) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: test\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += extra_headers;
    request += "\r\n";
    request += body;
    return request;
  }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

// A running tallyd with its own temporary directory.
class TallydProcess {
 public:
  TallydProcess() {
    char pattern[] = "/tmp/tally-ingest-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    data_dir_ = dir_ / "data";
  }
  ~TallydProcess() {
    stop(SIGKILL);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TallydProcess(const TallydProcess&) = delete;
  TallydProcess& operator=(const TallydProcess&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  int port() const { return port_; }
  // Sets an environment variable for the tallyd the next start() runs.
  void set_env(const std::string& name, const std::string& value) {
    environment_.emplace_back(name, value);
  }
  const std::string& ingest_token() const { return ingest_token_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& read_token() const { return read_token_; }
  std::string log() const { return read_text(dir_ / "tallyd.log"); }

  // Starts tallyd with --data-dir, --listen 127.0.0.1:0 and `args`; waits for its ready line.
  bool start(const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {"--data-dir",  data_dir_.string(), "--listen",
                                    "127.0.0.1:0", "--io-threads",     "2"};
    all.insert(all.end(), args.begin(), args.end());
    return start_with_only(all);
  }

  // Starts tallyd with `args` alone (the test names the data dir and address, through the
  // command line, a config file or the environment); waits for its ready line. The address
  // must be 127.0.0.1.
  bool start_with_only(const std::vector<std::string>& args) {
    const char* bin_dir = std::getenv("TALLY_BIN_DIR");
    const std::string binary = std::string(bin_dir ? bin_dir : "build/bin") + "/tallyd";
    std::vector<std::string> argv_text = {binary};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    const std::string log_path = (dir_ / "tallyd.log").string();
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const std::size_t log_start = read_text(log_path).size();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      for (const auto& [name, value] : environment_) ::setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> argv;
      for (auto& arg : argv_text) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    // Ready once its ready line is in the log; given up when it exits first.
    bool ready = false;
    const bool ended = wait_until(
        [&] {
          const std::string text = read_text(log_path).substr(log_start);
          const std::string marker = "tallyd ready listen=127.0.0.1:";
          const std::size_t at = text.find(marker);
          if (at != std::string::npos) {
            port_ = std::atoi(text.c_str() + at + marker.size());
            ready = true;
            return true;
          }
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          return true;
        },
        std::chrono::seconds(60), "tallyd is ready");
    if (!ended || !ready) return false;
    load_tokens();
    return port_ > 0;
  }

  // Sends `signal` and waits; the exit code, or -1 when killed by a signal.
  int stop(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Waits up to `limit` for tallyd to exit on its own: its exit code, or -1 (still running
  // after `limit`, or ended by a signal).
  int wait_exit(std::chrono::seconds limit) {
    if (pid_ <= 0) return -1;
    int code = -1;
    static_cast<void>(wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
          return true;
        },
        limit, "tallyd exits"));
    return code;
  }

  void send_signal(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  static std::string first_string_after(const std::string& json, const std::string& key) {
    const std::size_t at = json.find("\"" + key + "\"");
    if (at == std::string::npos) return {};
    const std::size_t open = json.find('"', json.find('[', at));
    const std::size_t close = json.find('"', open + 1);
    return json.substr(open + 1, close - open - 1);
  }

  // The tokens tallyd generated at its first start in this data dir, shown once in
  // tokens.generated (tokens.json holds their digests); none when the test names a tokens file.
  void load_tokens() {
    const std::string json = read_text(data_dir_ / "tokens.generated");
    ingest_token_ = first_string_after(json, "ingest");
    admin_token_ = first_string_after(json, "admin");
    read_token_ =
        json.find("\"read\"") != std::string::npos ? first_string_after(json, "read") : "";
  }

  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::vector<std::pair<std::string, std::string>> environment_;
  std::string ingest_token_;
  std::string admin_token_;
  std::string read_token_;
};

}  // namespace tally::testing
