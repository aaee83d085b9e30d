// Fraud flags: the reasons that make an accepted vote suspect, stored in its event as a
// bit set. Values are part of the stored format: append new reasons, never renumber.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tally::engine {

enum class FraudReason : std::uint8_t {
  ip_flood = 0,
  device_multi_account = 1,
  burst = 2,
  no_device = 3,
  bot_ua = 4,
};
inline constexpr int kFraudReasonCount = 5;

using FraudFlags = std::uint32_t;  // bit i set = FraudReason(i)

constexpr FraudFlags flag_of(FraudReason reason) {
  return FraudFlags{1} << static_cast<unsigned>(reason);
}
std::string_view to_string(FraudReason reason);
std::optional<FraudReason> fraud_reason_from_string(std::string_view text);

}  // namespace tally::engine
