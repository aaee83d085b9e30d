// FraudMonitor under concurrent observers (run under TSan in CI).
//
// Property: threads that observe ballots at once, while another thread installs campaign
// versions and reads reports, lose no count: every heavy-hitter count and every flag count
// equals what one thread observing the same ballots would find, the shared-phone farm is
// flagged, and nothing races (TSan). The interleaving is the scheduler's; the seed only
// drives which ballots each thread sends.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tally/engine/fraud.h"

namespace tally::engine {
namespace {

constexpr std::int64_t kStart = 1'680'000'000'000;

TEST(FraudConcurrency, ConcurrentObserversLoseNoCountAndReadersSeeConsistentReports) {
  const std::uint32_t seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  Campaign campaign;
  campaign.id = "ordos";
  campaign.closes_at_ms = kStart * 2;
  for (int i = 0; i < 8; ++i) campaign.candidates.push_back({"c" + std::to_string(i), "n", "", ""});
  FraudMonitor monitor;
  monitor.set_campaign(campaign);

  constexpr int kThreads = 4;
  constexpr int kVotesPerThread = 20'000;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed + static_cast<std::uint32_t>(t));
      std::string voter;
      std::string ip;
      Ballot ballot;
      ballot.campaign = "ordos";
      ballot.ua = "Mozilla/5.0 MicroMessenger/8.0.33";
      for (int i = 0; i < kVotesPerThread; ++i) {
        voter = "t" + std::to_string(t) + "-" + std::to_string(i);
        ip = "10.0." + std::to_string(t) + "." + std::to_string(rng() % 8);
        ballot.voter = voter;
        ballot.ip = ip;
        // Every thread's votes share one phone: a multi-account farm seen from every thread.
        ballot.device = i % 2 == 0 ? std::string_view("shared-phone") : std::string_view();
        const auto candidate = static_cast<std::uint32_t>(rng() % 8);
        monitor.observe(*monitor.find(ballot.campaign), ballot, candidate, kStart + i * 10, 0);
      }
    });
  }
  std::thread reader([&] {
    // Relaxed: a stop flag; the join below orders everything else.
    while (!done.load(std::memory_order_relaxed)) {
      Campaign next = campaign;
      next.fraud.burst_factor = 20;
      monitor.set_campaign(next);
      const auto report = monitor.report_json("ordos");
      ASSERT_TRUE(report.has_value());
      EXPECT_EQ(report->find(R"({"campaign":"ordos")"), 0u);
    }
  });
  for (auto& thread : threads) thread.join();
  done.store(true, std::memory_order_relaxed);
  reader.join();

  const auto flags = monitor.flag_counts("ordos");
  constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kVotesPerThread;
  EXPECT_EQ(flags[static_cast<int>(FraudReason::no_device)], kTotal / 2);
  // The shared phone is flagged once it has more than five voters: all but a handful.
  EXPECT_GE(flags[static_cast<int>(FraudReason::device_multi_account)], kTotal / 2 - 10);
  const std::string report = *monitor.report_json("ordos", 100);
  EXPECT_NE(report.find(R"("top_devices":[{"key":"shared-phone","votes":)" +
                        std::to_string(kTotal / 2) + "}]"),
            std::string::npos)
      << report;
  // 32 addresses, each under its shard's capacity: the counts are exact and add up.
  std::uint64_t sum = 0;
  for (std::size_t at = report.find(R"("top_ips":[)");;) {
    at = report.find(R"("votes":)", at);
    if (at == std::string::npos || at > report.find(R"("top_subnets")")) break;
    at += 8;
    sum += std::stoull(report.substr(at));
  }
  EXPECT_EQ(sum, kTotal);
}

}  // namespace
}  // namespace tally::engine
