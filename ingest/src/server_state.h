// ServerState: what every connection of a Server shares: the backends, the workers, the
// listening socket, the tally history, and the counters behind the server-wide limits.
//
// Thread safety: the backends and options are read-only; the counters are atomics or behind
// their mutexes; the history is safe for concurrent use; `acceptor`, `next_accept`,
// `accept_retry` and `history_sampler` belong to the first worker's thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tally/ingest/server.h"
#include "tally/ingest/tokens.h"
#include "endpoints.h"
#include "history.h"
#include "worker.h"

namespace tally::ingest::internal {

// After an answer that closes the connection, unread input is drained (so the kernel does
// not reset the connection before the client reads the answer) for at most this long...
inline constexpr std::chrono::milliseconds kLingerTimeout{2'000};
// ...or this many bytes.
inline constexpr std::size_t kLingerMaxBytes = 16 * 1024 * 1024;

struct ServerState {
  ServerState(ServerOptions server_options, Backends server_backends, const Tokens& tokens_ref)
      : options(std::move(server_options)),
        backends(server_backends),
        tokens(tokens_ref),
        workers(make_workers(options)),
        acceptor(workers.front()->io),
        accept_retry(workers.front()->io),
        history_sampler(workers.front()->io, backends.engine, history) {}

  static std::vector<std::unique_ptr<Worker>> make_workers(const ServerOptions& options) {
    // An eighth of the shortest timeout, within 5..250 ms.
    const Limits& l = options.limits;
    const auto shortest = std::min(
        {l.idle_timeout, l.header_timeout, l.body_timeout, l.write_timeout, kLingerTimeout});
    const auto every =
        std::clamp(shortest / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    std::vector<std::unique_ptr<Worker>> out;
    for (int i = 0; i < std::max(options.io_threads, 1); ++i) {
      out.push_back(std::make_unique<Worker>(every));
    }
    return out;
  }

  // The worker of the next accepted connection: round robin.
  Worker& next_worker() { return *workers[next_accept++ % workers.size()]; }

  // Accepts connections until the acceptor closes (defined with the connection).
  void accept();

  void request_started() { in_flight.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() {
    // acq_rel: wait_drained() observing 0 also observes the answers' effects.
    if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(drain_mutex);
      drain_cv.notify_all();
    }
  }

  bool reserve_body_bytes(std::size_t bytes) {
    std::size_t current = inflight_body_bytes.load(std::memory_order_relaxed);
    do {
      if (current + bytes > options.limits.max_inflight_body_bytes) return false;
    } while (!inflight_body_bytes.compare_exchange_weak(current, current + bytes,
                                                        std::memory_order_relaxed));
    return true;
  }
  void release_body_bytes(std::size_t bytes) {
    if (bytes != 0) inflight_body_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }

  bool open_tally_stream() {
    std::size_t current = tally_streams.load(std::memory_order_relaxed);
    do {
      if (current >= options.limits.max_tally_streams) return false;
    } while (!tally_streams.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void close_tally_stream() { tally_streams.fetch_sub(1, std::memory_order_relaxed); }

  // Counts a new connection from `peer`; false when the peer is at its limit.
  bool add_peer(const std::string& peer) {
    std::lock_guard lock(peers_mutex);
    std::size_t& count = peer_connections[peer];
    if (count >= options.limits.max_connections_per_peer) {
      if (count == 0) peer_connections.erase(peer);
      return false;
    }
    ++count;
    return true;
  }
  void remove_peer(const std::string& peer) {
    std::lock_guard lock(peers_mutex);
    const auto it = peer_connections.find(peer);
    if (it != peer_connections.end() && --it->second == 0) peer_connections.erase(it);
  }

  const ServerOptions options;
  const Backends backends;
  const Tokens& tokens;
  std::atomic<std::size_t> running_workers{0};  // claimed by Server::run()
  std::size_t next_accept = 0;                  // the acceptor's handlers only
  std::uint16_t bound_port = 0;
  // Connections alive; relaxed: a counter for a limit, it orders nothing else.
  std::atomic<std::size_t> connections{0};
  // Requests read whose answer is not ready yet.
  std::atomic<std::size_t> in_flight{0};
  // Set once by stop_accepting(); relaxed: connections only need to see it eventually.
  std::atomic<bool> shutting_down{false};
  std::mutex drain_mutex;
  std::condition_variable drain_cv;
  // Bytes reserved by large bodies in flight (see Limits::max_inflight_body_bytes);
  // relaxed: a budget counter, it orders nothing else.
  std::atomic<std::size_t> inflight_body_bytes{0};
  // Open tally streams (Limits::max_tally_streams); relaxed: a counter for a limit.
  std::atomic<std::size_t> tally_streams{0};
  // Open connections per peer address; touched on accept and close only.
  std::mutex peers_mutex;
  std::unordered_map<std::string, std::size_t> peer_connections;
  // Every campaign's totals over the last hour (GET /v1/campaigns/{id}/history).
  TallyHistory history;

  // Last: destroyed first, so that connections still held by pending handlers end while the
  // state above (counters, peers) is alive.
  std::vector<std::unique_ptr<Worker>> workers;  // one per io thread; never empty
  boost::asio::ip::tcp::acceptor acceptor;       // on the first worker
  boost::asio::steady_timer accept_retry;
  HistorySampler history_sampler;  // on the first worker, from listen() on
};

}  // namespace tally::ingest::internal
