// Unit tests of the text exposition: counts from the sharded counters, the engine and the
// sources appear as Prometheus families with the documented names and labels.
#include "tally/metrics/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tally/base/clock.h"
#include "tally/engine/fraud.h"
#include "tally/ingest/answer.h"

namespace tally::metrics {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

class MetricsTest : public ::testing::Test {
 protected:
  SystemClock clock_{0};
  engine::Engine engine_{clock_};
  Metrics metrics_{engine_, ingest::http_error_words()};
};

TEST_F(MetricsTest, AnswersAreCountedByStatusWord) {
  metrics_.count_answers(engine::VoteStatus::accepted);
  metrics_.count_answers(engine::VoteStatus::accepted);
  metrics_.count_answers(engine::VoteStatus::duplicate);
  metrics_.count_status_word("not_found");
  metrics_.count_status_word("overloaded");
  metrics_.count_status_word("no_such_word");
  const std::string text = metrics_.scrape();
  EXPECT_TRUE(has_line(text, R"(tally_ingest_requests_total{status="accepted"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(tally_ingest_requests_total{status="duplicate"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tally_ingest_requests_total{status="not_found"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tally_ingest_requests_total{status="overloaded"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tally_ingest_requests_total{status="closed"} 0)"));
  EXPECT_TRUE(has_line(text, "# TYPE tally_ingest_requests_total counter"));
}

TEST_F(MetricsTest, LatencyIsExportedAsAHistogram) {
  metrics_.observe_request_latency(std::chrono::microseconds(30));
  metrics_.observe_request_latency(std::chrono::milliseconds(2));
  const std::string text = metrics_.scrape();
  EXPECT_TRUE(has_line(text, "# TYPE tally_ingest_latency_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, R"(tally_ingest_latency_seconds_bucket{le="5e-05"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(tally_ingest_latency_seconds_bucket{le="0.0025"} 2)"));
  EXPECT_TRUE(has_line(text, R"(tally_ingest_latency_seconds_bucket{le="+Inf"} 2)"));
  EXPECT_TRUE(has_line(text, "tally_ingest_latency_seconds_count 2"));
}

TEST_F(MetricsTest, SourcesAppearWhenSet) {
  std::string text = metrics_.scrape();
  EXPECT_EQ(text.find("tally_ready"), std::string::npos);
  EXPECT_EQ(text.find("tally_commit_queue_depth"), std::string::npos);
  Sources sources;
  sources.ready = [] { return true; };
  sources.storage = [] {
    StorageFigures figures;
    figures.commit_batches = 3;
    figures.queue_depth = 7;
    figures.queue_capacity = 65536;
    figures.commit_write_latency.upper_bounds_seconds = {0.001};
    figures.commit_write_latency.cumulative_counts = {2, 3};
    figures.commit_write_latency.count = 3;
    figures.rocksdb_memtable_bytes = 4096;
    return figures;
  };
  metrics_.set_sources(std::move(sources));
  metrics_.set_recovery(std::chrono::milliseconds(1500));
  text = metrics_.scrape();
  EXPECT_TRUE(has_line(text, "tally_ready 1")) << text;
  EXPECT_TRUE(has_line(text, "tally_commit_batches_total 3"));
  EXPECT_TRUE(has_line(text, "tally_commit_queue_depth 7"));
  EXPECT_TRUE(has_line(text, "tally_commit_queue_capacity 65536"));
  EXPECT_TRUE(has_line(text, R"(tally_commit_write_seconds_bucket{le="0.001"} 2)"));
  EXPECT_TRUE(has_line(text, R"(tally_commit_write_seconds_bucket{le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(text, "tally_rocksdb_memtable_bytes 4096"));
  EXPECT_TRUE(has_line(text, "tally_recovery_seconds 1.5"));
}

TEST(MetricsFraud, SuspectReasonsHeavyHittersAndConcentrationAreExported) {
  ManualClock clock(1'700'000'000'000);
  engine::FraudMonitor fraud;
  engine::EngineOptions options;
  options.fraud = &fraud;
  engine::Engine engine(clock, options);
  engine::Campaign campaign;
  campaign.id = "camp";
  campaign.title = "t";
  campaign.opens_at_ms = 0;
  campaign.closes_at_ms = 2'000'000'000'000;
  campaign.rules = {engine::PeriodKind::campaign, 1, 1};
  campaign.candidates = {{"c01", "one", "", ""}, {"c02", "two", "", ""}};
  engine.install_campaign(campaign, 1);
  std::uint64_t seq = 1;
  for (int i = 0; i < 3; ++i) {
    const std::string voter = "v" + std::to_string(i);
    // No device and a scripted user agent: no_device and bot_ua.
    engine::Ballot ballot{"camp", "c01", voter, {}, "192.0.2.9", "curl/8.0", {}, {}};
    engine::Decision decision = engine.decide(ballot);
    ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
    engine.commit(std::move(decision.claim), ++seq, decision.flags);
  }
  engine.publish(seq);
  Metrics metrics(engine);
  Sources sources;
  sources.fraud = &fraud;
  metrics.set_sources(std::move(sources));
  const std::string text = metrics.scrape();
  EXPECT_TRUE(has_line(
      text, R"(tally_suspect_votes_total{campaign="camp",candidate="c01",reason="bot_ua"} 3)"))
      << text;
  EXPECT_TRUE(has_line(
      text, R"(tally_suspect_votes_total{campaign="camp",candidate="c01",reason="no_device"} 3)"));
  EXPECT_TRUE(
      has_line(text, R"(tally_fraud_flagged_votes_total{campaign="camp",reason="bot_ua"} 3)"));
  EXPECT_TRUE(has_line(
      text, R"(tally_fraud_heavy_hitter_votes{campaign="camp",kind="ip",key="192.0.2.9"} 3)"));
  EXPECT_TRUE(has_line(
      text, R"(tally_fraud_top_sources_share{campaign="camp",candidate="c01",source="ip"} 1)"));
}

// One series per candidate of every campaign, its display name as a label: UTF-8 as it is, and
// a quote, a backslash and a line feed escaped as the text format says.
TEST(MetricsCandidates, EveryCandidateOfEveryCampaignIsNamed) {
  SystemClock clock(0);
  engine::Engine engine(clock);
  engine::Campaign first;
  first.id = "first";
  first.title = "t";
  first.closes_at_ms = 1;
  first.candidates = {{"c01", "张伟", "", ""}, {"c02", "say \"hi\" \\ bye\nnow", "", ""}};
  engine.install_campaign(first, 1);
  engine::Campaign second = first;
  second.id = "second";
  second.candidates = {{"c01", "Émile", "", ""}};
  engine.install_campaign(second, 2);
  const std::string text = Metrics(engine).scrape();
  EXPECT_TRUE(has_line(text, "# TYPE tally_candidate_info gauge")) << text;
  EXPECT_TRUE(
      has_line(text, R"(tally_candidate_info{campaign="first",candidate="c01",name="张伟"} 1)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(tally_candidate_info{campaign="first",candidate="c02",name="say \"hi\" \\ bye\nnow"} 1)"));
  EXPECT_TRUE(
      has_line(text, R"(tally_candidate_info{campaign="second",candidate="c01",name="Émile"} 1)"));
  std::size_t series = 0;
  for (std::size_t at = 0; (at = text.find("\ntally_candidate_info{", at)) != std::string::npos;
       ++at) {
    ++series;
  }
  EXPECT_EQ(series, first.candidates.size() + second.candidates.size());
}

// Each load of the server beside its limit, as the server source reports them at each scrape.
TEST_F(MetricsTest, TheServerLoadIsShownBesideItsLimits) {
  EXPECT_EQ(metrics_.scrape().find("tally_http_connections"), std::string::npos);
  ServerFigures figures;
  figures.connections = 12;
  figures.max_connections = 10'000;
  figures.tally_streams = 3;
  figures.max_tally_streams = 256;
  figures.inflight_body_bytes = 8'388'608;
  figures.max_inflight_body_bytes = 268'435'456;
  Sources sources;
  sources.server = [&figures] { return figures; };
  metrics_.set_sources(std::move(sources));
  std::string text = metrics_.scrape();
  EXPECT_TRUE(has_line(text, "# TYPE tally_http_connections gauge")) << text;
  EXPECT_TRUE(has_line(text, "tally_http_connections 12"));
  EXPECT_TRUE(has_line(text, "tally_http_max_connections 10000"));
  EXPECT_TRUE(has_line(text, "tally_stream_connections 3"));
  EXPECT_TRUE(has_line(text, "tally_stream_max_connections 256"));
  EXPECT_TRUE(has_line(text, "tally_http_inflight_body_bytes 8388608"));
  EXPECT_TRUE(has_line(text, "tally_http_max_inflight_body_bytes 268435456"));
  figures.connections = 2;  // read again at each scrape
  text = metrics_.scrape();
  EXPECT_TRUE(has_line(text, "tally_http_connections 2")) << text;
}

// The value of the unlabelled sample `name` in `text`; -1 when there is none.
double sample(const std::string& text, const std::string& name) {
  const std::size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST_F(MetricsTest, TheProcessFiguresAreThisProcesss) {
  // Grown by a known amount between two scrapes: the RSS follows what this process touches.
  const std::string before = metrics_.scrape();
  std::vector<char> touched(64 << 20, 1);
  const std::string after = metrics_.scrape();
  EXPECT_TRUE(has_line(after, "# TYPE process_cpu_seconds_total counter")) << after;
  EXPECT_GT(sample(after, "process_cpu_seconds_total"), 0);
  EXPECT_GE(sample(after, "process_resident_memory_bytes") -
                sample(before, "process_resident_memory_bytes"),
            60.0 * (1 << 20));
  EXPECT_GE(sample(after, "process_virtual_memory_bytes"),
            sample(after, "process_resident_memory_bytes"));
  // stdin, stdout, stderr at least, and no more than the limit.
  EXPECT_GE(sample(after, "process_open_fds"), 3);
  EXPECT_LE(sample(after, "process_open_fds"), sample(after, "process_max_fds"));
  // Started in the last hour, and not in the future.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double started = sample(after, "process_start_time_seconds");
  EXPECT_LE(started, now + 1);
  EXPECT_GT(started, now - 3600);
  EXPECT_EQ(touched[touched.size() - 1], 1);
}

TEST_F(MetricsTest, EveryStatusWordIsDistinct) {
  ASSERT_EQ(metrics_.status_count(), engine::kVoteStatusCount + 4);
  for (std::size_t i = 0; i < metrics_.status_count(); ++i) {
    for (std::size_t j = i + 1; j < metrics_.status_count(); ++j) {
      EXPECT_NE(metrics_.status_word(i), metrics_.status_word(j));
    }
  }
}

}  // namespace
}  // namespace tally::metrics
