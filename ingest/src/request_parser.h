// RequestParser: one HTTP/1.1 request, read into buffers that are reused request after request,
// and framed as RFC 9112 requires.
//
// Beast's request_parser<string_body> builds a fields container for every request: an
// allocation per header line, one for the request line and one for the body. The routes
// read the method, the target, five headers and the body, so this parser keeps those
// only, in strings that keep their capacity between requests up to a small bound each: a
// keep-alive voter's requests allocate nothing once the connection's buffers have grown to its
// requests' size, while what any client makes a connection hold between requests stays
// small. Beast's basic_parser does the parsing and the limits.
//
// Framing is where two parsers that disagree let a request through in another's body
// (request smuggling: a ballot hidden in a body that a proxy in front frames differently).
// Beast 1.81 frames a request whose Transfer-Encoding does not end in `chunked` by its
// Content-Length, or as bodiless, and unfolds obsolete line folding; this parser refuses what
// RFC 9112 lets a server refuse and what DESIGN.md says it must (RFC 9112 2.2, 5.2, 6.1, 6.3):
// - a Transfer-Encoding whose last coding is not `chunked`, a Transfer-Encoding with a
//   Content-Length, a Transfer-Encoding in an HTTP/1.0 request;
// - a repeated Content-Length field, or one that is a list, even of equal values;
// - a header line that starts with whitespace (obs-fold, or before the first field).
// Each refusal is an error from put(); the caller answers 400 and closes, since the rest of
// the stream cannot be framed. Empty lines (CRLF) before a request line are skipped (RFC 9112
// 2.2), so a client's stray CRLF after a body is not taken for a malformed request.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tally/ingest/route.h"

namespace tally::ingest::internal {

// Most capacity a request's buffers keep between requests; a larger buffer is given back.
// A ballot from a voting page is about 400 bytes; a batch's megabytes are never kept.
inline constexpr std::size_t kKeptBodyBytes = 4 * 1024;
// The target and each kept header value (a bearer token is about 40 bytes).
inline constexpr std::size_t kKeptHeaderValueBytes = 1024;

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  int version = 11;  // 10 for HTTP/1.0
  std::string target;
  // The first value of each header the routes read (a repeated header keeps its first).
  std::string authorization;
  std::string expect;
  std::string last_event_id;
  bool has_last_event_id = false;
  // Origin: the page a browser's request comes from (CORS, cors.h).
  std::string origin;
  bool has_origin = false;
  // If-None-Match, every field of it joined with ", " (a list may be split over fields,
  // RFC 9110 5.3): the entity tags a cache or browser holds (conditional.h).
  std::string if_none_match;
  // The body is framed by chunked, but a transfer coding before it (`gzip, chunked`) is one
  // the server does not decode: the answer is 501 (RFC 9112 6.1), the connection stays.
  bool unsupported_coding = false;
  std::string body;

  // Empties the request for the next one, keeping the buffers' capacity up to the bounds
  // above.
  void clear();
  // Empties the body only, on the same terms.
  void clear_body();
};

// The route's word for a request's method.
Method method_of(boost::beast::http::verb verb);

// Why a request could not be read, for the 400 answer's `error`: the framing rule it broke,
// or a generic word for bytes that are not HTTP/1.1 at all.
std::string_view refusal_text(boost::beast::error_code ec);

class RequestParser {
 public:
  using error_code = boost::beast::error_code;

  // Clears `into` and reads the next request into it; `into` must outlive the parser.
  explicit RequestParser(Request& into);

  // Request line and headers, in bytes (431 over it). Empty lines before the request line
  // count against it too.
  void header_limit(std::uint32_t bytes);
  // The body, in bytes (413 over it).
  void body_limit(std::uint64_t bytes);

  // Reads from `input`; returns the bytes used. http::error::need_more when the request is
  // not complete yet: call again with those bytes and more. Any other error ends the
  // connection's reading: refusal_text() says why.
  std::size_t put(boost::asio::const_buffer input, error_code& ec);

  bool is_header_done() const { return parser_.is_header_done(); }
  bool is_done() const { return parser_.is_done(); }
  // Whether any byte of this request has been read, an empty line before it included (the
  // header timeout runs from then).
  bool started() const { return skipped_ > 0 || parser_.got_some(); }
  // Whether its request line has begun (an end of stream before then ends no request).
  bool in_request() const { return parser_.got_some(); }
  bool keep_alive() const { return parser_.keep_alive(); }
  boost::optional<std::uint64_t> content_length() const { return parser_.content_length(); }
  boost::optional<std::uint64_t> content_length_remaining() const {
    return parser_.content_length_remaining();
  }

 private:
  // Beast's callbacks: keep what the routes read, note what framing needs judged.
  class Callbacks final : public boost::beast::http::basic_parser<true> {
   public:
    explicit Callbacks(Request& into) : request_(into) {}

   private:
    using field = boost::beast::http::field;
    using verb = boost::beast::http::verb;
    using string_view = boost::beast::string_view;  // boost::core's in Boost 1.81

    void on_request_impl(verb method, string_view method_string, string_view target, int version,
                         error_code& ec) override;
    void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
    void on_field_impl(field name, string_view name_string, string_view value,
                       error_code& ec) override;
    void on_header_impl(error_code& ec) override;
    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                           error_code& ec) override;
    std::size_t on_body_impl(string_view body, error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
    std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
    void on_finish_impl(error_code& ec) override;

    Request& request_;
    bool has_authorization_ = false;
    bool has_expect_ = false;
    bool has_if_none_match_ = false;
    // Framing, judged once the header is in.
    int content_length_fields_ = 0;
    bool content_length_list_ = false;
    bool has_transfer_encoding_ = false;
    bool last_coding_chunked_ = false;  // of every Transfer-Encoding field, in order
    int codings_ = 0;                   // in every Transfer-Encoding field
    int chunked_codings_ = 0;
  };

  Callbacks parser_;
  std::uint32_t header_limit_ = 8 * 1024;  // Beast's default
  std::size_t skipped_ = 0;                // bytes of empty lines before the request line
};

}  // namespace tally::ingest::internal
