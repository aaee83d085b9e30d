// Worker: one io thread's event loop, and how it watches its connections' deadlines.
//
// A connection lives on one worker for its whole life, so its handlers never run concurrently
// and need no strand; the log's writer reaches a worker only through its inbox
// (completion_inbox.h), one wake-up per commit batch.
//
// Timeouts are deadlines the connections keep themselves (a store per state change), checked
// by one sweep per worker every `sweep_every`, instead of a timer armed and cancelled for
// every read and write: a timeout fires up to `sweep_every` late.
//
// Thread safety: everything runs on the worker's thread, but the inbox's push() and posts to
// `io`, which any thread may make.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>

#include "tally/ingest/vote_parser.h"
#include "completion_inbox.h"

namespace tally::ingest::internal {

// A connection as its worker's deadline sweep sees it.
class SweptConnection {
 public:
  // Closes the connection when a deadline it set has passed.
  virtual void check_deadline(std::chrono::steady_clock::time_point now) = 0;
  // The worker's list of its connections; its thread only.
  SweptConnection* prev_swept = nullptr;
  SweptConnection* next_swept = nullptr;

 protected:
  ~SweptConnection() = default;
};

struct Worker {
  explicit Worker(std::chrono::milliseconds sweep_interval) : sweep_every(sweep_interval) {
    schedule_sweep();
  }

  void add(SweptConnection* connection) {
    connection->next_swept = connections;
    if (connections != nullptr) connections->prev_swept = connection;
    connections = connection;
  }
  void remove(SweptConnection* connection) {
    if (connection->prev_swept != nullptr) {
      connection->prev_swept->next_swept = connection->next_swept;
    } else {
      connections = connection->next_swept;
    }
    if (connection->next_swept != nullptr) {
      connection->next_swept->prev_swept = connection->prev_swept;
    }
  }

  void schedule_sweep() {
    sweep.expires_after(sweep_every);
    sweep.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      // check_deadline() only closes sockets; no connection leaves the list meanwhile.
      for (SweptConnection* c = connections; c != nullptr; c = c->next_swept) {
        c->check_deadline(now);
      }
      schedule_sweep();
    });
  }

  // Declared before `io`: connections destroyed along with io's handlers still unlink here.
  SweptConnection* connections = nullptr;
  const std::chrono::milliseconds sweep_every;
  // Concurrency hint 1: one thread runs this context (posts from other threads stay safe).
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  boost::asio::steady_timer sweep{io};
  CompletionInbox inbox;
  // The parsers of this thread's vote requests, two in turn (vote_batch.h).
  std::array<VoteParser, 2> parsers;
};

}  // namespace tally::ingest::internal
