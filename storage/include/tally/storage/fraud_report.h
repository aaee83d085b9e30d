// Fraud report: the committee's evidence (tallyctl fraud-report), read from the log.
//
// One campaign's totals, decisions and ranking, then its largest suspicious clusters by IP,
// subnet (IPv4 /24, IPv6 /64) and device, each with what a committee weighs: votes, flags
// (stored and late), distinct voters, devices and agents, the candidates it voted for, its
// timing, and the decision taken on it. Opens the database read-only (safe beside a running
// tallyd) and reads the log twice: bounded top-K sketches choose the clusters, then exact
// counts are taken for those only, so memory does not grow with the number of distinct
// sources. Safe to call from any thread. Signals, flags and decisions: docs/FRAUD.md.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_flags.h"
#include "tally/storage/event_format.h"
#include "tally/storage/scan_progress.h"

namespace tally::storage {

using ReasonCounts = std::array<std::uint64_t, engine::kFraudReasonCount>;  // by FraudReason

// A decision event of the campaign, as the report lists it.
struct ReportDecision {
  std::uint64_t seq = 0;
  DecisionAction action = DecisionAction::void_votes;
  std::string author;
  std::string reason;
  std::int64_t server_ms = 0;
  std::string candidate;                                    // disqualify, reinstate
  engine::ClusterScope scope = engine::ClusterScope::none;  // void, restore of a cluster
  std::string key;
  std::uint64_t votes = 0;  // votes whose state it changed
};

// How a decision bears on one cluster: it names the cluster (its scope and key), or it is the
// last void of some of the cluster's votes (by seq or through another cluster), or both.
struct ClusterDecision {
  std::uint64_t seq = 0;         // the decision's; details in FraudReport::decisions
  bool names_cluster = false;    // its scope and key are this cluster
  std::uint64_t void_votes = 0;  // the cluster's votes that are void by this decision now
};

// A source within a cluster (a device, an agent, an address) and its votes there, as a small
// Space-Saving sketch counts them (exact while the cluster has few distinct ones).
struct SourceCount {
  std::string key;  // agents: shortened (shorten_user_agent)
  std::uint64_t votes = 0;
};

struct FraudCluster {
  std::string key;               // the IP, subnet or device
  std::uint64_t votes = 0;       // accepted votes from it
  std::uint64_t suspect = 0;     // of which carry any reason, stored or late
  std::uint64_t flagged = 0;     // of which carry a stored reason (flagged when cast)
  std::uint64_t late = 0;        // of which a later flag event named
  std::uint64_t void_votes = 0;  // of which void now
  std::uint64_t voters = 0;      // distinct voters
  std::uint64_t devices = 0;     // distinct devices (a vote without one counts none)
  std::uint64_t agents = 0;      // distinct user agents (the empty one included)
  std::uint64_t ips = 0;         // distinct addresses
  ReasonCounts flags{};          // votes per reason, stored or late
  std::map<std::string, std::uint64_t> candidates;  // candidate id -> votes
  std::string top_candidate;                        // most votes, then smallest id
  std::int64_t first_ms = 0;                        // server time of its first vote
  std::int64_t last_ms = 0;                         // and of its last
  // Median time between its consecutive votes (to within 5 %); -1 with fewer than 2 votes.
  std::int64_t median_gap_ms = -1;
  std::uint64_t peak_per_minute = 0;     // most votes in one calendar minute
  std::vector<SourceCount> top_devices;  // largest first, at most kFraudTopSources
  std::vector<SourceCount> top_agents;
  std::vector<SourceCount> top_ips;
  std::vector<ClusterDecision> decisions;  // by decision seq
  std::vector<std::uint64_t> sample_seqs;  // the first few, ascending

  // The share of its votes that went to top_candidate, 0..1.
  double top_share() const;
};

struct FraudReport {
  std::string campaign;
  std::string title;              // the latest version's
  std::int32_t utc_offset_s = 0;  // the campaign's: local times are shown at it
  std::uint64_t as_of_seq = 0;    // the last event of the log read
  std::uint64_t votes = 0;
  std::uint64_t suspect = 0;  // stored or late reason
  std::uint64_t flagged = 0;  // stored reason
  std::uint64_t late = 0;     // named by a flag event
  std::uint64_t void_votes = 0;
  std::uint64_t valid = 0;  // votes - void
  ReasonCounts flags{};
  // Every candidate of the latest version with votes, suspect, void and valid, ranked by
  // valid, the disqualified apart (as tallyctl results ranks them).
  engine::TallySnapshot results;
  std::vector<ReportDecision> decisions;  // oldest first
  // The `top` largest clusters of each kind, by suspect votes, then votes, then key; then
  // any other cluster that a decision names (scope and key).
  std::vector<FraudCluster> ips;
  std::vector<FraudCluster> subnets;
  std::vector<FraudCluster> devices;

  // The display name of a candidate id (the id when the campaign does not know it).
  std::string_view candidate_name(std::string_view id) const;
};

// Sample seqs kept per cluster.
inline constexpr std::size_t kFraudSampleSeqs = 5;
// Devices, agents and addresses listed per cluster.
inline constexpr std::size_t kFraudTopSources = 3;

// The `top` largest clusters of each kind. An error when the database cannot be read or the
// campaign is not in the log. `progress` hears the events read, over both passes.
// Memory: fixed sketches, exact state for at most 8 x `top` keys per kind and those a decision
// names (hash sets of their voters, devices, agents and addresses), and at most 48 bytes per
// vote that a flag or decision event names (those events hold far fewer votes than the log).
Result<FraudReport> fraud_report(const std::string& data_dir, std::string_view campaign_id,
                                 std::size_t top, const ScanProgress& progress = {});

// One JSON document (docs/FRAUD.md "tallyctl fraud-report" gives every field):
// {"campaign","title","utc_offset","as_of_seq","votes","suspect","flagged","late","void",
// "valid","flags":{reason:count},"decisions":[…],"candidates":[…],"ips":[{"key","votes",
// "suspect","flagged","late","void","voters","devices","agents","ips","flags","candidates":
// {id:votes},"top_candidate","top_share","first","last","first_ms","last_ms","median_gap_ms",
// "peak_per_minute","top_devices","top_agents","top_ips","decisions","sample_seqs"}],
// "subnets":[…],"devices":[…]}.
std::string fraud_report_json(const FraudReport& report);
// The same for people, in English: the summary, then a block per cluster, columns aligned.
std::string fraud_report_text(const FraudReport& report);

enum class ReportLanguage { en, zh };
// zh when `title` holds a CJK ideograph, else en.
ReportLanguage report_language_of(std::string_view title);
// A self-contained printable page (A4, inline CSS, no scripts, nothing fetched) in `language`;
// every string from the log is escaped.
std::string fraud_report_html(const FraudReport& report, ReportLanguage language);

// A user agent in a few words: the platform in its first parentheses (without "Linux", "U",
// "wv" and build ids) and the app (MicroMessenger/…, else its last product), at most 48 bytes.
std::string shorten_user_agent(std::string_view ua);

}  // namespace tally::storage
