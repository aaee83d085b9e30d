// GET /v1/campaigns/{id}/tally/stream (DESIGN.md "HTTP API"): what a tally stream sends, and
// when. Server-Sent Events: `event: tally` with `id:` = the tally's as_of_seq and the /tally
// JSON as `data:`, at most and at least once a second while as_of_seq changes, and a
// `: heartbeat` comment after kStreamHeartbeat without an event.
//
// The connection owns the stream's timer and socket writes; TallyStream decides the bytes of
// each tick. The free functions are pure and safe everywhere; a TallyStream belongs to one
// connection's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/engine/engine.h"
#include "tally/ingest/answer.h"
#include "tally/publog/public_log.h"

namespace tally::ingest {

// How often a stream looks for a new tally (and the most often it sends one).
inline constexpr std::chrono::milliseconds kStreamTick{1'000};
// Longest silence on a stream before a heartbeat comment.
inline constexpr std::chrono::milliseconds kStreamHeartbeat{15'000};
// The reconnect delay advertised to EventSource clients (`retry:`).
inline constexpr int kStreamRetryMs = 1'000;

// The status line and headers of a stream (with `cors`'s, cors.h), then the `retry:` field.
// The answer has no length: it ends when the connection closes.
std::string sse_head(const CorsHeaders& cors = {});
// The /tally document: the engine's tally JSON, with the public log's checkpoint of its
// as_of_seq as "checkpoint" when there is a public log (DESIGN.md "Public verification").
std::string tally_document(const engine::TallySnapshot& tally, publog::PublicLog* public_log);
// Appends one `tally` event for `tally` (its tally_document()).
void append_tally_event(std::string& out, const engine::TallySnapshot& tally,
                        publog::PublicLog* public_log);
// The heartbeat comment.
inline constexpr std::string_view kSseHeartbeat = ": heartbeat\n\n";
// The seq a reconnecting client last saw (the Last-Event-ID header); nullopt when absent or
// not a number.
std::optional<std::uint64_t> parse_last_event_id(std::string_view header);

class TallyStream {
 public:
  using Clock = std::chrono::steady_clock;

  // A stream of `campaign`, whose tally is `tally` now. `last_event_id` is the request's
  // Last-Event-ID header (absent: nullopt). Appends the stream's first bytes to `out`: the
  // head (with `cors`'s headers), then the tally unless the client already has it.
  TallyStream(std::string campaign, const engine::TallySnapshot& tally,
              std::optional<std::string_view> last_event_id, Clock::time_point now,
              std::string& out, const CorsHeaders& cors = {},
              publog::PublicLog* public_log = nullptr);

  const std::string& campaign() const { return campaign_; }
  // When the next tick is due.
  Clock::time_point next_tick() const { return next_tick_; }
  // A tick at `now`, with `tally` the campaign's tally now (nullopt if it is gone): appends a
  // newer tally, or a heartbeat after a quiet spell, or nothing, to `out`; schedules the next
  // tick. `can_write`: false while an earlier write is still going (nothing is appended).
  void tick(const std::optional<engine::TallySnapshot>& tally, bool can_write,
            Clock::time_point now, std::string& out);
  // A write of the stream's bytes ended at `now`.
  void wrote(Clock::time_point now) { last_write_ = now; }

 private:
  std::string campaign_;
  publog::PublicLog* public_log_;
  std::uint64_t sent_seq_ = 0;  // as_of_seq of the last tally the client has
  Clock::time_point last_write_;
  Clock::time_point next_tick_;
};

}  // namespace tally::ingest
