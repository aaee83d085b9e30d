// Fraud signals end to end, with the real tallyd and default thresholds: a vote farm (many
// accounts, one address, one user agent, one candidate) and a phone with dozens of accounts
// are flagged; an honest office crowd behind one NAT address (own phones, varied WeChat user
// agents, several candidates) is not. /fraud lists the farm's address first, the tally counts
// the farm's votes as suspect, and /metrics breaks suspect votes down by reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kCampaign = "ordos-2023-zuimei";

std::string ballot(const std::string& voter, const std::string& candidate,
                   const std::string& device, const std::string& ip, const std::string& ua) {
  return std::string("{\"campaign\":\"") + kCampaign + "\",\"candidate\":\"" + candidate +
         "\",\"voter\":\"" + voter + "\",\"device\":\"" + device + "\",\"ip\":\"" + ip +
         "\",\"ua\":\"" + ua + "\"}";
}

std::string wechat_ua(int n) {
  static const char* phones[] = {"iPhone; CPU iPhone OS 16_3 like Mac OS X",
                                 "Linux; Android 13; V2203A", "Linux; Android 12; PGT-AN10",
                                 "Linux; Android 13; 22081212C", "iPhone; CPU iPhone OS 15_7"};
  return std::string("Mozilla/5.0 (") + phones[n % 5] +
         ") AppleWebKit/537.36 (KHTML, like Gecko) Mobile MicroMessenger/8.0." +
         std::to_string(30 + n % 7) + " NetType/WIFI Language/zh_CN";
}

std::uint64_t suspect_of(const std::string& tally, const std::string& candidate) {
  const std::size_t at = tally.find("\"id\":\"" + candidate + "\"");
  const std::size_t suspect = tally.find("\"suspect\":", at);
  return std::strtoull(tally.c_str() + suspect + 10, nullptr, 10);
}

TEST(FraudEndToEnd, FarmAndSharedPhoneAreFlaggedHonestOfficeIsNot) {
  TallydProcess tallyd;
  ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();
  HttpClient client(tallyd.port());
  auto post = [&](const std::string& body) {
    const HttpAnswer answer = client.request("POST", "/v1/votes", body, tallyd.ingest_token());
    ASSERT_EQ(answer.status, 200) << answer.body;
  };
  std::vector<std::string> ballots;
  // The honest office: 250 colleagues behind one address, each on their own phone.
  for (int i = 0; i < 250; ++i) {
    ballots.push_back(ballot("office-" + std::to_string(i), "c0" + std::to_string(1 + i % 4),
                             "phone-office-" + std::to_string(i), "203.0.113.7", wechat_ua(i)));
  }
  // The farm: 400 accounts on one address, a handful of emulators, one user agent, one
  // candidate.
  const std::string farm_ua =
      "Mozilla/5.0 (Linux; Android 9; SM-G960N) AppleWebKit/537.36 MicroMessenger/8.0.1";
  for (int i = 0; i < 400; ++i) {
    ballots.push_back(ballot("farm-" + std::to_string(i), "c09", "emu-" + std::to_string(i % 3),
                             "198.51.100.23", farm_ua));
  }
  // One phone, 30 accounts, each from its own mobile address.
  for (int i = 0; i < 30; ++i) {
    ballots.push_back(ballot("phone-acct-" + std::to_string(i), "c12", "one-phone",
                             "100.64.0." + std::to_string(10 + i), wechat_ua(i)));
  }
  // People arrive at irregular moments. Posted in a plain loop, every fourth office vote for
  // the same candidate from the same address would come at clockwork intervals, which the
  // regular-interval rule rightly flags as a machine; mixed, the gaps are as uneven as a
  // crowd's. The seed is fixed so that a failure can be replayed (with the same standard
  // library: std::shuffle's order is its own).
  std::mt19937 order(20231105);
  std::shuffle(ballots.begin(), ballots.end(), order);
  for (const std::string& body : ballots) post(body);

  const HttpAnswer fraud =
      client.request("GET", std::string("/v1/campaigns/") + kCampaign + "/fraud");
  ASSERT_EQ(fraud.status, 200) << fraud.body;
  const std::size_t top_ips = fraud.body.find("\"top_ips\":[");
  ASSERT_NE(top_ips, std::string::npos) << fraud.body;
  EXPECT_EQ(fraud.body.find("\"key\":\"198.51.100.23\"", top_ips),
            fraud.body.find("\"key\":", top_ips))
      << "the farm's address is not first: " << fraud.body;
  EXPECT_EQ(fraud.body.find("\"ip_flood\":0"), std::string::npos) << fraud.body;
  EXPECT_EQ(fraud.body.find("\"device_multi_account\":0"), std::string::npos) << fraud.body;

  const HttpAnswer tally =
      client.request("GET", std::string("/v1/campaigns/") + kCampaign + "/tally");
  ASSERT_EQ(tally.status, 200);
  EXPECT_GT(suspect_of(tally.body, "c09"), 300u) << tally.body;  // the farm, past its first votes
  EXPECT_GT(suspect_of(tally.body, "c12"), 20u) << tally.body;   // the shared phone
  for (const char* honest : {"c01", "c02", "c03", "c04"}) {
    EXPECT_EQ(suspect_of(tally.body, honest), 0u) << honest << ": " << tally.body;
  }

  const HttpAnswer metrics = client.request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tally_suspect_votes_total{campaign=\"ordos-2023-zuimei\","
                              "candidate=\"c09\",reason=\"ip_flood\"}"),
            std::string::npos);

  // Recovery rebuilds the fraud view from the log: the same report after a restart.
  ASSERT_EQ(tallyd.stop(SIGTERM), 0);
  ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();
  HttpClient after(tallyd.port());
  const HttpAnswer recovered =
      after.request("GET", std::string("/v1/campaigns/") + kCampaign + "/fraud");
  ASSERT_EQ(recovered.status, 200);
  const std::size_t recovered_ips = recovered.body.find("\"top_ips\":[");
  EXPECT_EQ(recovered.body.find("\"key\":\"198.51.100.23\"", recovered_ips),
            recovered.body.find("\"key\":", recovered_ips))
      << recovered.body;
  const auto flags_of = [](const std::string& doc) {
    const std::size_t at = doc.find("\"flags\":{");
    return doc.substr(at, doc.find('}', at) - at);
  };
  EXPECT_EQ(flags_of(recovered.body), flags_of(fraud.body));
}

}  // namespace
}  // namespace tally::testing
