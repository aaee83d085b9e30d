// Unit tests of the answers: status -> HTTP code, JSON bodies, headers.
#include "tally/ingest/answer.h"

#include <gtest/gtest.h>

#include "tally/ingest/tokens.h"

namespace tally::ingest {
namespace {

using engine::VoteStatus;

TEST(Answer, EveryVoteStatusMapsToItsHttpCode) {
  EXPECT_EQ(vote_answer(VoteStatus::accepted, 812, true, {}).http_code, 200);
  EXPECT_EQ(vote_answer(VoteStatus::duplicate, 45, true, {}).http_code, 409);
  EXPECT_EQ(error_answer(VoteStatus::quota_exceeded, {}).http_code, 409);
  EXPECT_EQ(error_answer(VoteStatus::closed, {}).http_code, 403);
  EXPECT_EQ(error_answer(VoteStatus::unknown_campaign, {}).http_code, 404);
  EXPECT_EQ(error_answer(VoteStatus::unknown_candidate, {}).http_code, 422);
  EXPECT_EQ(error_answer(VoteStatus::invalid, "x").http_code, 400);
  EXPECT_EQ(error_answer(VoteStatus::unauthorized, {}).http_code, 401);
  EXPECT_EQ(error_answer(VoteStatus::forbidden, {}).http_code, 403);
  EXPECT_EQ(error_answer(VoteStatus::too_large, {}).http_code, 413);
  EXPECT_EQ(error_answer(VoteStatus::too_large, {}, 431).http_code, 431);
  EXPECT_EQ(error_answer(VoteStatus::rate_limited, {}).http_code, 429);
  EXPECT_EQ(error_answer(VoteStatus::overloaded, {}).http_code, 503);
  EXPECT_EQ(error_answer(VoteStatus::unavailable, {}).http_code, 503);
  EXPECT_EQ(error_answer(HttpError::not_found, {}).http_code, 404);
  EXPECT_EQ(error_answer(HttpError::method_not_allowed, {}).http_code, 405);
  EXPECT_EQ(error_answer(HttpError::conflict, {}).http_code, 409);
}

TEST(Answer, AnErrorAnswerCarriesTheStatusWordItsBodySays) {
  const Answer refused = error_answer(VoteStatus::rate_limited, "source: over its rate limit");
  EXPECT_EQ(refused.status_word, "rate_limited");
  EXPECT_TRUE(refused.body.starts_with(R"({"status":"rate_limited")")) << refused.body;
  EXPECT_EQ(error_answer(HttpError::method_not_allowed, {}).status_word, "method_not_allowed");
  EXPECT_EQ(json_answer("{}").status_word, "");
  EXPECT_EQ(vote_answer(VoteStatus::accepted, 1, true, {}).status_word, "");
}

TEST(Answer, AVoteAnswerIsWrittenIntoTheBufferHandedBack) {
  std::string buffer(200, 'x');  // an earlier answer's body
  const char* storage = buffer.data();
  Answer accepted = vote_answer(VoteStatus::accepted, 812, true, {}, std::move(buffer));
  EXPECT_EQ(accepted.body, R"({"status":"accepted","seq":812})");
  EXPECT_EQ(accepted.body.data(), storage);
  Answer refused = vote_answer(VoteStatus::quota_exceeded, 0, true, {}, std::move(accepted.body));
  EXPECT_EQ(refused.http_code, 409);
  EXPECT_EQ(refused.body,
            R"({"status":"quota_exceeded","error":"voter: quota for this period reached"})");
  EXPECT_EQ(refused.body.data(), storage);
}

TEST(Answer, VoteBodiesMatchTheContract) {
  EXPECT_EQ(vote_answer(VoteStatus::accepted, 812, true, {}).body,
            R"({"status":"accepted","seq":812})");
  EXPECT_EQ(vote_answer(VoteStatus::accepted, 7, false, {}).body,
            R"({"status":"accepted","seq":7,"durable":false})");
  EXPECT_EQ(vote_answer(VoteStatus::duplicate, 45, true, {}).body,
            R"({"status":"duplicate","seq":45})");
  EXPECT_EQ(vote_answer(VoteStatus::invalid, 0, true, "voter: longer than 256 bytes").body,
            R"({"status":"invalid","error":"voter: longer than 256 bytes"})");
  std::string line;
  append_vote_json(line, VoteStatus::accepted, 3, true, {}, 12);
  EXPECT_EQ(line, R"({"status":"accepted","seq":3,"line":12})");
}

TEST(Answer, OnlyRetryableErrorsCarryRetryAfter) {
  EXPECT_TRUE(error_answer(VoteStatus::rate_limited, {}).retry_after);
  EXPECT_TRUE(error_answer(VoteStatus::overloaded, {}).retry_after);
  EXPECT_TRUE(error_answer(VoteStatus::unavailable, {}).retry_after);
  EXPECT_FALSE(error_answer(VoteStatus::invalid, {}).retry_after);
  std::string wire;
  serialize_answer(error_answer(VoteStatus::overloaded, {}), {}, wire);
  EXPECT_NE(wire.find("HTTP/1.1 503 Service Unavailable\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nRetry-After: 1\r\n"), std::string::npos);
  EXPECT_EQ(wire.find("Connection: close"), std::string::npos);
}

TEST(Answer, ErrorTextIsEscapedJson) {
  EXPECT_EQ(error_answer(VoteStatus::invalid, "a \"quoted\" name").body,
            R"({"status":"invalid","error":"a \"quoted\" name"})");
}

TEST(Answer, SerializedAnswerHasLengthAndCloseWhenAsked) {
  Answer answer = json_answer(R"({"status":"ok"})");
  answer.close = true;
  std::string wire;
  serialize_answer(answer, {}, wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nServer: tally\r\nContent-Type: application/json; charset=utf-8\r\n"
            "Content-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}");
}

TEST(Answer, AnHttp10AnswerThatKeepsTheConnectionSaysSo) {
  const Answer answer = json_answer(R"({"status":"ok"})");
  std::string kept;
  serialize_answer(answer, {.http10 = true}, kept);
  EXPECT_NE(kept.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  std::string closed;
  serialize_answer(answer, {.keep_alive = false, .http10 = true}, closed);
  EXPECT_NE(closed.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(closed.find("keep-alive"), std::string::npos);
  std::string http11;
  serialize_answer(answer, {}, http11);
  EXPECT_EQ(http11.find("Connection:"), std::string::npos);
}

TEST(Answer, AHeadAnswerHasTheGetAnswersHeadersAndNoBody) {
  const Answer answer = json_answer(R"({"status":"ok"})");
  std::string wire;
  serialize_answer(answer, {.head = true}, wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nServer: tally\r\nContent-Type: application/json; charset=utf-8\r\n"
            "Content-Length: 15\r\n\r\n");
  Answer stream;
  stream.content_type = "text/event-stream";
  stream.unbounded = true;
  wire.clear();
  serialize_answer(stream, {.head = true}, wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nServer: tally\r\nContent-Type: text/event-stream; charset=utf-8"
            "\r\n\r\n");
}

TEST(Answer, NotModifiedAndNoContentHaveNoBodyTypeOrLength) {
  for (const int code : {204, 304}) {
    Answer answer = json_answer("{\"would\":\"be dropped\"}", code);
    answer.etag = "\"7\"";
    std::string wire;
    serialize_answer(answer, {}, wire);
    EXPECT_TRUE(wire.ends_with("\r\n\r\n")) << wire;
    EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << wire;
    EXPECT_EQ(wire.find("Content-Type"), std::string::npos) << wire;
    EXPECT_NE(wire.find("\r\nETag: \"7\"\r\n"), std::string::npos) << wire;
  }
}

TEST(Answer, CorsHeadersOfAReadAndOfAPreflight) {
  std::string read;
  CorsHeaders cors;
  cors.vary_origin = true;
  cors.allow_origin = "https://a.example";
  append_cors_headers(cors, read);
  EXPECT_EQ(read,
            "\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://a.example"
            "\r\nAccess-Control-Expose-Headers: ETag, Retry-After");
  std::string refused;
  CorsHeaders vary_only;
  vary_only.vary_origin = true;
  append_cors_headers(vary_only, refused);
  EXPECT_EQ(refused, "\r\nVary: Origin");
  std::string preflight;
  CorsHeaders asked;
  asked.allow_origin = "*";
  asked.preflight = true;
  asked.allow_headers = "If-None-Match";
  append_cors_headers(asked, preflight);
  EXPECT_NE(preflight.find("\r\nAccess-Control-Allow-Methods: GET, HEAD"), std::string::npos);
  EXPECT_NE(preflight.find("\r\nAccess-Control-Allow-Headers: If-None-Match"), std::string::npos);
  EXPECT_NE(preflight.find("\r\nAccess-Control-Max-Age: "), std::string::npos);
  EXPECT_EQ(preflight.find("Expose"), std::string::npos);
  std::string none;
  append_cors_headers({}, none);
  EXPECT_EQ(none, "");
}

TEST(Tokens, ClassifiesBearerTokens) {
  auto set = parse_tokens(R"({"ingest":["ingest-token-000001"],"admin":["admin-token-0000001"],)"
                          R"("read":["read-token-00000001"]})");
  ASSERT_TRUE(set.ok()) << set.message();
  Tokens tokens(std::move(set).value());
  EXPECT_EQ(tokens.check(""), TokenKind::none);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001"), TokenKind::ingest);
  EXPECT_EQ(tokens.check("bearer admin-token-0000001"), TokenKind::admin);
  EXPECT_EQ(tokens.check("Bearer read-token-00000001"), TokenKind::read);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000002"), TokenKind::wrong);
  EXPECT_EQ(tokens.check("Basic aW5nZXN0"), TokenKind::wrong);
}

TEST(Tokens, RejectsMalformedFiles) {
  EXPECT_FALSE(parse_tokens("[]").ok());
  EXPECT_FALSE(parse_tokens(R"({"ingest":["short"]})").ok());
  EXPECT_FALSE(parse_tokens(R"({"ingest":[1]})").ok());
  EXPECT_FALSE(parse_tokens(R"({"ingest":[],"admin":[]})").ok());
  EXPECT_FALSE(parse_tokens(R"({"read":["read-token-00000001"]})").ok()) << "no one could vote";
  EXPECT_FALSE(parse_tokens(R"({"ingest":["ingest-token-000001"],"read":"x"})").ok());
  auto generated = generate_tokens();
  ASSERT_TRUE(generated.ok());
  ASSERT_EQ(generated->read.size(), 1u);
  auto again = parse_tokens(tokens_to_json(*generated));
  ASSERT_TRUE(again.ok()) << tokens_to_json(*generated);
  EXPECT_EQ(again->ingest, generated->ingest);
  EXPECT_EQ(again->admin, generated->admin);
  EXPECT_EQ(again->read, generated->read);
}

}  // namespace
}  // namespace tally::ingest
