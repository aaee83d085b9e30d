// Server-Sent Events framing of GET /v1/campaigns/{id}/tally/stream (DESIGN.md "HTTP API").
//
// The session in server.cc owns the stream's timer and writes; this file only builds bytes.
// A stream sends `event: tally` with `id:` = the tally's as_of_seq and the /tally JSON as
// `data:`, at most and at least once a second while as_of_seq changes, and a `: heartbeat`
// comment after kStreamHeartbeat without an event. Pure functions, safe everywhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/engine/engine.h"

namespace tally::ingest {

// How often a stream looks for a new tally (and the most often it sends one).
inline constexpr std::chrono::milliseconds kStreamTick{1'000};
// Longest silence on a stream before a heartbeat comment.
inline constexpr std::chrono::milliseconds kStreamHeartbeat{15'000};
// The reconnect delay advertised to EventSource clients (`retry:`).
inline constexpr int kStreamRetryMs = 1'000;

// The status line and headers of a stream, then the `retry:` field. The answer has no length:
// it ends when the connection closes.
std::string sse_head();
// Appends one `tally` event for `tally`.
void append_tally_event(std::string& out, const engine::TallySnapshot& tally);
// The heartbeat comment.
inline constexpr std::string_view kSseHeartbeat = ": heartbeat\n\n";
// The seq a reconnecting client last saw (the Last-Event-ID header); nullopt when absent or
// not a number.
std::optional<std::uint64_t> parse_last_event_id(std::string_view header);

}  // namespace tally::ingest
