// Answer: one HTTP answer as ingest sends it, and the one place where statuses become HTTP.
//
// Every error answer, whatever endpoint or layer produced it, is built by error_answer():
// the status word (engine::VoteStatus or an HTTP-only word) fixes the HTTP code, the JSON
// body `{"status":...,"error":...}` and the Retry-After header. Vote answers (single and
// batch lines) are written by append_vote_json(). Pure functions, safe everywhere.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tally/engine/event_log.h"
#include "tally/engine/vote_status.h"
#include "tally/ingest/route.h"

namespace tally::ingest {

// Statuses that only the HTTP layer answers (DESIGN.md "Other answers").
enum class HttpError : std::uint8_t {
  not_found,           // 404
  method_not_allowed,  // 405
  conflict,            // 409: a PUT that would alter counting of a campaign with votes
  not_implemented,     // 501: routed, not built yet
};

// An HttpError's word, as its answers say it ("not_found").
std::string_view to_string(HttpError status);
// Every HttpError's word: the words a request may be refused with besides VoteStatus's, for
// whoever counts answers by word (tallyd hands them to the metrics).
std::span<const std::string_view> http_error_words();

// Seconds a client should wait before retrying a 429 or 503.
inline constexpr int kRetryAfterSeconds = 1;

// The CORS headers of an answer to a cross-origin read (cors.h decides them; empty: none).
struct CorsHeaders {
  // `Vary: Origin`: the answer's CORS headers depend on the request's Origin.
  bool vary_origin = false;
  // `Access-Control-Allow-Origin`: the request's Origin (or `*`) when it may read; then an
  // answer also says `Access-Control-Expose-Headers` (ETag, Retry-After: a page's script
  // reads them), a preflight's the three below instead. Static storage or the request's.
  std::string_view allow_origin;
  bool preflight = false;
  // A preflight's `Access-Control-Allow-Headers`.
  std::string_view allow_headers;
};

struct Answer {
  int http_code = 200;
  std::string_view content_type = "application/json";
  std::string body;
  // An error answer's status word (a VoteStatus word or HttpError's; static storage), which
  // its body also says; empty for every other answer.
  std::string_view status_word;
  // Adds `Retry-After: kRetryAfterSeconds` (429 and 503).
  bool retry_after = false;
  // Adds `Tally-Primary: <primary>`: a standby's 503 says where the primary serves.
  std::string primary;
  // Adds `WWW-Authenticate: Bearer` (401).
  bool authenticate = false;
  // The Allow header of a 405, empty otherwise.
  std::string_view allow;
  // Close the connection after this answer (the stream cannot be trusted any more).
  bool close = false;
  // The body's length is not known ahead (the HEAD answer of an event stream): no
  // Content-Length.
  bool unbounded = false;
  // Adds `ETag: <etag>`, a quoted strong entity tag (conditional.h); empty: none.
  std::string etag;
  // Adds `Cache-Control: <cache_control>`; empty: none. Static storage.
  std::string_view cache_control;
  CorsHeaders cors;
};

// How an answer is framed for the request it answers.
struct Framing {
  bool keep_alive = true;  // false: `Connection: close`
  bool http10 = false;     // an HTTP/1.0 request: a kept connection says `Connection: keep-alive`
  bool head = false;       // a HEAD request: the GET answer's headers, no body (RFC 9110 9.3.2)
};

// The error answer of a vote status (anything but accepted/duplicate, which are vote answers).
// `http_code_override` picks 431 for too_large on request lines and headers; 0 keeps
// engine::http_code(status). `error` names the field and the rule; empty omits it.
Answer error_answer(engine::VoteStatus status, std::string_view error, int http_code_override = 0);
Answer error_answer(HttpError status, std::string_view error);

// The answer when route() found nothing to serve (not_found or method_not_allowed, with the
// Allow header). `unknown_method`: a method outside the registered ones that the request
// parser knows (`MKCOLA`, say), which comes from a scanner or another protocol's client, not a
// frontend: the answer closes the connection.
Answer route_error(const Route& route, bool unknown_method);

// Appends one vote answer object:
// {"status":...,"seq":N,"leaf":"…","durable":false,"error":...,"line":N}.
// `seq` is written for accepted and duplicate; `leaf` (the public log's leaf, 64 hex digits)
// when accepted and given; `durable` only when false and accepted; `error` when not empty;
// `line` when not 0 (batch answers).
void append_vote_json(std::string& out, engine::VoteStatus status, std::uint64_t seq, bool durable,
                      std::string_view error, std::size_t line,
                      const engine::LeafHash* leaf = nullptr);

// The answer to a single POST /v1/votes. Its body is written into `buffer`, cleared first: a
// caller that hands back an earlier answer's body allocates nothing for this one.
Answer vote_answer(engine::VoteStatus status, std::uint64_t seq, bool durable,
                   std::string_view error, std::string buffer = {},
                   const engine::LeafHash* leaf = nullptr);

// A 200 (or `http_code`) answer with a JSON document built by the caller.
Answer json_answer(std::string body, int http_code = 200);

// Appends the HTTP/1.1 bytes of `answer` (status line, headers, body) to `out`. An answer
// that does not keep the connection says `Connection: close`; one to an HTTP/1.0 request
// that does says `Connection: keep-alive`, without which such a client closes. A 204 or 304
// has neither body nor Content-Type nor Content-Length (RFC 9110 8.6, 15.4.5).
void serialize_answer(const Answer& answer, Framing framing, std::string& out);

// Appends `cors`'s header lines, each as CRLF then `Name: value` (nothing when empty).
void append_cors_headers(const CorsHeaders& cors, std::string& out);

}  // namespace tally::ingest
