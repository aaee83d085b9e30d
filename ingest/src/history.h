// GET /v1/campaigns/{id}/history: each campaign's committed total and valid count every
// kHistoryInterval over the last kHistoryWindow, so that the dashboard's votes-per-second chart
// starts full on every page load (docs/METRICS.md "Tally history").
//
// HistorySampler takes the samples on a timer of the server's first io thread (no thread of
// its own); TallyHistory holds them. TallyHistory is safe for concurrent use: one mutex, held
// to write one sample or to copy one campaign's ring. A HistorySampler belongs to its io
// thread; history_answer() is safe from any io thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/engine.h"
#include "tally/ingest/answer.h"
#include "request_parser.h"

namespace tally::ingest::internal {

// How often every campaign is sampled.
inline constexpr std::chrono::milliseconds kHistoryInterval{5'000};
// How far back the history reaches.
inline constexpr std::chrono::milliseconds kHistoryWindow{3'600'000};
// Samples kept per campaign: 720.
inline constexpr std::size_t kHistoryCapacity =
    static_cast<std::size_t>(kHistoryWindow / kHistoryInterval);

struct HistorySample {
  std::int64_t t_ms = 0;  // server time of the sample (Engine::clock())
  std::uint64_t total = 0;
  std::uint64_t valid = 0;  // total less void votes (DESIGN.md "Adjudication")
};

// Memory is bounded: a fixed ring of kHistoryCapacity samples (24 bytes each: 17,280 bytes)
// per campaign the engine knows, allocated on its first sample and never grown; a campaign's
// oldest sample is overwritten by its newest.
class TallyHistory {
 public:
  // Appends `sample` to `campaign`'s ring.
  void record(std::string_view campaign, const HistorySample& sample);
  // Appends one sample of every campaign's committed tally at the engine's time now.
  void sample(const engine::Engine& engine);
  // `campaign`'s samples, oldest first (empty when it has none yet).
  std::vector<HistorySample> samples(std::string_view campaign) const;
  // The history document: {"campaign","interval_ms","samples":[{"t_ms","total","valid"}]}.
  std::string json(std::string_view campaign) const;

 private:
  struct Ring {
    std::vector<HistorySample> slots;  // kHistoryCapacity, allocated once
    std::size_t next = 0;              // slot the next sample goes to
    std::size_t count = 0;             // samples held, up to kHistoryCapacity
  };
  mutable std::mutex mutex_;
  std::map<std::string, Ring, std::less<>> rings_;  // guarded by mutex_
};

// Samples `engine`'s campaigns into `history` now, then every kHistoryInterval on `io`'s thread
// until `io` stops. Each sample copies one tally per campaign (Engine::tally()): microseconds.
class HistorySampler {
 public:
  HistorySampler(boost::asio::io_context& io, const engine::Engine& engine, TallyHistory& history)
      : engine_(engine), history_(history), timer_(io) {}
  // Takes the first sample and arms the timer. REQUIRES: on `io`'s thread, called once.
  void start();

 private:
  void tick();
  const engine::Engine& engine_;
  TallyHistory& history_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_;  // when the next sample is due
};

// GET /v1/campaigns/{id}/history: the document, with a digest ETag (304 on If-None-Match), or
// 404 unknown_campaign.
Answer history_answer(const TallyHistory& history, const engine::Engine& engine,
                      std::string_view campaign_id, const Request& request);

}  // namespace tally::ingest::internal
