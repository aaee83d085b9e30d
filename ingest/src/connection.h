// Connection: one keep-alive HTTP connection, from accept to close. It reads requests (the
// headers routed and admitted once, then the body), keeps their exchanges in request order,
// hands each to its endpoint, and writes the answers that are ready at the front in one
// gather write. It knows no endpoint's logic: endpoints.h answers on the spot, vote_batch.h
// runs the vote path, tally_stream.h says what a stream sends.
//
// Threads: everything runs on the connection's worker thread, but the log's completions of an
// exchange (Exchange::votes_committed() and committed()), which only hand the exchange to the
// worker's inbox.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tally/engine/event_log.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/route.h"
#include "completion_inbox.h"
#include "request_parser.h"
#include "server_state.h"
#include "tally_stream.h"
#include "vote_batch.h"
#include "worker.h"

namespace tally::ingest::internal {

class Connection;

// One request and, once ready, its answer's bytes. A connection recycles its exchanges.
struct Exchange final : InboxNode, VoteBatch::Owner, engine::CommitWaiter, engine::DecisionWaiter {
  // The log's writer finished the last vote, or the campaign PUT: to the worker's inbox.
  void votes_committed() override { hand_to_worker(); }
  void committed(const engine::CommitOutcome& outcome) override;
  // The adjudicator decided a POST /decisions: to the worker's inbox.
  void decided(const engine::DecisionAnswer& answer) override;
  void hand_to_worker();

  Connection* connection = nullptr;
  Worker* worker = nullptr;  // the connection's
  // Keeps the connection alive while the log holds this exchange.
  std::shared_ptr<Connection> hold;
  Request request;
  // Decided once, from the headers: the endpoint, and what refuses the request before it
  // (refusal_before_endpoint()), if anything does.
  Route route;
  std::optional<Answer> refusal;
  bool keep_alive = true;
  bool ready = false;
  bool close = false;
  std::string wire;
  // The body buffer of the exchange's last answer, written into by the next vote answer.
  std::string spare_body;
  VoteBatch votes{*this};
  engine::CommitOutcome campaign_outcome;
  engine::DecisionAnswer decision;
  // The title of the campaign a PUT submitted, for its log line once committed.
  std::string campaign_title;
  std::size_t reserved_body_bytes = 0;            // released when the answer is ready
  std::chrono::steady_clock::time_point read_at;  // request complete, for the latency
};

class Connection final : public std::enable_shared_from_this<Connection>, public SweptConnection {
 public:
  // `socket` was accepted onto `worker`'s context: every handler of this connection runs there.
  Connection(ServerState& server, Worker& worker, boost::asio::ip::tcp::socket socket);
  ~Connection();

  // `over_capacity`: answer 503 overloaded and close, without reading a request; the same
  // with 429 rate_limited when the peer has too many connections.
  void start(bool over_capacity);

  // On the worker's thread: answers every exchange the log finished since the last call.
  static void answer_committed(Worker& worker);

 private:
  using Clock = std::chrono::steady_clock;
  // The connection's life. Independent of the read side below: a connection that closes
  // may still have a read in flight, which then ends with an error.
  enum class Phase : std::uint8_t {
    starting,  // accepted; start() has not run on the worker yet
    open,      // reads requests
    closing,   // reads no more requests; closes once the answers owed are sent
    closed,
  };
  enum class Reading : std::uint8_t {
    stopped,    // no read: between requests, the pipeline full, or not reading any more
    headers,    // a request's headers (or the wait for its first byte)
    body,       // its body
    lingering,  // after the last answer: what the client still sends, discarded
  };

  // ---- reading (connection.cc) ----
  void do_read();
  void parse_input();
  void wait_readable();
  void on_readable(boost::system::error_code ec);
  std::size_t read_size() const;
  boost::system::error_code read_error(boost::system::error_code ec) const;
  bool on_header();
  void send_continue();
  void stop_reading();
  void on_read_error(boost::system::error_code ec);
  void on_request();

  // ---- handling ----
  void handle(Exchange& exchange);
  void start_votes(Exchange& exchange);
  void decide_votes(Exchange& exchange);
  void start_campaign_put(Exchange& exchange);
  void start_decision(Exchange& exchange);
  void finish_committed(Exchange& exchange);
  void log_campaign_change(const Exchange& exchange, engine::PutOutcome outcome,
                           std::uint64_t seq) const;
  void log_campaign_refusal(const Exchange& exchange, const Answer& answer) const;

  // ---- tally stream ----
  void start_stream(Exchange& exchange);
  void schedule_stream_tick();
  void on_stream_tick();
  void write_stream(std::string bytes);
  void end_stream();

  // ---- answering and writing ----
  void count_answer(const Exchange& exchange, const Answer& answer);
  void finish(Exchange& exchange, Answer answer);
  void push_answer(Answer answer);
  std::unique_ptr<Exchange> new_exchange();
  void recycle(std::unique_ptr<Exchange> exchange);
  void do_write();
  void consume_written(std::size_t bytes);
  void on_write(boost::system::error_code ec, std::size_t count, bool closes);
  void begin_closing();
  void linger_close();
  void discard_input();
  void close_now();

  template <typename Body>
  void guarded(Body&& body);
  void check_deadline(Clock::time_point now) override;
  static Clock::time_point deadline_in(std::chrono::milliseconds timeout) {
    return Clock::now() + timeout;
  }

  ServerState& server_;
  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  const boost::asio::io_context::executor_type executor_;  // the worker's
  Phase phase_ = Phase::starting;
  Reading reading_ = Reading::stopped;
  bool writing_ = false;
  bool peer_gone_ = false;        // write nothing more
  bool timed_out_ = false;        // a deadline passed: the sweep closed the socket
  bool socket_empty_ = false;     // the last read emptied the socket and a wait followed it
  bool counted_as_peer_ = false;  // set once in start(), before any handler runs
  // When the pending read or write times out (kNoDeadline: none pending).
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  std::string peer_ip_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  // The exchange whose request is being read; queued once it is complete.
  std::unique_ptr<Exchange> incoming_;
  std::size_t reserved_body_bytes_ = 0;  // of the request being read
  // A keep-alive client sends the same token with every request: hashed once per connection
  // (docs/BENCHMARKS.md "Token check").
  TokenMemo token_memo_;
  std::deque<std::unique_ptr<Exchange>> queue_;  // answers owed, in request order
  std::vector<std::unique_ptr<Exchange>> free_exchanges_;
  std::vector<boost::asio::const_buffer> write_buffers_;
  std::array<char, 16 * 1024> discard_buffer_{};
  std::size_t discarded_bytes_ = 0;
  // A tally stream's state while the connection carries one (its accounting is open).
  std::optional<TallyStream> stream_;
  std::optional<boost::asio::steady_timer> stream_timer_;
  std::string stream_out_;
};

}  // namespace tally::ingest::internal
