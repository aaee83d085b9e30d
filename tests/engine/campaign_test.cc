// Campaign definitions: every validation rule and its message, canonical JSON and its round
// trip, periods, window edges and which changes alter counting (DESIGN.md, "Campaign").
#include "tally/engine/campaign.h"

#include <gtest/gtest.h>

#include <string>

#include "tally/base/time.h"

namespace tally::engine {
namespace {

constexpr std::int32_t kPlus8 = 8 * 3600;

// A valid definition in the shape of DESIGN.md's example; tests break one field at a time.
const std::string kValid = R"json({
  "id": "ordos-2023-zuimei",
  "title": "最美产业工人网络投票",
  "opens_at": "2023-03-27T00:00:00+08:00",
  "closes_at": "2023-04-08T00:00:00+08:00",
  "utc_offset": "+08:00",
  "rules": { "period": "day", "max_votes_per_candidate": 1, "max_candidates": 2 },
  "candidates": [
    { "id": "c01", "name": "候选人01", "unit": "U1", "industry": "能源" },
    { "id": "c02", "name": "候选人02", "unit": "U2", "industry": "羊绒" },
    { "id": "c03", "name": "候选人03" }
  ]
})json";

// kValid with the first occurrence of `from` replaced by `to`.
std::string with(std::string_view from, std::string_view to) {
  std::string json = kValid;
  const std::size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) json.replace(at, from.size(), to);
  return json;
}

std::string error_of(std::string_view json) {
  auto campaign = parse_campaign(json);
  EXPECT_FALSE(campaign.ok()) << json;
  return campaign.ok() ? std::string() : campaign.message();
}

Campaign parsed(std::string_view json) {
  auto campaign = parse_campaign(json);
  EXPECT_TRUE(campaign.ok()) << (campaign.ok() ? "" : campaign.message());
  return campaign.ok() ? *campaign : Campaign();
}

std::int64_t ms_of(std::string_view text) { return *parse_rfc3339_ms(text); }

std::string candidates_json(std::size_t count) {
  std::string json = "[";
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) json += ',';
    json += R"({"id":"c)" + std::to_string(i) + R"(","name":"n"})";
  }
  return json + "]";
}

TEST(ParseCampaign, ReadsEveryField) {
  const Campaign c = parsed(kValid);
  EXPECT_EQ(c.id, "ordos-2023-zuimei");
  EXPECT_EQ(c.title, "最美产业工人网络投票");
  EXPECT_EQ(c.opens_at_ms, ms_of("2023-03-26T16:00:00Z"));
  EXPECT_EQ(c.closes_at_ms, ms_of("2023-04-07T16:00:00Z"));
  EXPECT_EQ(c.utc_offset_s, kPlus8);
  EXPECT_EQ(c.rules.period, PeriodKind::day);
  EXPECT_EQ(c.rules.max_votes_per_candidate, 1u);
  EXPECT_EQ(c.rules.max_candidates, 2u);
  ASSERT_EQ(c.candidates.size(), 3u);
  EXPECT_EQ(c.candidates[0], (Candidate{"c01", "候选人01", "U1", "能源"}));
  EXPECT_EQ(c.candidates[2], (Candidate{"c03", "候选人03", "", ""}));
  EXPECT_EQ(c.expected_voters, 0u);
}

TEST(ParseCampaign, IgnoresUnknownFieldsAndAcceptsNullForOptionalOnes) {
  const Campaign base = parsed(kValid);
  EXPECT_EQ(parsed(with("\"title\"", R"("extra": {"nested": [1, 2]}, "title")")), base);
  EXPECT_EQ(parsed(with("\"period\"", R"("future_rule": true, "period")")), base);
  EXPECT_EQ(parsed(with(R"("name": "候选人03")", R"("name": "候选人03", "unit": null, "x": 1)")),
            base);
  EXPECT_EQ(parsed(with("\"utc_offset\"", R"("expected_voters": null, "utc_offset")")), base);
}

TEST(ParseCampaign, ReadsOptionalFields) {
  EXPECT_EQ(
      parsed(with("\"utc_offset\"", R"("expected_voters": 5000, "utc_offset")")).expected_voters,
      5000u);
  EXPECT_EQ(parsed(with("\"utc_offset\"", R"("expected_voters": 1000000000, "utc_offset")"))
                .expected_voters,
            1'000'000'000u);
  EXPECT_EQ(parsed(with(R"("title": "最美产业工人网络投票",)", "")).title, "");
  EXPECT_EQ(parsed(with(R"("period": "day")", R"("period": "campaign")")).rules.period,
            PeriodKind::campaign);
  EXPECT_EQ(parsed(with(R"("utc_offset": "+08:00")", R"("utc_offset": "Z")")).utc_offset_s, 0);
}

TEST(ParseCampaign, ReadsInputThatIsNotPaddedOrTerminated) {
  // The definition sits in the middle of a larger buffer, followed by bytes that would make
  // it invalid if read.
  const std::string buffer = "xx" + kValid + "}}garbage";
  EXPECT_EQ(parsed(std::string_view(buffer).substr(2, kValid.size())), parsed(kValid));
}

TEST(ParseCampaign, RejectsInvalidJson) {
  EXPECT_EQ(error_of("{").rfind("campaign: not valid JSON (", 0), 0u) << error_of("{");
  EXPECT_EQ(error_of("").rfind("campaign: not valid JSON (", 0), 0u);
  EXPECT_EQ(error_of(kValid + ",").rfind("campaign: not valid JSON (", 0), 0u);
  // simdjson validates UTF-8 over the whole document.
  EXPECT_EQ(error_of(with("候选人01", "bad \xC0\x80")).rfind("campaign: not valid JSON (", 0), 0u);
  EXPECT_EQ(error_of("[]"), "campaign: must be a JSON object");
  EXPECT_EQ(error_of("\"campaign\""), "campaign: must be a JSON object");
}

TEST(ParseCampaign, RejectsBadIds) {
  EXPECT_EQ(error_of(with(R"("id": "ordos-2023-zuimei",)", "")), "id: required");
  EXPECT_EQ(error_of(with(R"("ordos-2023-zuimei")", "7")), "id: must be a string");
  EXPECT_EQ(error_of(with("ordos-2023-zuimei", "Ordos")),
            R"(id: must match [a-z0-9-]{1,64}, got "Ordos")");
  EXPECT_EQ(error_of(with("ordos-2023-zuimei", "")), R"(id: must match [a-z0-9-]{1,64}, got "")");
  EXPECT_EQ(error_of(with("ordos-2023-zuimei", "a_b")),
            R"(id: must match [a-z0-9-]{1,64}, got "a_b")");
  EXPECT_EQ(error_of(with("ordos-2023-zuimei", std::string(65, 'a'))),
            "id: must match [a-z0-9-]{1,64}, got \"" + std::string(65, 'a') + "\"");
  EXPECT_EQ(parsed(with("ordos-2023-zuimei", std::string(64, 'a'))).id, std::string(64, 'a'));
}

TEST(ParseCampaign, LimitsTheTitle) {
  EXPECT_EQ(error_of(with(R"("最美产业工人网络投票")", "[]")), "title: must be a string");
  EXPECT_EQ(error_of(with("最美产业工人网络投票", std::string(1025, 't'))),
            "title: must be at most 1024 bytes, got 1025");
  EXPECT_EQ(parsed(with("最美产业工人网络投票", std::string(1024, 't'))).title.size(), 1024u);
}

TEST(ParseCampaign, RequiresAWindowWithRfc3339Times) {
  EXPECT_EQ(error_of(with(R"("opens_at": "2023-03-27T00:00:00+08:00",)", "")),
            "opens_at: required");
  EXPECT_EQ(error_of(with(R"("closes_at": "2023-04-08T00:00:00+08:00",)", "")),
            "closes_at: required");
  EXPECT_EQ(error_of(with(R"("2023-03-27T00:00:00+08:00")", "1679846400000")),
            "opens_at: must be a string");
  EXPECT_EQ(error_of(with("2023-03-27T00:00:00+08:00", "2023-03-27")),
            "opens_at: not an RFC 3339 time: expected "
            "YYYY-MM-DDTHH:MM:SS[.fraction](Z|\u00B1HH:MM), got \"2023-03-27\"");
  EXPECT_EQ(error_of(with("2023-04-08T00:00:00+08:00", "2023-02-29T00:00:00+08:00")),
            "closes_at: not an RFC 3339 time: day of 2023-02 must be 01..28, got 29 in "
            "\"2023-02-29T00:00:00+08:00\"");
  EXPECT_EQ(error_of(with("2023-04-08T00:00:00+08:00", "2023-03-27T00:00:00+08:00")),
            "closes_at: must be after opens_at");
  EXPECT_EQ(error_of(with("2023-04-08T00:00:00+08:00", "2023-03-26T15:59:59Z")),
            "closes_at: must be after opens_at");
  // One millisecond of window is enough.
  EXPECT_TRUE(parse_campaign(with("2023-04-08T00:00:00+08:00", "2023-03-26T16:00:00.001Z")).ok());
}

TEST(ParseCampaign, RequiresAUtcOffsetWithinFourteenHours) {
  EXPECT_EQ(error_of(with(R"("utc_offset": "+08:00",)", "")), "utc_offset: required");
  EXPECT_EQ(error_of(with(R"("utc_offset": "+08:00")", R"("utc_offset": 8)")),
            "utc_offset: must be a string");
  EXPECT_EQ(error_of(with(R"("utc_offset": "+08:00")", R"("utc_offset": "+8")")),
            "utc_offset: expected \u00B1HH:MM or Z, got \"+8\"");
  EXPECT_EQ(error_of(with(R"("utc_offset": "+08:00")", R"("utc_offset": "+15:00")")),
            "utc_offset: must be within \u00B114:00, got \"+15:00\"");
  EXPECT_EQ(parsed(with(R"("utc_offset": "+08:00")", R"("utc_offset": "-05:30")")).utc_offset_s,
            -(5 * 3600 + 30 * 60));
}

TEST(ParseCampaign, ChecksTheRules) {
  EXPECT_EQ(
      error_of(with(
          R"("rules": { "period": "day", "max_votes_per_candidate": 1, "max_candidates": 2 },)",
          "")),
      "rules: required");
  EXPECT_EQ(error_of(with(
                R"({ "period": "day", "max_votes_per_candidate": 1, "max_candidates": 2 })", "[]")),
            "rules: must be an object");
  EXPECT_EQ(error_of(with(R"("period": "day", )", "")), "rules.period: required");
  EXPECT_EQ(error_of(with(R"("period": "day")", R"("period": "week")")),
            R"(rules.period: must be "day" or "campaign", got "week")");
  EXPECT_EQ(error_of(with(R"("period": "day")", R"("period": 1)")),
            "rules.period: must be a string");
}

TEST(ParseCampaign, ChecksMaxVotesPerCandidate) {
  auto error = [](std::string_view value) {
    return error_of(with(R"("max_votes_per_candidate": 1)",
                         "\"max_votes_per_candidate\": " + std::string(value)));
  };
  EXPECT_EQ(error_of(with(R"("max_votes_per_candidate": 1, )", "")),
            "rules.max_votes_per_candidate: required");
  EXPECT_EQ(error("0"), "rules.max_votes_per_candidate: must be 1..1000, got 0");
  EXPECT_EQ(error("1001"), "rules.max_votes_per_candidate: must be 1..1000, got 1001");
  EXPECT_EQ(error("-1"), "rules.max_votes_per_candidate: must be 1..1000, got -1");
  EXPECT_EQ(error("18446744073709551615"),
            "rules.max_votes_per_candidate: must be 1..1000, got 18446744073709551615");
  EXPECT_EQ(error("\"1\""), "rules.max_votes_per_candidate: must be an integer");
  EXPECT_EQ(error("1.5"), "rules.max_votes_per_candidate: must be an integer");
  EXPECT_EQ(error("1.0"), "rules.max_votes_per_candidate: must be an integer");
  EXPECT_EQ(error("true"), "rules.max_votes_per_candidate: must be an integer");
  EXPECT_EQ(error("null"), "rules.max_votes_per_candidate: must be an integer");
  EXPECT_EQ(parsed(with(R"("max_votes_per_candidate": 1)", R"("max_votes_per_candidate": 1000)"))
                .rules.max_votes_per_candidate,
            1000u);
}

TEST(ParseCampaign, ChecksMaxCandidatesAgainstTheCandidateCount) {
  auto error = [](std::string_view value) {
    return error_of(with(R"("max_candidates": 2)", "\"max_candidates\": " + std::string(value)));
  };
  EXPECT_EQ(error_of(with(R"(, "max_candidates": 2)", "")), "rules.max_candidates: required");
  EXPECT_EQ(error("0"), "rules.max_candidates: must be 1..3, got 0");
  EXPECT_EQ(error("4"), "rules.max_candidates: must be 1..3, got 4");
  EXPECT_EQ(error("\"2\""), "rules.max_candidates: must be an integer");
  EXPECT_EQ(error("2e0"), "rules.max_candidates: must be an integer");
  EXPECT_EQ(parsed(with(R"("max_candidates": 2)", R"("max_candidates": 3)")).rules.max_candidates,
            3u);
}

TEST(ParseCampaign, RequiresOneToAThousandCandidates) {
  const std::string list_start = R"("candidates": [)";
  const std::size_t from = kValid.find(list_start);
  const std::string before = kValid.substr(0, from);  // everything up to "candidates"
  auto with_candidates = [&](const std::string& value) {
    return before + "\"candidates\": " + value + "}";
  };
  EXPECT_EQ(error_of(before.substr(0, before.rfind(',')) + "}"), "candidates: required");
  EXPECT_EQ(error_of(with_candidates("{}")), "candidates: must be an array");
  EXPECT_EQ(error_of(with_candidates("[]")), "candidates: must hold 1..1000 candidates, got 0");
  EXPECT_EQ(error_of(with_candidates(candidates_json(1001))),
            "candidates: must hold 1..1000 candidates, got 1001");
  EXPECT_EQ(parsed(with_candidates(candidates_json(1000))).candidates.size(), 1000u);
  EXPECT_EQ(error_of(with_candidates(R"([{"id":"a","name":"A"}, "b"])")),
            "candidates[1]: must be an object");
}

TEST(ParseCampaign, ChecksCandidateIds) {
  EXPECT_EQ(error_of(with(R"("id": "c01", )", "")), "candidates[0].id: required");
  EXPECT_EQ(error_of(with(R"("id": "c02")", R"("id": 2)")), "candidates[1].id: must be a string");
  EXPECT_EQ(error_of(with(R"("id": "c01")", R"("id": "c 1")")),
            R"(candidates[0].id: must match [A-Za-z0-9_-]{1,64}, got "c 1")");
  EXPECT_EQ(error_of(with(R"("id": "c01")", R"("id": "")")),
            R"(candidates[0].id: must match [A-Za-z0-9_-]{1,64}, got "")");
  EXPECT_EQ(
      error_of(with(R"("id": "c01")", "\"id\": \"" + std::string(65, 'C') + "\"")),
      "candidates[0].id: must match [A-Za-z0-9_-]{1,64}, got \"" + std::string(65, 'C') + "\"");
  EXPECT_EQ(error_of(with(R"("id": "c03")", R"("id": "c01")")),
            R"(candidates[2].id: duplicate of candidates[0].id "c01")");
  EXPECT_EQ(error_of(with(R"("id": "c03")", R"("id": "c02")")),
            R"(candidates[2].id: duplicate of candidates[1].id "c02")");
  const Campaign c = parsed(with(R"("id": "c01")", "\"id\": \"" + std::string(64, 'Z') + "\""));
  EXPECT_EQ(c.candidates[0].id, std::string(64, 'Z'));
  EXPECT_EQ(parsed(with(R"("id": "c01")", R"("id": "A-z_9")")).candidates[0].id, "A-z_9");
}

TEST(ParseCampaign, ChecksCandidateNamesUnitsAndIndustries) {
  EXPECT_EQ(error_of(with(R"("name": "候选人01", )", "")), "candidates[0].name: required");
  EXPECT_EQ(error_of(with(R"("name": "候选人02")", R"("name": null)")),
            "candidates[1].name: must be a string");
  EXPECT_EQ(error_of(with(R"("name": "候选人01")", R"("name": "")")),
            "candidates[0].name: must be 1..256 bytes, got 0");
  EXPECT_EQ(error_of(with("候选人01", std::string(257, 'n'))),
            "candidates[0].name: must be 1..256 bytes, got 257");
  EXPECT_EQ(parsed(with("候选人01", std::string(256, 'n'))).candidates[0].name.size(), 256u);
  EXPECT_EQ(error_of(with(R"("unit": "U1")", "\"unit\": \"" + std::string(257, 'u') + "\"")),
            "candidates[0].unit: must be at most 256 bytes, got 257");
  EXPECT_EQ(error_of(with(R"("industry": "羊绒")", R"("industry": 5)")),
            "candidates[1].industry: must be a string");
  EXPECT_EQ(
      error_of(with(R"("industry": "能源")", "\"industry\": \"" + std::string(257, 'i') + "\"")),
      "candidates[0].industry: must be at most 256 bytes, got 257");
  EXPECT_EQ(parsed(with(R"("unit": "U1")", R"("unit": "")")).candidates[0].unit, "");
}

TEST(ParseCampaign, ChecksExpectedVoters) {
  auto error = [](std::string_view value) {
    return error_of(
        with("\"utc_offset\"", "\"expected_voters\": " + std::string(value) + ", \"utc_offset\""));
  };
  EXPECT_EQ(error("-1"), "expected_voters: must be 0..1000000000, got -1");
  EXPECT_EQ(error("1000000001"), "expected_voters: must be 0..1000000000, got 1000000001");
  EXPECT_EQ(error("1e9"), "expected_voters: must be an integer");
  EXPECT_EQ(error("\"many\""), "expected_voters: must be an integer");
}

TEST(ParseCampaign, RefusesHugeInputBeforeParsing) {
  const std::string huge(16 * 1024 * 1024 + 1, ' ');
  EXPECT_EQ(error_of(huge), "campaign: larger than 16777216 bytes");
}

TEST(CampaignToJson, WritesTheCanonicalFieldOrder) {
  Campaign c;
  c.id = "demo";
  c.title = "Demo \"vote\"";
  c.opens_at_ms = ms_of("2023-03-27T00:00:00+08:00");
  c.closes_at_ms = ms_of("2023-04-08T00:00:00.5+08:00");
  c.utc_offset_s = kPlus8;
  c.rules = Rules{PeriodKind::day, 1, 10};
  c.candidates = {{"c01", "候选人01", "U1", "能源"}, {"c02", "n\n2", "", ""}};
  EXPECT_EQ(campaign_to_json(c),
            R"({"id":"demo","title":"Demo \"vote\"","opens_at":"2023-03-27T00:00:00+08:00",)"
            R"("closes_at":"2023-04-08T00:00:00.500+08:00","utc_offset":"+08:00",)"
            R"("rules":{"period":"day","max_votes_per_candidate":1,"max_candidates":10},)"
            R"("candidates":[{"id":"c01","name":"候选人01","unit":"U1","industry":"能源"},)"
            R"({"id":"c02","name":"n\n2","unit":"","industry":""}]})");
  c.expected_voters = 250'000;
  c.rules.period = PeriodKind::campaign;
  c.utc_offset_s = 0;
  const std::string json = campaign_to_json(c);
  EXPECT_NE(json.find(R"("opens_at":"2023-03-26T16:00:00Z")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("utc_offset":"+00:00")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("period":"campaign")"), std::string::npos) << json;
  const std::string tail = R"(}],"expected_voters":250000})";
  EXPECT_EQ(json.substr(json.size() - tail.size()), tail) << json;
}

TEST(CampaignToJson, RoundTripsThroughParse) {
  std::vector<Campaign> campaigns = {parsed(kValid)};
  Campaign c = parsed(kValid);
  c.utc_offset_s = -(5 * 3600 + 30 * 60);
  c.opens_at_ms = ms_of("1969-12-31T23:59:59.999Z");
  c.closes_at_ms = ms_of("2024-02-29T23:00:00.123Z");
  c.expected_voters = 1'000'000'000;
  c.rules = Rules{PeriodKind::campaign, 1000, 3};
  c.title = std::string("quote\" backslash\\ tab\t nul") + '\0' + " ctl\x01 emoji \xF0\x9F\x97\xB3";
  c.candidates[0].name = "line\nbreak";
  c.candidates[1].unit = std::string(256, 'u');
  campaigns.push_back(c);
  c.utc_offset_s = 14 * 3600;
  c.title = std::string(1024, '\x1F');  // every byte escaped: the longest canonical form
  campaigns.push_back(c);
  for (const Campaign& campaign : campaigns) {
    const std::string json = campaign_to_json(campaign);
    const Campaign again = parsed(json);
    EXPECT_EQ(again, campaign) << json;
    EXPECT_EQ(campaign_to_json(again), json);
  }
}

TEST(ParseCampaign, ReadsFraudThresholdsWithDefaultsForMissingFields) {
  EXPECT_EQ(parsed(kValid).fraud, FraudThresholds{});
  const Campaign c = parsed(with(R"("candidates")",
                                 R"("fraud": {"ip_lookalike_votes": 20, "device_max_voters": 3,
                                    "reject": ["bot_ua", "no_device"]}, "candidates")"));
  FraudThresholds expected;
  expected.ip_lookalike_votes = 20;
  expected.device_max_voters = 3;
  expected.reject = flag_of(FraudReason::bot_ua) | flag_of(FraudReason::no_device);
  EXPECT_EQ(c.fraud, expected);
  EXPECT_EQ(parsed(with(R"("candidates")", R"("fraud": null, "candidates")")).fraud,
            FraudThresholds{});
}

TEST(ParseCampaign, ChecksFraudThresholds) {
  EXPECT_EQ(error_of(with(R"("candidates")", R"("fraud": 3, "candidates")")),
            "fraud: must be an object");
  EXPECT_EQ(error_of(with(R"("candidates")", R"("fraud": {"window_s": 5}, "candidates")")),
            "fraud.window_s: must be 10..86400, got 5");
  EXPECT_EQ(error_of(with(R"("candidates")", R"("fraud": {"baseline_minutes": 61}, "candidates")")),
            "fraud.baseline_minutes: must be 1..60, got 61");
  EXPECT_EQ(error_of(with(R"("candidates")", R"("fraud": {"reject": "burst"}, "candidates")")),
            "fraud.reject: must be an array of reasons");
  EXPECT_EQ(
      error_of(with(R"("candidates")", R"("fraud": {"reject": ["burst", "spam"]}, "candidates")")),
      "fraud.reject[1]: must be ip_flood, device_multi_account, burst, no_device or "
      "bot_ua, got \"spam\"");
}

TEST(CampaignToJson, WritesFraudOnlyWhenItDiffersFromTheDefaults) {
  Campaign c = parsed(kValid);
  EXPECT_EQ(campaign_to_json(c).find("fraud"), std::string::npos);
  c.fraud.burst_factor = 4;
  c.fraud.reject = flag_of(FraudReason::ip_flood) | flag_of(FraudReason::bot_ua);
  const std::string json = campaign_to_json(c);
  const std::string tail =
      R"(,"fraud":{"window_s":600,"ip_lookalike_votes":50,"subnet_lookalike_votes":150,)"
      R"("regular_votes":30,"device_max_voters":5,"burst_factor":4,"burst_min_per_minute":120,)"
      R"("baseline_minutes":30,"reject":["ip_flood","bot_ua"]}})";
  EXPECT_EQ(json.substr(json.size() - tail.size()), tail) << json;
  EXPECT_EQ(parsed(json), c);
  EXPECT_EQ(campaign_to_json(parsed(json)), json);
}

TEST(CampaignPeriods, DayPeriodsChangeAtMidnightAtTheCampaignOffset) {
  const Campaign c = parsed(kValid);
  const std::int64_t last_of_27th = ms_of("2023-03-27T23:59:59.999+08:00");
  const std::int64_t first_of_28th = ms_of("2023-03-28T00:00:00+08:00");
  EXPECT_NE(c.period_of(last_of_27th), c.period_of(first_of_28th));
  EXPECT_EQ(c.period_of(last_of_27th) + 1, c.period_of(first_of_28th));
  EXPECT_EQ(c.period_of(ms_of("2023-03-27T16:00:00Z")), c.period_of(first_of_28th));
  EXPECT_EQ(c.period_of(ms_of("2023-03-27T00:00:00+08:00")), c.period_of(last_of_27th));
  EXPECT_EQ(c.period_of(first_of_28th), local_day(first_of_28th, kPlus8));
}

TEST(CampaignPeriods, DayPeriodsFollowNegativeOffsets) {
  const Campaign c = parsed(with(R"("utc_offset": "+08:00")", R"("utc_offset": "-05:00")"));
  EXPECT_EQ(c.period_of(ms_of("2023-03-27T23:59:59.999-05:00")) + 1,
            c.period_of(ms_of("2023-03-28T00:00:00-05:00")));
  EXPECT_EQ(c.period_of(ms_of("2023-03-28T04:59:59.999Z")),
            c.period_of(ms_of("2023-03-27T00:00:00-05:00")));
  EXPECT_EQ(c.period_of(ms_of("2023-03-28T05:00:00Z")),
            c.period_of(ms_of("2023-03-28T00:00:00-05:00")));
}

TEST(CampaignPeriods, CampaignPeriodIsOneForTheWholeWindow) {
  const Campaign c = parsed(with(R"("period": "day")", R"("period": "campaign")"));
  EXPECT_EQ(c.period_of(c.opens_at_ms), 0);
  EXPECT_EQ(c.period_of(c.closes_at_ms - 1), 0);
  EXPECT_EQ(c.period_of(ms_of("2023-03-28T00:00:00+08:00")), 0);
}

TEST(CampaignWindow, OpensInclusiveAndClosesExclusive) {
  const Campaign c = parsed(kValid);
  const std::int64_t opens = ms_of("2023-03-27T00:00:00+08:00");
  const std::int64_t closes = ms_of("2023-04-08T00:00:00+08:00");
  EXPECT_FALSE(c.is_open_at(opens - 1));
  EXPECT_EQ(c.state_at(opens - 1), "scheduled");
  EXPECT_TRUE(c.is_open_at(opens));
  EXPECT_EQ(c.state_at(opens), "open");
  EXPECT_TRUE(c.is_open_at(closes - 1));
  EXPECT_EQ(c.state_at(closes - 1), "open");
  EXPECT_FALSE(c.is_open_at(closes));
  EXPECT_EQ(c.state_at(closes), "closed");
  EXPECT_EQ(c.state_at(closes + kMsPerDay), "closed");
}

TEST(CampaignCandidates, FindsIndexesById) {
  const Campaign c = parsed(kValid);
  EXPECT_EQ(c.candidate_index("c01"), 0u);
  EXPECT_EQ(c.candidate_index("c03"), 2u);
  EXPECT_EQ(c.candidate_index("C01"), std::nullopt);
  EXPECT_EQ(c.candidate_index(""), std::nullopt);
}

TEST(ChangesCounting, WindowTitleAndSizingMayChange) {
  const Campaign current = parsed(kValid);
  Campaign next = current;
  next.title = "renamed";
  next.opens_at_ms -= kMsPerDay;
  next.closes_at_ms = current.opens_at_ms + 1;
  next.expected_voters = 42;
  EXPECT_FALSE(changes_counting(current, next));
  EXPECT_FALSE(changes_counting(current, current));
}

TEST(ChangesCounting, CandidatesRulesAndOffsetMayNot) {
  const Campaign current = parsed(kValid);
  auto changed = [&](auto edit) {
    Campaign next = current;
    edit(next);
    return changes_counting(current, next);
  };
  EXPECT_TRUE(changed([](Campaign& c) { c.rules.max_candidates = 3; }));
  EXPECT_TRUE(changed([](Campaign& c) { c.rules.max_votes_per_candidate = 2; }));
  EXPECT_TRUE(changed([](Campaign& c) { c.rules.period = PeriodKind::campaign; }));
  EXPECT_TRUE(changed([](Campaign& c) { c.utc_offset_s = 0; }));
  EXPECT_TRUE(changed([](Campaign& c) { c.candidates.pop_back(); }));
  EXPECT_TRUE(changed([](Campaign& c) { c.candidates.push_back({"c04", "n", "", ""}); }));
  EXPECT_TRUE(changed([](Campaign& c) { std::swap(c.candidates[0], c.candidates[1]); }));
  EXPECT_TRUE(changed([](Campaign& c) { c.candidates[0].name = "other"; }));
}

}  // namespace
}  // namespace tally::engine
