// Workload: the HTTP requests of a run, built before the clock starts. Each request is the
// complete wire bytes of `POST /v1/votes` (one ballot) or `POST /v1/votes:batch` (NDJSON,
// batch_size ballots); the candidate of each ballot is kept so that accepted answers can be
// tallied per candidate (--verify). Immutable once built: safe to share between threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tally/loadtest/population.h"

namespace tally::loadtest {

enum class Mode : std::uint8_t { single, batch };

struct WorkloadOptions {
  // Default: single.
  Mode mode = Mode::single;
  // Ballots per batch request; the server takes at most 10,000. Default: 100.
  std::uint32_t batch_size = 100;
  // Requests to prepare; a run cycles through them when it sends more, and the second pass
  // then answers `duplicate` as a finite population would. Default: 65536.
  std::uint64_t requests = 65'536;
  // Host header value and bearer token.
  std::string host = "127.0.0.1";
  std::string token;
};

class Workload {
 public:
  static Workload build(BallotGenerator& generator, const WorkloadOptions& options);

  std::size_t size() const { return wire_.size(); }
  const std::string& wire(std::size_t request) const { return wire_[request]; }
  // Candidate indexes of the request's ballots, in body order.
  std::span<const std::uint16_t> candidates(std::size_t request) const {
    return {candidates_.data() + first_[request], first_[request + 1] - first_[request]};
  }
  // With PopulationOptions::pass_tags: the offsets in wire(request) of its ballots' pass-tag
  // digits (voter, device and request id of each).
  std::span<const std::uint32_t> pass_tags(std::size_t request) const {
    return {tags_.data() + first_tag_[request], first_tag_[request + 1] - first_tag_[request]};
  }
  std::uint64_t ballots() const { return candidates_.size(); }
  std::uint64_t retries() const { return retries_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::vector<std::string> wire_;
  std::vector<std::uint32_t> first_;  // first_[i]: index of request i's first ballot
  std::vector<std::uint16_t> candidates_;
  std::vector<std::uint32_t> first_tag_;  // first_tag_[i]: index of request i's first tag
  std::vector<std::uint32_t> tags_;
  std::uint64_t retries_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace tally::loadtest
