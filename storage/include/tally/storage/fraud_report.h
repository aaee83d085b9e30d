// Fraud report: the committee's evidence (tallyctl fraud-report), read from the log.
//
// The largest suspicious clusters of one campaign by IP, subnet (IPv4 /24, IPv6 /64) and device:
// votes, flagged votes, distinct voters, counts per candidate and per reason, and sample seqs to
// look up. Opens the database read-only (safe beside a running tallyd) and reads the log twice:
// bounded top-K sketches choose the clusters, then exact counts are taken for those only, so
// memory does not grow with the number of distinct sources. Safe to call from any thread.
// Signals and flags: docs/FRAUD.md.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/fraud_flags.h"
#include "tally/storage/scan_progress.h"

namespace tally::storage {

struct FraudCluster {
  std::string key;                                               // the IP, subnet or device
  std::uint64_t votes = 0;                                       // accepted votes from it
  std::uint64_t suspect = 0;                                     // of which flagged with any reason
  std::uint64_t voters = 0;                                      // distinct voters
  std::array<std::uint64_t, engine::kFraudReasonCount> flags{};  // by FraudReason
  std::map<std::string, std::uint64_t> candidates;               // candidate id -> votes
  std::vector<std::uint64_t> sample_seqs;                        // the first few, ascending
};

struct FraudReport {
  std::string campaign;
  std::uint64_t votes = 0;
  std::uint64_t suspect = 0;
  std::array<std::uint64_t, engine::kFraudReasonCount> flags{};
  // Largest first: by suspect votes, then votes, then key.
  std::vector<FraudCluster> ips;
  std::vector<FraudCluster> subnets;
  std::vector<FraudCluster> devices;
};

// Sample seqs kept per cluster.
inline constexpr std::size_t kFraudSampleSeqs = 5;

// The `top` largest clusters of each kind. An error when the database cannot be read or the
// campaign is not in the log. `progress` hears the events read, over both passes.
Result<FraudReport> fraud_report(const std::string& data_dir, std::string_view campaign_id,
                                 std::size_t top, const ScanProgress& progress = {});

// One JSON document: {"campaign","votes","suspect","flags":{reason:count},"ips":[{"key",
// "votes","suspect","voters","flags":{…},"candidates":{id:votes},"sample_seqs":[…]}],
// "subnets":[…],"devices":[…]}.
std::string fraud_report_json(const FraudReport& report);
// The same for people: one line per cluster.
std::string fraud_report_text(const FraudReport& report);

}  // namespace tally::storage
