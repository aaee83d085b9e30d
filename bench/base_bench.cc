// base's hand-written pieces against the Debian libraries that do the same: UTF-8 validation
// (tally::is_valid_utf8 against simdjson::validate_utf8) on the field sizes they check in tally
// (a voter id, a WeChat user agent, a campaign definition), and JSON writing (tally::JsonWriter
// against RapidJSON's Writer) of a stored vote as tallyctl export writes millions of them.
//
//   build/bench/base_bench
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <string>

#include "tally/base/json.h"
#include "tally/base/json_writer.h"
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

// A stored vote event's fields, as export writes them (docs/EVENT_FORMAT.md "JSON").
struct Vote {
  std::uint64_t seq = 812'345'678;
  std::string campaign = "ordos-2023-zuimei";
  std::string candidate = "c17";
  std::string voter = "oWx3T5nHq9Jk2LmA8pZr4sVb6Y1c";
  std::string device = "dev-5f2c9a1e7b3d4c60";
  std::string ip = "111.121.12.34";
  std::string ua = std::string(tally::corpus::real_user_agents().front().agent);
  std::string request_id = "req-5f2c9a1e-7b3d-4c60-9a1e";
  std::int64_t server_ms = 1'680'012'345'678;
  std::int64_t period = 19'445;
  std::string chain = std::string(64, 'a');
};

void BM_VoteJsonTallyWriter(benchmark::State& state) {
  const Vote vote;
  std::string out;
  for (auto _ : state) {
    out.clear();
    tally::JsonWriter json(out);
    json.begin_object().key("seq").integer(vote.seq).key("kind").string("vote");
    json.key("campaign").string(vote.campaign).key("candidate").string(vote.candidate);
    json.key("voter").string(vote.voter).key("device").string(vote.device);
    json.key("ip").string(vote.ip).key("ua").string(vote.ua);
    json.key("request_id").string(vote.request_id).key("server_ms").integer(vote.server_ms);
    json.key("period").integer(vote.period).key("flags").begin_array().end_array();
    json.key("chain").string(vote.chain).end_object();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_VoteJsonTallyWriter);

void BM_VoteJsonRapidJson(benchmark::State& state) {
  const Vote vote;
  rapidjson::StringBuffer buffer;
  const auto string = [](auto& writer, const std::string& text) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  for (auto _ : state) {
    buffer.Clear();
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    writer.Key("seq");
    writer.Uint64(vote.seq);
    writer.Key("kind");
    writer.String("vote");
    writer.Key("campaign");
    string(writer, vote.campaign);
    writer.Key("candidate");
    string(writer, vote.candidate);
    writer.Key("voter");
    string(writer, vote.voter);
    writer.Key("device");
    string(writer, vote.device);
    writer.Key("ip");
    string(writer, vote.ip);
    writer.Key("ua");
    string(writer, vote.ua);
    writer.Key("request_id");
    string(writer, vote.request_id);
    writer.Key("server_ms");
    writer.Int64(vote.server_ms);
    writer.Key("period");
    writer.Int64(vote.period);
    writer.Key("flags");
    writer.StartArray();
    writer.EndArray();
    writer.Key("chain");
    string(writer, vote.chain);
    writer.EndObject();
    benchmark::DoNotOptimize(buffer.GetString());
  }
  state.counters["bytes"] = static_cast<double>(buffer.GetSize());
}
BENCHMARK(BM_VoteJsonRapidJson);

}  // namespace

BENCHMARK_MAIN();
