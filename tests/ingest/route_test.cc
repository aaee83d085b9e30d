// Unit tests of route(): DESIGN.md's HTTP API table.
#include "tally/ingest/route.h"

#include <gtest/gtest.h>

namespace tally::ingest {
namespace {

TEST(Route, MapsEveryEndpointOfTheApi) {
  EXPECT_EQ(route(Method::post, "/v1/votes").endpoint, Endpoint::vote);
  EXPECT_EQ(route(Method::post, "/v1/votes:batch").endpoint, Endpoint::vote_batch);
  EXPECT_EQ(route(Method::get, "/v1/campaigns").endpoint, Endpoint::campaign_list);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/demo").endpoint, Endpoint::campaign_get);
  EXPECT_EQ(route(Method::put, "/v1/campaigns/demo").endpoint, Endpoint::campaign_put);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/demo/tally").endpoint, Endpoint::tally);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/demo/tally/stream").endpoint, Endpoint::tally_stream);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/demo/fraud").endpoint, Endpoint::fraud);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/demo/history").endpoint, Endpoint::history);
  EXPECT_EQ(route(Method::get, "/v1/votes/42").endpoint, Endpoint::vote_event);
  EXPECT_EQ(route(Method::get, "/metrics").endpoint, Endpoint::metrics);
  EXPECT_EQ(route(Method::get, "/healthz").endpoint, Endpoint::healthz);
  EXPECT_EQ(route(Method::get, "/readyz").endpoint, Endpoint::readyz);
  EXPECT_EQ(route(Method::get, "/").endpoint, Endpoint::dashboard);
}

TEST(Route, ExtractsCampaignIdAndSeq) {
  EXPECT_EQ(route(Method::get, "/v1/campaigns/ordos-2023-zuimei/tally").campaign_id,
            "ordos-2023-zuimei");
  EXPECT_EQ(route(Method::get, "/v1/votes/18446744073709551615").seq, 18446744073709551615ULL);
}

TEST(Route, IgnoresTheQueryString) {
  EXPECT_EQ(route(Method::get, "/healthz?verbose=1").endpoint, Endpoint::healthz);
  EXPECT_EQ(route(Method::get, "/v1/campaigns/x/tally?x=/fraud").campaign_id, "x");
}

TEST(Route, WrongMethodOnAKnownPathIsMethodNotAllowedWithAllow) {
  const Route r = route(Method::get, "/v1/votes");
  EXPECT_EQ(r.endpoint, Endpoint::method_not_allowed);
  EXPECT_EQ(r.allow, "POST");
  EXPECT_EQ(route(Method::post, "/v1/campaigns/x").allow, "GET, HEAD, PUT");
  EXPECT_EQ(route(Method::other, "/healthz").endpoint, Endpoint::method_not_allowed);
  EXPECT_EQ(route(Method::other, "/healthz").allow, "GET, HEAD");
  EXPECT_EQ(route(Method::head, "/v1/votes").allow, "POST");
}

TEST(Route, HeadGoesWhereGetGoes) {
  for (const char* target : {"/v1/campaigns", "/v1/campaigns/x", "/v1/campaigns/x/tally",
                             "/v1/campaigns/x/tally/stream", "/v1/campaigns/x/fraud", "/v1/votes/7",
                             "/metrics", "/healthz", "/readyz", "/", "/web/app.js"}) {
    EXPECT_EQ(route(Method::head, target).endpoint, route(Method::get, target).endpoint) << target;
  }
}

TEST(Route, UnknownPathsAndBadSeqsAreNotFound) {
  for (const char* target :
       {"/v2/votes", "/v1/votes/", "/v1/votes/0", "/v1/votes/12x", "/v1/votes/99999999999999999999",
        "/v1/campaigns//tally", "/v1/campaigns/x/other", "/v1/campaigns/x/tally/", "", "healthz"}) {
    EXPECT_EQ(route(Method::get, target).endpoint, Endpoint::not_found) << target;
  }
}

TEST(Route, OptionsOnACrossOriginReadIsItsPreflight) {
  for (const char* target :
       {"/v1/campaigns", "/v1/campaigns/x", "/v1/campaigns/x/tally", "/v1/campaigns/x/tally/stream",
        "/v1/campaigns/x/fraud", "/v1/campaigns/x/history"}) {
    const Route r = route(Method::options, target);
    EXPECT_EQ(r.endpoint, Endpoint::preflight) << target;
    EXPECT_TRUE(cross_origin_readable(route(Method::get, target).endpoint)) << target;
  }
  EXPECT_EQ(route(Method::options, "/v1/campaigns/x").allow, "GET, HEAD, PUT");
  EXPECT_EQ(route(Method::options, "/v1/campaigns/x/tally").campaign_id, "x");
  EXPECT_EQ(access_of(Endpoint::preflight), Access::open);
  // Writes, admin reads and the operators' own reads have no preflight: 405 as before.
  for (const char* target : {"/v1/votes", "/v1/votes:batch", "/v1/votes/7", "/metrics", "/healthz",
                             "/readyz", "/v1/cluster", "/"}) {
    EXPECT_EQ(route(Method::options, target).endpoint, Endpoint::method_not_allowed) << target;
    EXPECT_FALSE(cross_origin_readable(route(Method::get, target).endpoint)) << target;
  }
  EXPECT_FALSE(cross_origin_readable(Endpoint::campaign_put));
  EXPECT_FALSE(cross_origin_readable(Endpoint::vote));
}

TEST(Route, AccessFollowsTheApiTable) {
  EXPECT_EQ(access_of(Endpoint::vote), Access::ingest);
  EXPECT_EQ(access_of(Endpoint::vote_batch), Access::ingest);
  EXPECT_EQ(access_of(Endpoint::campaign_put), Access::admin);
  EXPECT_EQ(access_of(Endpoint::vote_event), Access::admin);
  EXPECT_EQ(access_of(Endpoint::tally), Access::read);
  EXPECT_EQ(access_of(Endpoint::history), Access::read);
  EXPECT_EQ(access_of(Endpoint::healthz), Access::read);
  EXPECT_EQ(access_of(Endpoint::dashboard), Access::open);
}

}  // namespace
}  // namespace tally::ingest
