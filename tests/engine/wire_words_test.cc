// The wire words of vote statuses and fraud reasons: what answers and stored events spell.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tally/engine/fraud_flags.h"
#include "tally/engine/vote_status.h"

namespace tally::engine {
namespace {

TEST(VoteStatusWords, RoundTripAndCarryTheDesignedHttpCodes) {
  const std::pair<VoteStatus, std::pair<const char*, int>> expected[] = {
      {VoteStatus::accepted, {"accepted", 200}},
      {VoteStatus::duplicate, {"duplicate", 409}},
      {VoteStatus::quota_exceeded, {"quota_exceeded", 409}},
      {VoteStatus::closed, {"closed", 403}},
      {VoteStatus::unknown_campaign, {"unknown_campaign", 404}},
      {VoteStatus::unknown_candidate, {"unknown_candidate", 422}},
      {VoteStatus::invalid, {"invalid", 400}},
      {VoteStatus::unauthorized, {"unauthorized", 401}},
      {VoteStatus::forbidden, {"forbidden", 403}},
      {VoteStatus::too_large, {"too_large", 413}},
      {VoteStatus::rate_limited, {"rate_limited", 429}},
      {VoteStatus::overloaded, {"overloaded", 503}},
      {VoteStatus::unavailable, {"unavailable", 503}},
  };
  static_assert(std::size(expected) == kVoteStatusCount);
  for (const auto& [status, word_and_code] : expected) {
    EXPECT_EQ(to_string(status), word_and_code.first);
    EXPECT_EQ(http_code(status), word_and_code.second) << word_and_code.first;
    EXPECT_EQ(vote_status_from_string(word_and_code.first), status);
  }
  EXPECT_EQ(vote_status_from_string("Accepted"), std::nullopt);
  EXPECT_EQ(vote_status_from_string(""), std::nullopt);
  EXPECT_EQ(vote_status_from_string("not_found"), std::nullopt);
}

TEST(FraudReasonWords, RoundTripAndKeepTheirStoredBits) {
  const std::pair<FraudReason, const char*> expected[] = {
      {FraudReason::ip_flood, "ip_flood"},
      {FraudReason::device_multi_account, "device_multi_account"},
      {FraudReason::burst, "burst"},
      {FraudReason::no_device, "no_device"},
      {FraudReason::bot_ua, "bot_ua"},
  };
  static_assert(std::size(expected) == kFraudReasonCount);
  FraudFlags all = 0;
  for (const auto& [reason, word] : expected) {
    EXPECT_EQ(to_string(reason), word);
    EXPECT_EQ(fraud_reason_from_string(word), reason);
    EXPECT_EQ(all & flag_of(reason), 0u) << word;
    all |= flag_of(reason);
  }
  EXPECT_EQ(all, 0b11111u);
  EXPECT_EQ(fraud_reason_from_string("flood"), std::nullopt);
}

}  // namespace
}  // namespace tally::engine
