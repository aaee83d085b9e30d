// ETags, If-None-Match and Cache-Control. See conditional.h.
#include "conditional.h"

#include <xxhash.h>

#include <cstdio>
#include <utility>

namespace tally::ingest::internal {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// `tag` without a leading W/ (weak comparison ignores it).
std::string_view opaque_tag(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

}  // namespace

std::string tally_etag(std::uint64_t as_of_seq) { return '"' + std::to_string(as_of_seq) + '"'; }

std::string body_etag(std::string_view body) {
  // XXH3-128: a stable digest (the same on every node and build), and two different bodies
  // of one read colliding is not a risk worth a cryptographic hash's cost per read.
  const XXH128_hash_t digest = XXH3_128bits(body.data(), body.size());
  char text[36];
  std::snprintf(text, sizeof text, "\"%016llx%016llx\"",
                static_cast<unsigned long long>(digest.high64),
                static_cast<unsigned long long>(digest.low64));
  return text;
}

bool none_match_holds(std::string_view if_none_match, std::string_view etag) {
  const std::string_view wanted = opaque_tag(etag);
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    if_none_match.remove_prefix(comma == std::string_view::npos ? if_none_match.size() : comma + 1);
    while (!tag.empty() && is_ows(tag.front())) tag.remove_prefix(1);
    while (!tag.empty() && is_ows(tag.back())) tag.remove_suffix(1);
    if (tag == "*" || (!tag.empty() && opaque_tag(tag) == wanted)) return true;
  }
  return false;
}

Answer not_modified(std::string etag) {
  Answer answer;
  answer.http_code = 304;
  answer.etag = std::move(etag);
  return answer;
}

void revalidate(Answer& answer, std::string_view if_none_match) {
  if (answer.http_code != 200 || answer.etag.empty()) return;
  if (!none_match_holds(if_none_match, answer.etag)) return;
  answer = not_modified(std::move(answer.etag));
}

void add_cache_control(Answer& answer, bool protect_reads) {
  if (answer.etag.empty()) return;
  answer.cache_control = protect_reads ? kPrivateReadCache : kPublicReadCache;
}

}  // namespace tally::ingest::internal
