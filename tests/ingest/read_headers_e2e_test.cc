// End-to-end tests of what tallyd's reads say to caches and browsers: ETag, If-None-Match and
// Cache-Control on tallies, campaigns and the fraud view (docs/INGEST.md "Caching"), and the
// opt-in CORS headers of cross-origin reads (--cors-origin, "Browsers of other origins"),
// against the real build/bin/tallyd over sockets.
#include <gtest/gtest.h>
#include <strings.h>

#include <optional>
#include <string>
#include <vector>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kDemo = "ordos-2023-zuimei";
constexpr const char* kTally = "/v1/campaigns/ordos-2023-zuimei/tally";
constexpr const char* kPage = "https://vote.example.cn";

// The value of header `name` (case-insensitive), or nullopt.
std::optional<std::string> header(const HttpAnswer& answer, const std::string& name) {
  std::size_t at = answer.headers.find("\r\n");
  while (at != std::string::npos) {
    const std::size_t begin = at + 2;
    const std::size_t end = answer.headers.find("\r\n", begin);
    const std::string line = answer.headers.substr(begin, end - begin);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.c_str(), name.c_str(), name.size()) == 0) {
      std::size_t value = name.size() + 1;
      while (value < line.size() && line[value] == ' ') ++value;
      return line.substr(value);
    }
    at = end;
  }
  return std::nullopt;
}

bool has_cors_header(const HttpAnswer& answer) {
  return answer.headers.find("Access-Control-") != std::string::npos ||
         header(answer, "Vary").has_value();
}

std::string ballot(const std::string& candidate, const std::string& voter) {
  return std::string(R"({"campaign":")") + kDemo + R"(","candidate":")" + candidate +
         R"(","voter":")" + voter + R"("})";
}

class ReadHeadersTest : public ::testing::Test {
 protected:
  // Starts tallyd with the demo campaign and `args`.
  ::testing::AssertionResult start(std::vector<std::string> args) {
    args.insert(args.begin(), "--demo");
    if (server_.start(args)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << server_.log();
  }

  HttpAnswer get(const std::string& target, const std::string& headers = {},
                 const std::string& method = "GET", const std::string& token = {}) {
    HttpClient client(server_.port());
    return client.request(method, target, {}, token, headers);
  }

  HttpAnswer vote(const std::string& voter, const std::string& headers = {}) {
    HttpClient client(server_.port());
    return client.request("POST", "/v1/votes", ballot("c01", voter), server_.ingest_token(),
                          headers);
  }

  TallydProcess server_;
};

TEST_F(ReadHeadersTest, TallyIsTaggedByItsAsOfSeqAndTheTagChangesWithAVote) {
  ASSERT_TRUE(start({}));
  const HttpAnswer before = get(kTally);
  ASSERT_EQ(before.status, 200);
  ASSERT_TRUE(header(before, "ETag")) << before.headers;
  EXPECT_EQ(*header(before, "ETag"),
            '"' + std::to_string(number_of(before.body, "as_of_seq")) + '"');
  EXPECT_EQ(header(before, "Cache-Control").value_or(""), "public, max-age=1");

  ASSERT_EQ(vote("alice").status, 200);
  const HttpAnswer after = get(kTally);
  ASSERT_EQ(after.status, 200);
  EXPECT_NE(header(after, "ETag"), header(before, "ETag"));
  EXPECT_EQ(*header(after, "ETag"), '"' + std::to_string(number_of(after.body, "as_of_seq")) + '"');
  // The same tally again: the same tag and the same bytes.
  const HttpAnswer again = get(kTally);
  EXPECT_EQ(header(again, "ETag"), header(after, "ETag"));
  EXPECT_EQ(again.body, after.body);
}

TEST_F(ReadHeadersTest, IfNoneMatchGets304OnTheCurrentTagAnd200OnAStaleOne) {
  ASSERT_TRUE(start({}));
  const std::string stale = *header(get(kTally), "ETag");
  ASSERT_EQ(vote("alice").status, 200);
  const HttpAnswer current = get(kTally);
  const std::string tag = *header(current, "ETag");

  for (const std::string& held : {tag, "W/" + tag, "\"nope\", " + tag, std::string("*")}) {
    const HttpAnswer revalidated = get(kTally, "If-None-Match: " + held + "\r\n");
    EXPECT_EQ(revalidated.status, 304) << held;
    EXPECT_TRUE(revalidated.body.empty());
    EXPECT_FALSE(header(revalidated, "Content-Length")) << revalidated.headers;
    EXPECT_EQ(header(revalidated, "ETag").value_or(""), tag);
    EXPECT_EQ(header(revalidated, "Cache-Control").value_or(""), "public, max-age=1");
  }
  const HttpAnswer head = get(kTally, "If-None-Match: " + tag + "\r\n", "HEAD");
  EXPECT_EQ(head.status, 304);

  const HttpAnswer changed = get(kTally, "If-None-Match: " + stale + "\r\n");
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, current.body);
  EXPECT_EQ(header(changed, "ETag").value_or(""), tag);
}

TEST_F(ReadHeadersTest, CampaignsAndTheFraudViewAreTaggedByTheirContent) {
  ASSERT_TRUE(start({}));
  const std::string fraud = std::string("/v1/campaigns/") + kDemo + "/fraud";
  for (const std::string& target :
       {std::string("/v1/campaigns"), std::string("/v1/campaigns/") + kDemo, fraud}) {
    const HttpAnswer answer = get(target);
    ASSERT_EQ(answer.status, 200) << target;
    const auto tag = header(answer, "ETag");
    ASSERT_TRUE(tag) << target << answer.headers;
    EXPECT_EQ(header(answer, "Cache-Control").value_or(""), "public, max-age=1");
    EXPECT_EQ(get(target, "If-None-Match: " + *tag + "\r\n").status, 304) << target;
  }
  const std::string before = *header(get(fraud), "ETag");
  ASSERT_EQ(vote("alice").status, 200);
  const HttpAnswer after = get(fraud, "If-None-Match: " + before + "\r\n");
  EXPECT_EQ(after.status, 200) << "the fraud view changed with the vote: " << after.body;
  EXPECT_NE(header(after, "ETag"), before);
  // Errors are not cached.
  const HttpAnswer unknown = get("/v1/campaigns/no-such/tally");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_FALSE(header(unknown, "ETag"));
  EXPECT_FALSE(header(unknown, "Cache-Control"));
}

TEST_F(ReadHeadersTest, ProtectedReadsArePrivateToTheReader) {
  ASSERT_TRUE(start({"--protect-reads"}));
  const HttpAnswer answer = get(kTally, {}, "GET", server_.read_token());
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(header(answer, "Cache-Control").value_or(""), "private, max-age=1");
  EXPECT_TRUE(header(answer, "ETag"));
}

TEST_F(ReadHeadersTest, WithoutCorsOriginsNoAnswerHasCorsHeaders) {
  ASSERT_TRUE(start({}));
  const std::string origin = std::string("Origin: ") + kPage + "\r\n";
  for (const std::string& target : {std::string(kTally), std::string("/v1/campaigns")}) {
    const HttpAnswer answer = get(target, origin);
    EXPECT_EQ(answer.status, 200);
    EXPECT_FALSE(has_cors_header(answer)) << answer.headers;
  }
  EXPECT_FALSE(has_cors_header(vote("alice", origin)));
  const HttpAnswer preflight =
      get(kTally, origin + "Access-Control-Request-Method: GET\r\n", "OPTIONS");
  EXPECT_EQ(preflight.status, 405);
  EXPECT_EQ(header(preflight, "Allow").value_or(""), "GET, HEAD");
  EXPECT_FALSE(has_cors_header(preflight)) << preflight.headers;
}

TEST_F(ReadHeadersTest, AListedOriginMayReadAndNoOtherMay) {
  ASSERT_TRUE(start({"--cors-origin", "https://other.example", "--cors-origin", kPage}));
  const HttpAnswer allowed = get(kTally, std::string("Origin: ") + kPage + "\r\n");
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin").value_or(""), kPage);
  EXPECT_EQ(header(allowed, "Vary").value_or(""), "Origin");
  EXPECT_NE(header(allowed, "Access-Control-Expose-Headers").value_or("").find("ETag"),
            std::string::npos);

  const HttpAnswer other = get(kTally, "Origin: https://evil.example\r\n");
  EXPECT_EQ(other.status, 200);
  EXPECT_FALSE(header(other, "Access-Control-Allow-Origin")) << other.headers;
  EXPECT_EQ(header(other, "Vary").value_or(""), "Origin");  // caches must not mix the two

  // The refusal of a read is readable too; a stream's head carries the same headers.
  const HttpAnswer unknown =
      get("/v1/campaigns/no-such/tally", std::string("Origin: ") + kPage + "\r\n");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(header(unknown, "Access-Control-Allow-Origin").value_or(""), kPage);
  HttpClient stream(server_.port());
  ASSERT_TRUE(stream.send_raw(HttpClient::format("GET", std::string(kTally) + "/stream", {}, {},
                                                 std::string("Origin: ") + kPage + "\r\n")));
  bool closed = false;
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    const std::string more = stream.rest_or_timeout(closed);
    if (more.empty()) break;
    head += more;
  }
  EXPECT_NE(head.find(std::string("Access-Control-Allow-Origin: ") + kPage), std::string::npos)
      << head;
}

TEST_F(ReadHeadersTest, WritesNeverGetCorsHeaders) {
  ASSERT_TRUE(start({"--cors-origin", "*"}));
  const std::string origin = std::string("Origin: ") + kPage + "\r\n";
  const HttpAnswer accepted = vote("alice", origin);
  EXPECT_EQ(accepted.status, 200);
  EXPECT_FALSE(has_cors_header(accepted)) << accepted.headers;
  const HttpAnswer refused = get("/v1/votes", origin, "POST");
  EXPECT_EQ(refused.status, 401);
  EXPECT_FALSE(has_cors_header(refused)) << refused.headers;
  HttpClient client(server_.port());
  const HttpAnswer put = client.request("PUT", std::string("/v1/campaigns/") + kDemo, "{}",
                                        server_.admin_token(), origin);
  EXPECT_EQ(put.status, 400);
  EXPECT_FALSE(has_cors_header(put)) << put.headers;
  const HttpAnswer preflight =
      get("/v1/votes", origin + "Access-Control-Request-Method: POST\r\n", "OPTIONS");
  EXPECT_EQ(preflight.status, 405);
  EXPECT_FALSE(has_cors_header(preflight)) << preflight.headers;
  // `*`: every page may read, and the answer is the same for all of them.
  const HttpAnswer read = get(kTally, origin);
  EXPECT_EQ(header(read, "Access-Control-Allow-Origin").value_or(""), "*");
  EXPECT_FALSE(header(read, "Vary"));
}

TEST_F(ReadHeadersTest, PreflightsOfReadsAreAnswered) {
  ASSERT_TRUE(start({"--cors-origin", kPage, "--protect-reads"}));
  const std::string asks = std::string("Origin: ") + kPage +
                           "\r\nAccess-Control-Request-Method: GET\r\n"
                           "Access-Control-Request-Headers: authorization\r\n";
  for (const std::string& target :
       {std::string(kTally), std::string(kTally) + "/stream", std::string("/v1/campaigns"),
        std::string("/v1/campaigns/") + kDemo + "/fraud"}) {
    const HttpAnswer preflight = get(target, asks, "OPTIONS");  // no token: browsers send none
    EXPECT_EQ(preflight.status, 204) << target;
    EXPECT_EQ(header(preflight, "Access-Control-Allow-Origin").value_or(""), kPage);
    EXPECT_EQ(header(preflight, "Access-Control-Allow-Methods").value_or(""), "GET, HEAD");
    EXPECT_NE(header(preflight, "Access-Control-Allow-Headers").value_or("").find("Authorization"),
              std::string::npos)
        << preflight.headers;
    EXPECT_TRUE(header(preflight, "Access-Control-Max-Age"));
    EXPECT_FALSE(header(preflight, "Content-Length"));
  }
  const HttpAnswer campaign = get(std::string("/v1/campaigns/") + kDemo, asks, "OPTIONS");
  EXPECT_EQ(campaign.status, 204);
  EXPECT_EQ(header(campaign, "Access-Control-Allow-Methods").value_or(""), "GET, HEAD");
  const HttpAnswer stranger = get(
      kTally, "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n", "OPTIONS");
  EXPECT_EQ(stranger.status, 204);
  EXPECT_FALSE(header(stranger, "Access-Control-Allow-Origin"));
  // Under --protect-reads a read without its token is refused in a way the page can read.
  const HttpAnswer refused = get(kTally, std::string("Origin: ") + kPage + "\r\n");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(header(refused, "Access-Control-Allow-Origin").value_or(""), kPage);
}

TEST_F(ReadHeadersTest, AnOriginWithAPathIsRefusedAsBadUsage) {
  EXPECT_FALSE(server_.start({"--cors-origin", "https://vote.example.cn/page"}));
  EXPECT_NE(server_.log().find("--cors-origin"), std::string::npos) << server_.log();
}

}  // namespace
}  // namespace tally::testing
