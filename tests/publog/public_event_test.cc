// The public form: the worked example of docs/EVENT_FORMAT.md "Worked example" (its values
// computed with Python's hmac and hashlib, as an outsider would), tags against the openssl
// command's HMAC, and the canonical JSON a verifier re-writes lines with.
#include "tally/publog/public_event.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "tally/publog/merkle.h"

namespace tally::publog {
namespace {

TagSecret example_secret() {
  std::array<std::uint8_t, kTagKeyBytes> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return TagSecret(bytes);
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[256];
  while (pipe != nullptr && fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  if (pipe != nullptr) pclose(pipe);
  return out;
}

TEST(PublicForm, TheWorkedExampleOfTheDocument) {
  const TagKey key = example_secret().campaign_key("ordos-2023-zuimei");
  EXPECT_EQ(key.hex(), "66addd978b0fcc8c8ce8d88b7fed6f69887e56b7291d0f6a4361086f30a7ba86");
  engine::Ballot ballot;
  ballot.campaign = "ordos-2023-zuimei";
  ballot.candidate = "c07";
  ballot.voter = "oKx3s5Qm1WcZ";
  ballot.device = "dev-8f2a";
  ballot.ip = "223.104.3.17";
  ballot.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) MicroMessenger/8.0.33";
  ballot.ts_ms = 1680054000000;
  ballot.request_id = "req-1";
  std::string form;
  append_public_vote(form, key, ballot, 1680054000123, 19445,
                     engine::flag_of(engine::FraudReason::ip_flood));
  EXPECT_EQ(
      form,
      R"({"kind":"vote","campaign":"ordos-2023-zuimei","candidate":"c07",)"
      R"("voter":"9005c99406f6874ab689093c9b06b1e2","device":"2402f998bf9546ba81897b13be19642c",)"
      R"("ip":"a64ed53287f38f6f9e258a4304f9243f",)"
      R"("ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) MicroMessenger/8.0.33",)"
      R"("ts":1680054000000,"request_id":"5898c7c82fd541529b2c19b49fb7c3e5",)"
      R"("server_ms":1680054000123,"period":19445,"flags":["ip_flood"]})");
  EXPECT_EQ(to_hex(leaf_hash(form)),
            "734b55e6b90a0a0f11771cc4c88f13a1aff40d0e4db6ad3276aef7b483b4e0f0");
}

TEST(PublicForm, TagsAreTheOpensslCommandsHmac) {
  const TagKey key = example_secret().campaign_key("c");
  const std::string mac = run(
      "printf '%s' '10.0.0.1' | openssl mac -digest SHA256 -macopt hexkey:" + key.hex() + " HMAC");
  ASSERT_GE(mac.size(), 32u);
  std::string lower;
  for (char c : mac.substr(0, 32)) lower.push_back(static_cast<char>(std::tolower(c)));
  EXPECT_EQ(key.tag("10.0.0.1"), lower);
  // One key per campaign: the same voter gets another tag elsewhere.
  EXPECT_NE(example_secret().campaign_key("d").tag("10.0.0.1"), key.tag("10.0.0.1"));
  const TagKeyring keyring(example_secret());
  EXPECT_EQ(keyring.key("c").hex(), key.hex());
  EXPECT_EQ(keyring.key("d").hex(), example_secret().campaign_key("d").hex());
  EXPECT_EQ(keyring.key("c").hex(), key.hex());
}

TEST(PublicForm, AbsentFieldsAreLeftOutAndFlagsAlwaysThere) {
  const TagKey key = example_secret().campaign_key("o");
  engine::Ballot ballot;
  ballot.campaign = "o";
  ballot.candidate = "c\"1";
  ballot.voter = "v";
  std::string form;
  append_public_vote(form, key, ballot, -5, 0, engine::FraudFlags{1} << 9 | 1);
  EXPECT_EQ(form, R"({"kind":"vote","campaign":"o","candidate":"c\"1","voter":")" + key.tag("v") +
                      R"(","server_ms":-5,"period":0,"flags":["ip_flood","bit9"]})");
  std::string campaign;
  append_public_campaign(campaign, R"({"id":"o"})");
  EXPECT_EQ(campaign, R"({"kind":"campaign","campaign":{"id":"o"}})");
  std::string epoch;
  append_public_epoch(epoch, "node-a", 3, 17);
  EXPECT_EQ(epoch, R"({"kind":"epoch","node":"node-a","epoch":3,"server_ms":17})");
}

TEST(CanonicalJson, WritesTheDocumentedFormAndTellsOthersApart) {
  std::string out;
  ASSERT_TRUE(
      canonicalize_json(" { \"b\" : [1, -2, \"\\u00e9\\n\\u0001/\"], \"a\":{} } ", out).ok());
  EXPECT_EQ(out, "{\"b\":[1,-2,\"\xC3\xA9\\n\\u0001/\"],\"a\":{}}");
  out.clear();
  EXPECT_FALSE(canonicalize_json("{\"a\":1.5}", out).ok());
  out.clear();
  EXPECT_FALSE(canonicalize_json("{\"a\":", out).ok());
  // A repeated member: one parser reads the first value, another the last.
  out.clear();
  EXPECT_EQ(canonicalize_json(R"({"c":{"a":1,"a":2}})", out).message(), "member \"a\" is repeated");
}

}  // namespace
}  // namespace tally::publog
