// See request_parser.h.
#include "request_parser.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include <utility>

#include "kept_buffer.h"

namespace tally::ingest::internal {
namespace {

namespace http = boost::beast::http;

// A header the routes read keeps its first value, as Beast's fields find() did.
void keep_first(bool& seen, std::string& into, boost::beast::string_view value) {
  if (!std::exchange(seen, true)) into.assign(value.data(), value.size());
}

// A list field's next field line: joined to the earlier ones, as RFC 9110 5.3 reads them.
void append_list(bool& seen, std::string& into, boost::beast::string_view value) {
  if (std::exchange(seen, true)) into += ", ";
  into.append(value.data(), value.size());
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Calls `each` with every non-empty element of a comma-separated field value (RFC 9110 5.6.1),
// optional whitespace trimmed.
template <typename Each>
void for_each_list_element(std::string_view value, Each each) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
    while (!element.empty() && is_ows(element.front())) element.remove_prefix(1);
    while (!element.empty() && is_ows(element.back())) element.remove_suffix(1);
    if (!element.empty()) each(element);
  }
}

// Whether a header line in `header` starts with whitespace: an obs-fold, or a line before the
// first field (RFC 9112 2.2, 5.2). Looks up to the end of the header, or of what has arrived.
bool has_folded_line(std::string_view header) {
  for (std::size_t at = header.find("\r\n"); at != std::string_view::npos && at + 2 < header.size();
       at = header.find("\r\n", at + 2)) {
    const char next = header[at + 2];
    if (is_ows(next)) return true;
    if (next == '\r') return false;  // the empty line that ends the header
  }
  return false;
}

// Whether `target` is a request-target (RFC 9112 3.2): visible ASCII only, in origin-form
// (`/...`), absolute-form (`scheme:...`), asterisk-form (`*`), or authority-form for CONNECT.
// Beast takes any byte above 0x20 but DEL; llhttp, as strict as this, also refuses bytes above
// 0x7f (UTF-8 belongs percent-encoded) and a target that starts otherwise (`GET !`).
bool is_request_target(boost::beast::http::verb method, std::string_view target) {
  if (target.empty()) return false;
  for (const char c : target) {
    if (c <= 0x20 || c >= 0x7f) return false;  // as a signed char, bytes above 0x7f are < 0
  }
  if (target[0] == '/' || target == "*" || method == boost::beast::http::verb::connect) {
    return true;
  }
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!is_alpha(target[0])) return false;
  for (const char c : target.substr(1)) {
    if (c == ':') return true;
    if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

}  // namespace

Method method_of(boost::beast::http::verb verb) {
  switch (verb) {
    case boost::beast::http::verb::get: return Method::get;
    case boost::beast::http::verb::head: return Method::head;
    case boost::beast::http::verb::post: return Method::post;
    case boost::beast::http::verb::put: return Method::put;
    case boost::beast::http::verb::options: return Method::options;
    default: return Method::other;
  }
}

void Request::clear() {
  method = boost::beast::http::verb::unknown;
  version = 11;
  for (std::string* value :
       {&target, &authorization, &expect, &last_event_id, &origin, &if_none_match}) {
    clear_keeping(*value, kKeptHeaderValueBytes);
  }
  has_last_event_id = false;
  has_origin = false;
  unsupported_coding = false;
  clear_body();
}

void Request::clear_body() { clear_keeping(body, kKeptBodyBytes); }

std::string_view refusal_text(boost::beast::error_code ec) {
  if (ec == http::error::bad_obs_fold) {
    return "request: a header line starts with whitespace (obsolete line folding)";
  }
  if (ec == http::error::multiple_content_length) {
    return "request: Content-Length sent more than once";
  }
  if (ec == http::error::bad_content_length) {
    return "request: Content-Length is not one decimal number, or comes with Transfer-Encoding";
  }
  if (ec == http::error::bad_transfer_encoding) {
    return "request: Transfer-Encoding must end in chunked, once, without Content-Length, "
           "in HTTP/1.1";
  }
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
    return "request: malformed chunk";
  }
  if (ec == http::error::bad_target) return "request: the target is not a URI in ASCII";
  if (ec == http::error::bad_version) return "request: HTTP/1.0 or HTTP/1.1 only";
  if (ec == http::error::partial_message) return "request: the connection ended inside it";
  return "request: not a valid HTTP/1.1 request";
}

RequestParser::RequestParser(Request& into) : parser_(into) { into.clear(); }

void RequestParser::header_limit(std::uint32_t bytes) {
  header_limit_ = bytes;
  parser_.header_limit(bytes);
}

void RequestParser::body_limit(std::uint64_t bytes) { parser_.body_limit(bytes); }

std::size_t RequestParser::put(boost::asio::const_buffer input, error_code& ec) {
  const std::string_view bytes(static_cast<const char*>(input.data()), input.size());
  std::size_t used = 0;
  if (!parser_.got_some()) {
    while (bytes.size() - used >= 2 && bytes[used] == '\r' && bytes[used + 1] == '\n') used += 2;
    skipped_ += used;
    if (skipped_ > header_limit_) {
      ec = http::error::header_limit;
      return used;
    }
    if (used == bytes.size() || bytes.substr(used) == "\r") {
      ec = http::error::need_more;
      return used;
    }
  }
  // Beast reads the header only once it is whole, and unfolds folded lines as it goes.
  if (!parser_.is_header_done() && has_folded_line(bytes.substr(used))) {
    ec = http::error::bad_obs_fold;
    return used;
  }
  return used + parser_.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
}

void RequestParser::Callbacks::on_request_impl(verb method, string_view, string_view target,
                                               int version, error_code& ec) {
  if (!is_request_target(method, std::string_view(target.data(), target.size()))) {
    ec = http::error::bad_target;
    return;
  }
  request_.method = method;
  request_.version = version;
  request_.target.assign(target.data(), target.size());
}

void RequestParser::Callbacks::on_response_impl(int, string_view, int, error_code& ec) {
  ec = http::error::bad_method;  // a request parser: never a status line
}

void RequestParser::Callbacks::on_field_impl(field name, string_view name_string, string_view value,
                                             error_code&) {
  if (is_header_done()) return;  // a chunked body's trailer: nothing in it is read
  switch (name) {
    case field::authorization: return keep_first(has_authorization_, request_.authorization, value);
    case field::expect: return keep_first(has_expect_, request_.expect, value);
    case field::origin: return keep_first(request_.has_origin, request_.origin, value);
    case field::if_none_match:
      return append_list(has_if_none_match_, request_.if_none_match, value);
    case field::content_length:
      ++content_length_fields_;
      content_length_list_ = content_length_list_ || value.find(',') != string_view::npos;
      return;
    case field::transfer_encoding:
      has_transfer_encoding_ = true;
      for_each_list_element(std::string_view(value.data(), value.size()),
                            [&](std::string_view coding) {
                              last_coding_chunked_ = boost::beast::iequals(coding, "chunked");
                              ++codings_;
                              chunked_codings_ += last_coding_chunked_ ? 1 : 0;
                            });
      return;
    case field::unknown:
      if (boost::beast::iequals(name_string, "Last-Event-ID")) {
        keep_first(request_.has_last_event_id, request_.last_event_id, value);
      }
      return;
    default: return;
  }
}

void RequestParser::Callbacks::on_header_impl(error_code& ec) {
  if (content_length_fields_ > 1 || content_length_list_) {
    ec = http::error::multiple_content_length;
    return;
  }
  if (!has_transfer_encoding_) return;
  // Chunked framing only where this reading and Beast's agree that chunked is the last
  // coding, applied once; never beside a Content-Length, never from an HTTP/1.0 client.
  if (content_length_fields_ > 0 || request_.version < 11 || !last_coding_chunked_ ||
      chunked_codings_ != 1 || !chunked()) {
    ec = http::error::bad_transfer_encoding;
    return;
  }
  request_.unsupported_coding = codings_ > 1;
}

void RequestParser::Callbacks::on_body_init_impl(
    const boost::optional<std::uint64_t>& content_length, error_code&) {
  // basic_parser has checked the length against the body limit before this call.
  if (content_length) request_.body.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t RequestParser::Callbacks::on_body_impl(string_view body, error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::Callbacks::on_chunk_header_impl(std::uint64_t, string_view, error_code&) {}

std::size_t RequestParser::Callbacks::on_chunk_body_impl(std::uint64_t, string_view body,
                                                         error_code&) {
  // basic_parser counts chunks against the body limit.
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::Callbacks::on_finish_impl(error_code&) {}

}  // namespace tally::ingest::internal
