// The server's observer port (ingest/observer.h) over metrics::Metrics: how tallyd's main lets
// ingest count into the metrics without either module depending on the other.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "tally/engine/vote_status.h"
#include "tally/ingest/observer.h"
#include "tally/metrics/metrics.h"

namespace tally::tallyd {

class MetricsObserver final : public ingest::ServerObserver {
 public:
  explicit MetricsObserver(metrics::Metrics& metrics) : metrics_(metrics) {}

  void votes_answered(const ingest::BallotCounts& ballots,
                      std::chrono::nanoseconds latency) override {
    for (std::size_t i = 0; i < ballots.size(); ++i) {
      if (ballots[i] != 0) metrics_.count_answers(static_cast<engine::VoteStatus>(i), ballots[i]);
    }
    metrics_.observe_request_latency(latency);
  }
  void request_refused(std::string_view status_word) override {
    metrics_.count_status_word(status_word);
  }
  void stream_opened() override { metrics_.stream_opened(); }
  void stream_closed() override { metrics_.stream_closed(); }
  std::string scrape() const override { return metrics_.scrape(); }
  std::string_view scrape_content_type() const override { return metrics::Metrics::kContentType; }

 private:
  metrics::Metrics& metrics_;
};

}  // namespace tally::tallyd
