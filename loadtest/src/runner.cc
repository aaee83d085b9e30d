// The only translation unit of tally::loadtest that includes Boost.Asio.
#include "tally/loadtest/runner.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace tally::loadtest {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr auto kReconnectDelay = std::chrono::milliseconds(50);

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// What all connections of a run share: the workload, the request cursor (which also
// enforces max_requests) and the stop time.
struct Shared {
  Shared(const Workload& w, const RunOptions& o) : workload(w), options(o) {}
  const Workload& workload;
  const RunOptions& options;
  tcp::endpoint endpoint;
  // Next request number; relaxed: it only hands out distinct numbers, nothing is published
  // through it.
  std::atomic<std::uint64_t> cursor{0};
  Clock::time_point start;
  Clock::time_point stop;
  // Open loop: the interval between one connection's due times.
  Clock::duration interval{};

  // The number of the next request to send (its workload index is the number modulo the
  // workload's size, its pass the quotient), or -1 when the run has sent all it may.
  std::int64_t claim() {
    const std::uint64_t n = cursor.fetch_add(1, std::memory_order_relaxed);
    if (options.max_requests != 0 && n >= options.max_requests) return -1;
    return static_cast<std::int64_t>(n);
  }
};

class Worker;

// One keep-alive connection. Lives on its worker's io_context; all handlers run on that one
// thread, so nothing here is synchronised.
class Connection {
 public:
  Connection(Worker& worker, Shared& shared, std::uint32_t id, std::uint32_t connections);
  tcp::socket& socket() { return socket_; }
  void start();    // REQUIRES: socket connected
  void stop();     // stop sending; close once the answers in flight arrive
  void abandon();  // the drain ended: close now
  bool finished() const { return finished_; }

 private:
  struct InFlight {
    std::uint32_t request;
    Clock::time_point start;
  };

  void pump();
  std::shared_ptr<const std::string> renamed(std::size_t request, std::uint64_t pass);
  void flush();
  void read();
  void on_read(std::size_t bytes);
  void fail(bool transport_error);
  void reconnect(Clock::duration delay);
  void finish();

  Worker& worker_;
  Shared& shared_;
  tcp::socket socket_;
  asio::steady_timer schedule_timer_;
  asio::steady_timer reconnect_timer_;
  ResponseParser parser_;
  std::deque<InFlight> in_flight_;
  std::vector<asio::const_buffer> writing_;
  std::vector<asio::const_buffer> pending_;
  // RunOptions::fresh_passes: the renamed copies that pending_ points into.
  std::vector<std::shared_ptr<const std::string>> pending_copies_;
  bool write_busy_ = false;
  bool timer_armed_ = false;
  bool stopping_ = false;
  bool exhausted_ = false;  // no request left to claim
  bool finished_ = false;
  std::uint64_t generation_ = 0;  // bumped on every close: handlers of older sockets return
  // Open loop: this connection's first due time is shared.start + due_offset_; scheduled_
  // counts the due times it has used.
  Clock::duration due_offset_{};
  std::uint64_t scheduled_ = 0;
};

class Worker {
 public:
  explicit Worker(Shared& shared) : shared_(shared), stop_timer_(io_), drain_timer_(io_) {}

  asio::io_context& io() { return io_; }
  RunResult& result() { return result_; }
  std::vector<std::unique_ptr<Connection>>& connections() { return connections_; }

  void run() {
    for (auto& c : connections_) c->start();
    stop_timer_.expires_at(shared_.stop);
    stop_timer_.async_wait([this](error_code error) {
      if (error) return;
      for (auto& c : connections_) c->stop();
    });
    drain_timer_.expires_at(shared_.stop + seconds(shared_.options.drain_timeout_s));
    drain_timer_.async_wait([this](error_code error) {
      if (error) return;
      for (auto& c : connections_) c->abandon();
    });
    io_.run();
  }

  // Called by a connection when it is done for good.
  void connection_finished() {
    if (++finished_ == connections_.size()) {
      stop_timer_.cancel();
      drain_timer_.cancel();
    }
  }

  void record_answer_time(Clock::time_point when) { last_answer_ = std::max(last_answer_, when); }
  Clock::time_point last_answer() const { return last_answer_; }

 private:
  Shared& shared_;
  asio::io_context io_{1};
  asio::steady_timer stop_timer_;
  asio::steady_timer drain_timer_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::size_t finished_ = 0;
  RunResult result_;
  Clock::time_point last_answer_{};
};

Connection::Connection(Worker& worker, Shared& shared, std::uint32_t id, std::uint32_t connections)
    : worker_(worker),
      shared_(shared),
      socket_(worker.io()),
      schedule_timer_(worker.io()),
      reconnect_timer_(worker.io()) {
  // Spread the connections' due times evenly over one interval.
  due_offset_ = shared.interval * id / std::max<std::uint32_t>(connections, 1);
}

void Connection::start() {
  socket_.set_option(tcp::no_delay(true));
  read();
  pump();
}

void Connection::stop() {
  if (finished_) return;
  stopping_ = true;
  schedule_timer_.cancel();
  reconnect_timer_.cancel();
  if (shared_.options.rate > 0) {
    // Requests due by now that were never sent: the server (or the generator) fell behind.
    const auto now = std::min(Clock::now(), shared_.stop);
    const auto first_due = shared_.start + due_offset_;
    if (now > first_due) {
      // Due times strictly before `now`: ceil((now - first_due) / interval).
      const std::uint64_t due = static_cast<std::uint64_t>(
          (now - first_due + shared_.interval - Clock::duration(1)) / shared_.interval);
      if (due > scheduled_) worker_.result().behind_schedule += due - scheduled_;
    }
  }
  if (in_flight_.empty()) finish();
}

void Connection::abandon() {
  if (finished_) return;
  worker_.result().unanswered += in_flight_.size();
  in_flight_.clear();
  finish();
}

void Connection::finish() {
  if (finished_) return;
  finished_ = true;
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  schedule_timer_.cancel();
  reconnect_timer_.cancel();
  worker_.connection_finished();
}

void Connection::pump() {
  if (stopping_ || exhausted_ || finished_ || !socket_.is_open()) return;
  const bool open_loop = shared_.options.rate > 0;
  const auto now = Clock::now();
  while (in_flight_.size() < shared_.options.pipeline) {
    Clock::time_point start = now;
    if (open_loop) {
      start = shared_.start + due_offset_ + shared_.interval * scheduled_;
      if (start > now) {
        if (!timer_armed_) {
          timer_armed_ = true;
          schedule_timer_.expires_at(start);
          // Not tied to the socket's generation: after a reconnect the schedule goes on.
          schedule_timer_.async_wait([this](error_code error) {
            timer_armed_ = false;
            if (error) return;
            pump();
          });
        }
        break;
      }
      if (start >= shared_.stop) break;
    }
    const std::int64_t number = shared_.claim();
    if (number < 0) {
      exhausted_ = true;
      if (in_flight_.empty()) finish();
      break;
    }
    ++scheduled_;
    const std::size_t request = static_cast<std::size_t>(number) % shared_.workload.size();
    const std::uint64_t pass = static_cast<std::uint64_t>(number) / shared_.workload.size();
    in_flight_.push_back({static_cast<std::uint32_t>(request), start});
    if (pass == 0 || !shared_.options.fresh_passes) {
      pending_.push_back(asio::buffer(shared_.workload.wire(request)));
    } else {
      pending_copies_.push_back(renamed(request, pass));
      pending_.push_back(asio::buffer(*pending_copies_.back()));
    }
    ++worker_.result().requests_sent;
  }
  flush();
}

// A copy of the workload's request with the pass tags set to `pass`.
std::shared_ptr<const std::string> Connection::renamed(std::size_t request, std::uint64_t pass) {
  auto copy = std::make_shared<std::string>(shared_.workload.wire(request));
  char digits[kPassTagDigits];
  std::uint64_t rest = pass;
  for (std::size_t i = kPassTagDigits; i-- > 0; rest /= 10)
    digits[i] = static_cast<char>('0' + rest % 10);
  for (const std::uint32_t at : shared_.workload.pass_tags(request)) {
    copy->replace(at, kPassTagDigits, digits, kPassTagDigits);
  }
  return copy;
}

void Connection::flush() {
  if (write_busy_ || pending_.empty() || !socket_.is_open()) return;
  writing_.swap(pending_);
  write_busy_ = true;
  // The handler holds the renamed copies: asio reads them until it runs, even after a close.
  asio::async_write(socket_, writing_,
                    [this, generation = generation_, copies = std::exchange(pending_copies_, {})](
                        error_code error, std::size_t) {
                      if (generation != generation_) return;
                      write_busy_ = false;
                      writing_.clear();
                      if (error) return fail(true);
                      flush();
                    });
}

void Connection::read() {
  char* space = parser_.prepare(kReadChunk);
  socket_.async_read_some(asio::buffer(space, kReadChunk),
                          [this, generation = generation_](error_code error, std::size_t bytes) {
                            if (generation != generation_) return;
                            if (error) {
                              // A close by the server with nothing in flight is no error.
                              const bool quiet = error == asio::error::eof && in_flight_.empty();
                              return fail(!quiet);
                            }
                            on_read(bytes);
                          });
}

void Connection::on_read(std::size_t bytes) {
  parser_.commit(bytes);
  RunResult& result = worker_.result();
  bool close = false;
  Clock::time_point now{};
  while (auto response = parser_.next()) {
    if (in_flight_.empty()) return fail(true);  // an answer nobody asked for
    if (now == Clock::time_point{}) now = Clock::now();
    const InFlight done = in_flight_.front();
    in_flight_.pop_front();
    const auto latency = std::max(now - done.start, Clock::duration::zero());
    result.latency_ns.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    const auto candidates = shared_.workload.candidates(done.request);
    count_answer(*response, candidates, result.answers);
    ++result.http_codes[response->http_code];
    ++result.requests_answered;
    result.ballots_answered += candidates.size();
    worker_.record_answer_time(now);
    if (response->close) {
      close = true;
      break;
    }
  }
  if (parser_.failed()) return fail(true);
  if (close) return fail(false);
  if ((stopping_ || exhausted_) && in_flight_.empty()) return finish();
  pump();
  // pump() finishes the connection when it finds the run's requests all claimed and none in
  // flight; a read then would fail on the closed socket and count as a transport error.
  if (!finished_) read();
}

// Drops the connection (counting what it leaves unanswered) and opens a new one unless the
// run is over.
void Connection::fail(bool transport_error) {
  RunResult& result = worker_.result();
  if (transport_error) ++result.transport_errors;
  result.unanswered += in_flight_.size();
  in_flight_.clear();
  pending_.clear();
  pending_copies_.clear();
  writing_.clear();
  write_busy_ = false;
  parser_.reset();
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  if (stopping_ || exhausted_) return finish();
  reconnect(transport_error ? Clock::duration(kReconnectDelay) : Clock::duration::zero());
}

void Connection::reconnect(Clock::duration delay) {
  ++worker_.result().reconnects;
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this, generation = generation_](error_code error) {
    if (error || generation != generation_ || finished_) return;
    socket_.async_connect(shared_.endpoint, [this, generation](error_code connect_error) {
      if (generation != generation_ || finished_) return;
      if (connect_error) {
        ++worker_.result().transport_errors;
        ++generation_;
        error_code ignored;
        socket_.close(ignored);
        if (stopping_) return finish();
        return reconnect(kReconnectDelay);
      }
      start();
    });
  });
}

}  // namespace

RunOutcome run(const Workload& workload, const RunOptions& options) {
  RunOutcome outcome;
  if (workload.size() == 0) {
    outcome.error = "no requests prepared";
    return outcome;
  }
  Shared shared(workload, options);
  {
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    error_code error;
    const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), error);
    if (error || endpoints.empty()) {
      outcome.error = "cannot resolve " + options.host + ": " + error.message();
      return outcome;
    }
    shared.endpoint = endpoints.begin()->endpoint();
  }
  const std::uint32_t connections = std::max<std::uint32_t>(options.connections, 1);
  const std::uint32_t threads = std::clamp<std::uint32_t>(options.threads, 1, connections);
  if (options.rate > 0) {
    shared.interval =
        std::max<Clock::duration>(seconds(connections / options.rate), Clock::duration(1));
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::uint32_t t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(shared));
  // Connect everything before the clock starts, so that handshakes are not measured.
  for (std::uint32_t c = 0; c < connections; ++c) {
    Worker& worker = *workers[c % threads];
    auto connection = std::make_unique<Connection>(worker, shared, c, connections);
    error_code error;
    connection->socket().connect(shared.endpoint, error);
    if (error) {
      outcome.error = "cannot connect to " + options.host + ":" + std::to_string(options.port) +
                      ": " + error.message();
      return outcome;
    }
    worker.connections().push_back(std::move(connection));
  }
  // The run (and the open loop's schedule) starts once every connection is up.
  shared.start = Clock::now();
  shared.stop = shared.start + seconds(options.duration_s);
  std::vector<std::thread> running;
  for (auto& worker : workers) running.emplace_back([&worker] { worker->run(); });
  for (auto& thread : running) thread.join();

  RunResult& total = outcome.result;
  Clock::time_point last = shared.start;
  for (auto& worker : workers) {
    const RunResult& part = worker->result();
    total.latency_ns.merge(part.latency_ns);
    total.answers.merge(part.answers);
    for (const auto& [code, n] : part.http_codes) total.http_codes[code] += n;
    total.requests_sent += part.requests_sent;
    total.requests_answered += part.requests_answered;
    total.ballots_answered += part.ballots_answered;
    total.unanswered += part.unanswered;
    total.transport_errors += part.transport_errors;
    total.reconnects += part.reconnects;
    total.behind_schedule += part.behind_schedule;
    last = std::max(last, worker->last_answer());
  }
  total.elapsed_s = std::chrono::duration<double>(last - shared.start).count();
  return outcome;
}

HttpResult http_request(const std::string& host, std::uint16_t port, const std::string& method,
                        const std::string& path, const std::string& token, double timeout_s) {
  HttpResult result;
  asio::io_context io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  error_code error;
  const auto endpoints = resolver.resolve(host, std::to_string(port), error);
  if (error) {
    result.error = "cannot resolve " + host + ": " + error.message();
    return result;
  }
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += "\r\n";
  ResponseParser parser;
  bool done = false;
  std::function<void()> read_more;
  read_more = [&] {
    char* space = parser.prepare(kReadChunk);
    socket.async_read_some(asio::buffer(space, kReadChunk), [&](error_code e, std::size_t n) {
      if (e) {
        result.error = "reading the answer: " + e.message();
        return;
      }
      parser.commit(n);
      if (auto response = parser.next()) {
        result.http_code = response->http_code;
        result.body = std::string(response->body);
        done = true;
        return;
      }
      if (parser.failed()) {
        result.error = "not an HTTP/1.1 answer";
        return;
      }
      read_more();
    });
  };
  asio::async_connect(socket, endpoints, [&](error_code e, const tcp::endpoint&) {
    if (e) {
      result.error = "cannot connect to " + host + ":" + std::to_string(port) + ": " + e.message();
      return;
    }
    asio::async_write(socket, asio::buffer(request), [&](error_code we, std::size_t) {
      if (we) {
        result.error = "sending the request: " + we.message();
        return;
      }
      read_more();
    });
  });
  io.run_for(seconds(timeout_s));
  if (!done && result.error.empty()) result.error = "no answer within the timeout";
  if (!done) result.http_code = 0;
  return result;
}

}  // namespace tally::loadtest
