// The endpoints that answer from the state of the moment, and the checks every request passes
// before its endpoint: who may call it (DESIGN.md's precedence starts with auth) and how large
// its body may be. Free functions over the server's backends, like Beast's handle_request():
// unit tests call them without a socket. Votes (vote_batch.h), a campaign PUT's commit and the
// tally stream (tally_stream.h) are answered later; the connection drives them.
//
// Thread safety: every function is safe to call from any io thread at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <variant>

#include "tally/engine/adjudication.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/engine/fraud.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/cluster_view.h"
#include "tally/ingest/observer.h"
#include "tally/ingest/route.h"
#include "tally/ingest/server.h"
#include "tally/ingest/tokens.h"
#include "tally/publog/public_log.h"
#include "request_parser.h"

namespace tally::ingest::internal {

// What the endpoints read and write: the server's constructor arguments.
struct Backends {
  engine::Engine& engine;
  engine::EventLog& log;
  ServerObserver* observer;            // null: /metrics answers 501
  const engine::FraudMonitor* fraud;   // null: /fraud answers 501
  const ClusterView* cluster;          // null: running alone; /v1/cluster answers 404
  publog::PublicLog* public_log;       // null: /v1/log/* and receipts answer 501
  engine::Adjudication* adjudication;  // null: /decisions answers 501
};

// The answer to a write (a vote, a batch, a campaign PUT) while the log takes none: 503
// unavailable, and on a standby where the primary is (Tally-Primary). nullopt when the log is
// writable. Checked before any ballot is decided: a standby's engine is its follower's.
std::optional<Answer> write_refusal(const Backends& backends);

// The refusal of a caller the endpoint does not admit (401, or 403 for an admin call without
// an admin token); nullopt when it may go on. Routes that found nothing admit everyone: their
// 404 or 405 says more.
// `memo`, when given, is the connection's (Tokens::check).
std::optional<Answer> auth_refusal(const Tokens& tokens, bool protect_reads, Endpoint endpoint,
                                   std::string_view authorization, TokenMemo* memo = nullptr);

// What refuses `request` before its endpoint runs, in DESIGN.md's precedence: a transfer
// coding the server does not decode (501), then auth_refusal(). nullopt: the endpoint runs.
std::optional<Answer> refusal_before_endpoint(const Tokens& tokens, bool protect_reads,
                                              const Route& route, const Request& request,
                                              TokenMemo* memo = nullptr);

// The largest body `endpoint` reads (Limits: batches and campaigns have their own).
std::size_t body_limit(const Limits& limits, Endpoint endpoint);

// The answer of every endpoint but votes, a campaign PUT, the tally stream and a preflight.
// Reads of campaigns, tallies and the fraud view carry an ETag and answer 304 to a request
// whose If-None-Match holds it (conditional.h). REQUIRES: the caller was admitted
// (auth_refusal()).
Answer answer_now(const Backends& backends, const Request& request, const Route& route);

// PUT /v1/campaigns/{id}: the campaign its body defines, or the answer that refuses it (not a
// campaign, or an id unlike the path's).
std::variant<engine::Campaign, Answer> campaign_to_put(std::string_view body,
                                                       std::string_view path_id);
// Once engine::put_campaign() ran: the answer when it submitted nothing (no change, or a
// change the campaign's votes forbid) or the log did not take it (a full queue, storage down);
// nullopt when the writer's word is awaited.
std::optional<Answer> campaign_put_now(const engine::CampaignPut& put, std::string_view id);
// After the log: the writer's decision is final (it alone installs).
Answer campaign_put_answer(const engine::CommitOutcome& committed);

}  // namespace tally::ingest::internal
