// FraudKeys: the fraud monitor's sketch keys of one vote (tally/engine/fraud.h). Worked out
// once per ballot, when the engine prefetches it, and read again when the vote is observed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tally::engine {

struct FraudKeys {
  static constexpr std::size_t kSubnetBytes = 64;

  // The vote's subnet ("a.b.c.0/24", "x:x:x:x::/64", or the address itself): a report label.
  std::string_view subnet() const { return {subnet_text, subnet_size}; }

  bool valid = false;  // false: not worked out, observe() works them out itself
  char subnet_text[kSubnetBytes] = {};
  std::size_t subnet_size = 0;
  std::uint64_t ip_hash = 0, subnet_hash = 0, device_hash = 0;
  std::uint64_t ip_key = 0, subnet_key = 0, timing_key = 0;  // look-alike and timing rows
};

}  // namespace tally::engine
