// See request_parser.h.
#include "request_parser.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include <utility>

namespace tally::ingest::internal {
namespace {

// A header the routes read keeps its first value, as Beast's fields find() did.
void keep_first(bool& seen, std::string& into, boost::beast::string_view value) {
  if (!std::exchange(seen, true)) into.assign(value.data(), value.size());
}

}  // namespace

void clear_keeping(std::string& buffer, std::size_t kept) {
  if (buffer.capacity() > kept) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

void Request::clear() {
  method = boost::beast::http::verb::unknown;
  version = 11;
  for (std::string* value : {&target, &authorization, &expect, &last_event_id}) {
    clear_keeping(*value, kKeptHeaderValueBytes);
  }
  has_last_event_id = false;
  clear_body();
}

void Request::clear_body() { clear_keeping(body, kKeptBodyBytes); }

RequestParser::RequestParser(Request& into) : request_(into) { request_.clear(); }

void RequestParser::on_request_impl(verb method, string_view, string_view target, int version,
                                    error_code&) {
  request_.method = method;
  request_.version = version;
  request_.target.assign(target.data(), target.size());
}

void RequestParser::on_response_impl(int, string_view, int, error_code& ec) {
  ec = boost::beast::http::error::bad_method;  // a request parser: never a status line
}

void RequestParser::on_field_impl(field name, string_view name_string, string_view value,
                                  error_code&) {
  if (name == field::authorization) {
    keep_first(has_authorization_, request_.authorization, value);
  } else if (name == field::expect) {
    keep_first(has_expect_, request_.expect, value);
  } else if (name == field::unknown && boost::beast::iequals(name_string, "Last-Event-ID")) {
    keep_first(request_.has_last_event_id, request_.last_event_id, value);
  }
}

void RequestParser::on_header_impl(error_code&) {}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                      error_code&) {
  // basic_parser has checked the length against the body limit before this call.
  if (content_length) request_.body.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(std::uint64_t, string_view, error_code&) {}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  // basic_parser counts chunks against the body limit.
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(error_code&) {}

}  // namespace tally::ingest::internal
