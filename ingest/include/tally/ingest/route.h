// Routing: maps a request's method and target to one endpoint of DESIGN.md's HTTP API.
//
// Pure functions, safe everywhere; the connection calls route() once per request, before the
// body is read, to pick the body limit and the access an endpoint needs.
#pragma once

#include <cstdint>
#include <string_view>

namespace tally::ingest {

enum class Endpoint : std::uint8_t {
  not_found,
  method_not_allowed,
  vote,             // POST /v1/votes
  vote_batch,       // POST /v1/votes:batch
  campaign_list,    // GET /v1/campaigns
  campaign_get,     // GET /v1/campaigns/{id}
  campaign_put,     // PUT /v1/campaigns/{id}
  tally,            // GET /v1/campaigns/{id}/tally
  tally_stream,     // GET /v1/campaigns/{id}/tally/stream
  fraud,            // GET /v1/campaigns/{id}/fraud
  decisions,        // GET /v1/campaigns/{id}/decisions
  decision_post,    // POST /v1/campaigns/{id}/decisions
  history,          // GET /v1/campaigns/{id}/history
  vote_event,       // GET /v1/votes/{seq}
  vote_receipt,     // GET /v1/votes/{seq}/receipt
  log_key,          // GET /v1/log/key
  log_checkpoint,   // GET /v1/log/checkpoint
  log_proof,        // GET /v1/log/proof?seq=N[&size=M]
  log_consistency,  // GET /v1/log/consistency?from=M1&to=M2
  metrics,          // GET /metrics
  healthz,          // GET /healthz
  readyz,           // GET /readyz
  cluster,          // GET /v1/cluster
  dashboard,        // GET / and GET /web/{file}
  preflight,        // OPTIONS on a cross-origin read: a browser's CORS preflight (cors.h)
};

// HEAD is routed as GET (RFC 9110 9.3.2): the same answer without its body. OPTIONS is
// routed on cross-origin reads only (preflight); elsewhere it is a method not allowed.
enum class Method : std::uint8_t { get, head, post, put, options, other };

// What a caller must present (DESIGN.md "Auth").
enum class Access : std::uint8_t {
  open,    // always public: the dashboard's own files, which hold no data (a browser cannot
           // send a bearer token for a page it loads; the page asks for one for its reads),
           // and CORS preflights (a browser never sends a token in a preflight)
  read,    // public unless --protect-reads, then any valid token
  ingest,  // an ingest token (admin tokens also ingest)
  admin,   // an admin token
};

struct Route {
  Endpoint endpoint = Endpoint::not_found;
  // The {id} of campaign routes: a view into the target.
  std::string_view campaign_id;
  // The {seq} of vote_event and vote_receipt.
  std::uint64_t seq = 0;
  // For method_not_allowed: the methods the path takes, for the Allow header.
  std::string_view allow;
};

// Routes `target` (path plus optional query, which is ignored). A path that exists with
// another method gives method_not_allowed (HEAD goes wherever GET does); an unknown path or a
// malformed {seq} gives not_found. Campaign ids are not validated here: an id that cannot exist
// answers unknown_campaign (or a PUT's id check answers invalid).
Route route(Method method, std::string_view target);

Access access_of(Endpoint endpoint);

// The reads a browser page of another origin may make when tallyd lists origins
// (--cors-origin): the campaigns, a tally, its stream and history, the fraud view, the public log
// (checkpoint, proofs, key, receipts), and their preflight.
// Never a write: ballots come from the frontend's server, not from voters' browsers.
bool cross_origin_readable(Endpoint endpoint);

// The name used in logs ("vote", "tally", ...).
std::string_view to_string(Endpoint endpoint);

}  // namespace tally::ingest
