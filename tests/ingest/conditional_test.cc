// Unit tests of conditional reads (conditional.h) and of the CORS decision (cors.h).
#include "conditional.h"

#include <gtest/gtest.h>

#include "cors.h"

namespace tally::ingest::internal {
namespace {

TEST(Conditional, IfNoneMatchHoldsATagUnderWeakComparison) {
  const std::string tag = tally_etag(812);
  EXPECT_EQ(tag, "\"812\"");
  EXPECT_TRUE(none_match_holds("\"812\"", tag));
  EXPECT_TRUE(none_match_holds("W/\"812\"", tag));
  EXPECT_TRUE(none_match_holds("\"1\", \"2\",\t\"812\"", tag));
  EXPECT_TRUE(none_match_holds("*", tag));
  EXPECT_TRUE(none_match_holds("\"x\" , *", tag));
  EXPECT_FALSE(none_match_holds("", tag));
  EXPECT_FALSE(none_match_holds("\"81\"", tag));
  EXPECT_FALSE(none_match_holds("\"8120\"", tag));
  EXPECT_FALSE(none_match_holds("812", tag));
  EXPECT_FALSE(none_match_holds(",,", tag));
}

TEST(Conditional, BodyTagsFollowTheBytes) {
  EXPECT_EQ(body_etag("{\"a\":1}"), body_etag("{\"a\":1}"));
  EXPECT_NE(body_etag("{\"a\":1}"), body_etag("{\"a\":2}"));
  EXPECT_EQ(body_etag("").size(), 34u);  // 32 hex digits, quoted
}

TEST(Conditional, RevalidateTurnsOnlyAMatching200Into304) {
  Answer answer = json_answer("{}");
  answer.etag = "\"5\"";
  revalidate(answer, "\"4\"");
  EXPECT_EQ(answer.http_code, 200);
  revalidate(answer, "\"5\"");
  EXPECT_EQ(answer.http_code, 304);
  EXPECT_TRUE(answer.body.empty());
  EXPECT_EQ(answer.etag, "\"5\"");
  Answer untagged = json_answer("{}");
  revalidate(untagged, "*");
  EXPECT_EQ(untagged.http_code, 200);
}

TEST(Conditional, OnlyTaggedAnswersGetCacheControl) {
  Answer tagged = json_answer("{}");
  tagged.etag = "\"5\"";
  add_cache_control(tagged, false);
  EXPECT_EQ(tagged.cache_control, "public, max-age=1");
  add_cache_control(tagged, true);
  EXPECT_EQ(tagged.cache_control, "private, max-age=1");
  Answer plain = json_answer("{}");
  add_cache_control(plain, false);
  EXPECT_TRUE(plain.cache_control.empty());
}

Request from(std::string origin) {
  Request request;
  request.origin = std::move(origin);
  request.has_origin = true;
  return request;
}

TEST(Cors, ListedOriginsReadAndOthersOnlyVary) {
  const std::vector<std::string> origins = {"https://vote.example.cn"};
  const Request listed = from("https://VOTE.example.cn");
  const CorsHeaders read = cors_headers(origins, false, Endpoint::tally, listed);
  EXPECT_TRUE(read.vary_origin);
  EXPECT_EQ(read.allow_origin, "https://VOTE.example.cn");  // the browser's own bytes
  EXPECT_FALSE(read.preflight);
  const CorsHeaders other = cors_headers(origins, false, Endpoint::tally, from("https://x.cn"));
  EXPECT_TRUE(other.vary_origin);
  EXPECT_TRUE(other.allow_origin.empty());
  EXPECT_TRUE(cors_headers(origins, false, Endpoint::tally, Request{}).allow_origin.empty());
  EXPECT_TRUE(cors_headers(origins, false, Endpoint::tally, from("https://vote.example.cn:8443"))
                  .allow_origin.empty());
}

TEST(Cors, NothingWithoutOriginsAndNothingOnWrites) {
  const Request request = from("https://vote.example.cn");
  const CorsHeaders none = cors_headers({}, false, Endpoint::tally, request);
  EXPECT_FALSE(none.vary_origin);
  EXPECT_TRUE(none.allow_origin.empty());
  for (const Endpoint write : {Endpoint::vote, Endpoint::vote_batch, Endpoint::campaign_put,
                               Endpoint::vote_event, Endpoint::metrics, Endpoint::not_found}) {
    const CorsHeaders cors = cors_headers({"*"}, false, write, request);
    EXPECT_FALSE(cors.vary_origin);
    EXPECT_TRUE(cors.allow_origin.empty());
  }
}

TEST(Cors, PreflightAsksForTheTokenOnlyUnderProtectedReads) {
  const std::vector<std::string> origins = {"*"};
  const Request request = from("https://vote.example.cn");
  const Route tally = route(Method::options, "/v1/campaigns/x/tally");
  const Answer open = preflight_answer(origins, false, tally, request);
  EXPECT_EQ(open.http_code, 204);
  EXPECT_EQ(open.allow, "GET, HEAD, OPTIONS");
  EXPECT_EQ(open.cors.allow_origin, "*");
  EXPECT_EQ(open.cors.allow_headers.find("Authorization"), std::string_view::npos);
  const Answer protected_reads = preflight_answer(origins, true, tally, request);
  EXPECT_NE(protected_reads.cors.allow_headers.find("Authorization"), std::string_view::npos);
  const Answer campaign =
      preflight_answer(origins, false, route(Method::options, "/v1/campaigns/x"), request);
  EXPECT_EQ(campaign.allow, "GET, HEAD, PUT, OPTIONS");
  const Answer refused = preflight_answer({}, false, tally, request);
  EXPECT_EQ(refused.http_code, 405);
  EXPECT_EQ(refused.allow, "GET, HEAD");
}

}  // namespace
}  // namespace tally::ingest::internal
