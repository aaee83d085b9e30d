// Conditional reads (RFC 9110 13, RFC 9111): the ETag of each cacheable read, If-None-Match
// answered with 304, and the Cache-Control those answers carry. A gateway or CDN in front of
// tallyd then absorbs a crowd of readers of one tally (a WeChat page opened by thousands)
// with one revalidation a second; docs/INGEST.md "Caching" says why each choice.
//
// Pure functions, safe everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/ingest/answer.h"

namespace tally::ingest::internal {

// How long any cache may serve a read without asking again: the tally stream's own tick, so a
// cached tally is never older than a streamed one. Public reads may be kept by shared caches;
// under --protect-reads only by the reader's own browser (they needed a token).
inline constexpr std::string_view kPublicReadCache = "public, max-age=1";
inline constexpr std::string_view kPrivateReadCache = "private, max-age=1";

// A tally's entity tag: its as_of_seq, quoted. A tally's bytes are a function of its
// campaign and as_of_seq: votes and campaign versions each take a seq, and the engine reads
// a snapshot's counts and candidates no older than the seq it reports (Engine::tally()).
std::string tally_etag(std::uint64_t as_of_seq);
// The entity tag of any other read: a digest of its body (the campaigns and the fraud view
// change with the clock too, not only with a seq).
std::string body_etag(std::string_view body);

// Whether an If-None-Match value holds `etag`: `*`, or one of its listed tags under the weak
// comparison that RFC 9110 13.1.2 prescribes for it (W/"12" matches "12": a gateway that
// compresses turns strong tags weak). Empty: no header, no match.
bool none_match_holds(std::string_view if_none_match, std::string_view etag);

// The 304 that answers a read whose tag the request's If-None-Match holds: no body, the ETag.
Answer not_modified(std::string etag);
// Turns a 200 `answer` with an ETag into not_modified() when `if_none_match` holds it.
void revalidate(Answer& answer, std::string_view if_none_match);

// Adds Cache-Control to an answer that has an ETag (a 200 or 304 of a cacheable read).
void add_cache_control(Answer& answer, bool protect_reads);

}  // namespace tally::ingest::internal
