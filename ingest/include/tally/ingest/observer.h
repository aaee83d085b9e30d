// ServerObserver: what the server reports as it answers, and how it serves GET /metrics. The
// port through which ingest reaches the metrics without depending on them: tallyd's main
// adapts metrics::Metrics to it, as metrics::Sources lets the metrics read storage.
//
// Thread safety: every member is called from io threads, concurrently. All but scrape() are
// on the vote path and must be cheap and lock-free; scrape() runs on the io thread of the
// request that asked for it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "tally/engine/vote_status.h"

namespace tally::ingest {

// Ballots of one request, by status (indexed by engine::VoteStatus).
using BallotCounts = std::array<std::uint32_t, engine::kVoteStatusCount>;

class ServerObserver {
 public:
  // A vote request answered: its ballots by status (one for POST /v1/votes, each line of a
  // batch), and the time from its complete read to its answer being ready.
  virtual void votes_answered(const BallotCounts& ballots, std::chrono::nanoseconds latency) = 0;
  // A request refused as a whole, by the status word of its answer (a VoteStatus word or one
  // of HttpError's).
  virtual void request_refused(std::string_view status_word) = 0;
  // GET /metrics: the exposition, and its Content-Type.
  virtual std::string scrape() const = 0;
  virtual std::string_view scrape_content_type() const = 0;

 protected:
  ~ServerObserver() = default;
};

}  // namespace tally::ingest
