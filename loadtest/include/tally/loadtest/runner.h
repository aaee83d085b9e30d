// Runner: drives a prepared Workload against one tallyd over many keep-alive HTTP/1.1
// connections (Boost.Asio, hidden in runner.cc). Closed loop: each connection keeps
// `pipeline` requests in flight and sends the next when an answer arrives. Open loop
// (`rate` > 0): requests are due at fixed intervals and their latency counts from the due
// time, so a stalled server cannot hide its queueing (coordinated omission, docs/LOADGEN.md).
// run() starts and joins its own `threads` I/O threads; call it from one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tally/loadtest/histogram.h"
#include "tally/loadtest/response.h"
#include "tally/loadtest/workload.h"

namespace tally::loadtest {

struct RunOptions {
  // Target host (name or address) and port. REQUIRES: port set.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  // Keep-alive connections, spread over the threads. Default: 64.
  std::uint32_t connections = 64;
  // I/O threads of the generator. Default: 1.
  std::uint32_t threads = 1;
  // Requests in flight per connection (1: no pipelining). Default: 1.
  std::uint32_t pipeline = 1;
  // Requests per second over all connections; 0 for the closed loop. Default: 0.
  double rate = 0;
  // Stop sending after this many seconds. Default: 10.
  double duration_s = 10;
  // Stop after this many requests in total; 0 for no limit. Default: 0.
  std::uint64_t max_requests = 0;
  // After the stop, how long to wait for answers still in flight. Default: 10.
  double drain_timeout_s = 10;
  // A run that sends more requests than were prepared goes over them again, and a second
  // pass answers `duplicate`. With this, each pass rewrites the pass tags of the voter ids,
  // devices and request ids it sends (a copy per request), so that every pass brings new
  // voters on new phones. Tags wrap after 1,000 passes.
  // REQUIRES: the workload built with PopulationOptions::pass_tags. Default: false.
  bool fresh_passes = false;
};

struct RunResult {
  LatencyHistogram latency_ns;              // per request, answered requests only
  AnswerCounts answers;                     // per ballot
  std::map<int, std::uint64_t> http_codes;  // per request
  std::uint64_t requests_sent = 0;
  std::uint64_t requests_answered = 0;
  std::uint64_t ballots_answered = 0;
  std::uint64_t unanswered = 0;        // in flight when a connection failed or the drain ended
  std::uint64_t transport_errors = 0;  // failed connects, reads, writes, unparsable answers
  std::uint64_t reconnects = 0;        // new connections after a failure or Connection: close
  std::uint64_t behind_schedule = 0;   // open loop: requests due but never sent by the stop
  double elapsed_s = 0;                // first send to last answer
};

// Runs the load. Fails (error set, result empty) only when the target cannot be resolved or
// a first connection cannot be made.
struct RunOutcome {
  RunResult result;
  std::string error;
};
[[nodiscard]] RunOutcome run(const Workload& workload, const RunOptions& options);

// A blocking GET (or other method) for the setup and --verify: one connection, one request.
struct HttpResult {
  int http_code = 0;  // 0 on a transport error, described in `error`
  std::string body;
  std::string error;
};
[[nodiscard]] HttpResult http_request(const std::string& host, std::uint16_t port,
                                      const std::string& method, const std::string& path,
                                      const std::string& token, double timeout_s = 10);

}  // namespace tally::loadtest
