// base's hand-written pieces against the Debian libraries that do the same: UTF-8 validation
// (tally::is_valid_utf8 against simdjson::validate_utf8) on the field sizes they check in tally
// (a voter id, a WeChat user agent, a campaign definition).
//
//   build/bench/base_bench
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <string>

#include "tally/base/json.h"
#include "tally/corpus/user_agents.h"

namespace {

std::string sample(int which) {
  switch (which) {
    case 0: return "oWx3T5nHq9Jk2LmA8pZr4sVb6Y1c";  // a WeChat openid: 28 bytes
    case 1: return std::string(tally::corpus::real_user_agents().front().agent);  // WeChat, Android
    default: {
      // A campaign definition's size: 40 candidates with Chinese names and units.
      std::string json = R"({"id":"ordos-2023-zuimei","title":"最美产业工人","candidates":[)";
      for (int i = 0; i < 40; ++i) {
        json += R"({"id":"c)" + std::to_string(i) + R"(","name":"候选人","unit":"鄂尔多斯能源"},)";
      }
      json += "]}";
      return json;
    }
  }
}

void BM_Utf8Tally(benchmark::State& state) {
  const std::string text = sample(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(tally::is_valid_utf8(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_Utf8Tally)->Arg(0)->Arg(1)->Arg(2)->ArgName("sample");

void BM_Utf8Simdjson(benchmark::State& state) {
  const std::string text = sample(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(simdjson::validate_utf8(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_Utf8Simdjson)->Arg(0)->Arg(1)->Arg(2)->ArgName("sample");

}  // namespace

BENCHMARK_MAIN();
