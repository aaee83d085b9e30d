// What a tally stream sends. See tally_stream.h.
#include "tally_stream.h"

#include <algorithm>
#include <charconv>

namespace tally::ingest {

std::string sse_head(const CorsHeaders& cors) {
  std::string out =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: close";
  append_cors_headers(cors, out);
  out += "\r\n\r\n";
  out += "retry: " + std::to_string(kStreamRetryMs) + "\n\n";
  return out;
}

std::string tally_document(const engine::TallySnapshot& tally, publog::PublicLog* public_log) {
  std::string json = engine::tally_to_json(tally);
  if (public_log == nullptr) return json;
  auto checkpoint = public_log->checkpoint(tally.as_of_seq);
  // Without one (the log cannot be read), the tally is still worth showing.
  if (!checkpoint.ok()) return json;
  json.pop_back();  // the object's closing brace
  json += R"(,"checkpoint":)";
  json += publog::checkpoint_json(checkpoint.value);
  json += '}';
  return json;
}

void append_tally_event(std::string& out, const engine::TallySnapshot& tally,
                        publog::PublicLog* public_log) {
  // The JSON has no newline (JSON writers here escape control characters), so it is one
  // `data:` line.
  out += "event: tally\nid: ";
  out += std::to_string(tally.as_of_seq);
  out += "\ndata: ";
  out += tally_document(tally, public_log);
  out += "\n\n";
}

std::optional<std::uint64_t> parse_last_event_id(std::string_view header) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) {
    header.remove_prefix(1);
  }
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) {
    header.remove_suffix(1);
  }
  std::uint64_t seq = 0;
  const auto [end, error] = std::from_chars(header.data(), header.data() + header.size(), seq);
  if (header.empty() || error != std::errc() || end != header.data() + header.size()) {
    return std::nullopt;
  }
  return seq;
}

TallyStream::TallyStream(std::string campaign, const engine::TallySnapshot& tally,
                         std::optional<std::string_view> last_event_id, Clock::time_point now,
                         std::string& out, const CorsHeaders& cors, publog::PublicLog* public_log)
    : campaign_(std::move(campaign)),
      public_log_(public_log),
      last_write_(now),
      next_tick_(now + kStreamTick) {
  out += sse_head(cors);
  const auto last_seen = last_event_id ? parse_last_event_id(*last_event_id) : std::nullopt;
  if (!last_seen || *last_seen < tally.as_of_seq) append_tally_event(out, tally, public_log_);
  sent_seq_ = last_seen ? std::max(*last_seen, tally.as_of_seq) : tally.as_of_seq;
}

void TallyStream::tick(const std::optional<engine::TallySnapshot>& tally, bool can_write,
                       Clock::time_point now, std::string& out) {
  if (can_write) {
    if (tally && tally->as_of_seq != sent_seq_) {
      append_tally_event(out, *tally, public_log_);
      sent_seq_ = tally->as_of_seq;
    } else if (now - last_write_ >= kStreamHeartbeat) {
      out += kSseHeartbeat;
    }
  }
  // Drift-free ticks; after a stall, resume from now rather than bursting.
  next_tick_ = std::max(next_tick_ + kStreamTick, now);
}

}  // namespace tally::ingest
