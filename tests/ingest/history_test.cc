// The tally history behind GET /v1/campaigns/{id}/history: a fixed ring per campaign, oldest
// sample first, sampled from the engine's committed tallies, and its answer.
#include "history.h"

#include <gtest/gtest.h>

#include <string>

#include "tally/base/clock.h"
#include "log_world.h"

namespace tally::ingest::internal {
namespace {

using testing::kNoon;
using testing::make_campaign;

TEST(TallyHistory, KeepsTheLastHourOldestFirstInAFixedRing) {
  TallyHistory history;
  EXPECT_TRUE(history.samples("ordos").empty());
  const std::size_t taken = kHistoryCapacity + 5;
  for (std::size_t i = 0; i < taken; ++i) {
    history.record("ordos",
                   {.t_ms = static_cast<std::int64_t>(i) * 5'000, .total = i * 3, .valid = i * 2});
  }
  history.record("other", {.t_ms = 1, .total = 7, .valid = 6});
  const auto held = history.samples("ordos");
  ASSERT_EQ(held.size(), kHistoryCapacity);
  EXPECT_EQ(kHistoryCapacity, 720u);        // an hour of 5 s samples
  EXPECT_EQ(held.front().t_ms, 5 * 5'000);  // the five oldest were overwritten
  EXPECT_EQ(held.back().t_ms, static_cast<std::int64_t>(taken - 1) * 5'000);
  for (std::size_t i = 1; i < held.size(); ++i) EXPECT_LT(held[i - 1].t_ms, held[i].t_ms);
  EXPECT_EQ(
      history.json("other"),
      R"({"campaign":"other","interval_ms":5000,"samples":[{"t_ms":1,"total":7,"valid":6}]})");
}

TEST(TallyHistory, SamplesEveryCampaignAndAnswersItsHistory) {
  ManualClock clock(kNoon);
  engine::Engine engine(clock);
  ASSERT_EQ(engine.install_campaign(make_campaign(), 1), engine::PutOutcome::created);
  engine.publish(1);
  TallyHistory history;
  boost::asio::io_context io;
  HistorySampler sampler(io, engine, history);
  sampler.start();  // the first sample at once
  clock.advance_ms(5'000);
  history.sample(engine);
  const auto held = history.samples("ordos");
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].t_ms, kNoon);
  EXPECT_EQ(held[1].t_ms, kNoon + 5'000);
  EXPECT_EQ(held[1].total, 0u);
  EXPECT_EQ(held[1].valid, 0u);

  Request request;
  Answer answer = history_answer(history, engine, "ordos", request);
  EXPECT_EQ(answer.http_code, 200);
  EXPECT_EQ(answer.body.find(R"({"campaign":"ordos","interval_ms":5000,"samples":[{"t_ms":)"), 0u)
      << answer.body;
  ASSERT_FALSE(answer.etag.empty());
  request.if_none_match = answer.etag;
  EXPECT_EQ(history_answer(history, engine, "ordos", request).http_code, 304);
  const Answer unknown = history_answer(history, engine, "no-such", request);
  EXPECT_EQ(unknown.http_code, 404);
  EXPECT_EQ(unknown.status_word, "unknown_campaign");
}

}  // namespace
}  // namespace tally::ingest::internal
