// Server: tally's HTTP front door (DESIGN.md "HTTP API"), on Boost.Asio and Beast.
//
// Data flow: a connection's bytes -> HTTP request (Beast parser, size limits) -> route ->
// auth -> endpoint; votes go parse (VoteParser) -> engine.decide() -> EventLog::submit_votes()
// and are answered from the commit's completion, handed back to the connection's io thread
// (one wake-up per commit batch and thread). Each connection stays on one io thread (its own
// event loop, so no strand is needed): keep-alive, pipelining (at most Limits::pipeline_depth
// answers owed at once, sent in request order), timeouts against idle and slow clients. An
// exception in a connection's handler closes that connection only.
//
// Threads: the Server owns no thread. The caller (tallyd's main) calls run() from exactly
// ServerOptions::io_threads threads; every other member is safe to call from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/adjudication.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/ingest/cluster_view.h"
#include "tally/ingest/observer.h"
#include "tally/ingest/tokens.h"
#include "tally/publog/public_log.h"

namespace tally::ingest {

namespace internal {
struct ServerState;
}  // namespace internal

// Every limit of the HTTP layer. Over a limit the client gets 413, 431, 429 or 503 (with
// Retry-After where a retry can help), never a crash or a silent drop.
struct Limits {
  // Request line plus headers; over it: 431 too_large. Default: 16 KiB.
  std::size_t max_header_bytes = 16 * 1024;
  // Body of POST /v1/votes and of every call but the two below; over it: 413. Default: 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  // Body of POST /v1/votes:batch; over it: 413, nothing counted. Default: 8 MiB.
  std::size_t max_batch_body_bytes = 8 * 1024 * 1024;
  // Non-empty lines of one batch; over it: 413, nothing counted. Default: 10,000.
  std::size_t max_batch_lines = 10'000;
  // Body of PUT /v1/campaigns/{id}. Default: 1 MiB.
  std::size_t max_campaign_body_bytes = 1024 * 1024;
  // Bytes of batch and campaign bodies (over max_body_bytes) being read or handled at
  // once, across connections; a request that would pass it is answered 503 overloaded.
  // Default: 256 MiB.
  std::size_t max_inflight_body_bytes = 256 * 1024 * 1024;
  // Open connections; one more is answered 503 overloaded and closed. Default: 10,000.
  std::size_t max_connections = 10'000;
  // Open connections from one peer address; one more is answered 429 rate_limited and
  // closed. Default: 4,096.
  std::size_t max_connections_per_peer = 4'096;
  // A keep-alive connection may wait this long for its next request. Default: 60 s.
  std::chrono::milliseconds idle_timeout{60'000};
  // From a request's first byte to the end of its headers (slowloris). Default: 10 s.
  std::chrono::milliseconds header_timeout{10'000};
  // To receive a body once its headers are in. Default: 30 s.
  std::chrono::milliseconds body_timeout{30'000};
  // To send an answer. Default: 30 s.
  std::chrono::milliseconds write_timeout{30'000};
  // Pipelined requests read ahead of their answers on one connection. Default: 16.
  std::size_t pipeline_depth = 16;
  // Re-decisions of a ballot whose duplicate is still being committed, 1 ms apart at
  // first, then up to 10 ms; after the last one it answers 503 overloaded. Default: 500.
  std::size_t max_pending_retries = 500;
  // Open GET /v1/campaigns/{id}/tally/stream connections (Server-Sent Events); one more is
  // answered 503 overloaded. Default: 256.
  std::size_t max_tally_streams = 256;
};

struct ServerOptions {
  // Address to listen on; port 0 picks a free port (see Server::port()).
  // Default: 127.0.0.1:8080.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // io threads that will call run(), one event loop each; connections are spread over
  // them round robin. Default: 1.
  int io_threads = 1;
  // Reads (tally, campaigns, fraud, metrics, dashboard, health) need a token. Default: false.
  bool protect_reads = false;
  // Origins (`https://vote.example.cn`, or `*` for any) whose browser pages may read the
  // campaigns, tallies, tally streams and fraud views cross-origin (CORS); writes never.
  // Default: none (no CORS header at all; OPTIONS answers 405).
  std::vector<std::string> cors_origins;
  Limits limits;
};

// What the server holds now, beside the limits it holds it against (GET /metrics shows both).
struct ServerLoad {
  std::size_t connections = 0;
  std::size_t max_connections = 0;
  std::size_t tally_streams = 0;
  std::size_t max_tally_streams = 0;
  std::size_t inflight_body_bytes = 0;
  std::size_t max_inflight_body_bytes = 0;
};

class Server {
 public:
  // Votes and campaign versions go to `log`. `observer`, when given, counts every answer and
  // serves GET /metrics; `fraud`, when given, serves GET /v1/campaigns/{id}/fraud (it is the
  // monitor the engine observes ballots with). Each must outlive the server; without the last
  // two their routes answer 501.
  // `cluster`: this node's replica group, or null when it runs alone.
  // `public_log`: the log's checkpoints, proofs and receipts (DESIGN.md "Public
  // verification"), or null (their routes answer 501).
  // `adjudication`: records and lists the committee's decisions (DESIGN.md "Adjudication"),
  // or null (/decisions answers 501).
  Server(ServerOptions options, engine::Engine& engine, engine::EventLog& log, const Tokens& tokens,
         ServerObserver* observer = nullptr, const engine::FraudMonitor* fraud = nullptr,
         const ClusterView* cluster = nullptr, publog::PublicLog* public_log = nullptr,
         engine::Adjudication* adjudication = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket and queues the first accept. Call once, before run().
  Status listen();
  // The bound port (the chosen one when the options said 0). After listen().
  std::uint16_t port() const;
  // Connections, tally streams and large-body bytes open now, and their limits. Each count is
  // read on its own: together they are a gauge, not a snapshot.
  ServerLoad load() const;

  // Runs the next io thread's event loop on the calling thread until stop(). Call it from
  // io_threads threads; a call beyond that returns at once.
  void run();

  // Shutdown, step 1: stops accepting; every connection stops reading new requests, sends the
  // answers it owes and closes.
  void stop_accepting();
  // Shutdown, step 2: waits until no request is being handled (every vote answered), or the
  // timeout. True when drained.
  bool wait_drained(std::chrono::milliseconds timeout);
  // Shutdown, step 3: stops the I/O loop; run() returns on every thread.
  void stop();

 private:
  std::unique_ptr<internal::ServerState> impl_;
};

}  // namespace tally::ingest
