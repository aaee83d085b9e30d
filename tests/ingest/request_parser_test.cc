// Unit tests of the server's request parser: what it keeps of a request, its limits, and that
// reading request after request into the same buffers allocates nothing once they have grown.
// A binary of its own: it counts every operator new of the process.
#include "request_parser.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

namespace {

std::atomic<long> g_allocations{0};

}  // namespace

// Counting replacements of the global allocation functions (the other forms fall back to
// these). GCC takes the free() of a replaced operator delete for a mismatched pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tally::ingest::internal {
namespace {

namespace http = boost::beast::http;
using boost::beast::error_code;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;

// Feeds `input` to a fresh parser for `request` until one request is done or an error;
// returns the bytes it used, or 0 with `ec` set.
std::size_t read_one(std::string_view input, Request& request, error_code& ec,
                     std::size_t body_limit = kBodyLimit, bool* keep_alive = nullptr) {
  RequestParser parser(request);
  parser.header_limit(kHeaderLimit);
  parser.body_limit(body_limit);
  std::size_t total = 0;
  while (!parser.is_done()) {
    const std::size_t used =
        parser.put(boost::asio::buffer(input.data() + total, input.size() - total), ec);
    total += used;
    if (ec) return 0;
    if (used == 0 && !parser.is_done()) {
      ec = http::error::need_more;
      return 0;
    }
  }
  if (keep_alive != nullptr) *keep_alive = parser.keep_alive();
  return total;
}

std::string vote_request(std::string_view body, std::string_view extra_headers = {}) {
  std::string request =
      "POST /v1/votes HTTP/1.1\r\nHost: tally\r\n"
      "Authorization: Bearer ingest-token\r\n"
      "Content-Type: application/json\r\nContent-Length: ";
  request += std::to_string(body.size());
  request += "\r\n";
  request += extra_headers;
  request += "\r\n";
  request += body;
  return request;
}

TEST(RequestParser, KeepsTheMethodTargetReadHeadersAndBody) {
  const std::string input = vote_request(R"({"campaign":"c","candidate":"a","voter":"v"})",
                                         "Expect: 100-continue\r\nLast-Event-ID: 42\r\n");
  Request request;
  error_code ec;
  bool keep_alive = false;
  EXPECT_EQ(read_one(input, request, ec, kBodyLimit, &keep_alive), input.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(request.method, http::verb::post);
  EXPECT_EQ(request.target, "/v1/votes");
  EXPECT_EQ(request.authorization, "Bearer ingest-token");
  EXPECT_EQ(request.expect, "100-continue");
  EXPECT_TRUE(request.has_last_event_id);
  EXPECT_EQ(request.last_event_id, "42");
  EXPECT_EQ(request.body, R"({"campaign":"c","candidate":"a","voter":"v"})");
  EXPECT_TRUE(keep_alive);
}

TEST(RequestParser, ARepeatedHeaderKeepsItsFirstValueAndNamesAreCaseInsensitive) {
  const std::string input =
      "GET /v1/campaigns/c/tally/stream HTTP/1.1\r\nauthorization: Bearer first\r\n"
      "AUTHORIZATION: Bearer second\r\nlast-event-id: 7\r\nLast-Event-ID: 9\r\n"
      "Connection: close\r\n\r\n";
  Request request;
  error_code ec;
  bool keep_alive = true;
  EXPECT_EQ(read_one(input, request, ec, kBodyLimit, &keep_alive), input.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(request.method, http::verb::get);
  EXPECT_EQ(request.authorization, "Bearer first");
  EXPECT_EQ(request.last_event_id, "7");
  EXPECT_TRUE(request.body.empty());
  EXPECT_FALSE(keep_alive);
}

TEST(RequestParser, ReadsAChunkedBody) {
  const std::string input =
      "POST /v1/votes:batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
  Request request;
  error_code ec;
  EXPECT_EQ(read_one(input, request, ec), input.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(request.target, "/v1/votes:batch");
  EXPECT_EQ(request.body, "hello, world");
}

TEST(RequestParser, PipelinedRequestsIntoTheSameBuffersLeaveNothingBehind) {
  const std::string first =
      vote_request("{\"a\":1}", "Last-Event-ID: 3\r\nExpect: 100-continue\r\n");
  const std::string second = "GET /healthz HTTP/1.1\r\nHost: tally\r\n\r\n";
  const std::string input = first + second;
  Request request;
  error_code ec;
  const std::size_t used = read_one(input, request, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(read_one(std::string_view(input).substr(used), request, ec), second.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(request.method, http::verb::get);
  EXPECT_EQ(request.target, "/healthz");
  EXPECT_TRUE(request.authorization.empty());
  EXPECT_TRUE(request.expect.empty());
  EXPECT_FALSE(request.has_last_event_id);
  EXPECT_TRUE(request.last_event_id.empty());
  EXPECT_TRUE(request.body.empty());
}

TEST(RequestParser, EnforcesTheHeaderAndBodyLimits) {
  Request request;
  error_code ec;
  const std::string long_target = "GET /" + std::string(kHeaderLimit, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(read_one(long_target, request, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);

  ec = {};
  EXPECT_EQ(read_one(vote_request(std::string(101, 'x')), request, ec, 100), 0u);
  EXPECT_EQ(ec, http::error::body_limit);

  ec = {};
  const std::string chunked =
      "POST /v1/votes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "40\r\n" +
      std::string(64, 'x') + "\r\n40\r\n" + std::string(64, 'y') + "\r\n0\r\n\r\n";
  EXPECT_EQ(read_one(chunked, request, ec, 100), 0u);
  EXPECT_EQ(ec, http::error::body_limit);
}

TEST(RequestParser, RefusesBytesThatAreNotHttp) {
  Request request;
  error_code ec;
  const std::string tls_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(read_one(tls_hello, request, ec), 0u);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, http::error::need_more);
}

TEST(RequestParser, ReadingRequestAfterRequestAllocatesNothingOnceTheBuffersHaveGrown) {
  // Single votes of the size a WeChat frontend posts: a ~200-byte user agent in the body.
  const std::string body_template =
      R"({"campaign":"labour-2026","candidate":"c-017","voter":"oVOTER_NUMBER_0000000000000","ip":"203.0.113.7","device":"d-00000000","user_agent":")" +
      std::string(200, 'u') + R"("})";
  std::string input;
  for (int i = 0; i < 100; ++i) {
    std::string body = body_template;
    const std::string number = std::to_string(i);
    body.replace(body.find("0000000000000") + 13 - number.size(), number.size(), number);
    input += vote_request(body, "User-Agent: Mozilla/5.0 MicroMessenger/8.0\r\n");
  }
  Request request;
  error_code ec;
  std::string_view rest = input;
  rest.remove_prefix(read_one(rest, request, ec));  // the first request grows the buffers
  ASSERT_FALSE(ec) << ec.message();

  const long before = g_allocations.load();
  int requests = 1;
  while (!rest.empty()) {
    const std::size_t used = read_one(rest, request, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(used, 0u);
    rest.remove_prefix(used);
    ++requests;
  }
  const long allocations = g_allocations.load() - before;
  EXPECT_EQ(requests, 100);
  EXPECT_EQ(allocations, 0) << "operator new calls while reading 99 requests";
  EXPECT_EQ(request.authorization, "Bearer ingest-token");
}

TEST(RequestParser, GivesBackBuffersOverTheirKeptCapacity) {
  Request request;
  request.body.assign(kKeptBodyBytes + 1, 'x');
  request.authorization.assign(kKeptHeaderValueBytes + 1, 'a');
  request.target.assign(100, '/');
  const std::size_t target_capacity = request.target.capacity();
  request.clear();
  EXPECT_TRUE(request.body.empty());
  EXPECT_LE(request.body.capacity(), kKeptBodyBytes);
  EXPECT_LE(request.authorization.capacity(), kKeptHeaderValueBytes);
  EXPECT_TRUE(request.target.empty());
  EXPECT_EQ(request.target.capacity(), target_capacity);

  request.body.assign(1000, 'x');
  const std::size_t capacity = request.body.capacity();
  request.clear_body();
  EXPECT_TRUE(request.body.empty());
  EXPECT_EQ(request.body.capacity(), capacity);
}

TEST(RequestParser, KeepAliveReadsEveryConnectionHeader) {
  // Connection is a list (RFC 9110 7.6.1): its fields combine, so a close in the second one
  // counts. Beast's message keep_alive() reads the first field only; the parser reads all.
  Request request;
  error_code ec;
  bool keep_alive = true;
  const std::string two_fields =
      "GET /healthz HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(read_one(two_fields, request, ec, kBodyLimit, &keep_alive), two_fields.size());
  EXPECT_FALSE(keep_alive);
  const std::string http10 = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  EXPECT_EQ(read_one(http10, request, ec, kBodyLimit, &keep_alive), http10.size());
  EXPECT_TRUE(keep_alive);
  const std::string plain10 = "GET /healthz HTTP/1.0\r\n\r\n";
  EXPECT_EQ(read_one(plain10, request, ec, kBodyLimit, &keep_alive), plain10.size());
  EXPECT_FALSE(keep_alive);
}

// RFC 9112 2.2: empty lines before a request line are skipped, as many as the header limit
// allows; a request cut inside them is not a request yet.
TEST(RequestParser, SkipsEmptyLinesBeforeTheRequestLine) {
  Request request;
  error_code ec;
  const std::string input = "\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n";
  EXPECT_EQ(read_one(input, request, ec), input.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(request.target, "/healthz");

  RequestParser parser(request);
  parser.header_limit(kHeaderLimit);
  EXPECT_EQ(parser.put(boost::asio::buffer("\r\n\r", 3), ec), 2u);
  EXPECT_EQ(ec, http::error::need_more);
  EXPECT_TRUE(parser.started());
  EXPECT_FALSE(parser.in_request());

  std::string crlfs;
  for (std::size_t i = 0; i < kHeaderLimit / 2 + 1; ++i) crlfs += "\r\n";
  ec = {};
  EXPECT_EQ(read_one(crlfs + "GET / HTTP/1.1\r\n\r\n", request, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
}

// Every framing that two parsers could read differently is refused, with the error that names
// its rule (refusal_text), before any of its body is read.
TEST(RequestParser, RefusesFramingsThatCouldSmuggleARequest) {
  struct Case {
    const char* name;
    std::string request;
    http::error expected;
  };
  const std::string body = "0123456789";
  const std::string cl = "Content-Length: 10\r\n";
  const std::string chunked_body = "a\r\n0123456789\r\n0\r\n\r\n";
  const Case cases[] = {
      {"identity", "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n" + cl + "\r\n" + body,
       http::error::bad_transfer_encoding},
      {"gzip alone", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n" + body,
       http::error::bad_transfer_encoding},
      {"chunked, deflate",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, deflate\r\n\r\n" + chunked_body,
       http::error::bad_transfer_encoding},
      {"chunkedchunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunkedchunked\r\n\r\n" + body,
       http::error::bad_transfer_encoding},
      {"chunked twice",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" + chunked_body,
       http::error::bad_transfer_encoding},
      {"nbsp",
       "POST / HTTP/1.1\r\nTransfer-Encoding: \xa0"
       "chunked\xa0\r\n\r\n" +
           chunked_body,
       http::error::bad_transfer_encoding},
      {"empty coding with length", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n" + cl + "\r\n" + body,
       http::error::bad_transfer_encoding},
      {"HTTP/1.0 chunked", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body,
       http::error::bad_transfer_encoding},
      {"length twice", "POST / HTTP/1.1\r\n" + cl + cl + "\r\n" + body,
       http::error::multiple_content_length},
      {"length list", "POST / HTTP/1.1\r\nContent-Length: 10, 10\r\n\r\n" + body,
       http::error::multiple_content_length},
      {"folded", "POST / HTTP/1.1\r\nX-A: b\r\n\t" + cl + "\r\n" + body, http::error::bad_obs_fold},
      {"space before first field", "POST / HTTP/1.1\r\n " + cl + "\r\n" + body,
       http::error::bad_obs_fold},
      {"utf-8 target", "GET /\xc3\xa4 HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"target of no form", "GET ! HTTP/1.1\r\n\r\n", http::error::bad_target},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Request request;
    error_code ec;
    EXPECT_EQ(read_one(c.request, request, ec), 0u);
    EXPECT_EQ(ec, c.expected) << ec.message();
    EXPECT_TRUE(request.body.empty());
    EXPECT_EQ(refusal_text(ec).rfind("request: ", 0), 0u);
    EXPECT_NE(refusal_text(ec), refusal_text(http::error::bad_method)) << "a rule without words";
  }
}

// What RFC 9112 frames the same for every reader is read: chunked as the only or last coding
// (a coding before it is marked for a 501: the body is framed, not decoded), absolute-form and
// asterisk targets, CONNECT's authority form; a chunked body's trailer changes nothing the
// routes read.
TEST(RequestParser, ReadsWhatEveryParserFramesAlike) {
  Request request;
  error_code ec;
  const std::string gzip_chunked =
      "POST /v1/votes HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
      "5\r\nhello\r\n0\r\nAuthorization: Bearer from-the-trailer\r\n\r\n";
  EXPECT_EQ(read_one(gzip_chunked, request, ec), gzip_chunked.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(request.unsupported_coding);
  EXPECT_EQ(request.body, "hello");
  EXPECT_TRUE(request.authorization.empty());

  const std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding:  chunked \r\n\r\n0\r\n\r\n";
  EXPECT_EQ(read_one(chunked, request, ec), chunked.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(request.unsupported_coding);

  for (const std::string target : {"http://tally.example/v1/votes?x=1", "*", "/a?b=|c\"#d"}) {
    const std::string input = "OPTIONS " + target + " HTTP/1.1\r\n\r\n";
    EXPECT_EQ(read_one(input, request, ec), input.size()) << target;
    EXPECT_FALSE(ec) << target << ": " << ec.message();
    EXPECT_EQ(request.target, target);
  }
  const std::string connect = "CONNECT 0-home0.example.com:443 HTTP/1.1\r\n\r\n";
  EXPECT_EQ(read_one(connect, request, ec), connect.size());
  EXPECT_FALSE(ec) << ec.message();
}

}  // namespace
}  // namespace tally::ingest::internal
