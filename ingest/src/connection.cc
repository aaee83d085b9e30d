// One HTTP connection. See connection.h for the contract.
//
// A connection reads top to bottom: wait for a request's headers (idle, then header timeout),
// route and admit it from the headers, read the body within the route's limit, queue the
// exchange for its answer, handle it (on the spot, or later from the log's completion handed
// back through the worker's inbox), and write the answers that are ready at the front of the
// queue in one gather write.
#include "connection.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <utility>
#include <variant>

#include "tally/base/quote_input.h"
#include "conditional.h"
#include "cors.h"
#include "decisions.h"
#include "kept_buffer.h"

namespace tally::ingest::internal {
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
// What a connection keeps between requests, so that a voter's next request allocates
// nothing while no client can make an idle connection hold much: free exchanges (a deeper
// pipeline makes new ones), and per exchange the capacity of each buffer (a larger one, a
// batch's or a big answer's, is given back when its exchange is recycled). With the request's
// own bounds (request_parser.h) an exchange keeps at most about 20 KiB; with the request being
// read, the read buffer and the 16 KiB discard buffer, a connection about 120 KiB.
constexpr std::size_t kKeptFreeExchanges = 4;
constexpr std::size_t kKeptReadBytes = 16 * 1024;    // the socket read buffer, when empty
constexpr std::size_t kKeptAnswerBytes = 4 * 1024;   // the answer on the wire
constexpr std::size_t kKeptAnswerBodyBytes = 512;    // a vote answer is about 50 bytes
constexpr std::size_t kKeptPayloadBytes = 4 * 1024;  // the encoded votes of a request
constexpr std::size_t kKeptLines = 64;
// Wait before re-accepting after an accept error such as EMFILE.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it maps; others as they are.
asio::ip::address plain_address(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// The "error" of an error answer's JSON body, or "" (a refusal's words for its log line).
std::string error_of(const Answer& answer) {
  simdjson::dom::parser parser;
  std::string_view error;
  if (parser.parse(answer.body)["error"].get_string().get(error) != simdjson::SUCCESS) return {};
  return std::string(error);
}

std::string_view outcome_word(engine::PutOutcome outcome) {
  switch (outcome) {
    case engine::PutOutcome::created: return "created";
    case engine::PutOutcome::updated: return "updated";
    case engine::PutOutcome::unchanged: return "unchanged";
    case engine::PutOutcome::conflict: break;
  }
  return "conflict";
}

}  // namespace

void Exchange::hand_to_worker() {
  if (worker->inbox.push(this)) {
    Worker& target = *worker;
    asio::post(target.io, [&target] { Connection::answer_committed(target); });
  }
}

void Exchange::committed(const engine::CommitOutcome& outcome) {
  campaign_outcome = outcome;
  hand_to_worker();
}

void Exchange::decided(const engine::DecisionAnswer& answer) {
  decision = answer;
  hand_to_worker();
}

Connection::Connection(ServerState& server, Worker& worker, tcp::socket socket)
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

Connection::~Connection() {
  if (phase_ != Phase::starting) worker_.remove(this);
  end_stream();
  server_.release_body_bytes(reserved_body_bytes_);
  for (const auto& exchange : queue_) server_.release_body_bytes(exchange->reserved_body_bytes);
  if (counted_as_peer_) server_.remove_peer(peer_ip_);
  server_.connections.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::start(bool over_capacity) {
  counted_as_peer_ = !over_capacity && server_.add_peer(peer_ip_);
  asio::dispatch(executor_, [self = shared_from_this(), over_capacity] {
    self->worker_.add(self.get());
    self->phase_ = Phase::open;
    if (over_capacity || !self->counted_as_peer_) {
      Answer answer =
          over_capacity
              ? error_answer(VoteStatus::overloaded, "server: too many connections, retry later")
              : error_answer(VoteStatus::rate_limited,
                             "source: too many connections from this address");
      answer.close = true;
      return self->push_answer(std::move(answer));
    }
    self->do_read();
  });
}

// ---- reading ----
//
// A keep-alive client sends its next request only after reading our answer, so a read tried
// right after a request would almost always come back empty. Once a read has emptied the
// socket (socket_empty_), the next one waits until epoll says it is readable (async_wait);
// that is safe because the worker's one thread queues the wait before it returns to its event
// loop, so no readiness edge goes unseen. The bytes go through the request parser
// synchronously (put), one request after another from the buffer.

void Connection::do_read() {
  if (reading_ != Reading::stopped || phase_ != Phase::open) return;
  if (server_.shutting_down.load(std::memory_order_relaxed)) {
    begin_closing();
    return do_write();
  }
  if (queue_.size() >= server_.options.limits.pipeline_depth) {
    socket_empty_ = false;  // nothing waits on the socket now: bytes may arrive unannounced
    return;                 // resumed by on_write
  }
  reading_ = Reading::headers;
  // A large body grew the read buffer to up to 64 KiB (read_size()): give it back between
  // requests.
  if (buffer_.size() == 0 && buffer_.capacity() > kKeptReadBytes) buffer_.shrink_to_fit();
  if (!incoming_) incoming_ = new_exchange();
  parser_.emplace(incoming_->request);
  const Limits& limits = server_.options.limits;
  parser_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  // The largest body any route takes; narrowed to the route's limit once the headers are in.
  parser_->body_limit(std::max(
      {limits.max_batch_body_bytes, limits.max_campaign_body_bytes, limits.max_body_bytes}));
  read_deadline_ = deadline_in(buffer_.size() == 0 ? limits.idle_timeout : limits.header_timeout);
  parse_input();
}

// Feeds the buffered bytes to the parser; waits for the socket when it needs more.
void Connection::parse_input() {
  while (buffer_.size() > 0) {
    beast::error_code ec;
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) return on_read_error(ec);
    if (reading_ == Reading::headers && parser_->is_header_done()) {
      reading_ = Reading::body;
      if (!on_header()) return;
    }
    if (parser_->is_done()) return on_request();
    if (used == 0) break;
  }
  if (socket_empty_) return wait_readable();
  on_readable({});  // the socket may hold more: read before waiting
}

void Connection::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
    self->guarded([&] { self->on_readable(ec); });
  });
}

void Connection::on_readable(beast::error_code ec) {
  if (!ec) {
    const bool first_bytes =
        reading_ == Reading::headers && buffer_.size() == 0 && !parser_->started();
    const std::size_t want = read_size();
    const std::size_t bytes = socket_.read_some(buffer_.prepare(want), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      socket_empty_ = true;
      return wait_readable();
    }
    if (!ec) {
      // Short of what was asked: the socket is empty now, and any later bytes will be
      // announced to the wait queued before this thread returns to its event loop.
      socket_empty_ = bytes < want;
      buffer_.commit(bytes);
      // A request's first bytes start the header clock (slowloris).
      if (first_bytes) read_deadline_ = deadline_in(server_.options.limits.header_timeout);
      return parse_input();
    }
  }
  on_read_error(read_error(ec));
}

// Headers in 4 KiB reads; a body in reads of what remains of it, up to 64 KiB.
std::size_t Connection::read_size() const {
  if (reading_ != Reading::body) return kReadChunkBytes;
  const auto remaining = parser_->content_length_remaining();
  if (!remaining) return kBodyReadBytes;  // chunked
  return static_cast<std::size_t>(
      std::clamp<std::uint64_t>(*remaining, kReadChunkBytes, kBodyReadBytes));
}

// A socket error as Beast's asynchronous reads report it: the end of the stream between
// requests or inside one, and a passed deadline as a timeout.
beast::error_code Connection::read_error(beast::error_code ec) const {
  if (timed_out_) return beast::error::timeout;
  if (ec == asio::error::eof) {
    return parser_->in_request() || buffer_.size() > 0 ? http::error::partial_message
                                                       : http::error::end_of_stream;
  }
  return ec;
}

// The headers are in: routes the request and admits its caller (once: the exchange keeps
// both), narrows the body limit to the route's and refuses what will not be read. False when
// reading stops here.
bool Connection::on_header() {
  Exchange& exchange = *incoming_;
  const Request& request = exchange.request;
  exchange.route = route(method_of(request.method), request.target);
  exchange.refusal = refusal_before_endpoint(server_.tokens, server_.options.protect_reads,
                                             exchange.route, request, &token_memo_);
  const std::size_t limit = body_limit(server_.options.limits, exchange.route.endpoint);
  const auto content_length = parser_->content_length();
  if (content_length && *content_length > limit) {
    stop_reading();
    Answer answer = exchange.refusal
                        ? std::move(*exchange.refusal)
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
    send_continue();
  }
  return true;
}

void Connection::send_continue() {
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

void Connection::stop_reading() {
  reading_ = Reading::stopped;
  read_deadline_ = kNoDeadline;
}

void Connection::on_read_error(beast::error_code ec) {
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
    Answer answer = error_answer(VoteStatus::invalid, refusal_text(ec));
    answer.close = true;
    return push_answer(std::move(answer));
  }
  // End of stream, a timeout or a network error: send what is owed, then close.
  if (ec == beast::error::timeout || ec == asio::error::connection_reset) {
    peer_gone_ = ec == asio::error::connection_reset;
  }
  begin_closing();
  do_write();
}

void Connection::on_request() {
  stop_reading();
  Exchange& exchange = *incoming_;
  exchange.reserved_body_bytes = std::exchange(reserved_body_bytes_, 0);
  exchange.keep_alive = parser_->keep_alive();
  exchange.read_at = Clock::now();
  queue_.push_back(std::move(incoming_));
  server_.request_started();
  if (!exchange.keep_alive) begin_closing();
  handle(exchange);
  do_read();
  do_write();
}

// ---- handling ----

void Connection::handle(Exchange& exchange) {
  if (exchange.refusal) return finish(exchange, std::move(*exchange.refusal));
  const Endpoint endpoint = exchange.route.endpoint;
  if (endpoint == Endpoint::vote || endpoint == Endpoint::vote_batch ||
      endpoint == Endpoint::campaign_put || endpoint == Endpoint::decision_post) {
    if (auto refusal = write_refusal(server_.backends))
      return finish(exchange, std::move(*refusal));
  }
  switch (endpoint) {
    case Endpoint::vote:
    case Endpoint::vote_batch: return start_votes(exchange);
    case Endpoint::campaign_put: return start_campaign_put(exchange);
    case Endpoint::decision_post: return start_decision(exchange);
    case Endpoint::tally_stream: return start_stream(exchange);
    case Endpoint::history:
      return finish(exchange, history_answer(server_.history, server_.backends.engine,
                                             exchange.route.campaign_id, exchange.request));
    case Endpoint::preflight:
      return finish(exchange,
                    preflight_answer(server_.options.cors_origins, server_.options.protect_reads,
                                     exchange.route, exchange.request));
    default:
      return finish(exchange, answer_now(server_.backends, exchange.request, exchange.route));
  }
}

void Connection::start_votes(Exchange& exchange) {
  const std::size_t max_lines = server_.options.limits.max_batch_lines;
  if (!exchange.votes.start(exchange.request.body, exchange.route.endpoint == Endpoint::vote_batch,
                            max_lines)) {
    return finish(exchange, error_answer(VoteStatus::too_large,
                                         "body: more than the batch's line limit (10000)"));
  }
  exchange.hold = shared_from_this();
  decide_votes(exchange);
}

// Decides the exchange's votes; answers them now, leaves them to the log's completion, or
// decides again shortly those whose identical ballot is still being committed.
void Connection::decide_votes(Exchange& exchange) {
  const VoteBatch::Tools tools{server_.backends.engine, server_.backends.log, worker_.parsers,
                               peer_ip_, server_.options.limits.max_pending_retries};
  switch (exchange.votes.decide_all(tools)) {
    case VoteBatch::Progress::answered: return finish_committed(exchange);
    case VoteBatch::Progress::committing: return;  // Exchange::votes_committed() brings it back
    case VoteBatch::Progress::retry: break;
  }
  auto timer = std::make_shared<asio::steady_timer>(executor_, exchange.votes.retry_delay());
  timer->async_wait([timer, &exchange, self = shared_from_this()](beast::error_code) {
    self->guarded([&] { self->decide_votes(exchange); });
  });
}

void Connection::start_campaign_put(Exchange& exchange) {
  auto campaign = campaign_to_put(exchange.request.body, exchange.route.campaign_id);
  if (auto* answer = std::get_if<Answer>(&campaign)) return finish(exchange, std::move(*answer));
  const engine::Campaign& next = std::get<engine::Campaign>(campaign);
  exchange.campaign_title = next.title;
  exchange.hold = shared_from_this();
  const engine::CampaignPut put =
      engine::put_campaign(server_.backends.engine, server_.backends.log, next, exchange);
  if (auto answer = campaign_put_now(put, exchange.route.campaign_id)) {
    exchange.hold.reset();
    if (answer->status_word.empty()) log_campaign_change(exchange, put.checked, 0);
    return finish(exchange, std::move(*answer));
  }
}

void Connection::start_decision(Exchange& exchange) {
  engine::Adjudication* adjudication = server_.backends.adjudication;
  if (adjudication == nullptr) {
    return finish(exchange,
                  error_answer(HttpError::not_implemented, "no adjudication on this node"));
  }
  auto request = decision_request(exchange.request.body, exchange.route.campaign_id);
  if (auto* answer = std::get_if<Answer>(&request)) return finish(exchange, std::move(*answer));
  exchange.hold = shared_from_this();
  engine::DecisionStatus refusal = engine::DecisionStatus::unavailable;
  if (!adjudication->submit_decision(std::move(std::get<engine::DecisionRequest>(request)),
                                     exchange, refusal)) {
    exchange.hold.reset();
    return finish(exchange, decision_refusal(refusal));
  }
}

void Connection::answer_committed(Worker& worker) {
  for (InboxNode* node = worker.inbox.take_all(); node != nullptr;) {
    Exchange* exchange = static_cast<Exchange*>(node);
    node = node->next_in_inbox;  // read first: finishing may recycle the exchange
    // The exchange's hold keeps the connection alive until finish_committed() drops it.
    const std::shared_ptr<Connection> keep = exchange->connection->shared_from_this();
    keep->guarded([&] { keep->finish_committed(*exchange); });
  }
}

// Answers an exchange whose votes, or campaign, the log has finished.
void Connection::finish_committed(Exchange& exchange) {
  // Dropped at the end of this call, after which the answer owns nothing in flight.
  std::shared_ptr<Connection> hold = std::move(exchange.hold);
  if (exchange.route.endpoint == Endpoint::decision_post) {
    Answer answer = decision_answer(exchange.decision);
    exchange.decision = {};
    return finish(exchange, std::move(answer));
  }
  if (exchange.route.endpoint == Endpoint::campaign_put) {
    const engine::CommitOutcome& committed = exchange.campaign_outcome;
    if (committed.status == VoteStatus::accepted &&
        committed.campaign_outcome != engine::PutOutcome::conflict) {
      log_campaign_change(exchange, committed.campaign_outcome, committed.seq);
    }
    return finish(exchange, campaign_put_answer(committed));
  }
  finish(exchange, exchange.votes.answer(std::move(exchange.spare_body)));
}

// Every campaign PUT logs one line (docs/LOGS.md): a change at info, with the seq of the
// version it made, or the refusal at warn, with its status and error. The campaign's own words
// (its id from the path, its title) come from the request: log_value() quotes them.
void Connection::log_campaign_change(const Exchange& exchange, engine::PutOutcome outcome,
                                     std::uint64_t seq) const {
  if (outcome == engine::PutOutcome::unchanged) {
    spdlog::info("campaign unchanged id={} peer={}", log_value(exchange.route.campaign_id),
                 log_value(peer_ip_));
    return;
  }
  spdlog::info("campaign {} id={} seq={} title={} peer={}", outcome_word(outcome),
               log_value(exchange.route.campaign_id), seq, log_value(exchange.campaign_title),
               log_value(peer_ip_));
}

void Connection::log_campaign_refusal(const Exchange& exchange, const Answer& answer) const {
  spdlog::warn("campaign refused id={} status={} http_status={} error={} peer={}",
               log_value(exchange.route.campaign_id), answer.status_word, answer.http_code,
               log_value(error_of(answer)), log_value(peer_ip_));
}

// ---- tally stream ----

// Turns this connection into a tally stream: no more requests are read; the stream's timer
// runs on the connection's worker and ends the stream on shutdown or a failed write. The
// request stays in flight until the stream ends, so that shutdown's wait_drained() lets it
// close cleanly.
void Connection::start_stream(Exchange& exchange) {
  const std::string_view campaign_id = exchange.route.campaign_id;
  auto tally = server_.backends.engine.tally(campaign_id);
  if (!tally) return finish(exchange, error_answer(VoteStatus::unknown_campaign, {}));
  if (exchange.request.method == http::verb::head) {
    // What a GET would start, without starting it; the connection stays usable.
    Answer head;
    head.content_type = "text/event-stream";
    head.unbounded = true;
    return finish(exchange, std::move(head));
  }
  if (!server_.open_tally_stream()) {
    return finish(exchange, error_answer(VoteStatus::overloaded,
                                         "server: too many tally streams, retry later"));
  }
  begin_closing();  // the answer never ends: nothing more is read from this connection
  exchange.wire.clear();
  const auto last_event_id = exchange.request.has_last_event_id
                                 ? std::optional<std::string_view>(exchange.request.last_event_id)
                                 : std::nullopt;
  stream_.emplace(std::string(campaign_id), *tally, last_event_id, Clock::now(), exchange.wire,
                  cors_headers(server_.options.cors_origins, server_.options.protect_reads,
                               Endpoint::tally_stream, exchange.request),
                  server_.backends.public_log);
  server_.release_body_bytes(std::exchange(exchange.reserved_body_bytes, 0));
  exchange.close = false;
  exchange.ready = true;
  exchange.request.clear_body();
  stream_timer_.emplace(executor_);
  schedule_stream_tick();
  do_write();
}

void Connection::schedule_stream_tick() {
  stream_timer_->expires_at(stream_->next_tick());
  stream_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    self->guarded([&] {
      if (ec) return self->end_stream();
      self->on_stream_tick();
    });
  });
}

void Connection::on_stream_tick() {
  if (!stream_) return;
  if (phase_ == Phase::closed || peer_gone_) {
    end_stream();
    return close_now();
  }
  if (server_.shutting_down.load(std::memory_order_relaxed)) {
    end_stream();
    if (!writing_) linger_close();
    return;
  }
  const bool can_write = !writing_ && queue_.empty();
  std::string out;
  stream_->tick(can_write ? server_.backends.engine.tally(stream_->campaign()) : std::nullopt,
                can_write, Clock::now(), out);
  if (!out.empty()) write_stream(std::move(out));
  schedule_stream_tick();
}

void Connection::write_stream(std::string bytes) {
  stream_out_ = std::move(bytes);
  writing_ = true;
  write_deadline_ = deadline_in(server_.options.limits.write_timeout);
  asio::async_write(socket_, asio::buffer(stream_out_),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->guarded([&] {
                        self->writing_ = false;
                        self->write_deadline_ = kNoDeadline;
                        if (self->stream_) self->stream_->wrote(Clock::now());
                        if (ec) {
                          self->peer_gone_ = true;
                          self->end_stream();
                          return self->close_now();
                        }
                        if (!self->stream_) self->linger_close();  // ended meanwhile
                      });
                    });
}

// Ends the stream's accounting once; the caller closes the connection.
void Connection::end_stream() {
  if (!stream_) return;
  stream_.reset();
  if (stream_timer_) stream_timer_->cancel();
  server_.close_tally_stream();
  server_.request_finished();
}

// ---- answering and writing ----

// Reports `answer`: each ballot of a vote request by its status (and the request's latency),
// or a request refused as a whole by its status word.
void Connection::count_answer(const Exchange& exchange, const Answer& answer) {
  ServerObserver& observer = *server_.backends.observer;
  const Endpoint endpoint = exchange.route.endpoint;
  const bool votes = endpoint == Endpoint::vote || endpoint == Endpoint::vote_batch;
  if (votes && !exchange.votes.empty()) {
    observer.votes_answered(exchange.votes.counts(), Clock::now() - exchange.read_at);
    return;
  }
  if (!answer.status_word.empty()) observer.request_refused(answer.status_word);
}

// Makes `exchange`'s answer ready and writes what can be written. Here every answer gets the
// headers that depend on the server's options: caching for a read with an ETag, and CORS for
// a cross-origin read (its refusals included, so that the page can read why).
void Connection::finish(Exchange& exchange, Answer answer) {
  if (server_.backends.observer != nullptr) count_answer(exchange, answer);
  if (exchange.route.endpoint == Endpoint::campaign_put) {
    if (!answer.status_word.empty()) log_campaign_refusal(exchange, answer);
    std::string().swap(exchange.campaign_title);  // up to 1 KiB: not kept for the next request
  }
  const ServerOptions& options = server_.options;
  add_cache_control(answer, options.protect_reads);
  answer.cors = cors_headers(options.cors_origins, options.protect_reads, exchange.route.endpoint,
                             exchange.request);
  server_.release_body_bytes(std::exchange(exchange.reserved_body_bytes, 0));
  exchange.close = answer.close || !exchange.keep_alive;
  serialize_answer(answer,
                   {.keep_alive = !exchange.close,
                    .http10 = exchange.request.version == 10,
                    .head = exchange.request.method == http::verb::head},
                   exchange.wire);
  if (answer.body.capacity() <= kKeptAnswerBodyBytes) exchange.spare_body = std::move(answer.body);
  exchange.ready = true;
  exchange.request.clear_body();
  server_.request_finished();
  if (exchange.close) begin_closing();
  do_write();
}

// An answer to a request that was not (fully) read, e.g. 431 or a malformed request, or to a
// connection refused before any. Framed for what was read of the request: a HEAD's answer has
// no body, an HTTP/1.0 client's says keep-alive.
void Connection::push_answer(Answer answer) {
  std::unique_ptr<Exchange> exchange = incoming_ ? std::move(incoming_) : new_exchange();
  Exchange& pushed = *exchange;
  queue_.push_back(std::move(exchange));
  server_.request_started();
  finish(pushed, std::move(answer));
}

// A fresh exchange for the next request: a recycled one when there is one.
std::unique_ptr<Exchange> Connection::new_exchange() {
  std::unique_ptr<Exchange> exchange;
  if (!free_exchanges_.empty()) {
    exchange = std::move(free_exchanges_.back());
    free_exchanges_.pop_back();
  } else {
    exchange = std::make_unique<Exchange>();
  }
  exchange->connection = this;
  exchange->worker = &worker_;
  exchange->route = {};
  exchange->refusal.reset();
  exchange->keep_alive = true;
  exchange->ready = false;
  exchange->close = false;
  exchange->reserved_body_bytes = 0;
  return exchange;
}

// Keeps `exchange` for a later request, its buffers emptied and bounded (kKept*).
void Connection::recycle(std::unique_ptr<Exchange> exchange) {
  if (free_exchanges_.size() >= kKeptFreeExchanges) return;
  exchange->request.clear();
  clear_keeping(exchange->wire, kKeptAnswerBytes);
  clear_keeping(exchange->spare_body, kKeptAnswerBodyBytes);
  exchange->votes.clear_keeping(kKeptLines, kKeptPayloadBytes);
  free_exchanges_.push_back(std::move(exchange));
}

void Connection::do_write() {
  if (writing_ || phase_ == Phase::closed) return;
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
  for (const auto& exchange : queue_) {
    if (!exchange->ready || write_buffers_.size() >= kMaxAnswersPerWrite) break;
    write_buffers_.push_back(asio::buffer(exchange->wire));
    if (exchange->close) {
      closes = true;
      break;
    }
  }
  if (write_buffers_.empty()) {
    if (phase_ == Phase::closing && queue_.empty() && reading_ == Reading::stopped && !stream_) {
      linger_close();
    }
    return;
  }
  writing_ = true;
  const std::size_t count = write_buffers_.size();
  // The answers usually fit the socket's send buffer: send them now, without an asynchronous
  // operation; only what does not fit waits for the socket.
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
void Connection::consume_written(std::size_t bytes) {
  std::size_t whole = 0;
  while (whole < write_buffers_.size() && write_buffers_[whole].size() <= bytes) {
    bytes -= write_buffers_[whole].size();
    ++whole;
  }
  write_buffers_.erase(write_buffers_.begin(),
                       write_buffers_.begin() + static_cast<std::ptrdiff_t>(whole));
  if (!write_buffers_.empty()) write_buffers_.front() += bytes;
}

void Connection::on_write(beast::error_code ec, std::size_t count, bool closes) {
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

void Connection::begin_closing() {
  if (phase_ == Phase::open) phase_ = Phase::closing;
}

// After an answer that closes the connection: half-close, discard what the client still sends
// (bounded), then close, so the client reads the answer instead of a reset.
void Connection::linger_close() {
  if (phase_ == Phase::closed) return;
  begin_closing();
  peer_gone_ = true;  // nothing more will be written
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec || reading_ != Reading::stopped) return close_now();
  reading_ = Reading::lingering;
  read_deadline_ = deadline_in(kLingerTimeout);
  discard_input();
}

void Connection::discard_input() {
  socket_.async_read_some(asio::buffer(discard_buffer_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                            self->guarded([&] {
                              self->discarded_bytes_ += bytes;
                              if (ec || self->discarded_bytes_ > kLingerMaxBytes) {
                                self->reading_ = Reading::stopped;
                                return self->close_now();
                              }
                              self->discard_input();
                            });
                          });
}

void Connection::close_now() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

// Runs a handler body; an exception closes this connection only. Exchanges whose votes are in
// flight stay alive until their completions arrive.
template <typename Body>
void Connection::guarded(Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    spdlog::warn("connection error peer={} what={}: connection closed", log_value(peer_ip_),
                 log_value(e.what()));
    peer_gone_ = true;
    close_now();
  }
}

// Called by the worker's sweep: past a deadline, the connection is closed, as a timed-out
// Beast stream would be; its pending operations then end and report a timeout.
void Connection::check_deadline(Clock::time_point now) {
  if (phase_ == Phase::closed || timed_out_ || std::min(read_deadline_, write_deadline_) > now) {
    return;
  }
  timed_out_ = true;
  beast::error_code ec;
  socket_.close(ec);
}

void ServerState::accept() {
  Worker& worker = next_worker();
  acceptor.async_accept(worker.io, [this, &worker](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("accept error={}: retrying", log_value(ec.message()));
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
      std::make_shared<Connection>(*this, worker, std::move(socket))->start(over_capacity);
    } catch (const std::exception& e) {
      spdlog::warn("connection start error={}", log_value(e.what()));
    }
    accept();
  });
}

}  // namespace tally::ingest::internal
