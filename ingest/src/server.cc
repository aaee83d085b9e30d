// The HTTP server: acceptor, sessions, endpoints. See server.h for the contract.
//
// A session reads top to bottom: read a request's headers (idle, then header timeout),
// pick the body limit from the route, read the body, queue a slot for its answer, handle
// it (synchronously, or later from a storage completion handed back through its worker's
// inbox), and write the answers that are ready at the front of the queue in one gather
// write. Everything a session touches runs on its worker's thread, except the storage
// completions, which only fill in their own vote lines and count down an atomic before the
// last one hands the request to the worker.
#include "tally/ingest/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tally/base/json.h"
#include "tally/engine/campaign.h"
#include "tally/engine/fraud.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/batch.h"
#include "tally/ingest/route.h"
#include "tally/ingest/vote_parser.h"
#include "completion_inbox.h"
#include "request_parser.h"
#include "sse.h"
#include "web.h"

namespace tally::ingest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using engine::VoteStatus;

// Bytes asked of the socket for a request's headers, and then for a body.
constexpr std::size_t kReadChunkBytes = 4096;
constexpr std::size_t kBodyReadBytes = 64 * 1024;
constexpr auto kNoDeadline = std::chrono::steady_clock::time_point::max();
// Most ready answers sent in one gather write.
constexpr std::size_t kMaxAnswersPerWrite = 64;
// After an answer that closes the connection, unread input is drained (so the kernel does
// not reset the connection before the client reads the answer) for at most this long...
constexpr std::chrono::milliseconds kLingerTimeout{2'000};
// ...or this many bytes.
constexpr std::size_t kLingerMaxBytes = 16 * 1024 * 1024;
// Why a PUT was refused with 409.
constexpr std::string_view kConflictError =
    "campaign has votes: its candidates and rules cannot change";
// Wait before re-accepting after an accept error such as EMFILE.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
// What a connection keeps between requests, so that a voter's next request allocates
// nothing while no client can make an idle connection hold much: free slots (a deeper
// pipeline makes new ones), and per slot the capacity of each buffer (a larger one, a batch's
// or a big answer's, is given back when its slot is recycled). With the request's own bounds
// (request_parser.h) a slot keeps at most about 20 KiB; with the request being read, the read
// buffer and the 16 KiB drain buffer, a connection about 120 KiB.
constexpr std::size_t kKeptFreeSlots = 4;
constexpr std::size_t kKeptReadBytes = 16 * 1024;    // the socket read buffer, when empty
constexpr std::size_t kKeptAnswerBytes = 4 * 1024;   // the answer on the wire
constexpr std::size_t kKeptAnswerBodyBytes = 512;    // a vote answer is about 50 bytes
constexpr std::size_t kKeptPayloadBytes = 4 * 1024;  // the encoded votes of a request
constexpr std::size_t kKeptLines = 64;

Method method_of(http::verb verb) {
  switch (verb) {
    case http::verb::get: return Method::get;
    case http::verb::head: return Method::head;
    case http::verb::post: return Method::post;
    case http::verb::put: return Method::put;
    default: return Method::other;
  }
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it maps; others as they are.
asio::ip::address plain_address(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

}  // namespace

namespace internal {

// A connection as its worker's deadline sweep sees it.
class Deadlined {
 public:
  // Closes the connection when a deadline it set has passed.
  virtual void check_deadline(std::chrono::steady_clock::time_point now) = 0;
  // The worker's list of its connections; its thread only.
  Deadlined* prev_deadlined = nullptr;
  Deadlined* next_deadlined = nullptr;

 protected:
  ~Deadlined() = default;
};

// One io thread's event loop. A connection lives on one worker for its whole life, so its
// handlers never run concurrently and need no strand; the storage writer reaches a worker
// only through its inbox (completion_inbox.h), one wake-up per commit batch.
//
// Timeouts are deadlines the connections keep themselves (a store per state change), checked
// by one sweep per worker every `sweep_every`, instead of a timer armed and cancelled for
// every read and write: a timeout fires up to `sweep_every` late.
struct Worker {
  explicit Worker(std::chrono::milliseconds sweep_interval) : sweep_every(sweep_interval) {
    schedule_sweep();
  }

  void add(Deadlined* connection) {
    connection->next_deadlined = connections;
    if (connections != nullptr) connections->prev_deadlined = connection;
    connections = connection;
  }
  void remove(Deadlined* connection) {
    if (connection->prev_deadlined != nullptr) {
      connection->prev_deadlined->next_deadlined = connection->next_deadlined;
    } else {
      connections = connection->next_deadlined;
    }
    if (connection->next_deadlined != nullptr) {
      connection->next_deadlined->prev_deadlined = connection->prev_deadlined;
    }
  }

  void schedule_sweep() {
    sweep.expires_after(sweep_every);
    sweep.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      // check_deadline() only closes sockets; no connection leaves the list meanwhile.
      for (Deadlined* c = connections; c != nullptr; c = c->next_deadlined) c->check_deadline(now);
      schedule_sweep();
    });
  }

  // Declared before `io`: connections destroyed along with io's handlers still unlink here.
  Deadlined* connections = nullptr;
  const std::chrono::milliseconds sweep_every;
  // Concurrency hint 1: one thread runs this context (posts from other threads stay safe).
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  asio::steady_timer sweep{io};
  CompletionInbox inbox;
};

// What every session of a Server shares.
struct ServerState {
  ServerState(ServerOptions server_options, engine::Engine& engine_ref, engine::EventLog& log_ref,
              const Tokens& tokens_ref, ServerObserver* observer_ptr,
              const engine::FraudMonitor* fraud_ptr)
      : options(std::move(server_options)),
        engine(engine_ref),
        log(log_ref),
        tokens(tokens_ref),
        observer(observer_ptr),
        fraud(fraud_ptr),
        workers(make_workers(options)),
        acceptor(workers.front()->io),
        accept_retry(workers.front()->io) {}

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

  void accept();
  void request_started() { in_flight.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() {
    // acq_rel: wait_drained() observing 0 also observes the answers' effects.
    if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(drain_mutex);
      drain_cv.notify_all();
    }
  }

  std::size_t body_limit(Endpoint endpoint) const {
    switch (endpoint) {
      case Endpoint::vote_batch: return options.limits.max_batch_body_bytes;
      case Endpoint::campaign_put: return options.limits.max_campaign_body_bytes;
      default: return options.limits.max_body_bytes;
    }
  }

  // Auth, the first check of DESIGN.md's precedence: nullopt when the caller may go on.
  std::optional<Answer> auth_error(Endpoint endpoint, std::string_view authorization) const {
    if (endpoint == Endpoint::not_found || endpoint == Endpoint::method_not_allowed) {
      return std::nullopt;
    }
    const Access access = access_of(endpoint);
    if (access == Access::open) return std::nullopt;
    if (access == Access::read && !options.protect_reads) return std::nullopt;
    const TokenKind kind = tokens.check(authorization);
    if (kind == TokenKind::none || kind == TokenKind::wrong) {
      return error_answer(VoteStatus::unauthorized, {});
    }
    if (access == Access::admin && kind != TokenKind::admin) {
      return error_answer(VoteStatus::forbidden, "authorization: this call needs an admin token");
    }
    return std::nullopt;
  }

  ServerOptions options;
  engine::Engine& engine;
  engine::EventLog& log;
  const Tokens& tokens;
  ServerObserver* const observer;           // null: answers are not counted, /metrics answers 501
  const engine::FraudMonitor* const fraud;  // null: /fraud answers 501
  std::atomic<std::size_t> running_workers{0};  // claimed by Server::run()
  std::size_t next_accept = 0;                  // the acceptor's handlers only
  std::uint16_t bound_port = 0;
  // Sessions alive; relaxed: a counter for a limit, it orders nothing else.
  std::atomic<std::size_t> connections{0};
  // Requests read whose answer is not ready yet.
  std::atomic<std::size_t> in_flight{0};
  // Set once by stop_accepting(); relaxed: sessions only need to see it eventually.
  std::atomic<bool> shutting_down{false};
  std::mutex drain_mutex;
  std::condition_variable drain_cv;
  // Bytes reserved by large bodies in flight (see Limits::max_inflight_body_bytes);
  // relaxed: a budget counter, it orders nothing else.
  std::atomic<std::size_t> inflight_body_bytes{0};

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

  // Open tally streams (Limits::max_tally_streams); relaxed: a counter for a limit.
  std::atomic<std::size_t> tally_streams{0};
  bool open_tally_stream() {
    std::size_t current = tally_streams.load(std::memory_order_relaxed);
    do {
      if (current >= options.limits.max_tally_streams) return false;
    } while (!tally_streams.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    if (observer != nullptr) observer->stream_opened();
    return true;
  }
  void close_tally_stream() {
    tally_streams.fetch_sub(1, std::memory_order_relaxed);
    if (observer != nullptr) observer->stream_closed();
  }

  // Open connections per peer address; touched on accept and close only.
  std::mutex peers_mutex;
  std::unordered_map<std::string, std::size_t> peer_connections;

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

  // Last: destroyed first, so that sessions still held by pending handlers end while the
  // state above (counters, peers) is alive.
  std::vector<std::unique_ptr<Worker>> workers;  // one per io thread; never empty
  tcp::acceptor acceptor;                        // on the first worker
  asio::steady_timer accept_retry;
};

}  // namespace internal

namespace {

// One connection. Lives as long as a handler or a storage completion holds it.
class Session final : public std::enable_shared_from_this<Session>, public internal::Deadlined {
 public:
  // `socket` was accepted onto `worker`'s context: every handler of this session runs there.
  Session(internal::ServerState& server, internal::Worker& worker, tcp::socket socket)
      : server_(server),
        worker_(worker),
        socket_(std::move(socket)),
        executor_(worker.io.get_executor()) {
    server_.connections.fetch_add(1, std::memory_order_relaxed);
    beast::error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    // An IPv4 client of a dual-stack listener is written as IPv4, as it would be on an IPv4
    // listener (not ::ffff:a.b.c.d), so that its address and /24 are the same either way.
    if (!ec) peer_ip_ = plain_address(peer.address()).to_string();
    // Reads and writes are tried directly and never block; async_wait says when to retry.
    socket_.non_blocking(true, ec);
  }
  ~Session() {
    if (in_worker_list_) worker_.remove(this);
    end_stream();
    server_.release_body_bytes(reserved_body_bytes_);
    for (const auto& slot : queue_) server_.release_body_bytes(slot->reserved_body_bytes);
    if (counted_as_peer_) server_.remove_peer(peer_ip_);
    server_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  // `over_capacity`: answer 503 overloaded and close, without reading a request; the same
  // with 429 rate_limited when the peer has too many connections.
  void start(bool over_capacity) {
    counted_as_peer_ = !over_capacity && server_.add_peer(peer_ip_);
    asio::dispatch(executor_, [self = shared_from_this(), over_capacity] {
      self->worker_.add(self.get());
      self->in_worker_list_ = true;
      if (over_capacity || !self->counted_as_peer_) {
        Answer answer =
            over_capacity
                ? error_answer(VoteStatus::overloaded, "server: too many connections, retry later")
                : error_answer(VoteStatus::rate_limited,
                               "source: too many connections from this address");
        answer.close = true;
        self->push_answer(std::move(answer));
        return;
      }
      self->do_read();
    });
  }

 private:
  struct Slot;

  // One ballot of a request (the body of a single vote, or one NDJSON line of a batch).
  // Written by the session, or by the storage writer's completion once it is queued.
  struct Line final : engine::CommitWaiter {
    void committed(const engine::CommitOutcome& outcome) override;

    Slot* slot = nullptr;
    std::uint32_t begin = 0;  // byte range in the request body
    std::uint32_t size = 0;
    std::uint32_t number = 0;  // 1-based input line, for batch answers
    VoteStatus status = VoteStatus::invalid;
    bool pending = false;  // re-decide after a short wait
    bool durable = true;
    std::uint64_t seq = 0;
    std::string_view error;  // static storage
  };

  // One request and, once ready, its answer bytes. Slots are recycled per session. A slot
  // whose votes are all committed waits in its worker's inbox for finish_votes().
  struct Slot final : internal::InboxNode, engine::CommitWaiter {
    // A campaign PUT's outcome: answered on the session's thread.
    void committed(const engine::CommitOutcome& outcome) override;

    Session* session = nullptr;
    // Keeps the session alive while storage completions for this slot are outstanding.
    std::shared_ptr<Session> hold;
    internal::Request request;
    Endpoint endpoint = Endpoint::not_found;
    bool keep_alive = true;
    bool ready = false;
    bool close = false;
    std::string wire;
    // The body buffer of the slot's last answer, written into by the next vote answer.
    std::string spare_body;
    std::vector<Line> lines;
    // The encoded payloads of the lines queued for commit, one buffer per decide_lines()
    // pass: the writer reads them until each line completes, so a buffer never grows once
    // queued from (a deque keeps the earlier ones in place).
    std::deque<std::string> payloads;
    // Lines without their final status, plus one while the session is deciding lines.
    // The storage writer decrements it with acq_rel after writing its line, so that the
    // thread that sees it reach 0 (acquire) reads every line's final fields.
    std::atomic<std::uint32_t> unfinished{0};
    std::size_t retries = 0;
    std::size_t reserved_body_bytes = 0;  // released when the answer is ready
    engine::CommitOutcome campaign_outcome;
    std::chrono::steady_clock::time_point read_at;  // request complete, for the latency metric
  };

  static Line make_line(Slot& slot, std::size_t begin, std::size_t size, std::uint32_t number) {
    Line line;
    line.slot = &slot;
    line.begin = static_cast<std::uint32_t>(begin);
    line.size = static_cast<std::uint32_t>(size);
    line.number = number;
    return line;
  }

  Slot& new_slot() {
    std::unique_ptr<Slot> slot;
    if (!free_slots_.empty()) {
      slot = std::move(free_slots_.back());
      free_slots_.pop_back();
    } else {
      slot = std::make_unique<Slot>();
    }
    slot->session = this;
    slot->endpoint = Endpoint::not_found;
    slot->keep_alive = true;
    slot->ready = false;
    slot->close = false;
    slot->retries = 0;
    slot->reserved_body_bytes = 0;
    queue_.push_back(std::move(slot));
    return *queue_.back();
  }

  // Keeps `slot` for a later request, its buffers emptied and bounded (kKept*).
  void recycle(std::unique_ptr<Slot> slot) {
    if (free_slots_.size() >= kKeptFreeSlots) return;
    slot->request.clear();
    internal::clear_keeping(slot->wire, kKeptAnswerBytes);
    internal::clear_keeping(slot->spare_body, kKeptAnswerBodyBytes);
    if (slot->lines.capacity() > kKeptLines) {
      std::vector<Line>().swap(slot->lines);
    } else {
      slot->lines.clear();
    }
    if (!slot->payloads.empty()) {
      slot->payloads.resize(1);  // the first buffer is reused by the next request
      internal::clear_keeping(slot->payloads.front(), kKeptPayloadBytes);
    }
    free_slots_.push_back(std::move(slot));
  }

  // ---- reading ----
  //
  // A keep-alive client sends its next request only after reading our answer, so a read
  // tried right after a request would almost always come back empty. Once a read has
  // emptied the socket (drained_), the next one waits until epoll says it is readable
  // (async_wait); that is safe because the worker's one thread queues the wait before it
  // returns to its event loop, so no readiness edge goes unseen. The bytes go through
  // Beast's parser synchronously (put), one request after another from the buffer.

  void do_read() {
    if (reading_ || closing_ || closed_) return;
    if (server_.shutting_down.load(std::memory_order_relaxed)) {
      closing_ = true;
      do_write();
      return;
    }
    if (queue_.size() >= server_.options.limits.pipeline_depth) {
      drained_ = false;  // nothing waits on the socket now: bytes may arrive unannounced
      return;            // resumed by on_write
    }
    reading_ = true;
    header_done_ = false;
    // A large body grew the read buffer to up to 64 KiB (read_size()): give it back between
    // requests.
    if (buffer_.size() == 0 && buffer_.capacity() > kKeptReadBytes) buffer_.shrink_to_fit();
    parser_.emplace(incoming_);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.limits.max_header_bytes));
    // The largest body any route takes; narrowed to the route's limit once the headers are in.
    parser_->body_limit(std::max({server_.options.limits.max_batch_body_bytes,
                                  server_.options.limits.max_campaign_body_bytes,
                                  server_.options.limits.max_body_bytes}));
    read_deadline_ = deadline_in(buffer_.size() == 0 ? server_.options.limits.idle_timeout
                                                     : server_.options.limits.header_timeout);
    parse_input();
  }

  // Feeds the buffered bytes to the parser; waits for the socket when it needs more.
  void parse_input() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return on_read_error(ec);
      if (!header_done_ && parser_->is_header_done()) {
        header_done_ = true;
        if (!on_header()) return;
      }
      if (parser_->is_done()) return on_request();
      if (used == 0) break;
    }
    if (drained_) return wait_readable();
    on_readable({});  // the socket may hold more: read before waiting
  }

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->guarded([&] { self->on_readable(ec); });
    });
  }

  void on_readable(beast::error_code ec) {
    if (!ec) {
      const bool first_bytes = !header_done_ && buffer_.size() == 0 && !parser_->started();
      const std::size_t want = read_size();
      const std::size_t bytes = socket_.read_some(buffer_.prepare(want), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        drained_ = true;
        return wait_readable();
      }
      if (!ec) {
        // Short of what was asked: the socket is empty now, and any later bytes will be
        // announced to the wait queued before this thread returns to its event loop.
        drained_ = bytes < want;
        buffer_.commit(bytes);
        // A request's first bytes start the header clock (slowloris).
        if (first_bytes) read_deadline_ = deadline_in(server_.options.limits.header_timeout);
        return parse_input();
      }
    }
    on_read_error(read_error(ec));
  }

  // Headers in 4 KiB reads; a body in reads of what remains of it, up to 64 KiB.
  std::size_t read_size() const {
    if (!header_done_) return kReadChunkBytes;
    const auto remaining = parser_->content_length_remaining();
    if (!remaining) return kBodyReadBytes;  // chunked
    return static_cast<std::size_t>(
        std::clamp<std::uint64_t>(*remaining, kReadChunkBytes, kBodyReadBytes));
  }

  // A socket error as Beast's asynchronous reads report it: the end of the stream between
  // requests or inside one, and a passed deadline as a timeout.
  beast::error_code read_error(beast::error_code ec) const {
    if (timed_out_) return beast::error::timeout;
    if (ec == asio::error::eof) {
      return parser_->in_request() || buffer_.size() > 0 ? http::error::partial_message
                                                         : http::error::end_of_stream;
    }
    return ec;
  }

  // The headers are in: narrows the body limit to the route's and refuses what will not be
  // read. False when reading stops here.
  bool on_header() {
    const internal::Request& request = incoming_;
    const Route r = route(method_of(request.method), request.target);
    const std::size_t limit = server_.body_limit(r.endpoint);
    const auto content_length = parser_->content_length();
    if (content_length && *content_length > limit) {
      stop_reading();
      auto auth = server_.auth_error(r.endpoint, request.authorization);
      Answer answer = auth ? std::move(*auth)
                           : error_answer(VoteStatus::too_large, "body: over the size limit");
      answer.close = true;  // the body is not read: the stream cannot be resynchronized
      push_answer(std::move(answer));
      return false;
    }
    if (limit > server_.options.limits.max_body_bytes) {
      // A large body: take its share of the global budget before reading it.
      const std::size_t bytes = content_length ? *content_length : limit;
      if (!server_.reserve_body_bytes(bytes)) {
        stop_reading();
        Answer answer =
            error_answer(VoteStatus::overloaded, "server: too many large bodies in flight");
        answer.close = true;
        push_answer(std::move(answer));
        return false;
      }
      reserved_body_bytes_ = bytes;
    }
    parser_->body_limit(limit);
    if (parser_->is_done()) return true;
    read_deadline_ = deadline_in(server_.options.limits.body_timeout);
    const std::string_view expect = request.expect;
    // Never to an HTTP/1.0 client, which does not know the interim answer (RFC 9110 10.1.1).
    if (request.version >= 11 && expect.size() == 12 &&
        strncasecmp(expect.data(), "100-continue", 12) == 0 && !writing_ && queue_.empty()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      writing_ = true;
      write_deadline_ = deadline_in(server_.options.limits.write_timeout);
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          self->guarded([&] {
                            self->writing_ = false;
                            self->write_deadline_ = kNoDeadline;
                            if (write_ec) return self->close_now();
                            self->do_write();
                          });
                        });
    }
    return true;
  }

  void stop_reading() {
    reading_ = false;
    read_deadline_ = kNoDeadline;
  }

  void on_read_error(beast::error_code ec) {
    stop_reading();
    server_.release_body_bytes(std::exchange(reserved_body_bytes_, 0));
    if (ec == http::error::header_limit) {
      Answer answer = error_answer(VoteStatus::too_large,
                                   "request: request line and headers over the limit", 431);
      answer.close = true;
      return push_answer(std::move(answer));
    }
    if (ec == http::error::body_limit) {
      Answer answer = error_answer(VoteStatus::too_large, "body: over the size limit");
      answer.close = true;
      return push_answer(std::move(answer));
    }
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream) {
      // Bytes that are not HTTP/1.x (junk, a TLS ClientHello), a request framed against RFC
      // 9112, or one the client's end of the stream cut short: say why once, then close.
      Answer answer = error_answer(VoteStatus::invalid, internal::refusal_text(ec));
      answer.close = true;
      return push_answer(std::move(answer));
    }
    // End of stream, a timeout or a network error: send what is owed, then close.
    if (ec == beast::error::timeout || ec == asio::error::connection_reset) {
      peer_gone_ = ec == asio::error::connection_reset;
    }
    closing_ = true;
    do_write();
  }

  void on_request() {
    stop_reading();
    Slot& slot = new_slot();
    slot.reserved_body_bytes = std::exchange(reserved_body_bytes_, 0);
    // Swapped, not moved: the slot's old buffers become the next request's.
    std::swap(slot.request, incoming_);
    slot.keep_alive = parser_->keep_alive();
    slot.read_at = std::chrono::steady_clock::now();
    server_.request_started();
    if (!slot.keep_alive) closing_ = true;
    handle(slot);
    do_read();
    do_write();
  }

  // ---- handling ----

  void handle(Slot& slot) {
    const auto& request = slot.request;
    const Route r = route(method_of(request.method), request.target);
    slot.endpoint = r.endpoint;
    if (request.unsupported_coding) {
      return finish(slot, error_answer(HttpError::not_implemented,
                                       "request: no transfer coding but chunked is supported"));
    }
    if (auto auth = server_.auth_error(r.endpoint, request.authorization)) {
      return finish(slot, std::move(*auth));
    }
    switch (r.endpoint) {
      case Endpoint::not_found:
      case Endpoint::method_not_allowed:
        return finish(slot, route_error(r, request.method == http::verb::unknown));
      case Endpoint::vote:
      case Endpoint::vote_batch: return start_votes(slot);
      case Endpoint::campaign_list: return finish(slot, campaign_list());
      case Endpoint::campaign_get: return finish(slot, campaign_get(r.campaign_id));
      case Endpoint::campaign_put: return campaign_put(slot, r.campaign_id);
      case Endpoint::tally: {
        auto tally = server_.engine.tally(r.campaign_id);
        if (!tally) return finish(slot, error_answer(VoteStatus::unknown_campaign, {}));
        return finish(slot, json_answer(engine::tally_to_json(*tally)));
      }
      case Endpoint::vote_event: {
        auto event = server_.log.event_json(r.seq);
        if (!event) return finish(slot, error_answer(HttpError::not_found, "seq: no such event"));
        return finish(slot, json_answer(std::move(*event)));
      }
      case Endpoint::healthz: return finish(slot, json_answer(R"({"status":"ok"})"));
      case Endpoint::readyz:
        if (!server_.log.ready()) {
          return finish(slot, error_answer(VoteStatus::unavailable, "storage: not ready"));
        }
        return finish(slot, json_answer(R"({"status":"ready"})"));
      case Endpoint::tally_stream: return start_stream(slot, r.campaign_id);
      case Endpoint::metrics: {
        if (server_.observer == nullptr) {
          return finish(slot, error_answer(HttpError::not_implemented, "metrics: not set up"));
        }
        Answer answer;
        answer.content_type = server_.observer->scrape_content_type();
        answer.body = server_.observer->scrape();
        return finish(slot, std::move(answer));
      }
      case Endpoint::dashboard: {
        auto answer = web_answer(request.target);
        if (!answer) return finish(slot, error_answer(HttpError::not_found, "no such file"));
        return finish(slot, std::move(*answer));
      }
      case Endpoint::fraud: {
        if (server_.fraud == nullptr) {
          return finish(slot, error_answer(HttpError::not_implemented, "no fraud monitor"));
        }
        auto report = server_.fraud->report_json(r.campaign_id);
        if (!report) return finish(slot, error_answer(VoteStatus::unknown_campaign, {}));
        return finish(slot, json_answer(std::move(*report)));
      }
    }
    finish(slot, error_answer(HttpError::not_found, "no such resource"));
  }

  // A campaign's definition plus its state at the server's time.
  std::string campaign_json(const engine::Campaign& campaign) const {
    std::string json = engine::campaign_to_json(campaign);
    while (!json.empty() && json.back() != '}') json.pop_back();
    if (json.empty()) return R"({"state":"unknown"})";
    json.pop_back();
    json += R"(,"state":")";
    json += campaign.state_at(server_.engine.clock().now_ms());
    json += "\"}";
    return json;
  }

  Answer campaign_list() const {
    std::string body = R"({"campaigns":[)";
    bool first = true;
    for (const auto& campaign : server_.engine.campaigns()) {
      if (!first) body += ',';
      first = false;
      body += campaign_json(*campaign);
    }
    body += "]}";
    return json_answer(std::move(body));
  }

  Answer campaign_get(std::string_view id) const {
    auto campaign = server_.engine.campaign(id);
    if (!campaign) return error_answer(VoteStatus::unknown_campaign, {});
    return json_answer(campaign_json(*campaign));
  }

  void campaign_put(Slot& slot, std::string_view path_id) {
    auto parsed = engine::parse_campaign(slot.request.body);
    if (!parsed.ok()) return finish(slot, error_answer(VoteStatus::invalid, parsed.message()));
    if (parsed->id != path_id) {
      return finish(slot, error_answer(VoteStatus::invalid, "id: must match the id in the path"));
    }
    const engine::PutOutcome outcome = server_.engine.check_campaign(*parsed);
    if (outcome == engine::PutOutcome::conflict) {
      return finish(slot, error_answer(HttpError::conflict, kConflictError));
    }
    if (outcome == engine::PutOutcome::unchanged) {
      std::string body = R"({"status":"unchanged","campaign":)";
      append_json_string(body, parsed->id);
      body += '}';
      return finish(slot, json_answer(std::move(body)));
    }
    slot.hold = shared_from_this();
    const auto submitted = server_.log.submit_campaign(*parsed, slot);
    if (submitted != engine::SubmitResult::queued) {
      slot.hold.reset();
      return finish(slot, error_answer(submitted == engine::SubmitResult::overloaded
                                           ? VoteStatus::overloaded
                                           : VoteStatus::unavailable,
                                       {}));
    }
  }

  // Storage writer thread: must not block.
  static void on_campaign_committed(Slot* slot, const engine::CommitOutcome& outcome) {
    slot->campaign_outcome = outcome;
    Session* session = slot->session;
    asio::post(session->executor_, [slot, self = std::move(slot->hold)] {
      self->guarded([&] {
        const auto& committed = slot->campaign_outcome;
        if (committed.status != VoteStatus::accepted) {
          return self->finish(*slot, error_answer(committed.status, {}));
        }
        // The writer decided again (it alone installs): its word is final.
        switch (committed.campaign_outcome) {
          case engine::PutOutcome::conflict:
            return self->finish(*slot, error_answer(HttpError::conflict, kConflictError));
          case engine::PutOutcome::unchanged:
            return self->finish(*slot, json_answer(R"({"status":"unchanged"})"));
          case engine::PutOutcome::created:
          case engine::PutOutcome::updated: break;
        }
        const bool created = committed.campaign_outcome == engine::PutOutcome::created;
        std::string body =
            created ? R"({"status":"created","seq":)" : R"({"status":"updated","seq":)";
        body += std::to_string(committed.seq);
        body += '}';
        self->finish(*slot, json_answer(std::move(body), created ? 201 : 200));
      });
    });
  }

  // ---- votes ----

  void start_votes(Slot& slot) {
    const std::string& body = slot.request.body;
    const bool batch = slot.endpoint == Endpoint::vote_batch;
    if (!batch) {
      slot.lines.push_back(make_line(slot, 0, body.size(), 1));
    } else {
      // Sized up front from the body: a batch's lines are not kept between requests
      // (kKeptLines), and doubling from nothing reallocates ten times for a thousand lines. A
      // ballot line is usually 100 bytes or more (counting the newlines costs more than a
      // doubling or two).
      slot.lines.reserve(std::min(body.size() / 100 + 1, server_.options.limits.max_batch_lines));
      const bool within_limit = for_each_batch_line(body, [&](const BatchLine& line) {
        if (slot.lines.size() >= server_.options.limits.max_batch_lines) return false;
        slot.lines.push_back(make_line(slot, line.begin, line.size, line.number));
        return true;
      });
      if (!within_limit) {
        slot.lines.clear();
        return finish(slot, error_answer(VoteStatus::too_large,
                                         "body: more than the batch's line limit (10000)"));
      }
    }
    slot.hold = shared_from_this();
    // One extra count for the session while it decides (see Slot::unfinished).
    slot.unfinished.store(static_cast<std::uint32_t>(slot.lines.size()) + 1,
                          std::memory_order_relaxed);
    decide_lines(slot);
  }

  // Decides every line that has no final status and is not waiting for storage; then
  // drops the session's count. Lines whose duplicate is in flight are retried on a timer.
  void decide_lines(Slot& slot) {
    // Two parsers in turn: a ballot's views live in its parser until that parser's next
    // parse, so the line after this one can be parsed, and its table slots prefetched, while
    // this one is judged. Their cache misses then overlap instead of adding up.
    thread_local VoteParser parsers[2];
    // prefetch()'s work for a parser's ballot, and the line it was done for. Ballot views
    // cannot tell: a parser reuses its buffers, so its next ballot's views look the same.
    engine::BallotKeys keys[2];
    constexpr std::size_t kNoLine = ~std::size_t{0};
    std::size_t keys_line[2] = {kNoLine, kNoLine};
    const std::string& body = slot.request.body;
    const bool first_pass = slot.retries == 0;
    const auto to_decide_from = [&](std::size_t index) {
      while (index < slot.lines.size() && !first_pass && !slot.lines[index].pending) ++index;
      return index;
    };
    const auto parse = [&](std::size_t index, VoteParser& parser) {
      const Line& line = slot.lines[index];
      return parser.parse(std::string_view(body.data() + line.begin, line.size), peer_ip_);
    };
    bool any_pending = false;
    std::string* payloads = nullptr;  // this pass's buffer, taken at its first accepted line
    unsigned turn = 0;
    std::size_t index = to_decide_from(0);
    ParsedBallot parsed;
    if (index < slot.lines.size()) parsed = parse(index, parsers[turn]);
    while (index < slot.lines.size()) {
      const std::size_t next = to_decide_from(index + 1);
      ParsedBallot ahead;
      if (next < slot.lines.size()) {
        ahead = parse(next, parsers[turn ^ 1]);
        keys_line[turn ^ 1] = kNoLine;
        if (ahead.ok()) {
          server_.engine.prefetch(ahead.ballot, keys[turn ^ 1]);
          keys_line[turn ^ 1] = next;
        }
      }
      decide_line(slot, slot.lines[index], parsed, keys_line[turn] == index ? &keys[turn] : nullptr,
                  payloads, any_pending);
      index = next;
      parsed = ahead;
      turn ^= 1;
    }
    if (!lines_to_commit().empty()) submit_lines(slot, *payloads);
    if (any_pending) {
      // Keep the session's count: the timer's decide_lines() drops it.
      const auto delay = std::chrono::milliseconds(slot.retries < 10 ? 1 : 10);
      ++slot.retries;
      auto timer = std::make_shared<asio::steady_timer>(executor_, delay);
      timer->async_wait([timer, &slot, self = shared_from_this()](beast::error_code) {
        self->guarded([&] { self->decide_lines(slot); });
      });
      return;
    }
    finish_line(slot);  // the session's count
  }

  // One line of a decide_lines() pass: finished here, marked pending, or (accepted) encoded
  // into the pass's payload buffer and queued in lines_to_commit().
  void decide_line(Slot& slot, Line& line, const ParsedBallot& parsed,
                   const engine::BallotKeys* keys, std::string*& payloads, bool& any_pending) {
    if (!parsed.ok()) {
      line.status = VoteStatus::invalid;
      line.error = parsed.error;
      finish_line(slot);
      return;
    }
    // The parser ran check_ballot() on the fields: an ok() ballot passed it.
    engine::Decision decision =
        server_.engine.decide(parsed.ballot, engine::Engine::FieldCheck::done_by_caller, keys);
    if (decision.pending) {
      if (slot.retries >= server_.options.limits.max_pending_retries) {
        line.pending = false;
        line.status = VoteStatus::overloaded;
        line.error = "server: the identical ballot is still being committed, retry later";
        finish_line(slot);
      } else {
        line.pending = true;
        any_pending = true;
      }
      return;
    }
    line.pending = false;
    if (decision.status != VoteStatus::accepted) {
      line.status = decision.status;
      line.seq = decision.seq;
      line.error = decision.error;
      finish_line(slot);
      return;
    }
    // Encoded now: the parsed fields live in the parser's buffers only until its next parse.
    if (payloads == nullptr) payloads = &pass_payload_buffer(slot);
    const std::size_t begin = payloads->size();
    server_.log.append_vote_payload(parsed.ballot, decision.claim, decision.flags, *payloads);
    lines_to_commit().push_back(
        {begin, payloads->size(), std::move(decision.claim), decision.flags, &line});
  }

  // Accepted lines, queued for commit together at the end of a decide_lines() pass: one lock
  // and at most one wake-up of the writer per pass, not per line.
  static std::vector<engine::VoteToCommit>& lines_to_commit() {
    thread_local std::vector<engine::VoteToCommit> lines;
    return lines;
  }

  // The buffer a decide_lines() pass encodes its accepted lines into: the first pass reuses
  // the slot's first buffer (cleared with the slot); a retry pass takes a new one, since the
  // writer may still be reading the earlier ones.
  static std::string& pass_payload_buffer(Slot& slot) {
    if (slot.retries > 0) return slot.payloads.emplace_back();  // a few pending lines
    if (slot.payloads.empty()) slot.payloads.emplace_back();
    // An encoded vote is usually no longer than its JSON line: one allocation for a batch's
    // votes instead of one per doubling.
    slot.payloads.front().reserve(slot.request.body.size());
    return slot.payloads.front();
  }

  // Queues the lines decide_lines() accepted, whose payloads are in `payloads`; answers
  // those storage refuses.
  void submit_lines(Slot& slot, const std::string& payloads) {
    auto& to_commit = lines_to_commit();
    engine::SubmitResult refusal = engine::SubmitResult::queued;
    const std::size_t queued = server_.log.submit_votes(to_commit, payloads, refusal);
    // The queued lines are finished by on_vote_committed.
    for (std::size_t i = queued; i < to_commit.size(); ++i) {
      server_.engine.release(std::move(to_commit[i].claim));
      Line& line = *static_cast<Line*>(to_commit[i].waiter);
      line.status = refusal == engine::SubmitResult::overloaded ? VoteStatus::overloaded
                                                                : VoteStatus::unavailable;
      line.error = {};
      finish_line(slot);
    }
    to_commit.clear();
  }

  // Counts down one finished line (or the session's count) on the session's thread.
  void finish_line(Slot& slot) {
    if (slot.unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) finish_votes(slot);
  }

  // Storage writer thread: fills in its line, counts down, never blocks.
  static void on_vote_committed(Line* line, const engine::CommitOutcome& outcome) {
    line->status = outcome.status;
    line->seq = outcome.seq;
    line->durable = outcome.durable;
    line->error = {};
    Slot* slot = line->slot;
    // acq_rel: publishes this line's fields to whoever sees the count reach 0.
    if (slot->unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      internal::Worker& worker = slot->session->worker_;
      if (worker.inbox.push(slot)) {
        asio::post(worker.io, [&worker] { answer_committed(worker); });
      }
    }
  }

  // On `worker`'s thread: answers every request the writer finished since the last call.
  static void answer_committed(internal::Worker& worker) {
    for (internal::InboxNode* node = worker.inbox.take_all(); node != nullptr;) {
      Slot* slot = static_cast<Slot*>(node);
      node = node->next_in_inbox;  // read first: finishing may recycle the slot
      // The slot's hold keeps the session alive until finish_votes() drops it.
      const std::shared_ptr<Session> keep = slot->session->shared_from_this();
      keep->guarded([&] { keep->finish_votes(*slot); });
    }
  }

  void finish_votes(Slot& slot) {
    // Dropped at the end of this call, after which the slot's answer owns nothing in flight.
    std::shared_ptr<Session> hold = std::move(slot.hold);
    if (slot.endpoint == Endpoint::vote) {
      const Line& line = slot.lines.front();
      return finish(slot, vote_answer(line.status, line.seq, line.durable, line.error,
                                      std::move(slot.spare_body)));
    }
    Answer answer;
    answer.content_type = "application/x-ndjson";
    answer.body = std::move(slot.spare_body);
    answer.body.clear();
    answer.body.reserve(slot.lines.size() * 56);  // {"status":"accepted","seq":N,"line":N}\n
    for (const Line& line : slot.lines) {
      append_vote_json(answer.body, line.status, line.seq, line.durable, line.error, line.number);
      answer.body += '\n';
    }
    finish(slot, std::move(answer));
  }

  // ---- writing ----

  // ---- tally stream (Server-Sent Events, sse.h) ----

  // Turns this connection into a tally stream: no more requests are read; the stream's timer
  // runs on the session's worker and ends the stream on shutdown or a failed write. The request
  // stays in flight until the stream ends, so that shutdown's wait_drained() lets it close cleanly.
  void start_stream(Slot& slot, std::string_view campaign_id) {
    auto tally = server_.engine.tally(campaign_id);
    if (!tally) return finish(slot, error_answer(VoteStatus::unknown_campaign, {}));
    if (slot.request.method == http::verb::head) {
      // What a GET would start, without starting it; the connection stays usable.
      Answer head;
      head.content_type = "text/event-stream";
      head.unbounded = true;
      return finish(slot, std::move(head));
    }
    if (!server_.open_tally_stream()) {
      return finish(slot, error_answer(VoteStatus::overloaded,
                                       "server: too many tally streams, retry later"));
    }
    streaming_ = true;
    closing_ = true;  // the answer never ends: nothing more is read from this connection
    stream_campaign_ = std::string(campaign_id);
    slot.wire = sse_head();
    const auto last_seen = slot.request.has_last_event_id
                               ? parse_last_event_id(slot.request.last_event_id)
                               : std::nullopt;
    if (!last_seen || *last_seen < tally->as_of_seq) append_tally_event(slot.wire, *tally);
    stream_sent_seq_ = last_seen ? std::max(*last_seen, tally->as_of_seq) : tally->as_of_seq;
    stream_last_write_ = std::chrono::steady_clock::now();
    server_.release_body_bytes(std::exchange(slot.reserved_body_bytes, 0));
    slot.close = false;
    slot.ready = true;
    slot.request.clear_body();
    stream_timer_.emplace(executor_);
    stream_next_tick_ = stream_last_write_ + kStreamTick;
    schedule_stream_tick();
    do_write();
  }

  void schedule_stream_tick() {
    stream_timer_->expires_at(stream_next_tick_);
    stream_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      self->guarded([&] {
        if (ec) return self->end_stream();
        self->on_stream_tick();
      });
    });
  }

  void on_stream_tick() {
    if (!streaming_) return;
    if (closed_ || peer_gone_) {
      end_stream();
      return close_now();
    }
    if (server_.shutting_down.load(std::memory_order_relaxed)) {
      end_stream();
      if (!writing_) linger_close();
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!writing_ && queue_.empty()) {
      std::string out;
      auto tally = server_.engine.tally(stream_campaign_);
      if (tally && tally->as_of_seq != stream_sent_seq_) {
        append_tally_event(out, *tally);
        stream_sent_seq_ = tally->as_of_seq;
      } else if (now - stream_last_write_ >= kStreamHeartbeat) {
        out = kSseHeartbeat;
      }
      if (!out.empty()) write_stream(std::move(out));
    }
    // Drift-free ticks; after a stall, resume from now rather than bursting.
    stream_next_tick_ = std::max(stream_next_tick_ + kStreamTick, now);
    schedule_stream_tick();
  }

  void write_stream(std::string bytes) {
    stream_out_ = std::move(bytes);
    writing_ = true;
    write_deadline_ = deadline_in(server_.options.limits.write_timeout);
    asio::async_write(socket_, asio::buffer(stream_out_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->guarded([&] {
                          self->writing_ = false;
                          self->write_deadline_ = kNoDeadline;
                          self->stream_last_write_ = std::chrono::steady_clock::now();
                          if (ec) {
                            self->peer_gone_ = true;
                            self->end_stream();
                            return self->close_now();
                          }
                          if (!self->streaming_) self->linger_close();  // ended meanwhile
                        });
                      });
  }

  // Ends the stream's accounting once; the caller closes the connection.
  void end_stream() {
    if (!streaming_) return;
    streaming_ = false;
    if (stream_timer_) stream_timer_->cancel();
    server_.close_tally_stream();
    server_.request_finished();
  }

  // Reports `answer`: each ballot of a vote request by its status (and the request's
  // latency), or a request refused as a whole by its status word.
  void count_answer(const Slot& slot, const Answer& answer) {
    ServerObserver& observer = *server_.observer;
    const bool votes = slot.endpoint == Endpoint::vote || slot.endpoint == Endpoint::vote_batch;
    if (votes && !slot.lines.empty()) {
      BallotCounts ballots{};
      for (const Line& line : slot.lines) ++ballots[static_cast<std::size_t>(line.status)];
      observer.votes_answered(ballots, std::chrono::steady_clock::now() - slot.read_at);
      return;
    }
    if (!answer.status_word.empty()) observer.request_refused(answer.status_word);
  }

  // Makes `slot`'s answer ready and writes what can be written.
  void finish(Slot& slot, Answer answer) {
    if (server_.observer != nullptr) count_answer(slot, answer);
    server_.release_body_bytes(std::exchange(slot.reserved_body_bytes, 0));
    slot.close = answer.close || !slot.keep_alive;
    serialize_answer(answer,
                     {.keep_alive = !slot.close,
                      .http10 = slot.request.version == 10,
                      .head = slot.request.method == http::verb::head},
                     slot.wire);
    if (answer.body.capacity() <= kKeptAnswerBodyBytes) slot.spare_body = std::move(answer.body);
    slot.ready = true;
    slot.request.clear_body();
    server_.request_finished();
    if (slot.close) closing_ = true;
    do_write();
  }

  // An answer to a request that was not (fully) read, e.g. 431 or a malformed request.
  void push_answer(Answer answer) {
    Slot& slot = new_slot();
    // Framed for what was read of the request: a HEAD's answer has no body, an HTTP/1.0
    // client's says keep-alive. (The parser clears both at the start of each request.)
    slot.request.method = incoming_.method;
    slot.request.version = incoming_.version;
    server_.request_started();
    finish(slot, std::move(answer));
  }

  void do_write() {
    if (writing_ || closed_) return;
    if (peer_gone_) {
      // Nobody to answer: drop the answers that are ready, keep those still in flight.
      while (!queue_.empty() && queue_.front()->ready) {
        recycle(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (queue_.empty()) close_now();
      return;
    }
    write_buffers_.clear();
    bool closes = false;
    for (const auto& slot : queue_) {
      if (!slot->ready || write_buffers_.size() >= kMaxAnswersPerWrite) break;
      write_buffers_.push_back(asio::buffer(slot->wire));
      if (slot->close) {
        closes = true;
        break;
      }
    }
    if (write_buffers_.empty()) {
      if (closing_ && queue_.empty() && !reading_ && !streaming_ && !writing_) linger_close();
      return;
    }
    writing_ = true;
    const std::size_t count = write_buffers_.size();
    // The answers usually fit the socket's send buffer: send them now, without an
    // asynchronous operation; only what does not fit waits for the socket.
    beast::error_code ec;
    const std::size_t sent = socket_.write_some(write_buffers_, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    if (ec || sent == asio::buffer_size(write_buffers_)) return on_write(ec, count, closes);
    consume_written(sent);
    write_deadline_ = deadline_in(server_.options.limits.write_timeout);
    asio::async_write(
        socket_, write_buffers_,
        [self = shared_from_this(), count, closes](beast::error_code write_ec, std::size_t) {
          self->guarded([&] {
            self->write_deadline_ = kNoDeadline;
            self->on_write(write_ec, count, closes);
          });
        });
  }

  // Drops the first `bytes` of write_buffers_.
  void consume_written(std::size_t bytes) {
    std::size_t whole = 0;
    while (whole < write_buffers_.size() && write_buffers_[whole].size() <= bytes) {
      bytes -= write_buffers_[whole].size();
      ++whole;
    }
    write_buffers_.erase(write_buffers_.begin(),
                         write_buffers_.begin() + static_cast<std::ptrdiff_t>(whole));
    if (!write_buffers_.empty()) write_buffers_.front() += bytes;
  }

  void on_write(beast::error_code ec, std::size_t count, bool closes) {
    writing_ = false;
    for (std::size_t i = 0; i < count && !queue_.empty(); ++i) {
      recycle(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (ec) {
      peer_gone_ = true;
      return do_write();
    }
    if (closes) return linger_close();
    do_read();
    do_write();
  }

  // After an answer that closes the connection: half-close, drain what the client still
  // sends (bounded), then close, so the client reads the answer instead of a reset.
  void linger_close() {
    if (closed_) return;
    peer_gone_ = true;  // nothing more will be written
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || reading_) return close_now();
    reading_ = true;
    read_deadline_ = deadline_in(kLingerTimeout);
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                              self->guarded([&] {
                                self->drained_bytes_ += bytes;
                                if (ec || self->drained_bytes_ > kLingerMaxBytes) {
                                  self->reading_ = false;
                                  return self->close_now();
                                }
                                self->drain();
                              });
                            });
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // Runs a handler body; an exception closes this connection only. Slots whose votes are
  // in flight stay alive until their completions arrive.
  template <typename Body>
  void guarded(Body&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      spdlog::warn("session error peer={} what=\"{}\": connection closed", peer_ip_, e.what());
      peer_gone_ = true;
      close_now();
    }
  }

  // Called by the worker's sweep: past a deadline, the connection is closed, as a timed-out
  // Beast stream would be; its pending operations then end and report a timeout.
  void check_deadline(std::chrono::steady_clock::time_point now) override {
    if (closed_ || timed_out_ || std::min(read_deadline_, write_deadline_) > now) return;
    timed_out_ = true;
    beast::error_code ec;
    socket_.close(ec);
  }

  static std::chrono::steady_clock::time_point deadline_in(std::chrono::milliseconds timeout) {
    return std::chrono::steady_clock::now() + timeout;
  }

  internal::ServerState& server_;
  internal::Worker& worker_;
  tcp::socket socket_;
  const asio::io_context::executor_type executor_;  // the worker's: one handler at a time
  bool in_worker_list_ = false;                     // set once start() runs on the worker
  // When the pending read or write times out (kNoDeadline: none pending).
  std::chrono::steady_clock::time_point read_deadline_ = kNoDeadline;
  std::chrono::steady_clock::time_point write_deadline_ = kNoDeadline;
  bool timed_out_ = false;
  bool header_done_ = false;  // on_header() ran for the request being read
  bool drained_ = false;      // the last read emptied the socket and a wait followed it
  std::string peer_ip_;
  beast::flat_buffer buffer_;
  internal::Request incoming_;  // the request being read; swapped into its slot when complete
  std::optional<internal::RequestParser> parser_;
  std::deque<std::unique_ptr<Slot>> queue_;  // answers owed, in request order
  std::vector<std::unique_ptr<Slot>> free_slots_;
  std::vector<asio::const_buffer> write_buffers_;
  std::array<char, 16 * 1024> drain_buffer_{};
  std::size_t drained_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;    // read no more requests; close once the owed answers are sent
  bool peer_gone_ = false;  // write nothing more
  bool closed_ = false;
  std::size_t reserved_body_bytes_ = 0;  // of the request being read
  bool counted_as_peer_ = false;         // set once in start(), before any handler runs
  // Tally stream state (start_stream); the session's thread only.
  bool streaming_ = false;
  std::string stream_campaign_;
  std::uint64_t stream_sent_seq_ = 0;  // as_of_seq of the last tally the client has
  std::chrono::steady_clock::time_point stream_last_write_;
  std::chrono::steady_clock::time_point stream_next_tick_;
  std::optional<asio::steady_timer> stream_timer_;
  std::string stream_out_;
};

void Session::Line::committed(const engine::CommitOutcome& outcome) {
  on_vote_committed(this, outcome);
}

void Session::Slot::committed(const engine::CommitOutcome& outcome) {
  on_campaign_committed(this, outcome);
}

}  // namespace

void internal::ServerState::accept() {
  Worker& worker = next_worker();
  acceptor.async_accept(worker.io, [this, &worker](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("accept error=\"{}\": retrying", ec.message());
      accept_retry.expires_after(kAcceptRetryDelay);
      accept_retry.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec) accept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const bool over_capacity =
        connections.load(std::memory_order_relaxed) >= options.limits.max_connections;
    try {
      std::make_shared<Session>(*this, worker, std::move(socket))->start(over_capacity);
    } catch (const std::exception& e) {
      spdlog::warn("session start error=\"{}\"", e.what());
    }
    accept();
  });
}

Server::Server(ServerOptions options, engine::Engine& engine, engine::EventLog& log,
               const Tokens& tokens, ServerObserver* observer, const engine::FraudMonitor* fraud)
    : impl_(std::make_unique<internal::ServerState>(std::move(options), engine, log, tokens,
                                                    observer, fraud)) {}

Server::~Server() = default;

Status Server::listen() {
  beast::error_code ec;
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
  asio::dispatch(acceptor.get_executor(), [impl = impl_.get()] { impl->accept(); });
  return {};
}

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::run() {
  const std::size_t index = impl_->running_workers.fetch_add(1, std::memory_order_relaxed);
  if (index >= impl_->workers.size()) return;  // each worker has exactly one thread
  impl_->workers[index]->io.run();
}

void Server::stop_accepting() {
  impl_->shutting_down.store(true, std::memory_order_relaxed);
  asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ec;
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
