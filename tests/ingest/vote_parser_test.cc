// Unit tests of VoteParser: the JSON -> Ballot step of the vote path.
#include "tally/ingest/vote_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "tally/base/json.h"
#include "tally/corpus/user_agents.h"

namespace tally::ingest {
namespace {

TEST(VoteParser, ParsesEveryKnownFieldAndIgnoresUnknownOnes) {
  VoteParser parser;
  const auto parsed = parser.parse(
      R"({"campaign":"c-1","candidate":"c01","voter":"v\u00e9","device":"d","ip":"10.0.0.1",)"
      R"("ua":"Mozilla","ts":1700000000000,"request_id":"r1","extra":{"nested":[1,2,3]}})",
      "192.0.2.1");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.ballot.campaign, "c-1");
  EXPECT_EQ(parsed.ballot.candidate, "c01");
  EXPECT_EQ(parsed.ballot.voter, "v\xc3\xa9");
  EXPECT_EQ(parsed.ballot.device, "d");
  EXPECT_EQ(parsed.ballot.ip, "10.0.0.1");
  EXPECT_EQ(parsed.ballot.ua, "Mozilla");
  EXPECT_EQ(parsed.ballot.request_id, "r1");
  ASSERT_TRUE(parsed.ballot.ts_ms.has_value());
  EXPECT_EQ(*parsed.ballot.ts_ms, 1700000000000);
}

TEST(VoteParser, SourceAddressIsThePeerWhenTheBallotHasNoIp) {
  VoteParser parser;
  const auto parsed =
      parser.parse(R"({"campaign":"c","candidate":"x","voter":"v","ip":null})", "192.0.2.7");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.ballot.ip, "192.0.2.7");
  EXPECT_TRUE(parsed.ballot.device.empty());
  EXPECT_FALSE(parsed.ballot.ts_ms.has_value());
}

TEST(VoteParser, MissingRequiredFieldsAreNamed) {
  VoteParser parser;
  EXPECT_EQ(parser.parse(R"({"candidate":"x","voter":"v"})", "p").error,
            "campaign: required, a non-empty string");
  EXPECT_EQ(parser.parse(R"({"campaign":"c","voter":"v"})", "p").error,
            "candidate: required, a non-empty string");
  EXPECT_EQ(parser.parse(R"({"campaign":"c","candidate":"x","voter":""})", "p").error,
            "voter: required, a non-empty string");
}

TEST(VoteParser, WrongTypesAreNamed) {
  VoteParser parser;
  EXPECT_EQ(parser.parse(R"({"campaign":1,"candidate":"x","voter":"v"})", "p").error,
            "campaign: must be a string");
  EXPECT_EQ(parser.parse(R"({"campaign":"c","candidate":"x","voter":"v","ts":1.5})", "p").error,
            "ts: must be an integer (ms since the epoch)");
  EXPECT_EQ(parser.parse(R"({"campaign":"c","candidate":"x","voter":["v"]})", "p").error,
            "voter: must be a string");
}

TEST(VoteParser, RejectsWhatIsNotOneJsonObject) {
  VoteParser parser;
  EXPECT_EQ(parser.parse(R"(["campaign"])", "p").error, "body: must be a JSON object");
  EXPECT_FALSE(parser.parse("", "p").ok());
  EXPECT_FALSE(parser.parse("not json", "p").ok());
  EXPECT_FALSE(parser.parse(R"({"campaign":"c","candidate":"x","voter":"v"} junk)", "p").ok());
  EXPECT_FALSE(parser.parse(R"({"campaign":"c","candidate":"x","voter":"v")", "p").ok());
  EXPECT_FALSE(parser.parse(R"({"campaign":"c","candidate":"x","voter":"v",})", "p").ok());
}

TEST(VoteParser, RejectsInvalidUtf8AnywhereInTheInput) {
  VoteParser parser;
  EXPECT_EQ(parser.parse("{\"campaign\":\"c\",\"candidate\":\"x\",\"voter\":\"\xff\"}", "p").error,
            "body: not valid UTF-8");
  EXPECT_EQ(
      parser
          .parse("{\"campaign\":\"c\",\"candidate\":\"x\",\"voter\":\"v\",\"z\":\"\xc0\xaf\"}", "p")
          .error,
      "body: not valid UTF-8");
}

// Fields skip check_ballot()'s UTF-8 scan: unescaping must refuse what would not decode to it.
TEST(VoteParser, EscapesThatDecodeToInvalidUtf8AreRejected) {
  VoteParser parser;
  for (const char* voter : {R"(\ud800)", R"(\udc00x)", R"(v\ud800\u0041)"}) {
    SCOPED_TRACE(voter);
    const std::string json =
        std::string(R"({"campaign":"c","candidate":"x","voter":")") + voter + "\"}";
    EXPECT_EQ(parser.parse(json, "p").error, "body: not valid JSON");
  }
  const auto pair = parser.parse(R"({"campaign":"c","candidate":"x","voter":"\ud83d\ude00"})", "p");
  ASSERT_TRUE(pair.ok()) << pair.error;
  EXPECT_EQ(pair.ballot.voter, "\xf0\x9f\x98\x80");
  EXPECT_FALSE(tally::engine::check_ballot(pair.ballot).has_value());
}

TEST(VoteParser, OversizedFieldsAreRejectedWithTheFieldName) {
  VoteParser parser;
  const std::string json =
      R"({"campaign":"c","candidate":"x","voter":")" + std::string(257, 'v') + "\"}";
  const auto parsed = parser.parse(json, "p");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error.substr(0, 6), "voter:");
}

// Each field against its own limit of DESIGN.md: a user agent up to 1,024 bytes (real WeChat
// agents on Android are about 300), a request id up to 128, every other string up to 256.
TEST(VoteParser, EachFieldHasItsOwnLimitAndRealAgentsFit) {
  VoteParser parser;
  const auto with = [](const std::string& field, std::size_t bytes) {
    return R"({"campaign":"c","candidate":"x","voter":"v",")" + field + R"(":")" +
           std::string(bytes, 'a') + "\"}";
  };
  const struct {
    const char* field;
    std::size_t limit;
  } limits[] = {{"ua", 1024}, {"request_id", 128}, {"device", 256}, {"ip", 256}};
  for (const auto& [field, limit] : limits) {
    EXPECT_TRUE(parser.parse(with(field, limit), "p").ok()) << field;
    const auto over = parser.parse(with(field, limit + 1), "p");
    ASSERT_FALSE(over.ok()) << field;
    EXPECT_EQ(over.error, std::string(field) + ": longer than " + std::to_string(limit) + " bytes");
  }
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    std::string json = R"({"campaign":"c","candidate":"x","voter":"v","ua":)";
    append_json_string(json, sample.agent);
    json += "}";
    const auto parsed = parser.parse(json, "p");
    ASSERT_TRUE(parsed.ok()) << sample.client << ": " << parsed.error;
    EXPECT_EQ(parsed.ballot.ua, sample.agent);
  }
}

TEST(VoteParser, ReusesItsBuffersAcrossInputsOfAnySize) {
  VoteParser parser;
  const std::string big =
      R"({"campaign":"c","candidate":"x","voter":"v","pad":")" + std::string(100'000, 'p') + "\"}";
  EXPECT_TRUE(parser.parse(big, "p").ok());
  const auto small = parser.parse(R"({"campaign":"c2","candidate":"y","voter":"w"})", "p");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small.ballot.campaign, "c2");
}

}  // namespace
}  // namespace tally::ingest
