// The endpoints answered on the spot, and the checks before every endpoint, called as the
// connection calls them: over a real engine and a real log in a temporary directory.
#include "endpoints.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>

#include "tally/base/clock.h"
#include "tally/storage/vote_log.h"
#include "log_world.h"

namespace tally::ingest::internal {
namespace {

using engine::VoteStatus;
using testing::kNoon;
using testing::make_campaign;

constexpr std::string_view kIngest = "Bearer ingest-token-0123456789";
constexpr std::string_view kAdmin = "Bearer admin-token-0123456789ab";
constexpr std::string_view kRead = "Bearer read-token-0123456789abc";

class EndpointsTest : public ::testing::Test {
 protected:
  EndpointsTest() : log_(testing::started_log(dir_.sub("db"), engine_)), tokens_(token_set()) {}

  Backends backends() { return {engine_, *log_, nullptr, nullptr, nullptr, nullptr, nullptr}; }

  static TokenSet token_set() {
    TokenSet set;
    set.ingest.emplace_back(kIngest.substr(7));
    set.admin.emplace_back(kAdmin.substr(7));
    set.read.emplace_back(kRead.substr(7));
    return set;
  }

  Answer get(std::string target) {
    request_.method = boost::beast::http::verb::get;
    request_.target = std::move(target);
    return answer_now(backends(), request_, route(Method::get, request_.target));
  }

  testing::TempDir dir_;
  ManualClock clock_{kNoon};
  engine::Engine engine_{clock_};
  std::unique_ptr<storage::VoteLog> log_;
  Tokens tokens_;
  Request request_;
};

TEST_F(EndpointsTest, AuthAdmitsReadsUnlessProtectedAndRefusesWrongTokens) {
  EXPECT_FALSE(auth_refusal(tokens_, false, Endpoint::tally, ""));
  EXPECT_EQ(auth_refusal(tokens_, true, Endpoint::tally, "")->http_code, 401);
  EXPECT_FALSE(auth_refusal(tokens_, true, Endpoint::tally, kIngest));
  EXPECT_FALSE(auth_refusal(tokens_, true, Endpoint::dashboard, ""));
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::vote, "")->status_word, "unauthorized");
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::vote, "Bearer nope-nope-nope-nope")->http_code,
            401);
  EXPECT_FALSE(auth_refusal(tokens_, false, Endpoint::vote, kIngest));
  EXPECT_FALSE(auth_refusal(tokens_, false, Endpoint::vote, kAdmin));
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::campaign_put, kIngest)->status_word,
            "forbidden");
  EXPECT_FALSE(auth_refusal(tokens_, false, Endpoint::campaign_put, kAdmin));
  // A read token reads protected reads, and nothing else.
  EXPECT_FALSE(auth_refusal(tokens_, true, Endpoint::tally, kRead));
  EXPECT_FALSE(auth_refusal(tokens_, true, Endpoint::metrics, kRead));
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::vote, kRead)->http_code, 403);
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::vote_batch, kRead)->status_word, "forbidden");
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::campaign_put, kRead)->http_code, 403);
  EXPECT_EQ(auth_refusal(tokens_, false, Endpoint::vote_event, kRead)->http_code, 403);
  // Nothing there: the 404 says more than a 401 would.
  EXPECT_FALSE(auth_refusal(tokens_, true, Endpoint::not_found, ""));
}

TEST_F(EndpointsTest, BodyLimitsFollowTheRoute) {
  Limits limits;
  EXPECT_EQ(body_limit(limits, Endpoint::vote), limits.max_body_bytes);
  EXPECT_EQ(body_limit(limits, Endpoint::vote_batch), limits.max_batch_body_bytes);
  EXPECT_EQ(body_limit(limits, Endpoint::campaign_put), limits.max_campaign_body_bytes);
}

TEST_F(EndpointsTest, ACampaignShowsItsDefinitionAndItsStateNow) {
  const Answer answer = get("/v1/campaigns/ordos");
  EXPECT_EQ(answer.http_code, 200);
  EXPECT_TRUE(answer.body.starts_with(R"({"id":"ordos","title":)")) << answer.body;
  EXPECT_TRUE(answer.body.ends_with(R"(,"state":"open"})")) << answer.body;
  clock_.set_ms(testing::kCloses);
  EXPECT_TRUE(get("/v1/campaigns/ordos").body.ends_with(R"(,"state":"closed"})"));
  const Answer list = get("/v1/campaigns");
  EXPECT_TRUE(list.body.starts_with(R"({"campaigns":[{"id":"ordos")")) << list.body;
  EXPECT_EQ(get("/v1/campaigns/nope").status_word, "unknown_campaign");
}

TEST_F(EndpointsTest, TallyStoredEventsAndHealth) {
  const Answer tally = get("/v1/campaigns/ordos/tally");
  EXPECT_EQ(tally.http_code, 200);
  EXPECT_NE(tally.body.find(R"("as_of_seq":1)"), std::string::npos) << tally.body;
  EXPECT_EQ(get("/v1/campaigns/nope/tally").http_code, 404);
  EXPECT_NE(get("/v1/votes/1").body.find(R"("kind":"campaign")"), std::string::npos);
  const Answer missing = get("/v1/votes/99");
  EXPECT_EQ(missing.http_code, 404);
  EXPECT_EQ(missing.status_word, "not_found");
  EXPECT_EQ(get("/healthz").body, R"({"status":"ok"})");
  EXPECT_EQ(get("/readyz").body, R"({"status":"ready"})");
  log_->stop();
  EXPECT_EQ(get("/readyz").http_code, 503);
  EXPECT_EQ(get("/healthz").http_code, 200);
}

TEST_F(EndpointsTest, WhatWasNotSetUpAnswers501AndUnknownPaths404) {
  EXPECT_EQ(get("/metrics").http_code, 501);
  EXPECT_EQ(get("/v1/campaigns/ordos/fraud").http_code, 501);
  EXPECT_EQ(get("/v2/anything").http_code, 404);
  EXPECT_EQ(get("/").http_code, 200);  // the dashboard
  request_.method = boost::beast::http::verb::delete_;
  request_.target = "/v1/campaigns/ordos";
  const Answer refused = answer_now(backends(), request_, route(Method::other, request_.target));
  EXPECT_EQ(refused.http_code, 405);
  EXPECT_FALSE(refused.allow.empty());
}

TEST_F(EndpointsTest, ACampaignPutIsCheckedBeforeTheLog) {
  const std::string same = engine::campaign_to_json(make_campaign());
  auto elsewhere = campaign_to_put(same, "other");
  ASSERT_TRUE(std::holds_alternative<Answer>(elsewhere));
  EXPECT_EQ(std::get<Answer>(elsewhere).status_word, "invalid");
  EXPECT_EQ(std::get<Answer>(campaign_to_put("{", "ordos")).http_code, 400);
  auto parsed = campaign_to_put(same, "ordos");
  ASSERT_TRUE(std::holds_alternative<engine::Campaign>(parsed));

  // The version in force: nothing submitted, answered now.
  testing::OutcomeWaiter waiter;
  const engine::CampaignPut unchanged =
      engine::put_campaign(engine_, *log_, std::get<engine::Campaign>(parsed), waiter);
  EXPECT_EQ(unchanged.checked, engine::PutOutcome::unchanged);
  EXPECT_EQ(campaign_put_now(unchanged, "ordos")->body,
            R"({"status":"unchanged","campaign":"ordos"})");

  // A new title: submitted, the writer's word awaited.
  engine::Campaign retitled = make_campaign();
  retitled.title = "renamed";
  const engine::CampaignPut updated = engine::put_campaign(engine_, *log_, retitled, waiter);
  EXPECT_EQ(updated.checked, engine::PutOutcome::updated);
  EXPECT_EQ(updated.submitted, engine::SubmitResult::queued);
  EXPECT_FALSE(campaign_put_now(updated, "ordos"));
  EXPECT_EQ(campaign_put_answer(waiter.wait()).body, R"({"status":"updated","seq":2})");

  // New candidates once votes were claimed: a conflict, nothing submitted.
  engine::Ballot ballot;
  ballot.campaign = "ordos";
  ballot.candidate = "c01";
  ballot.voter = "v1";
  engine::Decision decision = engine_.decide(ballot);
  ASSERT_EQ(decision.status, VoteStatus::accepted);
  engine::Campaign more = retitled;
  more.candidates.push_back({"c05", "five", "unit", "能源"});
  const engine::CampaignPut conflict = engine::put_campaign(engine_, *log_, more, waiter);
  EXPECT_EQ(conflict.checked, engine::PutOutcome::conflict);
  EXPECT_EQ(campaign_put_now(conflict, "ordos")->http_code, 409);
  engine_.release(std::move(decision.claim));

  log_->stop();
  retitled.title = "renamed again";
  const engine::CampaignPut refused = engine::put_campaign(engine_, *log_, retitled, waiter);
  EXPECT_EQ(campaign_put_now(refused, "ordos")->status_word, "unavailable");
}

TEST_F(EndpointsTest, TheWritersWordOnACampaignBecomesTheAnswer) {
  engine::CommitOutcome outcome;
  outcome.status = VoteStatus::accepted;
  outcome.seq = 7;
  outcome.campaign_outcome = engine::PutOutcome::created;
  EXPECT_EQ(campaign_put_answer(outcome).http_code, 201);
  EXPECT_EQ(campaign_put_answer(outcome).body, R"({"status":"created","seq":7})");
  outcome.campaign_outcome = engine::PutOutcome::updated;
  EXPECT_EQ(campaign_put_answer(outcome).body, R"({"status":"updated","seq":7})");
  outcome.campaign_outcome = engine::PutOutcome::conflict;
  EXPECT_EQ(campaign_put_answer(outcome).http_code, 409);
  outcome.status = VoteStatus::unavailable;
  EXPECT_EQ(campaign_put_answer(outcome).http_code, 503);
  const engine::CampaignPut overloaded{engine::PutOutcome::updated,
                                       engine::SubmitResult::overloaded};
  EXPECT_EQ(campaign_put_now(overloaded, "ordos")->status_word, "overloaded");
}

}  // namespace
}  // namespace tally::ingest::internal
