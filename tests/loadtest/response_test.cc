#include "tally/loadtest/response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tally/loadtest/server_info.h"

namespace tally::loadtest {
namespace {

using engine::VoteStatus;

std::string answer(int code, const std::string& body, const std::string& extra = {}) {
  return "HTTP/1.1 " + std::to_string(code) +
         " X\r\nServer: tally\r\nContent-Type: "
         "application/json\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

TEST(ResponseParser, ParsesPipelinedAnswersSplitAtEveryByte) {
  const std::string stream = answer(200, R"({"status":"accepted","seq":1})") +
                             answer(409, R"({"status":"duplicate","seq":1})") +
                             answer(400, R"({"status":"invalid"})", "Connection: close\r\n");
  ResponseParser parser;
  std::vector<Response> seen;
  std::vector<std::string> bodies;
  for (char c : stream) {
    parser.append(std::string_view(&c, 1));
    while (auto response = parser.next()) {
      seen.push_back(*response);
      bodies.emplace_back(response->body);
    }
  }
  ASSERT_FALSE(parser.failed());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].http_code, 200);
  EXPECT_EQ(bodies[0], R"({"status":"accepted","seq":1})");
  EXPECT_EQ(seen[1].http_code, 409);
  EXPECT_FALSE(seen[1].close);
  EXPECT_EQ(seen[2].http_code, 400);
  EXPECT_TRUE(seen[2].close);
}

TEST(ResponseParser, SkipsInterimAnswersAndRejectsGarbage) {
  ResponseParser parser;
  parser.append("HTTP/1.1 100 Continue\r\n\r\n" + answer(200, "{}"));
  auto response = parser.next();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->http_code, 200);

  ResponseParser bad;
  bad.append("SSH-2.0-OpenSSH\r\n\r\n");
  EXPECT_FALSE(bad.next());
  EXPECT_TRUE(bad.failed());
}

TEST(CountAnswer, CountsBatchLinesAndAcceptedVotesPerCandidate) {
  const std::string body =
      "{\"status\":\"accepted\",\"seq\":5,\"line\":1}\n"
      "{\"status\":\"duplicate\",\"seq\":2,\"line\":2}\n"
      "{\"status\":\"accepted\",\"seq\":6,\"line\":3}\n"
      "{\"status\":\"quota_exceeded\",\"line\":4}\n";
  const std::vector<std::uint16_t> candidates = {3, 3, 1, 0};
  AnswerCounts counts;
  count_answer(Response{200, false, body}, candidates, counts);
  EXPECT_EQ(counts.of(VoteStatus::accepted), 2u);
  EXPECT_EQ(counts.of(VoteStatus::duplicate), 1u);
  EXPECT_EQ(counts.of(VoteStatus::quota_exceeded), 1u);
  EXPECT_EQ(counts.total(), 4u);
  ASSERT_GE(counts.accepted_by_candidate.size(), 4u);
  EXPECT_EQ(counts.accepted_by_candidate[3], 1u);
  EXPECT_EQ(counts.accepted_by_candidate[1], 1u);
  EXPECT_EQ(counts.accepted_by_candidate[0], 0u);
}

TEST(CountAnswer, ABatchRefusedAsAWholeCountsForEachBallot) {
  const std::vector<std::uint16_t> candidates(10, 2);
  AnswerCounts counts;
  count_answer(Response{413, true, R"({"status":"too_large"})"}, candidates, counts);
  EXPECT_EQ(counts.of(VoteStatus::too_large), 10u);
  count_answer(Response{404, false, R"({"status":"not_found"})"}, candidates, counts);
  EXPECT_EQ(counts.other, 10u);
}

TEST(ServerInfo, ReadsTokensCandidatesAndTallies) {
  EXPECT_EQ(token_from_tokens_file(R"({"ingest":["i1"],"admin":["a1"]})"), "i1");
  EXPECT_EQ(token_from_tokens_file(R"({"ingest":[],"admin":["a1"]})"), "a1");
  EXPECT_FALSE(token_from_tokens_file("not json"));
  EXPECT_EQ(candidate_ids(R"({"id":"x","candidates":[{"id":"c01"},{"id":"c02"}]})"),
            (std::vector<std::string>{"c01", "c02"}));
  EXPECT_EQ(candidate_ids(R"({"campaign":{"candidates":[{"id":"c09"}]},"state":"open"})"),
            (std::vector<std::string>{"c09"}));
  const auto tally =
      parse_tally(R"({"campaign":"x","as_of_seq":9,"total":7,"suspect":0,"candidates":[)"
                  R"({"id":"c02","name":"B","votes":5,"suspect":0,"rank":1},)"
                  R"({"id":"c01","name":"A","votes":2,"suspect":0,"rank":2}]})");
  ASSERT_TRUE(tally);
  EXPECT_EQ(tally->total, 7u);
  EXPECT_EQ(tally->votes.at("c01"), 2u);
}

TEST(Verify, ComparesTheTallysGrowthWithAcceptedAnswers) {
  const std::vector<std::string> candidates = {"c01", "c02"};
  Tally before{10, {{"c01", 6}, {"c02", 4}}};
  Tally after{13, {{"c01", 8}, {"c02", 5}}};
  AnswerCounts answers;
  answers.by_status[static_cast<std::size_t>(VoteStatus::accepted)] = 3;
  answers.accepted_by_candidate = {2, 1};
  EXPECT_TRUE(verify(before, after, candidates, answers).ok);

  answers.accepted_by_candidate = {1, 2};  // same total, wrong candidates
  const Verification wrong = verify(before, after, candidates, answers);
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.differences.size(), 2u);

  Tally grew_more{14, {{"c01", 9}, {"c02", 5}}};
  answers.accepted_by_candidate = {2, 1};
  EXPECT_FALSE(verify(before, grew_more, candidates, answers).ok);
}

}  // namespace
}  // namespace tally::loadtest
