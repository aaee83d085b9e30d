// tallyd's logger: journald or stderr. See logging.h.
#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <utility>

namespace tally::tallyd {
namespace {

// The message of a stderr line with every control character escaped (\n, \r, \t, \u001b...):
// values from outside are already quoted (log_value()), and this keeps any other text, such
// as RocksDB's multi-line statistics, from breaking an event into lines that look like others.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    const spdlog::string_view_t text = msg.payload;
    std::size_t run_start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c >= 0x20 && c != 0x7f) continue;
      dest.append(text.data() + run_start, text.data() + i);
      run_start = i + 1;
      switch (c) {
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default: {
          const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          dest.append(escaped, escaped + sizeof escaped);
        }
      }
    }
    dest.append(text.data() + run_start, text.data() + text.size());
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessage>();
  }
};

// "device:inode", both decimal, as systemd writes JOURNAL_STREAM; nothing else.
bool parse_journal_stream(std::string_view text, std::uint64_t& device, std::uint64_t& inode) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const auto whole_number = [](std::string_view digits, std::uint64_t& out) {
    const char* end = digits.data() + digits.size();
    const auto [at, error] = std::from_chars(digits.data(), end, out);
    return !digits.empty() && error == std::errc() && at == end;
  };
  return whole_number(text.substr(0, colon), device) && whole_number(text.substr(colon + 1), inode);
}

}  // namespace

std::optional<spdlog::level::level_enum> log_level_named(std::string_view word) {
  using spdlog::level::level_enum;
  static constexpr std::pair<std::string_view, level_enum> kLevels[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug}, {"info", level_enum::info},
      {"warn", level_enum::warn},   {"error", level_enum::err},
  };
  for (const auto& [name, level] : kLevels) {
    if (word == name) return level;
  }
  return std::nullopt;
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  if (stream == nullptr || !parse_journal_stream(stream, device, inode)) return false;
  struct stat status {};
  if (::fstat(2, &status) != 0) return false;
  return static_cast<std::uint64_t>(status.st_dev) == device &&
         static_cast<std::uint64_t>(status.st_ino) == inode;
}

void start_logging(spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    // journald stamps each entry itself: the message alone, with the priority as a field.
    logger = std::make_shared<spdlog::logger>(
        kSyslogIdentifier, std::make_shared<spdlog::sinks::systemd_sink_mt>(kSyslogIdentifier));
  } else {
    logger = std::make_shared<spdlog::logger>(
        kSyslogIdentifier, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<EscapedMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(level);
  // A line is out before the next one is made: an operator or a test reading the log while
  // tallyd runs, or after it was killed, sees every line so far.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tally::tallyd
