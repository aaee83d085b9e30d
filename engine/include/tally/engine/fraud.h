// FraudMonitor: the fraud signals of DESIGN.md "Fraud signals", per campaign, in bounded memory.
//
// Data flow: ingest decides a ballot -> (accepted) observe() gives the flags stored in its
// event, or a rejection when the campaign's `fraud.reject` names one of them -> storage
// commits it. Recovery feeds stored votes to replay(); /fraud shows report_json().
// Safe for concurrent use: observe() takes a few short per-shard mutexes (never one lock for
// every vote) and lock-free counters; set_campaign() may run beside it.
// Signals, defaults, memory bounds and merging: docs/FRAUD.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/published.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud_flags.h"
#include "tally/engine/fraud_keys.h"

namespace tally::engine {

struct FraudOptions {
  // Entries of each heavy-hitter list (IPs, subnets, devices) per campaign. Default: 1024.
  std::size_t top_sources = 1024;
  // Slots of each look-alike cluster table (by IP, by subnet, by IP timing). Default: 32768.
  std::size_t cluster_slots = std::size_t{1} << 15;
  // Slots of the distinct-voters-per-device table. Default: 262144.
  std::size_t device_slots = std::size_t{1} << 18;
  // Entries of each candidate's own top IPs and top devices (concentration). Default: 32.
  std::size_t candidate_sources = 32;
};

// What observe() says of one ballot.
struct Observation {
  FraudFlags flags = 0;  // reasons that make it suspect: store them in its event
  bool reject = false;   // a reason is in the campaign's fraud.reject: answer rate_limited
};

// One heavy hitter: a source (address, subnet or device) and its votes, as Space-Saving counts
// them (at most N/k above the truth).
struct SourceVotes {
  std::string key;
  std::uint64_t votes = 0;
};

// A candidate's votes and the share of them that came from its own top sources.
struct CandidateConcentration {
  std::string candidate;
  std::uint64_t votes = 0;
  double top_ips_share = 0;
  double top_devices_share = 0;
  std::string top_ip;
};

// The structured view behind /fraud and /metrics.
struct FraudSummary {
  std::array<std::uint64_t, kFraudReasonCount> flags{};  // flagged votes per FraudReason
  std::uint64_t rejected = 0;
  std::vector<SourceVotes> top_ips;
  std::vector<SourceVotes> top_subnets;
  std::vector<SourceVotes> top_devices;
  std::vector<CandidateConcentration> concentration;  // by votes desc, then candidate order
};

// A cluster of the fraud view, as a late flag or a committee decision names it. Values are
// part of the stored format: append new scopes, never renumber.
enum class ClusterScope : std::uint8_t { none = 0, ip = 1, subnet = 2, device = 3 };
// "ip", "subnet", "device" ("" for none).
std::string_view to_string(ClusterScope scope);
std::optional<ClusterScope> cluster_scope_from_string(std::string_view text);

// A look-alike cluster (or a device) whose count just passed its threshold: the votes it
// flags from now on were flagged by observe(); its earlier ones in the signal's window are
// what a late flag covers (DESIGN.md "Adjudication", docs/FRAUD.md "Late flags").
struct ClusterCrossing {
  std::string campaign;
  FraudReason reason = FraudReason::ip_flood;
  ClusterScope scope = ClusterScope::ip;
  std::string key;  // the address, the subnet ("a.b.c.0/24") or the device
  // Look-alike clusters: the user agent they share (a regular-timing cluster: any agent).
  std::string ua;
  bool any_ua = false;
  // A device counts voters of every candidate, in one period; the others one candidate.
  bool any_candidate = false;
  std::uint32_t candidate = 0;
  std::int64_t period = 0;  // device clusters
  // The crossing vote's server time; the cluster's window begins window_ms before it.
  std::int64_t at_ms = 0;
  std::int64_t window_ms = 0;

  // Whether a vote (of this campaign) belongs to the cluster and its window.
  bool covers(const Ballot& ballot, std::uint32_t candidate_index, std::int64_t server_ms,
              std::int64_t vote_period) const;
};

// Hears clusters cross their thresholds, on the vote path: queue and return, never block.
class CrossingListener {
 public:
  virtual void crossed(ClusterCrossing crossing) = 0;

 protected:
  ~CrossingListener() = default;
};

// Headless browsers, HTTP libraries and scripts (HeadlessChrome, curl, python-requests,
// Go-http-client, okhttp, PhantomJS, Selenium, ...), and the empty user agent.
bool is_bot_user_agent(std::string_view ua);
// The lower-case markers is_bot_user_agent() looks for, case-insensitively, anywhere in the
// first kMaxUaBytes bytes (the whole of any ballot's agent).
std::span<const std::string_view> bot_user_agent_markers();
// "a.b.c.0/24" for IPv4, "x:x:x:x::/64" for IPv6, the input itself when it is neither.
std::string subnet_of(std::string_view ip);

class FraudMonitor {
 public:
  explicit FraudMonitor(FraudOptions options = {});
  ~FraudMonitor();
  FraudMonitor(const FraudMonitor&) = delete;
  FraudMonitor& operator=(const FraudMonitor&) = delete;

  // One campaign's sketches and alerts, and its version in force. The engine keeps it beside
  // its own campaign state, so that a vote reaches its campaign's sketches without a lookup.
  // Lives as long as the monitor; the same for every version of one campaign id.
  struct CampaignFraud;

  // Installs a campaign version: its thresholds and candidates. Call it for every version the
  // engine installs (start-up, PUT, recovery). Returns the campaign's state. Safe beside
  // observe(); not on the vote path.
  CampaignFraud& set_campaign(const Campaign& campaign);
  // The state of a campaign set_campaign() saw, or null.
  CampaignFraud* find(std::string_view campaign_id) const;

  // Observes a ballot the engine accepted, before it is submitted for commit: updates
  // `campaign`'s sketches and returns its flags. `candidate_index`, `server_ms` and `period`
  // are the decision's (claim.candidate_index(), decision.server_ms, decision.period). Safe
  // for concurrent use. `keys`: what prefetch() returned for this ballot and candidate, if it
  // ran.
  Observation observe(CampaignFraud& campaign, const Ballot& ballot, std::uint32_t candidate_index,
                      std::int64_t server_ms, std::int64_t period, const FraudKeys* keys = nullptr);
  // Starts loading the sketch rows observe() will touch for this ballot, changing nothing:
  // the engine's prefetch of the next ballot of a batch. Returns the ballot's sketch keys
  // for observe() (not valid when the candidate is unknown here). Safe for concurrent use.
  FraudKeys prefetch(const CampaignFraud& campaign, const Ballot& ballot,
                     std::uint32_t candidate_index) const;

  // Who hears clusters cross their thresholds in observe() (never in replay(): recovery
  // re-learns old crossings, whose late flags are in the log already). Null: nobody. Must
  // outlive the monitor's use of it.
  void set_crossing_listener(CrossingListener* listener) {
    // Release pairs with the acquire in observe(): a listener seen is fully set up.
    listener_.store(listener, std::memory_order_release);
  }

  // A committed late flag added `reason` to `votes` earlier votes: the report's counts.
  void count_late_flags(std::string_view campaign_id, FraudReason reason, std::uint64_t votes);

  // Recovery: feeds a stored vote (in seq order) into the sketches and counts its stored
  // flags, as observe() did when it was accepted. Unknown campaign or candidate: ignored.
  void replay(const Ballot& ballot, std::int64_t server_ms, std::int64_t period, FraudFlags flags);

  // DESIGN.md's /fraud document: {"campaign","flags":{reason:count},"top_ips":[{"key",
  // "votes"}],"top_subnets","top_devices","alerts":[…],"concentration":[…]}; nullopt for a
  // campaign set_campaign() never saw. Safe for concurrent use.
  std::optional<std::string> report_json(std::string_view campaign_id,
                                         std::size_t top_n = 20) const;

  // Flags, heavy hitters (top_n of each list) and concentration; nullopt for a campaign
  // set_campaign() never saw. Safe for concurrent use.
  std::optional<FraudSummary> summary(std::string_view campaign_id, std::size_t top_n = 20) const;

  // Flagged votes per reason (indexed by FraudReason), for metrics. Zeros when unknown.
  std::array<std::uint64_t, kFraudReasonCount> flag_counts(std::string_view campaign_id) const;

  // Bytes held by one campaign's sketches (their own accounting), 0 when unknown.
  std::size_t bytes(std::string_view campaign_id) const;
  // The most bytes() can reach with `options`: every structure is sized when the campaign
  // is set and never grows, so this is a state with all kMaxCandidates candidates active and
  // the alert list full. With the defaults: 20,505,104 bytes (19.6 MiB) on x86-64
  // (docs/FRAUD.md).
  static std::size_t bytes_bound(const FraudOptions& options);

 private:
  static FraudKeys keys_of(const Ballot& ballot, std::uint32_t candidate_index);
  static void prefetch_rows(const CampaignFraud& state, const Ballot& ballot,
                            const FraudKeys& keys);
  struct Map;
  // observe(), telling `listener` (when not null) of the clusters this vote takes past their
  // thresholds.
  Observation judge(CampaignFraud& campaign, const Ballot& ballot, std::uint32_t candidate_index,
                    std::int64_t server_ms, std::int64_t period, const FraudKeys* keys,
                    CrossingListener* listener);
  void record(CampaignFraud& state, const Ballot& ballot, std::uint32_t candidate_index,
              std::int64_t server_ms, std::int64_t period, FraudFlags* flags);

  FraudOptions options_;
  // The map of campaigns, read lock-free, replaced whole by set_campaign() (under
  // install_mutex_). Earlier maps and every campaign state live until the monitor dies: a
  // reader may still hold them, and they are few (one per campaign version).
  Published<Map> maps_;
  std::vector<std::unique_ptr<CampaignFraud>> states_;
  mutable std::mutex install_mutex_;  // set_campaign only
  std::atomic<CrossingListener*> listener_{nullptr};
};

}  // namespace tally::engine
