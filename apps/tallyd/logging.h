// tallyd's log: where its lines go and from what level. Under systemd, when stderr is the
// journal, each line goes to journald through libsystemd with its priority (error as
// LOG_ERR, warn as LOG_WARNING...) and SYSLOG_IDENTIFIER=tallyd, so that `journalctl -p err`
// finds the errors; everywhere else it is one stderr line `<time> <level> <message>`, any
// control character of the message escaped so that an event is always one line. Set up once
// in main() before any other thread starts; spdlog's loggers are then safe for concurrent use.
// docs/LOGS.md.
#pragma once

#include <spdlog/common.h>

#include <optional>
#include <string_view>

namespace tally::tallyd {

// The name journald files tallyd's lines under (SYSLOG_IDENTIFIER).
inline constexpr char kSyslogIdentifier[] = "tallyd";

// A --log-level word (trace, debug, info, warn, error) as spdlog's level; nothing for another.
std::optional<spdlog::level::level_enum> log_level_named(std::string_view word);

// True when fd 2 is the stream systemd connected to the journal: JOURNAL_STREAM names its
// "device:inode" (systemd.exec(5)). A process whose stderr was redirected elsewhere may have
// inherited the variable, but not the match, and keeps writing lines to its stderr.
bool stderr_is_journal();

// Makes spdlog's default logger tallyd's, at `level`: to journald when stderr_is_journal(),
// else to stderr. RocksDB's lines join it when storage opens (storage/src/rocksdb_logger.h).
void start_logging(spdlog::level::level_enum level);

}  // namespace tally::tallyd
