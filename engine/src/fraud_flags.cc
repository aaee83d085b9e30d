// Wire words of the fraud reasons (DESIGN.md, "Fraud signals").
#include "tally/engine/fraud_flags.h"

#include <array>

namespace tally::engine {
namespace {

// Indexed by FraudReason, whose values are part of the stored format.
constexpr std::array<std::string_view, kFraudReasonCount> kReasonWords = {
    "ip_flood", "device_multi_account", "burst", "no_device", "bot_ua",
};
static_assert(kReasonWords[static_cast<int>(FraudReason::bot_ua)] == "bot_ua");
static_assert(kReasonWords[static_cast<int>(FraudReason::ip_flood)] == "ip_flood");

}  // namespace

std::string_view to_string(FraudReason reason) {
  const auto index = static_cast<std::size_t>(reason);
  return index < kReasonWords.size() ? kReasonWords[index] : std::string_view("unknown");
}

std::optional<FraudReason> fraud_reason_from_string(std::string_view text) {
  for (std::size_t i = 0; i < kReasonWords.size(); ++i) {
    if (kReasonWords[i] == text) return static_cast<FraudReason>(i);
  }
  return std::nullopt;
}

}  // namespace tally::engine
