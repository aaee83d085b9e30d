// The two searches behind is_bot_user_agent() (tally/engine/fraud.h), for tests and benchmarks
// that hold each to the same answers. The vote path calls is_bot_user_agent(), which takes the
// AVX2 one where the CPU has it.
#pragma once

#include <string_view>

namespace tally::engine::internal {

enum class BotScan {
  pairs,  // portable: a bitmap test of the byte pairs at every position
  avx2,   // a filter of 32 positions at a time (x86-64 with AVX2), then the pair test on those
};

// Whether this build and CPU can run `scan`.
bool bot_scan_available(BotScan scan);
// is_bot_user_agent() by the given search. REQUIRES: bot_scan_available(scan).
bool is_bot_user_agent_by(BotScan scan, std::string_view ua);

}  // namespace tally::engine::internal
