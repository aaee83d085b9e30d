// End-to-end tests of tallyd's HTTP API: the real build/bin/tallyd on a free port, spoken to
// over plain sockets. Each test checks that the server still answers afterwards.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/json.h"
#include "tally/corpus/user_agents.h"
#include "file_modes.h"
#include "log_world.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kDemo = "ordos-2023-zuimei";

std::string ballot(const std::string& candidate, const std::string& voter,
                   const std::string& campaign = kDemo, const std::string& extra = {}) {
  return R"({"campaign":")" + campaign + R"(","candidate":")" + candidate + R"(","voter":")" +
         voter + "\"" + extra + "}";
}

// A campaign definition whose window closed long ago.
std::string closed_campaign_json() {
  return R"({"id":"closed-2020","title":"closed","opens_at":"2020-01-01T00:00:00+08:00",)"
         R"("closes_at":"2020-01-02T00:00:00+08:00","utc_offset":"+08:00",)"
         R"("rules":{"period":"campaign","max_votes_per_candidate":1,"max_candidates":1},)"
         R"("candidates":[{"id":"a","name":"A"},{"id":"b","name":"B"}]})";
}

class TallydTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(server_.dir() / "closed.json", closed_campaign_json());
    ASSERT_TRUE(server_.start({"--demo", "--campaign", (server_.dir() / "closed.json").string()}))
        << server_.log();
  }

  HttpAnswer vote(const std::string& body) {
    HttpClient client(server_.port());
    return client.request("POST", "/v1/votes", body, server_.ingest_token());
  }

  void expect_still_answers() {
    HttpClient client(server_.port());
    const HttpAnswer answer = client.request("GET", "/healthz");
    EXPECT_EQ(answer.status, 200) << server_.log();
    EXPECT_TRUE(server_.alive());
  }

  TallydProcess server_;
};

TEST_F(TallydTest, EveryVoteStatusRowHasItsHttpCodeAndBody) {
  const HttpAnswer accepted = vote(ballot("c01", "alice"));
  EXPECT_EQ(accepted.status, 200);
  EXPECT_EQ(status_of(accepted.body), "accepted");
  const long long seq = number_of(accepted.body, "seq");
  EXPECT_GT(seq, 0);

  const HttpAnswer duplicate = vote(ballot("c01", "alice"));
  EXPECT_EQ(duplicate.status, 409);
  EXPECT_EQ(status_of(duplicate.body), "duplicate");
  EXPECT_EQ(number_of(duplicate.body, "seq"), seq);

  // max_candidates is 10: the eleventh distinct candidate of the day is over quota.
  for (int i = 2; i <= 10; ++i) {
    char candidate[8];
    std::snprintf(candidate, sizeof candidate, "c%02d", i);
    EXPECT_EQ(vote(ballot(candidate, "alice")).status, 200);
  }
  const HttpAnswer quota = vote(ballot("c11", "alice"));
  EXPECT_EQ(quota.status, 409);
  EXPECT_EQ(status_of(quota.body), "quota_exceeded");

  const HttpAnswer closed = vote(ballot("a", "bob", "closed-2020"));
  EXPECT_EQ(closed.status, 403);
  EXPECT_EQ(status_of(closed.body), "closed");

  const HttpAnswer unknown_campaign = vote(ballot("c01", "bob", "no-such-campaign"));
  EXPECT_EQ(unknown_campaign.status, 404);
  EXPECT_EQ(status_of(unknown_campaign.body), "unknown_campaign");

  const HttpAnswer unknown_candidate = vote(ballot("c99", "bob"));
  EXPECT_EQ(unknown_candidate.status, 422);
  EXPECT_EQ(status_of(unknown_candidate.body), "unknown_candidate");

  const HttpAnswer long_voter = vote(ballot("c01", std::string(300, 'v')));
  EXPECT_EQ(long_voter.status, 400);
  EXPECT_EQ(status_of(long_voter.body), "invalid");
  EXPECT_NE(long_voter.body.find("voter"), std::string::npos) << long_voter.body;

  const HttpAnswer missing = vote(R"({"campaign":"ordos-2023-zuimei","candidate":"c01"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("voter"), std::string::npos) << missing.body;

  const HttpAnswer bad_utf8 = vote(ballot("c01", "\xff\xfe"));
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_NE(bad_utf8.body.find("UTF-8"), std::string::npos) << bad_utf8.body;

  HttpClient client(server_.port());
  const HttpAnswer no_token = client.request("POST", "/v1/votes", ballot("c01", "carol"));
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(status_of(no_token.body), "unauthorized");
  const HttpAnswer wrong_token =
      client.request("POST", "/v1/votes", ballot("c01", "carol"), "not-a-valid-token-0000");
  EXPECT_EQ(wrong_token.status, 401);

  const HttpAnswer forbidden =
      client.request("GET", "/v1/votes/" + std::to_string(seq), {}, server_.ingest_token());
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(status_of(forbidden.body), "forbidden");

  const HttpAnswer event =
      client.request("GET", "/v1/votes/" + std::to_string(seq), {}, server_.admin_token());
  EXPECT_EQ(event.status, 200);
  EXPECT_NE(event.body.find(R"("voter":"alice")"), std::string::npos) << event.body;
  const HttpAnswer no_event = client.request("GET", "/v1/votes/999999", {}, server_.admin_token());
  EXPECT_EQ(no_event.status, 404);
  EXPECT_EQ(status_of(no_event.body), "not_found");

  // Admin tokens may ingest too.
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c01", "dave"), server_.admin_token()).status,
      200);

  const HttpAnswer not_found = client.request("GET", "/v1/nothing-here");
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(status_of(not_found.body), "not_found");
  const HttpAnswer wrong_method = client.request("DELETE", "/v1/votes");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(status_of(wrong_method.body), "method_not_allowed");
  expect_still_answers();
}

TEST_F(TallydTest, ReadEndpointsAnswerTheirDocuments) {
  ASSERT_EQ(vote(ballot("c03", "erin")).status, 200);
  HttpClient client(server_.port());
  const HttpAnswer tally = client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally");
  EXPECT_EQ(tally.status, 200);
  EXPECT_EQ(number_of(tally.body, "total"), 1);
  EXPECT_GT(number_of(tally.body, "as_of_seq"), 0);
  EXPECT_EQ(tally.body.find(R"("id":"c03")"), tally.body.find(R"("id":)")) << "c03 ranks first";

  const HttpAnswer campaign = client.request("GET", "/v1/campaigns/ordos-2023-zuimei");
  EXPECT_EQ(campaign.status, 200);
  EXPECT_NE(campaign.body.find(R"("state":"open")"), std::string::npos) << campaign.body;
  const HttpAnswer list = client.request("GET", "/v1/campaigns");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(R"("state":"closed")"), std::string::npos) << list.body;
  EXPECT_EQ(client.request("GET", "/v1/campaigns/nope").status, 404);
  EXPECT_EQ(client.request("GET", "/v1/campaigns/nope/tally").status, 404);
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

TEST_F(TallydTest, HeadAnswersWithTheHeadersOfGetAndNoBody) {
  HttpClient client(server_.port());
  const std::string tally = std::string("/v1/campaigns/") + kDemo + "/tally";
  const HttpAnswer get = client.request("GET", tally);
  ASSERT_EQ(get.status, 200);
  // On one connection: a body sent after a HEAD answer would be read as the next answer.
  const HttpAnswer head = client.request("HEAD", tally);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.has_header("Content-Length: " + std::to_string(get.body.size())))
      << head.headers;
  EXPECT_TRUE(head.body.empty());
  const HttpAnswer stream = client.request("HEAD", tally + "/stream");
  EXPECT_EQ(stream.status, 200);
  EXPECT_TRUE(stream.has_header("Content-Type: text/event-stream")) << stream.headers;
  EXPECT_FALSE(stream.has_header("Content-Length")) << stream.headers;
  EXPECT_EQ(client.request("HEAD", "/healthz").status, 200);
  EXPECT_EQ(client.request("HEAD", "/v1/campaigns/nope/tally").status, 404);
  const HttpAnswer vote = client.request("HEAD", "/v1/votes");
  EXPECT_EQ(vote.status, 405);
  EXPECT_TRUE(vote.has_header("Allow: POST")) << vote.headers;
  const HttpAnswer other = client.request("DELETE", "/healthz");
  EXPECT_EQ(other.status, 405);
  EXPECT_TRUE(other.has_header("Allow: GET, HEAD")) << other.headers;
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);

  // Answered before the request is read (a body over the limit): still no body after a HEAD.
  HttpClient refused(server_.port());
  ASSERT_TRUE(
      refused.send_raw("HEAD /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  const HttpAnswer too_large = refused.read_answer(/*after_head=*/true);
  EXPECT_EQ(too_large.status, 413);
  EXPECT_TRUE(too_large.has_header("Connection: close")) << too_large.headers;
  EXPECT_EQ(refused.rest(), "");
}

TEST_F(TallydTest, PutCampaignCreatesUpdatesAndRefusesCountingChangesAfterVotes) {
  HttpClient client(server_.port());
  std::string definition = R"({"id":"put-test","title":"t","opens_at":"2000-01-01T00:00:00Z",)"
                           R"("closes_at":"2100-01-01T00:00:00Z","utc_offset":"Z",)"
                           R"("rules":{"period":"campaign","max_votes_per_candidate":1,)"
                           R"("max_candidates":1},"candidates":[{"id":"x","name":"X"}]})";
  EXPECT_EQ(
      client.request("PUT", "/v1/campaigns/put-test", definition, server_.ingest_token()).status,
      403);
  const HttpAnswer created =
      client.request("PUT", "/v1/campaigns/put-test", definition, server_.admin_token());
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(
      client.request("PUT", "/v1/campaigns/put-test", definition, server_.admin_token()).status,
      200);
  EXPECT_EQ(
      client.request("PUT", "/v1/campaigns/other-id", definition, server_.admin_token()).status,
      400);
  ASSERT_EQ(vote(ballot("x", "frank", "put-test")).status, 200);
  std::string more_candidates = definition;
  more_candidates.replace(more_candidates.find(R"({"id":"x","name":"X"})"), 21,
                          R"({"id":"x","name":"X"},{"id":"y","name":"Y"})");
  const HttpAnswer conflict =
      client.request("PUT", "/v1/campaigns/put-test", more_candidates, server_.admin_token());
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(status_of(conflict.body), "conflict");
  std::string closes_now = definition;
  closes_now.replace(closes_now.find("2100"), 4, "2001");
  const HttpAnswer updated =
      client.request("PUT", "/v1/campaigns/put-test", closes_now, server_.admin_token());
  EXPECT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(status_of(updated.body), "updated");
  EXPECT_EQ(vote(ballot("x", "gina", "put-test")).status, 403);
  expect_still_answers();
}

TEST_F(TallydTest, BatchAnswersEveryLineInOrder) {
  const std::string body = ballot("c01", "h1") + "\n" + ballot("c01", "h1") + "\n\n" +
                           "not json\n" + ballot("c99", "h2") + "\r\n" + ballot("c02", "h2");
  HttpClient client(server_.port());
  const HttpAnswer answer = client.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  ASSERT_EQ(answer.status, 200);
  std::vector<std::string> lines;
  std::istringstream in(answer.body);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << answer.body;
  EXPECT_EQ(status_of(lines[0]), "accepted");
  EXPECT_EQ(number_of(lines[0], "line"), 1);
  EXPECT_EQ(status_of(lines[1]), "duplicate");
  EXPECT_EQ(number_of(lines[1], "seq"), number_of(lines[0], "seq"));
  EXPECT_EQ(number_of(lines[1], "line"), 2);
  EXPECT_EQ(status_of(lines[2]), "invalid");
  EXPECT_EQ(number_of(lines[2], "line"), 4);
  EXPECT_EQ(status_of(lines[3]), "unknown_candidate");
  EXPECT_EQ(status_of(lines[4]), "accepted");
  EXPECT_EQ(number_of(lines[4], "line"), 6);
}

// The campaign's crowd as it really is: a batch of 10,000 ballots (the batch limit), each with
// a real user agent (WeChat on iPhones and on Android phones of several makers, WeChat for
// Windows and macOS, mini-programs, WeCom, and the scripts and headless browsers of the
// corpus), is accepted whole. Only the scripts' and headless browsers' ballots are flagged
// bot_ua; the stored events keep every agent byte for byte.
TEST_F(TallydTest, ATenThousandBallotBatchWithRealUserAgentsIsAcceptedWhole) {
  const auto samples = corpus::real_user_agents();
  constexpr int kBallots = 10'000;
  std::string body;
  int bots = 0;
  for (int i = 0; i < kBallots; ++i) {
    const corpus::UserAgentSample& sample = samples[static_cast<std::size_t>(i) % samples.size()];
    bots += corpus::is_honest(sample.kind) ? 0 : 1;
    std::string extra = R"(,"device":"dev-)" + std::to_string(i) + R"(","ip":"10.)" +
                        std::to_string(i / 250) + "." + std::to_string(i % 250) +
                        R"(.9","request_id":"crowd-)" + std::to_string(i) + R"(","ua":)";
    append_json_string(extra, sample.agent);
    char candidate[8];
    std::snprintf(candidate, sizeof candidate, "c%02d", i % 20 + 1);
    body += ballot(candidate, "crowd-" + std::to_string(i), kDemo, extra) + "\n";
  }
  HttpClient client(server_.port(), 60'000);
  const HttpAnswer answer = client.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  ASSERT_EQ(answer.status, 200) << answer.body.substr(0, 200);
  std::istringstream in(answer.body);
  int accepted = 0;
  long long first_seq = -1;
  for (std::string line; std::getline(in, line);) {
    EXPECT_EQ(status_of(line), "accepted") << line;
    accepted += status_of(line) == "accepted" ? 1 : 0;
    if (first_seq < 0) first_seq = number_of(line, "seq");
  }
  EXPECT_EQ(accepted, kBallots);
  const std::string tally =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/tally").body;
  EXPECT_EQ(number_of(tally, "total"), kBallots);
  const std::string fraud =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/fraud").body;
  EXPECT_EQ(number_of(fraud, "bot_ua"), bots) << fraud;
  // Every agent, the longest included, is stored as sent.
  for (std::size_t k = 0; k < samples.size(); ++k) {
    const HttpAnswer event = client.request("GET", "/v1/votes/" + std::to_string(first_seq + k), {},
                                            server_.admin_token());
    std::string expected = R"("ua":)";
    append_json_string(expected, samples[k].agent);
    EXPECT_NE(event.body.find(expected), std::string::npos) << samples[k].client;
    EXPECT_EQ(event.body.find("bot_ua") != std::string::npos, !corpus::is_honest(samples[k].kind))
        << samples[k].client << ": " << event.body;
  }
}

TEST_F(TallydTest, EveryBatchLineIsStoredWithItsOwnFields) {
  // Each stored event must carry the fields of its own line, whatever was parsed after it
  // (escaped strings are unescaped into the parser's buffer, which the next line reuses).
  std::string body;
  constexpr int kLines = 60;
  for (int i = 0; i < kLines; ++i) {
    const std::string candidate =
        "c" + std::string(i % 20 < 9 ? "0" : "") + std::to_string(i % 20 + 1);
    body += ballot(candidate, "stored-\\u00e9-" + std::to_string(i), kDemo,
                   R"(,"device":"dev-)" + std::to_string(i) + R"(","request_id":"req-)" +
                       std::to_string(i) + "\"") +
            "\n";
  }
  HttpClient client(server_.port());
  const HttpAnswer answer = client.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  ASSERT_EQ(answer.status, 200);
  std::istringstream in(answer.body);
  int i = 0;
  for (std::string line; std::getline(in, line); ++i) {
    ASSERT_EQ(status_of(line), "accepted") << line;
    const HttpAnswer event = client.request(
        "GET", "/v1/votes/" + std::to_string(number_of(line, "seq")), {}, server_.admin_token());
    ASSERT_EQ(event.status, 200);
    const std::string candidate =
        "c" + std::string(i % 20 < 9 ? "0" : "") + std::to_string(i % 20 + 1);
    EXPECT_NE(event.body.find("\"voter\":\"stored-\xC3\xA9-" + std::to_string(i) + "\""),
              std::string::npos)
        << event.body;
    EXPECT_NE(event.body.find(R"("candidate":")" + candidate + "\""), std::string::npos)
        << event.body;
    EXPECT_NE(event.body.find(R"("device":"dev-)" + std::to_string(i) + "\""), std::string::npos)
        << event.body;
  }
  EXPECT_EQ(i, kLines);
}

TEST_F(TallydTest, SameShapedBatchLinesAreEachJudgedAsThemselves) {
  // Lines of one shape (equal field lengths, escapes unescaped into the parser's reused
  // buffer) have views that look alike; each must still be judged by its own fields, with
  // failing lines and repeats in between. The model: a repeat of a counted (voter, candidate)
  // is a duplicate carrying the first seq; everything else is accepted.
  std::vector<std::string> lines;
  std::vector<std::string> keys;  // voter|candidate per line, empty for the invalid ones
  for (int i = 0; i < 80; ++i) {
    const std::string voter = "same-\\u00e9-" + std::to_string(100 + i % 10);
    const std::string candidate = "c" + std::to_string(10 + i % 4);
    lines.push_back(ballot(candidate, voter));
    keys.push_back(voter + "|" + candidate);
    if (i % 9 == 4) {
      lines.push_back(std::string(R"({"campaign":")") + kDemo + R"(","candidate":"c10","voter":)");
      keys.emplace_back();
    }
  }
  std::string body;
  for (const std::string& line : lines) body += line + "\n";
  HttpClient client(server_.port());
  const HttpAnswer answer = client.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  ASSERT_EQ(answer.status, 200);
  std::istringstream in(answer.body);
  std::map<std::string, long long> counted;  // key -> seq
  std::size_t at = 0;
  int accepted = 0, duplicates = 0;
  for (std::string line; std::getline(in, line); ++at) {
    ASSERT_LT(at, keys.size());
    if (keys[at].empty()) {
      EXPECT_EQ(status_of(line), "invalid") << at << ": " << line;
      continue;
    }
    const auto seen = counted.find(keys[at]);
    if (seen == counted.end()) {
      ASSERT_EQ(status_of(line), "accepted") << at << ": " << line;
      counted[keys[at]] = number_of(line, "seq");
      ++accepted;
    } else {
      ASSERT_EQ(status_of(line), "duplicate") << at << ": " << line;
      EXPECT_EQ(number_of(line, "seq"), seen->second) << at;
      ++duplicates;
    }
  }
  EXPECT_EQ(at, keys.size());
  EXPECT_GT(accepted, 0);
  EXPECT_GT(duplicates, 0);
  expect_still_answers();
}

TEST_F(TallydTest, BatchOverTheLineLimitIsRefusedWholeAndCountsNothing) {
  std::string body;
  for (int i = 0; i < 10'001; ++i) body += ballot("c05", "bulk-" + std::to_string(i)) + "\n";
  HttpClient client(server_.port());
  const HttpAnswer answer = client.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(status_of(answer.body), "too_large");
  const HttpAnswer tally = client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally");
  EXPECT_EQ(number_of(tally.body, "total"), 0);
  expect_still_answers();
}

// Property: 16 clients posting the same ballots at once get exactly one `accepted` per
// ballot, and every other answer is `duplicate` carrying the winner's seq.
TEST_F(TallydTest, SixteenClientsRacingTheSameBallotsHaveOneWinnerEach) {
  constexpr int kClients = 16;
  constexpr int kBallots = 40;
  std::mutex mutex;
  std::map<int, std::vector<std::pair<std::string, long long>>> answers;
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client(server_.port());
      ++ready;
      while (ready.load() < kClients) std::this_thread::yield();
      for (int b = 0; b < kBallots; ++b) {
        const int index = (b + c) % kBallots;
        char candidate[8];
        std::snprintf(candidate, sizeof candidate, "c%02d", index % 10 + 1);
        const HttpAnswer answer = client.request(
            "POST", "/v1/votes", ballot(candidate, "racer-" + std::to_string(index / 10)),
            server_.ingest_token());
        std::lock_guard lock(mutex);
        answers[index].emplace_back(status_of(answer.body), number_of(answer.body, "seq"));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& [index, results] : answers) {
    ASSERT_EQ(results.size(), static_cast<std::size_t>(kClients));
    int winners = 0;
    long long winner_seq = -1;
    for (const auto& [status, seq] : results) {
      if (status == "accepted") {
        ++winners;
        winner_seq = seq;
      }
    }
    EXPECT_EQ(winners, 1) << "ballot " << index;
    for (const auto& [status, seq] : results) {
      if (status == "accepted") continue;
      EXPECT_EQ(status, "duplicate") << "ballot " << index;
      EXPECT_EQ(seq, winner_seq) << "ballot " << index;
    }
  }
  expect_still_answers();
}

TEST_F(TallydTest, JunkBytesGetAnErrorAndTheServerGoesOn) {
  HttpClient client(server_.port());
  ASSERT_TRUE(client.send_raw(std::string("\x00\x01\x02garbage\xff\xfe\r\n\r\n", 17)));
  const HttpAnswer answer = client.read_answer();
  EXPECT_EQ(answer.status, 400);
  EXPECT_TRUE(client.closed_by_peer());
  expect_still_answers();
}

TEST_F(TallydTest, TlsClientHelloGetsAnErrorAndTheServerGoesOn) {
  // The start of a TLS 1.2 ClientHello record.
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03,
                                 0x03, 0x5e, 0x1f, 0x0b, 0x8a, 0x00, 0x00, 0x20, 0xc0, 0x2b,
                                 0xc0, 0x2f, 0x00, 0x9e, 0xcc, 0xa9, 0xcc, 0xa8, 0x0d, 0x0a};
  HttpClient client(server_.port());
  ASSERT_TRUE(client.send_raw(std::string(reinterpret_cast<const char*>(hello), sizeof hello)));
  const HttpAnswer answer = client.read_answer();
  EXPECT_EQ(answer.status, 400);
  expect_still_answers();
}

TEST_F(TallydTest, SeventyKilobyteRequestLineGets431) {
  HttpClient client(server_.port());
  const HttpAnswer answer = client.request("GET", "/v1/campaigns/" + std::string(70'000, 'a'));
  EXPECT_EQ(answer.status, 431);
  EXPECT_EQ(status_of(answer.body), "too_large");
  expect_still_answers();
}

TEST_F(TallydTest, HalfSentRequestDoesNotBlockOthers) {
  HttpClient half(server_.port());
  ASSERT_TRUE(
      half.send_raw("POST /v1/votes HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"cam"));
  HttpClient half_header(server_.port());
  ASSERT_TRUE(half_header.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  expect_still_answers();
  EXPECT_EQ(vote(ballot("c04", "ivan")).status, 200);
  half.shutdown_write();
  EXPECT_TRUE(half.closed_by_peer());
  expect_still_answers();
}

TEST_F(TallydTest, NineMebibyteBodyGets413) {
  HttpClient client(server_.port(), 30'000);
  const std::string body(9 * 1024 * 1024, 'x');
  const HttpAnswer single = client.request("POST", "/v1/votes", body, server_.ingest_token());
  EXPECT_EQ(single.status, 413);
  EXPECT_EQ(status_of(single.body), "too_large");
  HttpClient batch(server_.port(), 30'000);
  const HttpAnswer batched = batch.request("POST", "/v1/votes:batch", body, server_.ingest_token());
  EXPECT_EQ(batched.status, 413);
  HttpClient over_single(server_.port(), 30'000);
  const HttpAnswer seventy_kb =
      over_single.request("POST", "/v1/votes", std::string(70'000, ' '), server_.ingest_token());
  EXPECT_EQ(seventy_kb.status, 413);
  expect_still_answers();
}

TEST_F(TallydTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpClient client(server_.port());
  std::string requests;
  constexpr int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    if (i % 4 == 3) {
      requests += HttpClient::format("GET", "/healthz", {}, {});
    } else {
      requests += HttpClient::format(
          "POST", "/v1/votes", ballot("c07", "pipe-" + std::to_string(i)), server_.ingest_token());
    }
  }
  ASSERT_TRUE(client.send_raw(requests));
  long long last_seq = 0;
  for (int i = 0; i < kRequests; ++i) {
    const HttpAnswer answer = client.read_answer();
    ASSERT_EQ(answer.status, 200) << "answer " << i;
    if (i % 4 == 3) {
      EXPECT_EQ(status_of(answer.body), "ok");
    } else {
      EXPECT_EQ(status_of(answer.body), "accepted");
      const long long seq = number_of(answer.body, "seq");
      EXPECT_GT(seq, 0);
      last_seq = std::max(last_seq, seq);
    }
  }
  EXPECT_GT(last_seq, 0);
  expect_still_answers();
}

TEST_F(TallydTest, Http10ClientsKeepTheConnectionOnlyWhenTheyAskAndAreToldSo) {
  // ApacheBench's -k, for one, speaks HTTP/1.0 and reuses a connection only when the answer
  // says keep-alive.
  HttpClient kept(server_.port());
  for (int i = 0; i < 2; ++i) {
    std::string request =
        HttpClient::format("POST", "/v1/votes", ballot("c08", "old-" + std::to_string(i)),
                           server_.ingest_token(), "Connection: keep-alive\r\n");
    request.replace(request.find("HTTP/1.1"), 8, "HTTP/1.0");
    ASSERT_TRUE(kept.send_raw(request));
    const HttpAnswer answer = kept.read_answer();
    ASSERT_EQ(answer.status, 200) << i;
    EXPECT_EQ(status_of(answer.body), "accepted");
    EXPECT_TRUE(answer.has_header("Connection: keep-alive")) << answer.headers;
  }
  HttpClient once(server_.port());
  ASSERT_TRUE(once.send_raw("GET /healthz HTTP/1.0\r\n\r\n"));
  const HttpAnswer answer = once.read_answer();
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(answer.has_header("Connection: close")) << answer.headers;
  EXPECT_TRUE(once.closed_by_peer());
}

TEST_F(TallydTest, SigtermExitsZeroAndAcceptedVotesSurviveARestart) {
  const HttpAnswer accepted = vote(ballot("c09", "judy"));
  ASSERT_EQ(accepted.status, 200);
  const long long seq = number_of(accepted.body, "seq");
  EXPECT_EQ(server_.stop(SIGTERM), 0);
  ASSERT_TRUE(server_.start({"--demo"})) << server_.log();
  const HttpAnswer again = vote(ballot("c09", "judy"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(number_of(again.body, "seq"), seq);
  HttpClient client(server_.port());
  const HttpAnswer tally = client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally");
  EXPECT_EQ(number_of(tally.body, "total"), 1);
}

TEST(TallydLimits, IdleAndSlowBodyConnectionsAreClosedOnTime) {
  constexpr auto kTimeout = std::chrono::milliseconds(400);
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--idle-timeout-ms", "400", "--body-timeout-ms", "400"}))
      << server.log();
  // Timed from before sending: the server starts its clock only once it has read the request,
  // so no delay of either side can make the close look early. The close must come within the
  // 5 s receive timeout; a tighter upper bound would depend on scheduling.
  using Clock = std::chrono::steady_clock;
  // Idle between requests: closed after the idle timeout, not before.
  HttpClient idle(server.port(), 5'000);
  const auto idle_since = Clock::now();
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200);
  ASSERT_TRUE(idle.closed_by_peer());
  EXPECT_GE(Clock::now() - idle_since, kTimeout);
  // A body that stops half way: closed after the body timeout, unanswered.
  HttpClient slow(server.port(), 5'000);
  const auto slow_since = Clock::now();
  ASSERT_TRUE(slow.send_raw("POST /v1/votes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                            server.ingest_token() + "\r\nContent-Length: 100\r\n\r\n{\"camp"));
  EXPECT_EQ(slow.read_answer().status, 0);
  EXPECT_GE(Clock::now() - slow_since, kTimeout);
  // A busy connection is not cut off: requests spaced below the idle timeout keep it open
  // past it. Pauses of an eighth of the timeout leave a wide margin for a slow machine; the
  // connection's life, not a count of requests, must exceed twice the timeout.
  HttpClient busy(server.port(), 5'000);
  const auto busy_since = Clock::now();
  for (int i = 0; Clock::now() - busy_since < 2 * kTimeout; ++i) {
    ASSERT_EQ(busy.request("GET", "/healthz").status, 200) << "request " << i;
    std::this_thread::sleep_for(kTimeout / 8);
  }
  EXPECT_EQ(busy.request("GET", "/healthz").status, 200);
}

TEST_F(TallydTest, ThreadsCarryTheirRolesAsNames) {
  std::set<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(server_.pid()) + "/task")) {
    std::string name = read_text(task.path() / "comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    names.insert(name);
  }
  EXPECT_TRUE(names.contains("tally-io-0")) << ::testing::PrintToString(names);
  EXPECT_TRUE(names.contains("tally-io-1")) << ::testing::PrintToString(names);
  EXPECT_TRUE(names.contains("tally-writer")) << ::testing::PrintToString(names);
}

TEST(TallydLimits, ConnectionsOverTheLimitsGet503Or429WithRetryAfter) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--max-connections", "3", "--header-timeout-ms", "300"}))
      << server.log();
  HttpClient first(server.port());
  HttpClient second(server.port());
  ASSERT_EQ(first.request("GET", "/healthz").status, 200);
  ASSERT_EQ(second.request("GET", "/healthz").status, 200);
  HttpClient third(server.port());
  ASSERT_EQ(third.request("GET", "/healthz").status, 200);
  {
    HttpClient fourth(server.port());
    const HttpAnswer refused = fourth.read_answer();
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(status_of(refused.body), "overloaded");
    EXPECT_TRUE(refused.has_header("Retry-After: 1"));
  }

  // A client that never finishes its headers is cut off by the header timeout, unanswered.
  third.shutdown_write();
  ASSERT_TRUE(third.closed_by_peer());
  // The server counts a closed connection out a moment after the client sees it closed, and
  // refuses new ones at accept until then: a refused attempt is tried again.
  HttpAnswer cut;
  std::chrono::steady_clock::duration lasted{};
  ASSERT_TRUE(wait_until(
      [&] {
        HttpClient slowloris(server.port(), 5'000);
        const auto since = std::chrono::steady_clock::now();
        if (!slowloris.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n")) return false;
        cut = slowloris.read_answer();
        lasted = std::chrono::steady_clock::now() - since;
        return !(cut.status == 503 && status_of(cut.body) == "overloaded");
      },
      std::chrono::seconds(10), "a fourth connection is admitted"));
  EXPECT_EQ(cut.status, 0) << cut.headers << cut.body;
  // A lower bound only: the header clock starts once the server has read the first bytes.
  EXPECT_GE(lasted, std::chrono::milliseconds(300));
  EXPECT_EQ(first.request("GET", "/healthz").status, 200);
}

TEST(TallydLimits, ConnectionsOverThePerPeerLimitGet429) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--max-connections-per-peer", "1"})) << server.log();
  HttpClient first(server.port());
  ASSERT_EQ(first.request("GET", "/healthz").status, 200);
  HttpClient second(server.port());
  const HttpAnswer refused = second.read_answer();
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(status_of(refused.body), "rate_limited");
  EXPECT_TRUE(refused.has_header("Retry-After: 1"));
  EXPECT_EQ(first.request("GET", "/healthz").status, 200);
}

TEST(TallydLimits, LargeBodiesOverTheInflightBudgetGet503) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--max-inflight-body-bytes", "100000"})) << server.log();
  HttpClient reader(server.port());
  // Headers announce 90,000 bytes, of which only some arrive: the budget stays taken. The
  // server takes it when it has read the headers, before it says 100 Continue.
  ASSERT_TRUE(
      reader.send_raw("POST /v1/votes:batch HTTP/1.1\r\nHost: x\r\nContent-Length: 90000\r\n"
                      "Expect: 100-continue\r\n\r\n{"));
  ASSERT_EQ(reader.read_any_answer().status, 100);
  HttpClient second(server.port());
  const HttpAnswer refused =
      second.request("POST", "/v1/votes:batch", std::string(20'000, '\n'), server.ingest_token());
  EXPECT_EQ(refused.status, 503);
  EXPECT_TRUE(refused.has_header("Retry-After: 1"));
  // The server gives the budget back as it reads the end of the cut-short body, before it
  // answers and closes: the close says the budget is free.
  reader.shutdown_write();
  ASSERT_TRUE(reader.closed_by_peer());
  HttpClient third(server.port());
  const HttpAnswer batch = third.request("POST", "/v1/votes:batch", ballot("c01", "budget") + "\n",
                                         server.ingest_token());
  EXPECT_EQ(batch.status, 200) << batch.body;
}

TEST(TallydProtectReads, ReadsNeedATokenWhenProtected) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--protect-reads"})) << server.log();
  HttpClient client(server.port());
  EXPECT_EQ(client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally").status, 401);
  EXPECT_EQ(
      client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally", {}, server.ingest_token())
          .status,
      200);
  for (const char* read :
       {"/v1/campaigns", "/metrics", "/healthz", "/v1/campaigns/ordos-2023-zuimei/tally/stream"}) {
    EXPECT_EQ(client.request("HEAD", read).status, 401) << read;
  }
  // The generated read token (for a dashboard, a committee member) reads, and cannot vote.
  ASSERT_FALSE(server.read_token().empty());
  EXPECT_EQ(client.request("GET", "/v1/campaigns/ordos-2023-zuimei/tally", {}, server.read_token())
                .status,
            200);
  EXPECT_EQ(client.request("GET", "/metrics", {}, server.read_token()).status, 200);
  const HttpAnswer vote =
      client.request("POST", "/v1/votes", ballot("c01", "a-reader"), server.read_token());
  EXPECT_EQ(vote.status, 403) << vote.body;
  EXPECT_NE(vote.body.find("a read token cannot vote"), std::string::npos) << vote.body;
  // The dashboard's files hold no data, and a browser cannot send a token for a page: they
  // stay public, and the page asks for a token for its reads.
  for (const char* file : {"/", "/web/app.js", "/web/style.css"}) {
    EXPECT_EQ(client.request("GET", file).status, 200) << file;
  }
}

// The public log's keys are made once, at the first start, and kept: a log whose keys went
// missing does not get new ones (they would make another log of it, with other tags), and
// starts again once they are put back.
TEST(TallydLogKeys, ALogThatLostItsKeysGetsNoNewOnes) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  HttpClient client(server.port());
  const HttpAnswer key = client.request("GET", "/v1/log/key");
  ASSERT_EQ(key.status, 200);
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c01", "keys-1"), server.ingest_token()).status,
      200);
  EXPECT_EQ(server.stop(SIGTERM), 0);
  const auto keys = server.data_dir() / "log-keys";
  const auto aside = server.dir() / "keys-aside";
  std::filesystem::rename(keys, aside);
  const RunResult refused = run_program(
      "tallyd", "--data-dir " + server.data_dir().string() + " --listen 127.0.0.1:0 --demo");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("holds none, but this log's public tree was made under log id"),
            std::string::npos)
      << refused.output;
  EXPECT_FALSE(std::filesystem::exists(keys / "signing-key.pem"));
  std::filesystem::remove_all(keys);
  std::filesystem::rename(aside, keys);
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  HttpClient again(server.port());
  EXPECT_EQ(again.request("GET", "/v1/log/key").body, key.body);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TallydDataAtRest, TheDataDirIsItsUsersAloneWhateverTheUmask) {
  TallydProcess server;
  // A data dir left open by hand, and a caller whose umask lets everyone read new files.
  std::filesystem::create_directories(server.data_dir());
  std::filesystem::permissions(server.data_dir(), std::filesystem::perms(0755),
                               std::filesystem::perm_options::replace);
  const mode_t callers = ::umask(022);  // the child inherits it
  const bool started = server.start({"--demo"});
  ::umask(callers);
  ASSERT_TRUE(started) << server.log();
  HttpClient client(server.port());
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c01", "at-rest"), server.ingest_token()).status,
      200);
  EXPECT_NE(server.log().find("was open to other users (mode 755): now 0700"), std::string::npos)
      << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0);
  EXPECT_EQ(mode_of(server.data_dir()), 0700U);
  const ModeScan scan = scan_modes(server.data_dir());
  EXPECT_GT(scan.entries, 5U) << "RocksDB's files and tokens.json";
  EXPECT_EQ(scan.open_to_others, std::vector<std::string>{});
}

// The datagrams a service manager's notification socket (systemd's NOTIFY_SOCKET) received
// within `limit`, until one contains `until`.
std::vector<std::string> notifications(int socket_fd, const std::string& until,
                                       std::chrono::seconds limit) {
  std::vector<std::string> messages;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd ready{socket_fd, POLLIN, 0};
    if (::poll(&ready, 1, 100) != 1) continue;
    char buffer[4096];
    const ssize_t n = ::recv(socket_fd, buffer, sizeof(buffer), 0);
    if (n <= 0) continue;
    messages.emplace_back(buffer, static_cast<std::size_t>(n));
    if (messages.back().find(until) != std::string::npos) break;
  }
  return messages;
}

TEST(TallydServiceManager, IsToldWhenTallydRecoversServesAndStops) {
  TallydProcess server;
  // A notification socket, as systemd gives a Type=notify service.
  const std::string path = (server.dir() / "notify.sock").string();
  const int socket_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(socket_fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(socket_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);  // the child inherits it
  const bool started = server.start({"--demo"});
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(started) << server.log();

  const std::vector<std::string> start =
      notifications(socket_fd, "READY=1", std::chrono::seconds(10));
  ASSERT_FALSE(start.empty());
  EXPECT_EQ(start.front().rfind("STATUS=recovering the engine from the log in ", 0), 0u)
      << start.front();
  EXPECT_EQ(start.back(), "READY=1\nSTATUS=serving on http://127.0.0.1:" +
                              std::to_string(server.port()) + " as of seq 1");

  EXPECT_EQ(server.stop(SIGTERM), 0);
  const std::vector<std::string> stop =
      notifications(socket_fd, "STOPPING=1", std::chrono::seconds(10));
  ASSERT_FALSE(stop.empty());
  EXPECT_EQ(stop.back(), "STOPPING=1\nSTATUS=draining the votes in flight");
  ::close(socket_fd);
}

TEST(TallydTokens, GivenTokensFileIsUsedAndReloadedOnSighup) {
  TallydProcess server;
  const auto tokens_path = server.dir() / "tokens.json";
  write_text(tokens_path,
             R"({"ingest":["first-ingest-token-0001"],"admin":["first-admin-token-0001"]})");
  ASSERT_TRUE(server.start({"--demo", "--tokens", tokens_path.string()})) << server.log();
  HttpClient client(server.port());
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c01", "k1"), "first-ingest-token-0001").status,
      200);
  write_text(tokens_path, R"({"ingest":["second-ingest-token-02"],"admin":[]})");
  server.send_signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return server.log().find("tokens reloaded") != std::string::npos; },
                         std::chrono::seconds(10), "the log says the tokens were reloaded"))
      << server.log();
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c02", "k1"), "first-ingest-token-0001").status,
      401);
  EXPECT_EQ(
      client.request("POST", "/v1/votes", ballot("c02", "k1"), "second-ingest-token-02").status,
      200);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

// A node started while every NATS server of its group is down waits for them in the
// background: it serves (reads; writes get 503 until it is primary) and stops on SIGTERM, as
// systemd expects, rather than hanging in the client's connect.
TEST(TallydReplicaGroup, ServesAndStopsWhileItsNatsServersAreDown) {
  // A port nothing listens on: bound, then closed.
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(probe);
  const std::string nats = "nats://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  TallydProcess server;
  // A replica group's node is given the shard's log keys; without them it does not start.
  EXPECT_EQ(run_program("tallyd", "--data-dir " + server.data_dir().string() +
                                      " --listen 127.0.0.1:0 "
                                      "--cluster " +
                                      nats + " --node lonely")
                .exit_code,
            2);
  const std::string keys = (server.dir() / "shard-keys").string();
  ASSERT_EQ(run_tallyctl("log-keys new --out " + keys).exit_code, 0);
  ASSERT_TRUE(server.start({"--cluster", nats, "--node", "lonely", "--log-keys", keys}))
      << server.log();
  HttpClient client(server.port());
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
  EXPECT_EQ(client.request("GET", "/readyz").status, 503);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

// What the operator does after losing the data dir: the backup put in its place. The same
// tokens answer, every accepted vote is still there with its seq, and the log verifies.
TEST(TallydRestore, ABackupInTheDataDirsPlaceServesWithTheSameTokensAndVotes) {
  TempDir backups;
  const std::string backup = backups.sub("copy");
  std::string accepted_body;
  {
    TallydProcess server;
    ASSERT_TRUE(server.start({"--demo"})) << server.log();
    HttpClient client(server.port());
    const auto answer =
        client.request("POST", "/v1/votes", ballot("c03", "restore-voter"), server.ingest_token());
    ASSERT_EQ(answer.status, 200) << answer.body;
    accepted_body = answer.body;
    const RunResult copy =
        run_tallyctl("backup --data-dir " + server.data_dir().string() + " --to " + backup);
    ASSERT_EQ(copy.exit_code, 0) << copy.output;
    EXPECT_EQ(read_text(std::filesystem::path(backup) / "tokens.json"),
              read_text(server.data_dir() / "tokens.json"));
    ASSERT_EQ(server.stop(SIGTERM), 0);

    TallydProcess restored;
    ASSERT_TRUE(restored.start_with_only(
        {"--data-dir", backup, "--listen", "127.0.0.1:0", "--io-threads", "2"}))
        << restored.log();
    HttpClient again(restored.port());
    const auto duplicate =
        again.request("POST", "/v1/votes", ballot("c03", "restore-voter"), server.ingest_token());
    EXPECT_EQ(duplicate.status, 409) << duplicate.body;
    const auto seq = accepted_body.substr(accepted_body.find("\"seq\":"));
    EXPECT_NE(duplicate.body.find(seq.substr(0, seq.find_first_of(",}"))), std::string::npos)
        << accepted_body << " then " << duplicate.body;
    EXPECT_EQ(restored.stop(SIGTERM), 0);
  }
  const RunResult verify = run_tallyctl("verify --data-dir " + backup);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

}  // namespace
}  // namespace tally::testing
