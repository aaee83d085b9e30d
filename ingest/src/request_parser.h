// RequestParser: one HTTP/1.1 request, read into buffers that are reused request after request.
//
// Beast's request_parser<string_body> builds a fields container for every request: an
// allocation per header line, one for the request line and one for the body. The routes
// read the method, the target, three headers and the body, so this parser keeps those
// only, in strings that keep their capacity between requests up to a small bound each: a
// keep-alive voter's requests allocate nothing once the session's buffers have grown to its
// requests' size, while what any client makes a connection hold between requests stays
// small. Beast's basic_parser still does the parsing, the limits and the framing.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tally::ingest::internal {

// Most capacity a request's buffers keep between requests; a larger buffer is given back.
// A ballot from a voting page is about 400 bytes; a batch's megabytes are never kept.
inline constexpr std::size_t kKeptBodyBytes = 4 * 1024;
// The target and each kept header value (a bearer token is about 40 bytes).
inline constexpr std::size_t kKeptHeaderValueBytes = 1024;

// Empties `buffer`, keeping its capacity for the next use unless that is over `kept` bytes.
void clear_keeping(std::string& buffer, std::size_t kept);

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  int version = 11;  // 10 for HTTP/1.0
  std::string target;
  // The first value of each header the routes read (a repeated header keeps its first).
  std::string authorization;
  std::string expect;
  std::string last_event_id;
  bool has_last_event_id = false;
  std::string body;

  // Empties the request for the next one, keeping the buffers' capacity up to the bounds
  // above.
  void clear();
  // Empties the body only, on the same terms.
  void clear_body();
};

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // Clears `into` and reads the next request into it; `into` must outlive the parser.
  explicit RequestParser(Request& into);

 private:
  using error_code = boost::beast::error_code;
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
};

}  // namespace tally::ingest::internal
