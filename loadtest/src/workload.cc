#include "tally/loadtest/workload.h"

#include <algorithm>

namespace tally::loadtest {

Workload Workload::build(BallotGenerator& generator, const WorkloadOptions& options) {
  const bool batch = options.mode == Mode::batch;
  const std::uint32_t per_request = batch ? std::max<std::uint32_t>(options.batch_size, 1) : 1;
  Workload workload;
  workload.wire_.reserve(options.requests);
  workload.first_.reserve(options.requests + 1);
  workload.candidates_.reserve(options.requests * per_request);
  std::string head = std::string(batch ? "POST /v1/votes:batch" : "POST /v1/votes") +
                     " HTTP/1.1\r\nHost: " + options.host + "\r\n";
  if (!options.token.empty()) head += "Authorization: Bearer " + options.token + "\r\n";
  head += batch ? "Content-Type: application/x-ndjson\r\n" : "Content-Type: application/json\r\n";
  head += "Content-Length: ";
  std::string body;
  std::vector<std::uint32_t> body_tags;  // offsets in the body
  for (std::uint64_t i = 0; i < options.requests; ++i) {
    workload.first_.push_back(static_cast<std::uint32_t>(workload.candidates_.size()));
    workload.first_tag_.push_back(static_cast<std::uint32_t>(workload.tags_.size()));
    body.clear();
    body_tags.clear();
    for (std::uint32_t b = 0; b < per_request; ++b) {
      Ballot ballot = generator.next();
      const auto at = static_cast<std::uint32_t>(body.size());
      for (const std::uint32_t tag : ballot.pass_tags) {
        if (tag != 0) body_tags.push_back(at + tag);
      }
      body += ballot.json;
      if (batch) body += '\n';
      workload.candidates_.push_back(ballot.candidate);
      workload.retries_ += ballot.retry ? 1 : 0;
    }
    std::string request;
    request.reserve(head.size() + 16 + body.size());
    request += head;
    request += std::to_string(body.size());
    request += "\r\n\r\n";
    const auto body_at = static_cast<std::uint32_t>(request.size());
    for (const std::uint32_t tag : body_tags) workload.tags_.push_back(body_at + tag);
    request += body;
    workload.bytes_ += request.size();
    workload.wire_.push_back(std::move(request));
  }
  workload.first_.push_back(static_cast<std::uint32_t>(workload.candidates_.size()));
  workload.first_tag_.push_back(static_cast<std::uint32_t>(workload.tags_.size()));
  return workload;
}

}  // namespace tally::loadtest
