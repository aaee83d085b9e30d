// The HTTP server: its workers, listening socket and shutdown. See server.h for the contract;
// connection.h has what happens on each connection.
#include "tally/ingest/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <mutex>
#include <utility>

#include "server_state.h"

namespace tally::ingest {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(ServerOptions options, engine::Engine& engine, engine::EventLog& log,
               const Tokens& tokens, ServerObserver* observer, const engine::FraudMonitor* fraud,
               const ClusterView* cluster, publog::PublicLog* public_log,
               engine::Adjudication* adjudication)
    : impl_(std::make_unique<internal::ServerState>(
          std::move(options),
          internal::Backends{engine, log, observer, fraud, cluster, public_log, adjudication},
          tokens)) {}

Server::~Server() = default;

Status Server::listen() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return Status::error("listen: bad address \"" + impl_->options.host + "\"");
  const tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error("listen: " + impl_->options.host + ":" +
                         std::to_string(impl_->options.port) + ": " + ec.message());
  }
  impl_->bound_port = acceptor.local_endpoint(ec).port();
  asio::dispatch(acceptor.get_executor(), [impl = impl_.get()] {
    impl->accept();
    impl->history_sampler.start();
  });
  return {};
}

std::uint16_t Server::port() const { return impl_->bound_port; }

ServerLoad Server::load() const {
  // relaxed: the counters order nothing, and a scrape may see each a moment late.
  const Limits& limits = impl_->options.limits;
  return {.connections = impl_->connections.load(std::memory_order_relaxed),
          .max_connections = limits.max_connections,
          .tally_streams = impl_->tally_streams.load(std::memory_order_relaxed),
          .max_tally_streams = limits.max_tally_streams,
          .inflight_body_bytes = impl_->inflight_body_bytes.load(std::memory_order_relaxed),
          .max_inflight_body_bytes = limits.max_inflight_body_bytes};
}

void Server::run() {
  const std::size_t index = impl_->running_workers.fetch_add(1, std::memory_order_relaxed);
  if (index >= impl_->workers.size()) return;  // each worker has exactly one thread
  impl_->workers[index]->io.run();
}

void Server::stop_accepting() {
  impl_->shutting_down.store(true, std::memory_order_relaxed);
  asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
  });
}

bool Server::wait_drained(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->drain_mutex);
  // Acquire pairs with request_finished()'s acq_rel decrement.
  return impl_->drain_cv.wait_for(
      lock, timeout, [this] { return impl_->in_flight.load(std::memory_order_acquire) == 0; });
}

void Server::stop() {
  for (auto& worker : impl_->workers) {
    worker->work.reset();
    worker->io.stop();
  }
}

}  // namespace tally::ingest
