// Status -> HTTP mapping and answer serialization. See answer.h.
#include "tally/ingest/answer.h"

#include <array>
#include <charconv>
#include <utility>

#include "tally/base/json.h"

namespace tally::ingest {
namespace {

using engine::VoteStatus;

// What a client reads when the layer that rejected it gave no detail.
std::string_view default_error(VoteStatus status) {
  switch (status) {
    case VoteStatus::quota_exceeded: return "voter: quota for this period reached";
    case VoteStatus::closed: return "campaign: outside its voting window";
    case VoteStatus::unknown_campaign: return "campaign: unknown";
    case VoteStatus::unknown_candidate: return "candidate: unknown in this campaign";
    case VoteStatus::invalid: return "body: not a valid ballot";
    case VoteStatus::unauthorized: return "authorization: missing or unknown bearer token";
    case VoteStatus::forbidden: return "authorization: token not allowed for this call";
    case VoteStatus::too_large: return "request: over the size limit";
    case VoteStatus::rate_limited: return "source: over its rate limit";
    case VoteStatus::overloaded: return "server: commit queue full, retry later";
    case VoteStatus::unavailable: return "storage: unavailable";
    case VoteStatus::accepted:
    case VoteStatus::duplicate: break;
  }
  return {};
}

int http_code_of(HttpError status) {
  switch (status) {
    case HttpError::not_found: return 404;
    case HttpError::method_not_allowed: return 405;
    case HttpError::conflict: return 409;
    case HttpError::not_implemented: return 501;
  }
  return 404;
}

std::string_view reason_phrase(int code) {
  switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

// How long a browser may keep a preflight's answer: ten minutes, so that a page's reads each
// second cost one preflight in 600 (browsers cap it anyway: Chromium at 2 hours).
constexpr std::uint64_t kCorsMaxAgeSeconds = 600;

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

// The one builder behind every error answer; the body is written into `buffer`. `status` is in
// static storage (the answer keeps a view of it). By hand, as append_vote_json: one per
// rejected vote.
Answer make_error(int http_code, std::string_view status, std::string_view error,
                  std::string buffer = {}) {
  Answer answer;
  answer.http_code = http_code;
  answer.body = std::move(buffer);
  answer.body.clear();
  answer.body.reserve(32 + status.size() + error.size());
  answer.body += R"({"status":)";
  append_json_string(answer.body, status);
  if (!error.empty()) {
    answer.body += R"(,"error":)";
    append_json_string(answer.body, error);
  }
  answer.body += '}';
  answer.status_word = status;
  answer.retry_after = http_code == 429 || http_code == 503;
  answer.authenticate = http_code == 401;
  return answer;
}

// The error answer of a vote status, written into `buffer`.
Answer status_error(VoteStatus status, std::string_view error, int http_code_override,
                    std::string buffer) {
  if (error.empty()) error = default_error(status);
  const int code = http_code_override != 0 ? http_code_override : engine::http_code(status);
  return make_error(code, engine::to_string(status), error, std::move(buffer));
}

}  // namespace

std::string_view to_string(HttpError status) {
  switch (status) {
    case HttpError::not_found: return "not_found";
    case HttpError::method_not_allowed: return "method_not_allowed";
    case HttpError::conflict: return "conflict";
    case HttpError::not_implemented: return "not_implemented";
  }
  return "not_found";
}

std::span<const std::string_view> http_error_words() {
  static constexpr HttpError kAll[] = {HttpError::not_found, HttpError::method_not_allowed,
                                       HttpError::conflict, HttpError::not_implemented};
  static const auto words = [] {
    std::array<std::string_view, std::size(kAll)> out;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = to_string(kAll[i]);
    return out;
  }();
  return words;
}

Answer error_answer(VoteStatus status, std::string_view error, int http_code_override) {
  return status_error(status, error, http_code_override, {});
}

Answer error_answer(HttpError status, std::string_view error) {
  return make_error(http_code_of(status), to_string(status), error);
}

// By hand, not through JsonWriter: one per vote, and the writer's version measured 31 ns to 16.
void append_vote_json(std::string& out, VoteStatus status, std::uint64_t seq, bool durable,
                      std::string_view error, std::size_t line, const engine::LeafHash* leaf) {
  out += R"({"status":")";
  out += engine::to_string(status);
  out += '"';
  if (status == VoteStatus::accepted || status == VoteStatus::duplicate) {
    out += R"(,"seq":)";
    append_number(out, seq);
    if (status == VoteStatus::accepted && leaf != nullptr) {
      static constexpr char kDigits[] = "0123456789abcdef";
      out += R"(,"leaf":")";
      for (const std::uint8_t byte : *leaf) {
        out.push_back(kDigits[byte >> 4]);
        out.push_back(kDigits[byte & 0xF]);
      }
      out += '"';
    }
    if (status == VoteStatus::accepted && !durable) out += R"(,"durable":false)";
  } else {
    if (error.empty()) error = default_error(status);
    if (!error.empty()) {
      out += R"(,"error":)";
      append_json_string(out, error);
    }
  }
  if (line != 0) {
    out += R"(,"line":)";
    append_number(out, line);
  }
  out += '}';
}

Answer vote_answer(VoteStatus status, std::uint64_t seq, bool durable, std::string_view error,
                   std::string buffer, const engine::LeafHash* leaf) {
  if (status != VoteStatus::accepted && status != VoteStatus::duplicate) {
    return status_error(status, error, 0, std::move(buffer));
  }
  Answer answer;
  answer.http_code = engine::http_code(status);
  answer.body = std::move(buffer);
  answer.body.clear();
  answer.body.reserve(48);
  append_vote_json(answer.body, status, seq, durable, error, 0, leaf);
  return answer;
}

Answer json_answer(std::string body, int http_code) {
  Answer answer;
  answer.http_code = http_code;
  answer.body = std::move(body);
  return answer;
}

void serialize_answer(const Answer& answer, Framing framing, std::string& out) {
  const bool bodiless = answer.http_code == 204 || answer.http_code == 304;
  out.reserve(out.size() + 160 + (framing.head || bodiless ? 0 : answer.body.size()));
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::uint64_t>(answer.http_code));
  out += ' ';
  out += reason_phrase(answer.http_code);
  out += "\r\nServer: tally";
  if (!bodiless) {
    out += "\r\nContent-Type: ";
    out += answer.content_type;
    if (answer.content_type == "application/json" ||
        answer.content_type == "application/x-ndjson" ||
        answer.content_type == "text/event-stream") {
      out += "; charset=utf-8";
    }
    if (!answer.unbounded) {
      out += "\r\nContent-Length: ";
      append_number(out, answer.body.size());
    }
  }
  if (!answer.etag.empty()) {
    out += "\r\nETag: ";
    out += answer.etag;
  }
  if (!answer.cache_control.empty()) {
    out += "\r\nCache-Control: ";
    out += answer.cache_control;
  }
  append_cors_headers(answer.cors, out);
  if (answer.retry_after) {
    out += "\r\nRetry-After: ";
    append_number(out, kRetryAfterSeconds);
  }
  if (!answer.primary.empty()) {
    out += "\r\nTally-Primary: ";
    out += answer.primary;
  }
  if (answer.authenticate) out += "\r\nWWW-Authenticate: Bearer";
  if (!answer.allow.empty()) {
    out += "\r\nAllow: ";
    out += answer.allow;
  }
  if (!framing.keep_alive || answer.close) {
    out += "\r\nConnection: close";
  } else if (framing.http10) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n\r\n";
  if (!framing.head && !bodiless) out += answer.body;
}

void append_cors_headers(const CorsHeaders& cors, std::string& out) {
  if (cors.vary_origin) out += "\r\nVary: Origin";
  if (cors.allow_origin.empty()) return;
  out += "\r\nAccess-Control-Allow-Origin: ";
  out += cors.allow_origin;
  if (!cors.preflight) {
    out += "\r\nAccess-Control-Expose-Headers: ETag, Retry-After";
    return;
  }
  out += "\r\nAccess-Control-Allow-Methods: GET, HEAD";
  if (!cors.allow_headers.empty()) {
    out += "\r\nAccess-Control-Allow-Headers: ";
    out += cors.allow_headers;
  }
  out += "\r\nAccess-Control-Max-Age: ";
  append_number(out, kCorsMaxAgeSeconds);
}

Answer route_error(const Route& route, bool unknown_method) {
  Answer answer = route.endpoint == Endpoint::method_not_allowed
                      ? error_answer(HttpError::method_not_allowed, "method not allowed here")
                      : error_answer(HttpError::not_found, "no such resource");
  answer.allow = route.allow;
  answer.close = unknown_method;
  return answer;
}

}  // namespace tally::ingest
