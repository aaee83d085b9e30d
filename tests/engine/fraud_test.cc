// Fraud signals (DESIGN.md "Fraud signals", docs/FRAUD.md): each signal flags a farm's shape and
// leaves an honest crowd's shape alone; the sketches keep their error and memory bounds and
// merge; the report and recovery.
#include "tally/engine/fraud.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tally/corpus/user_agents.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud_sketch.h"
#include "bot_scan.h"

namespace tally::engine {
namespace {

constexpr std::int64_t kStart = 1'680'000'000'000;  // a server time in ms
constexpr std::uint32_t kSeed = 20230327;

Campaign make_campaign(std::size_t candidates = 10) {
  Campaign campaign;
  campaign.id = "ordos";
  campaign.opens_at_ms = 0;
  campaign.closes_at_ms = kStart * 2;
  for (std::size_t i = 0; i < candidates; ++i) {
    campaign.candidates.push_back({"c" + std::to_string(i), "n", "", ""});
  }
  campaign.rules.max_candidates = static_cast<std::uint32_t>(candidates);
  return campaign;
}

struct Vote {
  std::string voter;
  std::string device;
  std::string ip;
  std::string ua;
  std::uint32_t candidate = 0;
  std::int64_t server_ms = kStart;
};

Ballot ballot_of(const Vote& vote, const Campaign& campaign) {
  Ballot ballot;
  ballot.campaign = campaign.id;
  ballot.candidate = campaign.candidates[vote.candidate].id;
  ballot.voter = vote.voter;
  ballot.device = vote.device;
  ballot.ip = vote.ip;
  ballot.ua = vote.ua;
  return ballot;
}

Observation observe(FraudMonitor& monitor, const Vote& vote, const Campaign& campaign) {
  return monitor.observe(*monitor.find(campaign.id), ballot_of(vote, campaign), vote.candidate,
                         vote.server_ms, 0);
}

// Counts of flagged votes per reason over a run.
std::map<FraudReason, int> run(FraudMonitor& monitor, const Campaign& campaign,
                               const std::vector<Vote>& votes) {
  std::map<FraudReason, int> flagged;
  for (const Vote& vote : votes) {
    const FraudFlags flags = observe(monitor, vote, campaign).flags;
    for (int i = 0; i < kFraudReasonCount; ++i) {
      const auto reason = static_cast<FraudReason>(i);
      if ((flags & flag_of(reason)) != 0) ++flagged[reason];
    }
  }
  return flagged;
}

// A real WeChat user agent from the corpus, as a voter's phone sends it: an Android one with
// the install number (MMWEBID/<n>) its own phone would show; iPhones share theirs.
std::string wechat_ua(std::mt19937& rng) {
  static const std::vector<std::string_view> honest = [] {
    std::vector<std::string_view> out;
    for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
      if (corpus::is_honest(sample.kind)) out.push_back(sample.agent);
    }
    return out;
  }();
  const std::string_view agent = honest[rng() % honest.size()];
  return corpus::with_install_number(agent, rng() % 10000);
}

// `people` colleagues behind one office address, each with their own phone, voting for 1..5
// candidates (most include their own unit's candidate c0), at human times over `minutes`.
std::vector<Vote> office_crowd(std::mt19937& rng, int people, int minutes, std::string ip) {
  std::vector<Vote> votes;
  std::uniform_int_distribution<std::int64_t> when(0, std::int64_t{minutes} * 60'000);
  for (int p = 0; p < people; ++p) {
    const std::string ua = wechat_ua(rng);
    std::int64_t at = kStart + when(rng);
    const int picks = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < picks; ++k) {
      Vote vote{"office-" + std::to_string(p), "phone-" + std::to_string(p), ip, ua, 0, at};
      vote.candidate = k == 0 && rng() % 10 < 7 ? 0 : 1 + static_cast<std::uint32_t>(rng() % 9);
      votes.push_back(vote);
      at += 3'000 + static_cast<std::int64_t>(rng() % 20'000);  // reading, tapping
    }
  }
  std::sort(votes.begin(), votes.end(),
            [](const Vote& a, const Vote& b) { return a.server_ms < b.server_ms; });
  return votes;
}

TEST(FraudSignals, AnHonestOfficeCrowdBehindOneAddressIsNotFlagged) {
  std::mt19937 rng(kSeed);
  std::printf("seed %u\n", kSeed);
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  // Two offices' worth: 400 colleagues within 10 minutes, the busiest union mobilisation shape.
  const auto flagged = run(monitor, campaign, office_crowd(rng, 400, 10, "218.21.5.7"));
  EXPECT_TRUE(flagged.empty()) << "ip_flood " << flagged.count(FraudReason::ip_flood);
  // The address is still evidence for the /fraud view.
  const std::string report = *monitor.report_json("ordos");
  EXPECT_NE(report.find(R"("top_ips":[{"key":"218.21.5.7")"), std::string::npos) << report;
}

TEST(FraudSignals, AFarmOnOneAddressWithOneUserAgentIsFlagged) {
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  std::vector<Vote> votes;
  const std::string ua = "Mozilla/5.0 (Linux; Android 10; emulator) MicroMessenger/8.0.33";
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 500; ++i) {  // 500 accounts within five minutes, one candidate
    votes.push_back({"farm-" + std::to_string(i), "emu-" + std::to_string(i % 3), "39.1.2.3", ua, 7,
                     kStart + i * 600 + static_cast<std::int64_t>(rng() % 300)});
  }
  const auto flagged = run(monitor, campaign, votes);
  EXPECT_GE(flagged.at(FraudReason::ip_flood), 440);
  const std::string report = *monitor.report_json("ordos");
  EXPECT_NE(report.find(R"({"reason":"ip_flood","key":"39.1.2.3","candidate":"c7")"),
            std::string::npos)
      << report;
}

// observe() with the keys prefetch() worked out (the engine's batch path) flags and reports
// exactly as observe() working them out itself.
TEST(FraudSignals, PrefetchedKeysObserveAsTheBallotsOwn) {
  const Campaign campaign = make_campaign();
  FraudMonitor own, prefetched;
  own.set_campaign(campaign);
  prefetched.set_campaign(campaign);
  std::mt19937 rng(kSeed);
  std::vector<Vote> votes = office_crowd(rng, 300, 30, "10.20.30.40");
  const std::string ua = "Mozilla/5.0 (Linux; Android 10; emulator) MicroMessenger/8.0.33";
  for (int i = 0; i < 300; ++i) {  // and a farm on one subnet, one agent
    votes.push_back({"farm-" + std::to_string(i), "emu-" + std::to_string(i % 3),
                     "39.1.2." + std::to_string(i % 200), ua, 7, kStart + i * 500});
  }
  int flagged = 0;
  for (const Vote& vote : votes) {
    const Ballot ballot = ballot_of(vote, campaign);
    const FraudKeys keys = prefetched.prefetch(*prefetched.find("ordos"), ballot, vote.candidate);
    ASSERT_TRUE(keys.valid);
    const Observation a =
        own.observe(*own.find("ordos"), ballot, vote.candidate, vote.server_ms, 0);
    const Observation b = prefetched.observe(*prefetched.find("ordos"), ballot, vote.candidate,
                                             vote.server_ms, 0, &keys);
    ASSERT_EQ(a.flags, b.flags);
    flagged += a.flags != 0;
  }
  EXPECT_GT(flagged, 0);
  EXPECT_EQ(*own.report_json("ordos"), *prefetched.report_json("ordos"));
  Ballot ballot;
  ballot.campaign = "ordos";
  EXPECT_FALSE(
      prefetched.prefetch(*prefetched.find("ordos"), ballot, 99).valid);  // no such candidate
  EXPECT_EQ(prefetched.find("nope"), nullptr);
}

TEST(FraudSignals, AFarmSpreadOverOneSubnetIsFlagged) {
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  std::vector<Vote> votes;
  for (int i = 0; i < 600; ++i) {  // rotating over a /24: no single address is heavy
    votes.push_back({"farm-" + std::to_string(i), "d-" + std::to_string(i),
                     "10.1.2." + std::to_string(1 + i % 200), "SameAgent/1.0", 3,
                     kStart + i * 700});
  }
  const auto flagged = run(monitor, campaign, votes);
  EXPECT_GE(flagged.at(FraudReason::ip_flood), 400);
}

TEST(FraudSignals, MachineRegularTimingIsFlaggedWhateverTheUserAgents) {
  std::mt19937 rng(kSeed);
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  std::vector<Vote> votes;
  for (int i = 0; i < 200; ++i) {  // a script that rotates user agents and sleeps 2 s
    votes.push_back({"farm-" + std::to_string(i), "d-" + std::to_string(i), "39.9.9.9",
                     wechat_ua(rng), 2,
                     kStart + i * 2'000 + static_cast<std::int64_t>(rng() % 20)});
  }
  const auto flagged = run(monitor, campaign, votes);
  EXPECT_GE(flagged.at(FraudReason::ip_flood), 150);
}

TEST(FraudSignals, ManyAccountsOnOnePhoneAreFlaggedAFamilyIsNot) {
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  std::vector<Vote> votes;
  for (int i = 0; i < 3; ++i) {  // a family sharing one phone
    votes.push_back(
        {"family-" + std::to_string(i), "family-phone", "1.1.1.1", "ua", 1, kStart + i * 60'000});
  }
  const auto family = run(monitor, campaign, votes);
  EXPECT_EQ(family.count(FraudReason::device_multi_account), 0u);
  votes.clear();
  for (int i = 0; i < 36; ++i) {  // three dozen accounts on one phone, two votes each
    for (std::uint32_t c = 0; c < 2; ++c) {
      votes.push_back({"acct-" + std::to_string(i), "farm-phone", "2.2.2." + std::to_string(i),
                       "ua", c, kStart + i * 20'000 + c * 1'000});
    }
  }
  const auto farm = run(monitor, campaign, votes);
  EXPECT_GE(farm.at(FraudReason::device_multi_account), 50);
}

TEST(FraudSignals, DistinctVotersPerDeviceCountPerPeriod) {
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  Ballot ballot;
  ballot.campaign = "ordos";
  ballot.device = "shared";
  ballot.ip = "1.2.3.4";
  ballot.ua = "ua";
  std::string voter;
  int flagged = 0;
  for (int day = 0; day < 4; ++day) {  // five voters a day stays within the default
    for (int i = 0; i < 5; ++i) {
      voter = "v" + std::to_string(day * 5 + i);
      ballot.voter = voter;
      flagged +=
          monitor.observe(*monitor.find(ballot.campaign), ballot, 0, kStart + day * 86'400'000, day)
              .flags != 0;
    }
  }
  EXPECT_EQ(flagged, 0);
}

TEST(FraudSignals, ABurstAboveTheCandidatesOwnBaselineIsFlagged) {
  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  std::vector<Vote> votes;
  int n = 0;
  const auto add = [&](std::uint32_t candidate, std::int64_t at) {
    votes.push_back({"v" + std::to_string(n), "d" + std::to_string(n),
                     "100." + std::to_string(n % 250) + ".0.1", "ua-" + std::to_string(n),
                     candidate, at});
    ++n;
  };
  for (int minute = 0; minute < 30; ++minute) {  // 30 quiet minutes: 20 a minute each
    for (int i = 0; i < 20; ++i) {
      add(4, kStart + minute * 60'000 + i * 3'000);
      add(5, kStart + minute * 60'000 + i * 3'000 + 10);
    }
  }
  const auto quiet = run(monitor, campaign, votes);
  EXPECT_EQ(quiet.count(FraudReason::burst), 0u);
  votes.clear();
  for (int i = 0; i < 600; ++i) add(4, kStart + 30 * 60'000 + i * 90);  // 600 in a minute
  for (int i = 0; i < 30; ++i) add(5, kStart + 30 * 60'000 + i * 1'500);
  const auto burst = run(monitor, campaign, votes);
  EXPECT_GE(burst.at(FraudReason::burst), 400);
  const std::string report = *monitor.report_json("ordos");
  EXPECT_NE(report.find(R"({"reason":"burst","key":"c4")"), std::string::npos) << report;
}

TEST(FraudSignals, MissingDevicesAndScriptedUserAgentsAreFlagged) {
  for (std::string_view ua :
       {"", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/119.0",
        "curl/7.88.1", "python-requests/2.28.1", "Go-http-client/1.1", "okhttp/4.9.3",
        "Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1", "Selenium/4.8 (python linux)"}) {
    EXPECT_TRUE(is_bot_user_agent(ua)) << ua;
  }
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 200; ++i) {
    const std::string ua = wechat_ua(rng);
    EXPECT_FALSE(is_bot_user_agent(ua)) << ua;
  }
  EXPECT_FALSE(is_bot_user_agent("Mozilla/5.0 (Linux; Android 11; CUBOT X30) MicroMessenger/8.0"));

  const Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  EXPECT_EQ(observe(monitor, {"a", "", "1.2.3.4", "Mozilla/5.0 MicroMessenger", 0}, campaign).flags,
            flag_of(FraudReason::no_device));
  EXPECT_EQ(observe(monitor, {"b", "d", "1.2.3.5", "curl/8.0", 0}, campaign).flags,
            flag_of(FraudReason::bot_ua));
  EXPECT_EQ(
      observe(monitor, {"c", "d2", "1.2.3.6", "Mozilla/5.0 MicroMessenger", 0}, campaign).flags,
      0u);
}

// The straightforward search is_bot_user_agent() must agree with: the first kMaxUaBytes
// bytes, lowered, searched for each marker in turn.
bool is_bot_user_agent_by_search(std::string_view ua) {
  if (ua.empty()) return true;
  std::string lower(ua.substr(0, kMaxUaBytes));
  for (char& c : lower) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  for (std::string_view marker : bot_user_agent_markers()) {
    if (lower.find(marker) != std::string::npos) return true;
  }
  return false;
}

// The corpus of real agents: no agent of a person voting from WeChat or its relatives is
// taken for a bot, and every script's and headless browser's is.
TEST(FraudSignals, RealAgentsAreFlaggedExactlyWhenTheyAreScriptsOrHeadless) {
  std::size_t honest = 0, bots = 0;
  for (const corpus::UserAgentSample& sample : corpus::real_user_agents()) {
    EXPECT_EQ(is_bot_user_agent(sample.agent), !corpus::is_honest(sample.kind)) << sample.client;
    EXPECT_EQ(is_bot_user_agent_by_search(sample.agent), !corpus::is_honest(sample.kind));
    (corpus::is_honest(sample.kind) ? honest : bots) += 1;
  }
  EXPECT_GE(honest, 30u);
  EXPECT_GE(bots, 10u);
}

// A bot's marker placed past an honest agent's 300 bytes, up to the end of the longest agent a
// ballot may carry, is found.
TEST(FraudSignals, AMarkerAnywhereInALongAgentIsFound) {
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 20; ++i) {
    std::string ua = wechat_ua(rng);
    while (ua.size() < kMaxUaBytes) ua += " " + wechat_ua(rng);
    ua.resize(kMaxUaBytes - std::string_view("HeadlessChrome").size());
    EXPECT_FALSE(is_bot_user_agent(ua));
    EXPECT_TRUE(is_bot_user_agent(ua + "HeadlessChrome"));
  }
}

TEST(FraudSignals, BotUserAgentsAreFoundAsByAPlainSearch) {
  std::mt19937 rng(kSeed);
  std::printf("seed %u\n", kSeed);
  const std::vector<std::string> markers(bot_user_agent_markers().begin(),
                                         bot_user_agent_markers().end());
  std::vector<std::string> uas = {
      "",
      "a",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Mobile/15E148 MicroMessenger/8.0.33(0x18002129) NetType/WIFI Language/zh_CN",
      "Mozilla/5.0 (Linux; Android 13; SM-S9180) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/110.0.0.0 Mobile Safari/537.36",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
      "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
      "Mozilla/5.0 (Linux; Android 12; NOH-AN00 Build/HUAWEINOH-AN00; wv) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 HuaweiBrowser/13.0.5.302 Mobile "
      "Safari/537.36",
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
      "Mozilla/5.0 (Linux; Android 11; CUBOT X30) MicroMessenger/8.0",
      "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Electron/27.1.2",
      "Java/17.0.2",
      "Apache-HttpClient/4.5.13 (Java/11.0.16)",
      "Wget/1.21.3",
      "BOT/",
      "bot",
      "curl",
      "CuRl/",
      "htt",
      "HtTpX",
  };
  for (int i = 0; i < 200; ++i) uas.push_back(wechat_ua(rng));
  const auto mixed_case = [&](std::string text) {
    for (char& c : text) {
      if (c >= 'a' && c <= 'z' && rng() % 2 == 0) c = static_cast<char>(c - 'a' + 'A');
    }
    return text;
  };
  for (const std::string& marker : markers) {
    const std::string ua = wechat_ua(rng);
    const std::size_t middle = rng() % ua.size();
    for (const std::string& variant :
         {marker, mixed_case(marker), mixed_case(marker), std::string(marker.size(), 'X')}) {
      std::string upper = variant;
      for (char& c : upper) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      for (const std::string& m : {variant, upper}) {
        uas.push_back(m);
        uas.push_back(m + ua);
        uas.push_back(ua.substr(0, middle) + m + ua.substr(middle));
        uas.push_back(ua + m);
        // Near misses: the marker cut short, or with its last byte changed.
        uas.push_back(ua.substr(0, middle) + m.substr(0, m.size() - 1) + ua.substr(middle));
        uas.push_back(m.substr(0, m.size() - 1) + "#" + ua);
        // Around the kMaxUaBytes bound: whole below it, across it, and past it.
        for (std::size_t end = kMaxUaBytes - 2; end <= kMaxUaBytes + m.size() + 1; ++end) {
          const std::size_t at = end > m.size() ? end - m.size() : 0;
          std::string padded(at, ' ');
          for (std::size_t j = 0; j < padded.size(); ++j) padded[j] = ua[j % ua.size()];
          uas.push_back(padded + m + ua.substr(0, rng() % 40));
        }
      }
    }
  }
  // User agents of exactly and just over the maximum length.
  for (int i = 0; i < 50; ++i) {
    std::string ua = wechat_ua(rng);
    while (ua.size() < kMaxUaBytes + 1) ua += wechat_ua(rng);
    uas.push_back(ua.substr(0, kMaxUaBytes));
    uas.push_back(ua.substr(0, kMaxUaBytes + 1));
  }
  // Random text over the markers' own bytes in both cases, with bytes outside ASCII.
  std::string alphabet = "/-. ";
  for (const std::string& marker : markers) alphabet += marker;
  alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ\x80\xc3\xa9\xff";
  for (int i = 0; i < 20'000; ++i) {
    std::string ua(rng() % 300, ' ');
    for (char& c : ua) c = alphabet[rng() % alphabet.size()];
    if (rng() % 4 == 0) {
      ua.insert(rng() % (ua.size() + 1), mixed_case(markers[rng() % markers.size()]));
    }
    uas.push_back(ua);
  }
  int bots = 0;
  for (const std::string& ua : uas) {
    const bool expected = is_bot_user_agent_by_search(ua);
    ASSERT_EQ(is_bot_user_agent(ua), expected) << '"' << ua << '"';
    for (const auto scan : {internal::BotScan::pairs, internal::BotScan::avx2}) {
      if (!internal::bot_scan_available(scan)) continue;
      ASSERT_EQ(internal::is_bot_user_agent_by(scan, ua), expected)
          << "scan " << static_cast<int>(scan) << " \"" << ua << '"';
    }
    bots += expected;
  }
  // Both answers are well represented.
  EXPECT_GT(bots, 1'000);
  EXPECT_GT(static_cast<int>(uas.size()) - bots, 1'000);
}

TEST(FraudSignals, RejectTurnsChosenReasonsIntoRejectionsAndIsOffByDefault) {
  Campaign campaign = make_campaign();
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  EXPECT_FALSE(observe(monitor, {"a", "d", "1.2.3.4", "curl/8.0", 0}, campaign).reject);
  campaign.fraud.reject = flag_of(FraudReason::bot_ua);
  monitor.set_campaign(campaign);
  const Observation bot = observe(monitor, {"b", "d", "1.2.3.4", "curl/8.0", 0}, campaign);
  EXPECT_TRUE(bot.reject);
  EXPECT_EQ(bot.flags, flag_of(FraudReason::bot_ua));
  EXPECT_FALSE(observe(monitor, {"c", "", "1.2.3.4", "Mozilla/5.0", 0}, campaign).reject);
  EXPECT_EQ(monitor.flag_counts("ordos")[static_cast<int>(FraudReason::bot_ua)], 1u);
  EXPECT_NE(monitor.report_json("ordos")->find(R"("rejected":1)"), std::string::npos);
}

TEST(FraudSignals, UnknownCampaignsAndCandidatesGiveNoFlags) {
  FraudMonitor monitor;
  EXPECT_EQ(monitor.find("nope"), nullptr);
  EXPECT_FALSE(monitor.report_json("nope").has_value());
  EXPECT_EQ(monitor.bytes("nope"), 0u);
  FraudMonitor::CampaignFraud& ordos = monitor.set_campaign(make_campaign());
  EXPECT_EQ(monitor.find("ordos"), &ordos);
  Ballot ballot;
  ballot.campaign = "ordos";
  ballot.voter = "v";
  ballot.ua = "curl/8.0";  // a bot, were the candidate known
  EXPECT_EQ(monitor.observe(ordos, ballot, 99, kStart, 0).flags, 0u);
}

TEST(FraudSubnets, NamesIpv4Slash24AndIpv6Slash64) {
  EXPECT_EQ(subnet_of("218.21.5.7"), "218.21.5.0/24");
  EXPECT_EQ(subnet_of("2408:8207:18a0:b3e0:1c2d::7"), "2408:8207:18a0:b3e0::/64");
  EXPECT_EQ(subnet_of("2001:db8::1"), "2001:db8:0:0::/64");
  EXPECT_EQ(subnet_of("not-an-ip"), "not-an-ip");
}

// Addresses in the forms frontends, proxies and dual-stack listeners really write them: an IPv4
// voter seen as IPv4-mapped IPv6 is in its /24 (all of them would otherwise share one /64 and
// look like one crowd), the longest textual form (45 bytes) is read, and brackets and zones are
// taken off.
TEST(FraudSubnets, ReadsTheFormsRealAddressesComeIn) {
  EXPECT_EQ(subnet_of("::ffff:218.21.5.7"), "218.21.5.0/24");
  EXPECT_EQ(subnet_of("::FFFF:218.21.6.7"), "218.21.6.0/24");
  EXPECT_EQ(subnet_of("::ffff:da15:507"), "218.21.5.0/24");
  const std::string longest = "0000:0000:0000:0000:0000:ffff:218.121.105.107";
  EXPECT_EQ(longest.size(), 45u);  // INET6_ADDRSTRLEN less its terminating zero
  EXPECT_EQ(subnet_of(longest), "218.121.105.0/24");
  EXPECT_EQ(subnet_of("2408:8207:18a0:b3e0:0000:0000:0000:0007"), "2408:8207:18a0:b3e0::/64");
  EXPECT_EQ(subnet_of("[2408:8207:18a0:b3e0::7]"), "2408:8207:18a0:b3e0::/64");
  EXPECT_EQ(subnet_of("fe80::1c2d:7%wlan0"), "fe80:0:0:0::/64");
  EXPECT_EQ(subnet_of("0000:0000:0000:0000:0000:ffff:218.21.5.7"), "218.21.5.0/24");
  EXPECT_EQ(subnet_of("::ffff:0:218.21.5.7"), "0:0:0:0::/64");  // SIIT's translated form
}

// subnet_of() as inet_pton() and printf name it: what the IPv4 fast path must agree with.
std::string subnet_by_inet_pton(std::string_view ip) {
  char text[INET6_ADDRSTRLEN + 1] = {};
  char out[64];
  std::string_view address = ip;  // without [brackets] or a %zone
  if (address.size() > 2 && address[0] == '[' && address.find(']') != std::string_view::npos) {
    address = address.substr(1, address.find(']') - 1);
  }
  address = address.substr(0, address.find('%'));
  if (address.size() < sizeof(text)) {
    std::copy(address.begin(), address.end(), text);
    unsigned char bytes[16] = {};
    if (inet_pton(AF_INET, text, bytes) == 1) {
      return std::string(
          out, static_cast<std::size_t>(
                   std::snprintf(out, sizeof(out), "%u.%u.%u.0/24", bytes[0], bytes[1], bytes[2])));
    }
    const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET6, text, bytes) == 1 && std::memcmp(bytes, mapped, 12) == 0) {
      return std::string(
          out, static_cast<std::size_t>(std::snprintf(out, sizeof(out), "%u.%u.%u.0/24", bytes[12],
                                                      bytes[13], bytes[14])));
    }
    if (inet_pton(AF_INET6, text, bytes) == 1) {
      return std::string(out, static_cast<std::size_t>(std::snprintf(
                                  out, sizeof(out), "%x:%x:%x:%x::/64", (bytes[0] << 8) | bytes[1],
                                  (bytes[2] << 8) | bytes[3], (bytes[4] << 8) | bytes[5],
                                  (bytes[6] << 8) | bytes[7])));
    }
  }
  return std::string(ip.substr(0, 64));
}

TEST(FraudSubnets, AgreeWithInetPtonOnAddressesAndNearMisses) {
  std::mt19937 rng(kSeed);
  std::printf("seed %u\n", kSeed);
  std::vector<std::string> ips = {
      "0.0.0.0",
      "255.255.255.255",
      "256.1.1.1",
      "1.2.3.256",
      "01.2.3.4",
      "1.2.3.04",
      "1.2.3.0",
      "1.2.3",
      "1.2.3.4.",
      ".1.2.3.4",
      "1..2.3",
      "1.2.3.4.5",
      "1.2.3.-4",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1.2.3.4/24",
      "1.2.3.a",
      "1.2.3.1000",
      "999.1.1.1",
      "00.1.1.1",
      "",
      ".",
      "...",
      "1234",
      "::1",
      "::ffff:1.2.3.4",
      "2408:8207:18a0:b3e0:1c2d::7",
      "fe80::1%eth0",
      "1.2.3.4:80",
      "10.0.0.1",
      "192.168.001.1",
      "0.0.0.00",
  };
  ips.push_back(std::string("1.2.3.4\0junk", 12));
  ips.push_back(std::string(100, '1'));
  const std::string bytes = "0123456789.:abcdef";
  for (int i = 0; i < 20'000; ++i) {
    std::string ip;
    if (i % 2 == 0) {
      for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0) ip += '.';
        ip += std::to_string(rng() % (i % 8 == 0 ? 300 : 256));
      }
      if (i % 10 == 0) ip.insert(rng() % (ip.size() + 1), 1, bytes[rng() % bytes.size()]);
    } else {
      ip.resize(rng() % 20);
      for (char& c : ip) c = bytes[rng() % (i % 4 == 1 ? 11 : bytes.size())];
    }
    ips.push_back(ip);
  }
  for (const std::string& ip : ips) ASSERT_EQ(subnet_of(ip), subnet_by_inet_pton(ip)) << ip;
}

TEST(FraudReport, ShowsTheFarmFirstWithConcentration) {
  std::mt19937 rng(kSeed);
  const Campaign campaign = make_campaign(11);
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  auto votes = office_crowd(rng, 60, 10, "218.21.5.7");
  for (int i = 0; i < 300; ++i) {
    votes.push_back(
        {"farm-" + std::to_string(i), "emu", "39.1.2.3", "same-ua", 10, kStart + i * 1'000});
  }
  run(monitor, campaign, votes);
  const std::string report = *monitor.report_json("ordos", 3);
  EXPECT_EQ(report.find(R"({"campaign":"ordos","flags":{"ip_flood":)"), 0u) << report;
  EXPECT_NE(report.find(R"("top_ips":[{"key":"39.1.2.3","votes":300})"), std::string::npos)
      << report;
  EXPECT_NE(report.find(R"("top_subnets":[{"key":"39.1.2.0/24","votes":300})"), std::string::npos)
      << report;
  EXPECT_NE(report.find(R"("top_devices":[{"key":"emu","votes":300})"), std::string::npos)
      << report;
  EXPECT_NE(report.find(R"({"candidate":"c10","votes":300,)"), std::string::npos) << report;
  EXPECT_NE(report.find(R"("top_ips_share":1.0000,"top_devices_share":1.0000,"top_ip":"39.1.2.3")"),
            std::string::npos)
      << report;
}

TEST(FraudReplay, RebuildsTheSketchesAndKeepsTheStoredFlags) {
  const Campaign campaign = make_campaign();
  FraudMonitor live;
  FraudMonitor recovered;
  live.set_campaign(campaign);
  recovered.set_campaign(campaign);
  std::vector<Vote> votes;
  for (int i = 0; i < 200; ++i) {
    votes.push_back({"v" + std::to_string(i), i % 2 == 0 ? "" : "d",
                     "9.9.9." + std::to_string(i % 3), "same", 1, kStart + i * 100});
  }
  for (const Vote& vote : votes) {
    const FraudFlags flags = observe(live, vote, campaign).flags;
    Ballot ballot;
    ballot.campaign = "ordos";
    ballot.candidate = "c1";
    ballot.voter = vote.voter;
    ballot.device = vote.device;
    ballot.ip = vote.ip;
    ballot.ua = vote.ua;
    recovered.replay(ballot, vote.server_ms, 0, flags);
  }
  EXPECT_EQ(live.report_json("ordos"), recovered.report_json("ordos"));
  EXPECT_EQ(live.flag_counts("ordos"), recovered.flag_counts("ordos"));
  // Stored flags win over what the thresholds say today.
  Ballot ballot;
  ballot.campaign = "ordos";
  ballot.candidate = "c2";
  ballot.voter = "x";
  ballot.device = "dx";
  ballot.ip = "7.7.7.7";
  ballot.ua = "ua";
  recovered.replay(ballot, kStart, 0, flag_of(FraudReason::burst));
  EXPECT_EQ(recovered.flag_counts("ordos")[static_cast<int>(FraudReason::burst)], 1u);
}

// ---- Sketches ----

// A Zipf-like stream over `keys` keys; returns the true counts.
std::vector<std::uint64_t> zipf_stream(std::mt19937_64& rng, std::size_t keys, std::size_t n,
                                       std::vector<std::uint64_t>& stream) {
  std::vector<double> weights(keys);
  for (std::size_t i = 0; i < keys; ++i) weights[i] = 1.0 / static_cast<double>(i + 1);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::vector<std::uint64_t> counts(keys);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t key = pick(rng);
    ++counts[key];
    stream.push_back(key);
  }
  return counts;
}

void expect_space_saving_bounds(const SpaceSaving& sketch,
                                const std::vector<std::uint64_t>& counts) {
  const std::uint64_t bound = sketch.total() / sketch.capacity();
  for (std::size_t key = 0; key < counts.size(); ++key) {
    const std::uint64_t estimate = sketch.estimate(key + 1);
    EXPECT_GE(estimate, counts[key]) << key;
    EXPECT_LE(estimate, counts[key] + bound) << key;
  }
  // Every key above N/k is held, with a guaranteed count below its true one.
  std::map<std::string, HeavyHitter> held;
  for (const HeavyHitter& h : sketch.top(sketch.capacity())) held[h.key] = h;
  for (std::size_t key = 0; key < counts.size(); ++key) {
    if (counts[key] <= bound) continue;
    const auto it = held.find("k" + std::to_string(key));
    ASSERT_NE(it, held.end()) << key;
    EXPECT_LE(it->second.votes - it->second.error, counts[key]);
  }
}

TEST(SpaceSaving, ErrorStaysWithinNOverK) {
  std::mt19937_64 rng(kSeed);
  std::vector<std::uint64_t> stream;
  const auto counts = zipf_stream(rng, 20'000, 300'000, stream);
  SpaceSaving sketch(100);
  for (std::uint64_t key : stream) sketch.add(key + 1, "k" + std::to_string(key));
  EXPECT_EQ(sketch.total(), 300'000u);
  EXPECT_EQ(sketch.size(), 100u);
  expect_space_saving_bounds(sketch, counts);
  EXPECT_EQ(sketch.top(1).front().key, "k0");
}

// Space-Saving's guarantees whichever smallest counter a new key takes: the counters add up
// to the stream (until a merge), an estimate is never below the truth nor above it by more
// than N/k (a key not held estimates as the smallest counter), every key above N/k is held,
// and votes - error is a lower bound. `counts` maps each key's hash to its true count.
void expect_space_saving_guarantees(const SpaceSaving& sketch,
                                    const std::map<std::uint64_t, std::uint64_t>& counts,
                                    bool merged = false) {
  const std::uint64_t bound = sketch.total() / sketch.capacity();
  std::uint64_t held_votes = 0;
  std::map<std::string, HeavyHitter> held;
  for (const HeavyHitter& h : sketch.top(sketch.capacity())) {
    held_votes += h.votes;
    held[h.key] = h;
  }
  if (!merged) {
    EXPECT_EQ(held_votes, sketch.total());
  }
  for (const auto& [hash, count] : counts) {
    const std::uint64_t estimate = sketch.estimate(hash);
    ASSERT_GE(estimate, count) << hash;
    ASSERT_LE(estimate, count + bound) << hash;
    const auto it = held.find("k" + std::to_string(hash));
    if (count > bound) {
      ASSERT_NE(it, held.end()) << hash;
    }
    if (it != held.end()) {
      ASSERT_EQ(it->second.votes, estimate) << hash;
      ASSERT_LE(it->second.votes - it->second.error, count) << hash;
    }
  }
}

TEST(SpaceSaving, KeepsItsGuaranteesUnderFloodsOfNewKeysAndHeavyWeights) {
  std::mt19937_64 rng(kSeed);
  std::printf("seed %u\n", kSeed);
  struct Case {
    const char* name;
    std::size_t capacity;
    std::function<std::pair<std::uint64_t, std::uint64_t>(std::size_t)> next;  // key, weight
  };
  std::uint64_t fresh = 1'000'000;
  const std::vector<Case> cases = {
      // Every vote a new key (many distinct addresses).
      {"distinct", 64,
       [&](std::size_t) {
         return std::pair{fresh++, std::uint64_t{1}};
       }},
      // Ten heavy keys, 4 % of the stream each, in a flood of new keys.
      {"heavy in a flood", 64,
       [&](std::size_t) {
         const std::uint64_t roll = rng() % 100;
         return std::pair{roll < 40 ? 1 + roll % 10 : fresh++, std::uint64_t{1}};
       }},
      // One key more than the counters, round robin: every counter is at the floor in turn.
      {"round robin", 64,
       [&](std::size_t i) {
         return std::pair{1 + i % 65, std::uint64_t{1}};
       }},
      // Weighted adds over a skewed key set with a drifting hot spot.
      {"weighted", 32,
       [&](std::size_t i) {
         const std::uint64_t key = rng() % 4 == 0 ? 1 + (i / 5'000) % 7 : 100 + rng() % 2'000;
         return std::pair{key, 1 + rng() % 5};
       }},
      // Capacity one: the only counter is always the smallest.
      {"single counter", 1,
       [&](std::size_t) {
         return std::pair{1 + rng() % 3, std::uint64_t{1}};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SpaceSaving sketch(c.capacity);
    std::map<std::uint64_t, std::uint64_t> counts;
    for (std::size_t i = 0; i < 50'000; ++i) {
      const auto [key, weight] = c.next(i);
      counts[key] += weight;
      // A key not held takes a smallest counter: its estimate grows from that counter, which
      // estimate() showed for it, exactly as a held key's does.
      const std::uint64_t before = sketch.estimate(key);
      ASSERT_EQ(sketch.add(key, "k" + std::to_string(key), weight), before + weight);
      if (i % 10'000 == 9'999) expect_space_saving_guarantees(sketch, counts);
    }
    expect_space_saving_guarantees(sketch, counts);
    // Merging keeps them, and adding after a merge too.
    SpaceSaving other(c.capacity);
    for (std::size_t i = 0; i < 5'000; ++i) {
      const auto [key, weight] = c.next(i);
      counts[key] += weight;
      other.add(key, "k" + std::to_string(key), weight);
    }
    sketch.merge(other);
    expect_space_saving_guarantees(sketch, counts, true);
    for (std::size_t i = 0; i < 5'000; ++i) {
      const auto [key, weight] = c.next(i);
      counts[key] += weight;
      sketch.add(key, "k" + std::to_string(key), weight);
    }
    expect_space_saving_guarantees(sketch, counts, true);
  }
}

TEST(SpaceSaving, MergedSummariesKeepTheBoundOfTheWholeStream) {
  std::mt19937_64 rng(kSeed);
  std::vector<std::uint64_t> stream;
  const auto counts = zipf_stream(rng, 20'000, 300'000, stream);
  SpaceSaving left(100);
  SpaceSaving right(100);
  SpaceSaving whole_exact(30'000);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    // Different halves see different key mixes: the left gets the even keys more often.
    SpaceSaving& side = (stream[i] % 2 == 0 && i % 4 != 0) ? left : right;
    side.add(stream[i] + 1, "k" + std::to_string(stream[i]));
  }
  left.merge(right);
  EXPECT_EQ(left.total(), 300'000u);
  expect_space_saving_bounds(left, counts);
}

TEST(SpaceSaving, MergeIsExactWhileNothingWasEvicted) {
  SpaceSaving a(10);
  SpaceSaving b(10);
  a.add(1, "one", 5);
  a.add(2, "two", 3);
  b.add(2, "two", 4);
  b.add(3, "three", 1);
  a.merge(b);
  EXPECT_EQ(a.estimate(1), 5u);
  EXPECT_EQ(a.estimate(2), 7u);
  EXPECT_EQ(a.estimate(3), 1u);
  EXPECT_EQ(a.top(1).front().key, "two");
  EXPECT_EQ(a.top(3).back().error, 0u);
}

TEST(WindowCounts, SlidesAndMerges) {
  WindowCounts left(64);
  WindowCounts right(64);
  constexpr std::int64_t kWindow = 60'000;
  const std::int64_t base = kStart / kWindow * kWindow;
  for (int i = 0; i < 30; ++i) left.add(42, base + i * 1'000, kWindow);
  for (int i = 0; i < 20; ++i) right.add(42, base + 30'000 + i * 1'000, kWindow);
  EXPECT_DOUBLE_EQ(left.add(42, base + 59'000, kWindow).estimate, 31);
  left.merge(right);
  EXPECT_DOUBLE_EQ(left.add(42, base + 59'500, kWindow).estimate, 52);
  // Half way through the next window half of the previous one still counts.
  EXPECT_NEAR(left.add(42, base + kWindow + kWindow / 2, kWindow).estimate, 1 + 52 / 2.0, 1e-9);
  // Two windows later it is gone.
  EXPECT_DOUBLE_EQ(left.add(42, base + 3 * kWindow, kWindow).estimate, 1);
}

TEST(WindowCounts, ClockworkGapsHaveASmallCoefficientOfVariation) {
  WindowCounts counts(64);
  WindowCounts::Hit hit;
  for (int i = 0; i < 50; ++i) hit = counts.add(7, kStart + i * 2'000, 600'000);
  EXPECT_LT(hit.gap_cv, 0.01);
  std::mt19937 rng(kSeed);
  std::exponential_distribution<double> human(1.0 / 2'000);
  double at = kStart;
  for (int i = 0; i < 200; ++i) {
    at += human(rng);
    hit = counts.add(8, static_cast<std::int64_t>(at), 600'000);
  }
  EXPECT_GT(hit.gap_cv, 0.3);
}

TEST(DeviceVoters, CountsDistinctVotersAndMerges) {
  DeviceVoters left(1024);
  DeviceVoters right(1024);
  std::uint32_t voters = 0;
  for (std::uint64_t v = 0; v < 3; ++v) voters = left.add(99, v * 0x9e3779b97f4a7c15ULL, 1);
  EXPECT_EQ(left.add(99, 0, 1), 3u);  // a voter seen again
  EXPECT_EQ(voters, 3u);
  for (std::uint64_t v = 3; v < 40; ++v) voters = right.add(99, v * 0x9e3779b97f4a7c15ULL, 1);
  EXPECT_GE(voters, 30u);
  left.merge(right);
  const std::uint32_t merged = left.add(99, 0, 1);
  EXPECT_GE(merged, 34u);
  EXPECT_LE(merged, 48u);
  EXPECT_EQ(left.add(99, 0, 2), 1u);  // another period starts again
}

TEST(MinuteCounts, CountsPerMinuteAndMerges) {
  MinuteCounts a;
  MinuteCounts b;
  const std::int64_t minute = kStart / 60'000;
  for (int i = 0; i < 5; ++i) a.add(kStart);
  for (int i = 0; i < 7; ++i) b.add(kStart);
  b.add(kStart + 60'000);
  a.merge(b);
  EXPECT_EQ(a.count(minute), 12u);
  EXPECT_EQ(a.count(minute + 1), 1u);
  EXPECT_EQ(a.count(minute + 64), 0u);
  EXPECT_EQ(a.add(kStart - 64 * 60'000), 0u);  // too old: its bucket holds a newer minute
}

// The memory bound of docs/FRAUD.md, measured with the structures' own accounting after ten
// million distinct IPs, devices and voters.
TEST(FraudMemory, StaysUnderTheBoundAtTenMillionDistinctKeys) {
  const Campaign campaign = make_campaign(20);
  FraudMonitor monitor;
  monitor.set_campaign(campaign);
  const std::size_t bound = FraudMonitor::bytes_bound(FraudOptions{});
  std::printf("bound %zu bytes (%.1f MiB)\n", bound, bound / 1048576.0);
  EXPECT_LT(bound, std::size_t{32} << 20);
  const std::size_t empty = monitor.bytes("ordos");
  char ip[32];
  std::string device;
  std::string voter;
  Ballot ballot;
  ballot.campaign = "ordos";
  ballot.ua = "Mozilla/5.0 MicroMessenger/8.0.33";
  constexpr std::uint32_t kKeys = 10'000'000;
  for (std::uint32_t i = 0; i < kKeys; ++i) {
    std::snprintf(ip, sizeof(ip), "%u.%u.%u.%u", 1 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255,
                  i & 255);
    device = "device-" + std::to_string(i);
    voter = "voter-" + std::to_string(i);
    ballot.ip = ip;
    ballot.device = device;
    ballot.voter = voter;
    monitor.observe(*monitor.find(ballot.campaign), ballot, i % 20, kStart + i / 10,
                    0);  // 10,000 votes a second
    if (i == kKeys / 2) {
      EXPECT_LE(monitor.bytes("ordos"), bound);
    }
  }
  const std::size_t full = monitor.bytes("ordos");
  std::printf("empty %zu bytes, after %u distinct keys %zu bytes\n", empty, kKeys, full);
  EXPECT_LE(full, bound);
  // Sized up front: ten million keys add only the candidates' states.
  EXPECT_LE(full - empty, 20 * (bound - empty) / kMaxCandidates + 4096);
}

}  // namespace
}  // namespace tally::engine
