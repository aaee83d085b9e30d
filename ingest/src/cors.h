// Cross-origin reads (the Fetch standard's CORS protocol), opt-in: with origins listed
// (ServerOptions::cors_origins, tallyd's --cors-origin), a browser page of one of them may
// read the campaigns, a tally, its stream and the fraud view (cross_origin_readable()), and its
// preflights (OPTIONS) are answered. Writes never get CORS headers: ballots come from the
// frontend's server, never from a voter's browser, so no browser may be let to post them.
// Without origins, no answer has a CORS header and OPTIONS is a method not allowed (405).
//
// Pure functions, safe everywhere.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tally/ingest/answer.h"
#include "tally/ingest/route.h"
#include "request_parser.h"

namespace tally::ingest::internal {

// The headers a preflight lets a page send: a revalidation, an event stream's resumption, and
// under --protect-reads the read token.
inline constexpr std::string_view kPreflightHeaders = "If-None-Match, Last-Event-ID";
inline constexpr std::string_view kProtectedPreflightHeaders =
    "Authorization, If-None-Match, Last-Event-ID";

// The CORS headers of an answer to `request` on `endpoint`, under `origins` (`*`: any page;
// else exact origins such as `https://vote.example.cn`, compared ASCII case-insensitively).
// An answer that depends on the Origin says Vary: Origin, whether or not this one may read,
// so that a cache in front never hands one page's answer to another. Views into `origins`
// and `request` (which must outlive the headers' serialization).
CorsHeaders cors_headers(const std::vector<std::string>& origins, bool protect_reads,
                         Endpoint endpoint, const Request& request);

// The answer to an OPTIONS on a cross-origin read: 204 with Allow and, for a listed origin,
// what its preflight asks; without origins, 405 as for any method a path does not take.
Answer preflight_answer(const std::vector<std::string>& origins, bool protect_reads,
                        const Route& route, const Request& request);

}  // namespace tally::ingest::internal
