// CORS for cross-origin reads. See cors.h.
#include "cors.h"

#include <strings.h>

#include <algorithm>

namespace tally::ingest::internal {
namespace {

bool any_origin(const std::vector<std::string>& origins) {
  return std::find(origins.begin(), origins.end(), "*") != origins.end();
}

bool listed(const std::vector<std::string>& origins, std::string_view origin) {
  return std::any_of(origins.begin(), origins.end(), [&](const std::string& allowed) {
    return allowed.size() == origin.size() &&
           strncasecmp(allowed.data(), origin.data(), origin.size()) == 0;
  });
}

}  // namespace

CorsHeaders cors_headers(const std::vector<std::string>& origins, bool protect_reads,
                         Endpoint endpoint, const Request& request) {
  CorsHeaders cors;
  if (origins.empty() || !cross_origin_readable(endpoint)) return cors;
  if (any_origin(origins)) {
    // The same for every page: no Vary, and shared caches keep one copy.
    cors.allow_origin = "*";
  } else {
    cors.vary_origin = true;
    // The browser compares the answer's origin with its own byte for byte: echo its own.
    if (request.has_origin && listed(origins, request.origin)) cors.allow_origin = request.origin;
  }
  if (endpoint == Endpoint::preflight) {
    cors.preflight = true;
    cors.allow_headers = protect_reads ? kProtectedPreflightHeaders : kPreflightHeaders;
  }
  return cors;
}

Answer preflight_answer(const std::vector<std::string>& origins, bool protect_reads,
                        const Route& route, const Request& request) {
  if (origins.empty()) {
    Route refused = route;
    refused.endpoint = Endpoint::method_not_allowed;
    return route_error(refused, false);
  }
  Answer answer;
  answer.http_code = 204;
  answer.allow = route.allow == "GET, HEAD, PUT" ? "GET, HEAD, PUT, OPTIONS" : "GET, HEAD, OPTIONS";
  answer.cors = cors_headers(origins, protect_reads, Endpoint::preflight, request);
  return answer;
}

}  // namespace tally::ingest::internal
