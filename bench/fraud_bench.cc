// Fraud monitor benchmarks: FraudMonitor::observe() on a realistic stream of accepted ballots,
// on one and two threads, and is_bot_user_agent() alone (and each of its searches) against
// the straightforward implementation (one lowered copy, one find per marker) in the same
// binary and run.
//
// The stream: a campaign of 40 candidates (Zipf-ish popularity), distinct voters, each on
// their own phone (a few families share one, 3 % send no device), addresses from a Zipf-ish
// pool of 200,000 carrier addresses (5 % IPv6), 30 % addresses seen once, 10 % from eight
// office addresses; real WeChat and mobile browser user agents, 1.5 % scripts and headless
// browsers; 5,000 votes per second of server time. Each case reports
//   per_observe   wall time per observe() call, all threads together (per_call: the same for
//                 is_bot_user_agent)
// BM_ObserveFixed runs a fixed number of observe() calls for instruction counts:
//   valgrind --tool=callgrind --toggle-collect='*observe_batch*'
//     build/bench/fraud_bench --benchmark_filter=BM_ObserveFixed
// (one command line)
// BM_ObserveFixedListening is the same run with a crossing listener set, as tallyd sets the
// adjudicator: /0 only counts the crossings, /1 copies each into a bounded deque under a
// mutex and wakes a condition variable, as Adjudicator::crossed() does (the deque is emptied
// between iterations, outside observe_batch, as the adjudicator's thread would); /2 and /3
// the same with a click farm in every 20th call, whose clusters keep crossing; /4 that farm
// without a listener. Reports
//   crossings     crossings heard over the measured calls
// Results and commands: docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/fraud.h"
#include "bot_scan.h"

namespace {

using tally::engine::Ballot;
using tally::engine::Campaign;
using tally::engine::ClusterCrossing;
using tally::engine::CrossingListener;
using tally::engine::FraudMonitor;

constexpr std::int64_t kStart = 1'680'000'000'000;  // a server time in ms
constexpr std::int64_t kVotesPerSecond = 5'000;
constexpr std::size_t kCandidates = 40;
constexpr std::size_t kStreamBallots = std::size_t{1} << 16;
constexpr std::size_t kBatch = 4'096;  // observe() calls per benchmark iteration
constexpr std::uint32_t kSeed = 20230327;

// The straightforward is_bot_user_agent(): the baseline of BM_IsBotUserAgentReference.
bool is_bot_user_agent_reference(std::string_view ua) {
  if (ua.empty()) return true;
  char lower[tally::engine::kMaxFieldBytes];
  const std::size_t n = std::min(ua.size(), sizeof(lower));
  for (std::size_t i = 0; i < n; ++i) {
    const char c = ua[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view text(lower, n);
  for (std::string_view marker : tally::engine::bot_user_agent_markers()) {
    if (text.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

template <typename T>
const T& pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[rng() % from.size()];
}

std::string wechat_ua(std::mt19937& rng) {
  static const std::vector<std::string> kModels = {
      "V2055A",   "PGT-AN10", "M2012K11AC", "PDEM10",   "ALN-AL00", "SM-G9910", "RMX3366",
      "V2148A",   "LIO-AN00", "22041211AC", "NOH-AN00", "PFJM10",   "2201123C", "V2203A",
      "ANA-AN00", "PCLM10",   "M2007J3SC",  "CDY-AN00", "JEF-AN00", "V2024A"};
  static const std::vector<std::string> kIos = {"16_3_1", "16_3", "16_1_2", "15_7", "16_4"};
  static const std::vector<std::string> kWechat = {"8.0.33(0x18002129)", "8.0.32(0x18002035)",
                                                   "8.0.34(0x1800222a)"};
  static const std::vector<std::string> kNet = {"WIFI", "4G", "5G"};
  if (rng() % 10 < 4) {
    return "Mozilla/5.0 (iPhone; CPU iPhone OS " + pick(rng, kIos) +
           " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
           "MicroMessenger/" +
           pick(rng, kWechat) + " NetType/" + pick(rng, kNet) + " Language/zh_CN";
  }
  return "Mozilla/5.0 (Linux; Android 12; " + pick(rng, kModels) +
         " Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
         "Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230202 MMWEBID/" +
         std::to_string(rng() % 10000) +
         " MicroMessenger/8.0.33.2320(0x28002151) WeChat/arm64 Weixin NetType/" + pick(rng, kNet) +
         " Language/zh_CN ABI/arm64";
}

const std::vector<std::string>& other_mobile_uas() {
  static const std::vector<std::string> kUas = {
      "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
      "like Gecko) Version/16.3 Mobile/15E148 Safari/604.1",
      "Mozilla/5.0 (Linux; Android 13; SM-S9180) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/110.0.0.0 Mobile Safari/537.36",
      "Mozilla/5.0 (Linux; Android 12; NOH-AN00 Build/HUAWEINOH-AN00; wv) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 HuaweiBrowser/13.0.5.302 Mobile "
      "Safari/537.36",
      "Mozilla/5.0 (Linux; U; Android 11; zh-cn; M2012K11AC Build/RKQ1.200826.002) "
      "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 Mobile "
      "Safari/537.36 XiaoMi/MiuiBrowser/17.1.70",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
      "like Gecko) Mobile/15E148 QQ/8.9.28.635 V1_IPH_SQ_8.9.28_1_APP_A Pixel/1170 "
      "MiniAppEnable SimpleUISwitch/0 StudyMode/0 CurrentMode/0 QQTheme/1000 Core/WKWebView "
      "Device/Apple(iPhone 12) NetType/WIFI QBWebViewType/1 WKType/1",
      "Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/96.0.4664.104 Mobile Safari/537.36",
  };
  return kUas;
}

const std::vector<std::string>& bot_uas() {
  static const std::vector<std::string> kUas = {
      "curl/8.4.0",
      "python-requests/2.31.0",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/119.0.6045.105 Safari/537.36",
      "Go-http-client/1.1",
      "okhttp/4.11.0",
      "Mozilla/5.0 (Linux; Android 10; emulator) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/81.0.4044.138 Mobile Safari/537.36 Puppeteer",
      "",
  };
  return kUas;
}

std::string random_ipv4(std::mt19937& rng) {
  const std::uint32_t a = rng();
  char text[16];
  std::snprintf(text, sizeof(text), "%u.%u.%u.%u", 36 + (a >> 24) % 180, (a >> 16) & 255,
                (a >> 8) & 255, a & 255);
  return text;
}

std::string random_ipv6(std::mt19937& rng) {
  char text[48];
  std::snprintf(text, sizeof(text), "2408:%x:%x:%x:%x:%x:%x:%x",
                static_cast<unsigned>(0x8000 + rng() % 0x800),
                static_cast<unsigned>(rng() % 0x10000), static_cast<unsigned>(rng() % 0x10000),
                static_cast<unsigned>(rng() % 0x10000), static_cast<unsigned>(rng() % 0x10000),
                static_cast<unsigned>(rng() % 0x10000), static_cast<unsigned>(rng() % 0x10000));
  return text;
}

std::vector<double> zipf_weights(std::size_t n, double s) {
  std::vector<double> weights(n);
  for (std::size_t i = 0; i < n; ++i) weights[i] = 1.0 / std::pow(static_cast<double>(i + 1), s);
  return weights;
}

// The ballots, cycled through by every case; views point into `text`.
struct Stream {
  Campaign campaign;
  std::deque<std::string> text;  // stable addresses
  std::vector<Ballot> ballots;
  std::vector<std::uint32_t> candidate_index;
  std::vector<std::string_view> uas;  // the user-agent mix alone

  std::string_view keep(std::string value) { return text.emplace_back(std::move(value)); }
};

const Stream& stream() {
  static const Stream* const built = [] {
    auto s = std::make_unique<Stream>();
    std::mt19937 rng(kSeed);
    s->campaign.id = "ordos-2023-zuimei";
    s->campaign.closes_at_ms = kStart * 2;
    for (std::size_t i = 0; i < kCandidates; ++i) {
      char id[8];
      std::snprintf(id, sizeof(id), "c%02zu", i + 1);
      s->campaign.candidates.push_back({id, "n", "u", "i"});
    }
    s->campaign.rules.max_candidates = 10;

    std::vector<std::string_view> wechat;
    for (int i = 0; i < 400; ++i) wechat.push_back(s->keep(wechat_ua(rng)));
    std::vector<std::string_view> ip_pool;
    for (int i = 0; i < 200'000; ++i) {
      ip_pool.push_back(s->keep(rng() % 20 == 0 ? random_ipv6(rng) : random_ipv4(rng)));
    }
    std::vector<std::string_view> offices;
    for (int i = 0; i < 8; ++i) offices.push_back(s->keep(random_ipv4(rng)));
    const std::string_view candidate = s->keep("c01");

    const auto ip_weights = zipf_weights(ip_pool.size(), 1.1);
    std::discrete_distribution<std::size_t> ip_rank(ip_weights.begin(), ip_weights.end());
    const auto candidate_weights = zipf_weights(kCandidates, 0.8);
    std::discrete_distribution<std::uint32_t> candidate_rank(candidate_weights.begin(),
                                                             candidate_weights.end());
    std::string_view device;
    for (std::size_t i = 0; i < kStreamBallots; ++i) {
      Ballot ballot;
      ballot.campaign = s->campaign.id;
      ballot.candidate = candidate;
      char voter[16];
      std::snprintf(voter, sizeof(voter), "u%08zu", i);
      ballot.voter = s->keep(voter);
      const std::uint32_t roll = rng() % 1000;
      if (roll < 30) {
        device = {};
      } else if (roll >= 80 || device.empty()) {  // 5 %: a family member's phone again
        char id[24];
        std::snprintf(id, sizeof(id), "dev-%08x%04x", static_cast<unsigned>(rng()),
                      static_cast<unsigned>(rng() % 0x10000));
        device = s->keep(id);
      }
      ballot.device = device;
      const std::uint32_t where = rng() % 100;
      ballot.ip = where < 60   ? ip_pool[ip_rank(rng)]
                  : where < 90 ? s->keep(random_ipv4(rng))
                               : offices[rng() % offices.size()];
      const std::uint32_t kind = rng() % 1000;
      ballot.ua = kind < 15   ? std::string_view(pick(rng, bot_uas()))
                  : kind < 80 ? std::string_view(pick(rng, other_mobile_uas()))
                              : wechat[rng() % wechat.size()];
      s->ballots.push_back(ballot);
      s->candidate_index.push_back(candidate_rank(rng));
      s->uas.push_back(ballot.ua);
    }
    return s.release();
  }();
  return *built;
}

// A click farm for the listening cases: every kFarmEvery-th call of the measured run is
// replaced by a farm ballot. Each farm address (a /24 of its own) and phone sends
// kFarmVotesPerAddress votes for one candidate with one agent at regular intervals, then the
// farm moves on to a fresh one, so that its clusters keep crossing their thresholds (the
// address's look-alikes at 51, its regular timing at 31, the phone's voters at 6).
constexpr std::uint64_t kFarmEvery = 20;
constexpr std::size_t kFarmVotesPerAddress = 60;
constexpr std::size_t kFarmBallots = 16'384;  // enough for the fixed runs; then it wraps

struct Farm {
  std::deque<std::string> text;
  std::vector<Ballot> ballots;
};

const Farm& farm() {
  static const Farm* const built = [] {
    const Stream& s = stream();
    auto f = std::make_unique<Farm>();
    const std::string_view ua = s.ballots[0].ua.empty() ? "Mozilla/5.0" : s.ballots[0].ua;
    for (std::size_t i = 0; i < kFarmBallots; ++i) {
      const std::size_t site = i / kFarmVotesPerAddress;
      Ballot ballot;
      ballot.campaign = s.campaign.id;
      ballot.candidate = s.ballots[0].candidate;
      char text[32];
      std::snprintf(text, sizeof(text), "u-farm-%08zu", i);
      ballot.voter = f->text.emplace_back(text);
      std::snprintf(text, sizeof(text), "10.%zu.%zu.7", site / 256 % 256, site % 256);
      ballot.ip = f->text.emplace_back(text);
      std::snprintf(text, sizeof(text), "farm-dev-%06zu", site);
      ballot.device = f->text.emplace_back(text);
      ballot.ua = ua;
      f->ballots.push_back(ballot);
    }
    return f.release();
  }();
  return *built;
}

// Starts loading a ballot and its fields: a server observes ballots it has just parsed from
// a request, whose bytes are in cache, not ones from a pool of megabytes.
void prefetch_ballot(const Stream& s, std::size_t at) {
  const Ballot& ballot = s.ballots[at];
  __builtin_prefetch(&ballot);
  __builtin_prefetch(reinterpret_cast<const char*>(&ballot) + sizeof(Ballot) - 1);
  for (std::string_view field : {ballot.voter, ballot.device, ballot.ip}) {
    __builtin_prefetch(field.data());
  }
}

// The stream's campaign in the monitor (as the engine keeps it beside its campaign state).
FraudMonitor::CampaignFraud* g_state = nullptr;

// Observes ballots [begin, end) of the endless stream (ballot i at kStart + i / 5 ms).
// Not inlined: callgrind's --toggle-collect counts exactly these calls.
[[gnu::noinline]] void observe_batch(FraudMonitor& monitor, const Stream& s, std::uint64_t begin,
                                     std::uint64_t end) {
  constexpr std::size_t kAhead = 4;
  for (std::uint64_t i = begin; i < end; ++i) {
    const std::size_t at = i % kStreamBallots;
    prefetch_ballot(s, (i + kAhead) % kStreamBallots);
    const auto server_ms = kStart + static_cast<std::int64_t>(i) * 1000 / kVotesPerSecond;
    const auto observation = monitor.observe(*g_state, s.ballots[at], s.candidate_index[at],
                                             server_ms, server_ms / 86'400'000);
    benchmark::DoNotOptimize(observation);
  }
}

// observe_batch() with the farm's ballots in place of every kFarmEvery-th one, counted from
// `first` (the run's first call). Not inlined, for callgrind as above.
[[gnu::noinline]] void observe_batch_farm(FraudMonitor& monitor, const Stream& s, const Farm& f,
                                          std::uint64_t first, std::uint64_t begin,
                                          std::uint64_t end) {
  constexpr std::size_t kAhead = 4;
  for (std::uint64_t i = begin; i < end; ++i) {
    const std::size_t at = i % kStreamBallots;
    prefetch_ballot(s, (i + kAhead) % kStreamBallots);
    const auto server_ms = kStart + static_cast<std::int64_t>(i) * 1000 / kVotesPerSecond;
    const bool farmed = (i - first) % kFarmEvery == 0;
    const Ballot& ballot =
        farmed ? f.ballots[(i - first) / kFarmEvery % kFarmBallots] : s.ballots[at];
    const auto observation = monitor.observe(*g_state, ballot, farmed ? 0 : s.candidate_index[at],
                                             server_ms, server_ms / 86'400'000);
    benchmark::DoNotOptimize(observation);
  }
}

// Shared by the threads of one run: set up and warmed (one pass of the stream) before they
// start, so that every case measures full sketches.
std::unique_ptr<FraudMonitor> g_monitor;
std::atomic<std::uint64_t> g_next{0};

void setup_monitor(const benchmark::State&) {
  const Stream& s = stream();
  g_monitor = std::make_unique<FraudMonitor>();
  g_state = &g_monitor->set_campaign(s.campaign);
  for (std::size_t i = 0; i < kStreamBallots; ++i) {
    const auto server_ms = kStart + static_cast<std::int64_t>(i) * 1000 / kVotesPerSecond;
    g_monitor->observe(*g_state, s.ballots[i], s.candidate_index[i], server_ms,
                       server_ms / 86'400'000);
  }
  // Relaxed: read by the threads started after this returns.
  g_next.store(kStreamBallots, std::memory_order_relaxed);
}

void teardown_monitor(const benchmark::State&) { g_monitor.reset(); }

void BM_Observe(benchmark::State& state) {
  const Stream& s = stream();
  for (auto _ : state) {
    // Relaxed: the counter only hands out disjoint ranges of the stream.
    const std::uint64_t begin = g_next.fetch_add(kBatch, std::memory_order_relaxed);
    observe_batch(*g_monitor, s, begin, begin + kBatch);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
  // Wall time per observe() with all threads together (rate over real time, inverted).
  state.counters["per_observe"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Crossing listeners for BM_ObserveFixedListening. Both count under a relaxed atomic: the
// count is read after the threads stop.
class CountingListener final : public CrossingListener {
 public:
  void crossed(ClusterCrossing crossing) override {
    benchmark::DoNotOptimize(crossing);
    heard.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> heard{0};
};

// What Adjudicator::crossed() does on the vote path: a bounded queue under a mutex, a wake-up.
class QueueingListener final : public CrossingListener {
 public:
  static constexpr std::size_t kMaxCrossings = 1024;  // Adjudicator::kMaxCrossings

  void crossed(ClusterCrossing crossing) override {
    heard.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= kMaxCrossings) {
        dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queue_.push_back(std::move(crossing));
    }
    wake_.notify_one();
  }
  // The adjudicator's thread, in short: takes what is queued.
  void drain() {
    std::lock_guard lock(mutex_);
    queue_.clear();
  }
  std::atomic<std::uint64_t> heard{0};
  std::atomic<std::uint64_t> dropped{0};

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<ClusterCrossing> queue_;  // guarded by mutex_
};

CountingListener* g_counting = nullptr;
QueueingListener* g_queueing = nullptr;

void setup_listening_monitor(const benchmark::State& state) {
  setup_monitor(state);             // warmed without a listener: its crossings are not counted
  farm();                           // built before the run
  if (state.range(0) == 4) return;  // the farm without a listener
  if (state.range(0) % 2 == 0) {
    g_counting = new CountingListener;
    g_monitor->set_crossing_listener(g_counting);
  } else {
    g_queueing = new QueueingListener;
    g_monitor->set_crossing_listener(g_queueing);
  }
}

void teardown_listening_monitor(const benchmark::State& state) {
  g_monitor->set_crossing_listener(nullptr);
  teardown_monitor(state);
  delete g_counting;
  delete g_queueing;
  g_counting = nullptr;
  g_queueing = nullptr;
}

// BM_ObserveFixed with a crossing listener (argument: 0 counts, 1 queues; 2 and 3 the same
// with the farm's ballots mixed in; 4 the farm's ballots without a listener).
void BM_ObserveListening(benchmark::State& state) {
  const Stream& s = stream();
  const Farm& f = farm();
  const bool with_farm = state.range(0) >= 2;
  // Relaxed: as in BM_Observe.
  const std::uint64_t first = g_next.load(std::memory_order_relaxed);
  for (auto _ : state) {
    const std::uint64_t begin = g_next.fetch_add(kBatch, std::memory_order_relaxed);
    if (with_farm) {
      observe_batch_farm(*g_monitor, s, f, first, begin, begin + kBatch);
    } else {
      observe_batch(*g_monitor, s, begin, begin + kBatch);
    }
    if (g_queueing != nullptr) g_queueing->drain();
  }
  static constexpr const char* kLabels[] = {"counting", "queueing", "counting, farm",
                                            "queueing, farm", "no listener, farm"};
  state.SetLabel(kLabels[state.range(0)]);
  std::uint64_t heard = 0;
  if (g_counting != nullptr) heard = g_counting->heard.load(std::memory_order_relaxed);
  if (g_queueing != nullptr) {
    heard = g_queueing->heard.load(std::memory_order_relaxed);
    state.counters["dropped"] =
        static_cast<double>(g_queueing->dropped.load(std::memory_order_relaxed));
  }
  state.counters["crossings"] = static_cast<double>(heard);
  state.counters["per_observe"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_IsBotUserAgent(benchmark::State& state) {
  const Stream& s = stream();
  std::size_t at = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      benchmark::DoNotOptimize(tally::engine::is_bot_user_agent(s.uas[at]));
      at = (at + 1) % s.uas.size();
    }
  }
  state.counters["per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Each of is_bot_user_agent()'s searches alone (argument: internal::BotScan).
void BM_IsBotUserAgentScan(benchmark::State& state) {
  using tally::engine::internal::BotScan;
  const auto scan = static_cast<BotScan>(state.range(0));
  static constexpr const char* kNames[] = {"pairs", "avx2"};
  state.SetLabel(kNames[state.range(0)]);
  if (!tally::engine::internal::bot_scan_available(scan)) {
    state.SkipWithError("not available on this CPU");
    return;
  }
  const Stream& s = stream();
  std::size_t at = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      benchmark::DoNotOptimize(tally::engine::internal::is_bot_user_agent_by(scan, s.uas[at]));
      at = (at + 1) % s.uas.size();
    }
  }
  state.counters["per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_IsBotUserAgentReference(benchmark::State& state) {
  const Stream& s = stream();
  std::size_t at = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      benchmark::DoNotOptimize(is_bot_user_agent_reference(s.uas[at]));
      at = (at + 1) % s.uas.size();
    }
  }
  state.counters["per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_Observe)
    ->Setup(setup_monitor)
    ->Teardown(teardown_monitor)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
// 20 x 4,096 calls on one thread after the warm-up: a fixed run for callgrind.
BENCHMARK(BM_Observe)
    ->Name("BM_ObserveFixed")
    ->Setup(setup_monitor)
    ->Teardown(teardown_monitor)
    ->Iterations(20)
    ->Unit(benchmark::kMicrosecond);
// The same fixed run with a crossing listener: /0 counting, /1 queueing; /2 and /3 with a
// farm in 5 % of the calls, /4 that farm without a listener.
BENCHMARK(BM_ObserveListening)
    ->Name("BM_ObserveFixedListening")
    ->Setup(setup_listening_monitor)
    ->Teardown(teardown_listening_monitor)
    ->DenseRange(0, 4)
    ->Iterations(20)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IsBotUserAgent)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IsBotUserAgentScan)->DenseRange(0, 1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IsBotUserAgentReference)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
