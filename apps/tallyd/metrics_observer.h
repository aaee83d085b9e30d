// The server's observer port (ingest/observer.h) over metrics::Metrics, and the server's load as
// metrics figures: how tallyd's main lets ingest count into the metrics, and the metrics read
// the server, without either module depending on the other.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "tally/engine/vote_status.h"
#include "tally/ingest/observer.h"
#include "tally/ingest/server.h"
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
  std::string scrape() const override { return metrics_.scrape(); }
  std::string_view scrape_content_type() const override { return metrics::Metrics::kContentType; }

 private:
  metrics::Metrics& metrics_;
};

// What /metrics shows of the server's connections, streams and large bodies.
inline metrics::ServerFigures server_figures(const ingest::ServerLoad& load) {
  return {.connections = load.connections,
          .max_connections = load.max_connections,
          .tally_streams = load.tally_streams,
          .max_tally_streams = load.max_tally_streams,
          .inflight_body_bytes = load.inflight_body_bytes,
          .max_inflight_body_bytes = load.max_inflight_body_bytes};
}

}  // namespace tally::tallyd
