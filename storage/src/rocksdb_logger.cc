// RocksDB's diagnostics into the process's log. See rocksdb_logger.h.
#include "rocksdb_logger.h"

#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

namespace tally::storage {
namespace {

using rocksdb::InfoLogLevel;

// A RocksDB message: printf's text without the line break RocksDB sometimes ends it with.
std::string formatted(const char* format, va_list arguments) {
  char small[512];
  va_list again;
  va_copy(again, arguments);
  const int length = std::vsnprintf(small, sizeof small, format, arguments);
  std::string text;
  if (length < 0) {
    text = format;  // a format the C library refuses: its words are still worth a line
  } else if (static_cast<std::size_t>(length) < sizeof small) {
    text.assign(small, static_cast<std::size_t>(length));
  } else {
    text.resize(static_cast<std::size_t>(length));
    std::vsnprintf(text.data(), text.size() + 1, format, again);
  }
  va_end(again);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

spdlog::level::level_enum spdlog_level(InfoLogLevel level) {
  switch (level) {
    case InfoLogLevel::DEBUG_LEVEL: return spdlog::level::trace;
    case InfoLogLevel::INFO_LEVEL:
    case InfoLogLevel::HEADER_LEVEL: return spdlog::level::debug;
    case InfoLogLevel::WARN_LEVEL: return spdlog::level::warn;
    case InfoLogLevel::ERROR_LEVEL: return spdlog::level::err;
    case InfoLogLevel::FATAL_LEVEL:
    case InfoLogLevel::NUM_INFO_LOG_LEVELS: break;
  }
  return spdlog::level::critical;
}

// The least RocksDB level whose lines the spdlog logger at `level` writes.
InfoLogLevel rocksdb_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return InfoLogLevel::DEBUG_LEVEL;
    case spdlog::level::debug: return InfoLogLevel::INFO_LEVEL;
    case spdlog::level::info:
    case spdlog::level::warn: return InfoLogLevel::WARN_LEVEL;
    case spdlog::level::err: return InfoLogLevel::ERROR_LEVEL;
    default: return InfoLogLevel::FATAL_LEVEL;
  }
}

class SpdlogLogger final : public rocksdb::Logger {
 public:
  explicit SpdlogLogger(std::shared_ptr<spdlog::logger> logger)
      : rocksdb::Logger(rocksdb_level(logger->level())), logger_(std::move(logger)) {}

  // RocksDB calls this with the level of every line, and the level-less overload below only
  // through its own default implementation of this one, which is replaced here.
  using rocksdb::Logger::Logv;
  void Logv(const InfoLogLevel level, const char* format, va_list arguments) override {
    const spdlog::level::level_enum mapped = spdlog_level(level);
    if (!logger_->should_log(mapped)) return;  // the header comes whatever the level
    logger_->log(mapped, "rocksdb: {}", formatted(format, arguments));
  }
  void Logv(const char* format, va_list arguments) override {
    Logv(InfoLogLevel::INFO_LEVEL, format, arguments);
  }
  void LogHeader(const char* format, va_list arguments) override {
    Logv(InfoLogLevel::HEADER_LEVEL, format, arguments);
  }
  void Flush() override { logger_->flush(); }

 private:
  const std::shared_ptr<spdlog::logger> logger_;
};

class StderrLogger final : public rocksdb::Logger {
 public:
  StderrLogger() : rocksdb::Logger(InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const InfoLogLevel level, const char* format, va_list arguments) override {
    if (level < GetInfoLogLevel() || level >= InfoLogLevel::HEADER_LEVEL) return;
    static constexpr std::string_view kNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    const std::string text = formatted(format, arguments);
    std::fprintf(stderr, "rocksdb: [%s] %s\n", kNames[static_cast<int>(level)].data(),
                 text.c_str());
  }
  void Logv(const char* format, va_list arguments) override {
    Logv(InfoLogLevel::INFO_LEVEL, format, arguments);
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> spdlog_info_log() {
  return std::make_shared<SpdlogLogger>(spdlog::default_logger());
}

std::shared_ptr<rocksdb::Logger> stderr_info_log() {
  static const auto logger = std::make_shared<StderrLogger>();
  return logger;
}

}  // namespace tally::storage
