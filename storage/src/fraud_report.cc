// tallyctl fraud-report as a library call. See tally/storage/fraud_report.h.
#include "tally/storage/fraud_report.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "tally/base/json_writer.h"
#include "tally/engine/campaign.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_sketch.h"
#include "tally/storage/event_format.h"
#include "db_layout.h"

namespace tally::storage {
namespace {

// The first pass's sketches: shards of Space-Saving counters per cluster kind, so that the
// error bound (votes / (kShards * kShardCapacity)) stays small and each update scans little.
constexpr std::size_t kShards = 16;
constexpr std::size_t kShardCapacity = 256;
// Candidates for the exact pass: this many times `top` from each sketch.
constexpr std::size_t kCandidateFactor = 4;

enum Kind : std::size_t { kIp = 0, kSubnet = 1, kDevice = 2, kKinds = 3 };

class TopKeys {
 public:
  TopKeys() {
    for (std::size_t i = 0; i < kShards; ++i) shards_.emplace_back(kShardCapacity);
  }
  void add(std::string_view key, std::uint64_t weight) {
    const std::uint64_t hash = std::hash<std::string_view>{}(key);
    shards_[hash % kShards].add(hash, key, weight);
  }
  // Keys of the n largest (labels are cut to kMaxLabelBytes: longer keys are matched by that
  // prefix in the exact pass).
  void collect(std::size_t n, std::unordered_set<std::string>& out) const {
    std::vector<engine::HeavyHitter> all;
    for (const auto& shard : shards_) {
      auto part = shard.top(n);
      all.insert(all.end(), part.begin(), part.end());
    }
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.votes > b.votes; });
    for (std::size_t i = 0; i < std::min(n, all.size()); ++i) out.insert(all[i].key);
  }

 private:
  std::vector<engine::SpaceSaving> shards_;
};

struct Detail {
  FraudCluster cluster;
  std::unordered_set<std::uint64_t> voters;  // hashes of voter ids
};

// Visits the campaign's votes in seq order, counting every event in `events_read`;
// `saw_campaign` tells whether a version exists.
template <typename OnVote>
Status scan_votes(ReadOnlyDb& db, std::string_view campaign_id, ProgressCounter& events_read,
                  bool& saw_campaign, OnVote&& on_vote) {
  LogScan scan(*db.db, db.events_cf);
  std::vector<StoredEvent> events;
  while (scan.next()) {
    if (auto status = decode_batch(scan.value(), events); !status.ok()) {
      const auto seq = parse_seq_key(scan.key());
      return Status::error("seq " + std::to_string(seq.value_or(0)) + ": record does not decode: " +
                           status.message() + " (run tallyctl verify)");
    }
    for (const StoredEvent& event : events) {
      if (event.kind == EventKind::campaign) {
        auto campaign = engine::parse_campaign(event.campaign_json);
        if (campaign.ok() && campaign->id == campaign_id) saw_campaign = true;
      } else if (event.kind == EventKind::vote && event.vote.ballot.campaign == campaign_id) {
        on_vote(event);
      }
      events_read.add();
    }
  }
  return scan.status();
}

// The cluster keys of a vote: IP, subnet, device (empty when absent).
std::array<std::string, kKinds> keys_of(const VoteFields& vote) {
  return {std::string(vote.ballot.ip),
          vote.ballot.ip.empty() ? std::string() : engine::subnet_of(vote.ballot.ip),
          std::string(vote.ballot.device)};
}

std::string cut(std::string_view key) { return std::string(key.substr(0, engine::kMaxLabelBytes)); }

void append_flags(JsonWriter& json,
                  const std::array<std::uint64_t, engine::kFraudReasonCount>& flags) {
  json.begin_object();
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if (flags[static_cast<std::size_t>(i)] == 0) continue;
    json.key(engine::to_string(static_cast<engine::FraudReason>(i)));
    json.integer(flags[static_cast<std::size_t>(i)]);
  }
  json.end_object();
}

void append_clusters(JsonWriter& json, std::string_view name,
                     const std::vector<FraudCluster>& clusters) {
  json.key(name).begin_array();
  for (const FraudCluster& c : clusters) {
    json.begin_object();
    json.key("key").string(c.key);
    json.key("votes").integer(c.votes);
    json.key("suspect").integer(c.suspect);
    json.key("voters").integer(c.voters);
    json.key("flags");
    append_flags(json, c.flags);
    json.key("candidates").begin_object();
    for (const auto& [candidate, votes] : c.candidates) json.key(candidate).integer(votes);
    json.end_object();
    json.key("sample_seqs").begin_array();
    for (const std::uint64_t seq : c.sample_seqs) json.integer(seq);
    json.end_array();
    json.end_object();
  }
  json.end_array();
}

void append_flags_text(std::string& out,
                       const std::array<std::uint64_t, engine::kFraudReasonCount>& flags) {
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if (flags[static_cast<std::size_t>(i)] == 0) continue;
    out += ' ';
    out += engine::to_string(static_cast<engine::FraudReason>(i));
    out += '=' + std::to_string(flags[static_cast<std::size_t>(i)]);
  }
}

}  // namespace

Result<FraudReport> fraud_report(const std::string& data_dir, std::string_view campaign_id,
                                 std::size_t top, const ScanProgress& progress) {
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  FraudReport report;
  report.campaign = std::string(campaign_id);

  // Pass 1: bounded sketches by suspect votes and by volume choose the candidate clusters.
  std::array<TopKeys, kKinds> by_suspect;
  std::array<TopKeys, kKinds> by_volume;
  bool saw_campaign = false;
  ProgressCounter events_read(progress);
  auto status =
      scan_votes(**opened, campaign_id, events_read, saw_campaign, [&](const StoredEvent& event) {
        const bool suspect = event.vote.flags != 0;
        ++report.votes;
        report.suspect += suspect;
        for (int i = 0; i < engine::kFraudReasonCount; ++i) {
          if ((event.vote.flags & engine::flag_of(static_cast<engine::FraudReason>(i))) != 0) {
            ++report.flags[static_cast<std::size_t>(i)];
          }
        }
        const auto keys = keys_of(event.vote);
        for (std::size_t kind = 0; kind < kKinds; ++kind) {
          if (keys[kind].empty()) continue;
          by_volume[kind].add(keys[kind], 1);
          if (suspect) by_suspect[kind].add(keys[kind], 1);
        }
      });
  if (!status.ok()) return status;
  if (!saw_campaign && report.votes == 0) {
    return Status::error("campaign " + std::string(campaign_id) + ": not in the log");
  }

  // Pass 2: exact counts for the chosen keys only.
  std::array<std::unordered_map<std::string, Detail>, kKinds> details;
  for (std::size_t kind = 0; kind < kKinds; ++kind) {
    std::unordered_set<std::string> chosen;
    by_suspect[kind].collect(top * kCandidateFactor, chosen);
    by_volume[kind].collect(top * kCandidateFactor, chosen);
    for (const std::string& key : chosen) details[kind][key].cluster.key = key;
  }
  status =
      scan_votes(**opened, campaign_id, events_read, saw_campaign, [&](const StoredEvent& event) {
        const auto keys = keys_of(event.vote);
        for (std::size_t kind = 0; kind < kKinds; ++kind) {
          if (keys[kind].empty()) continue;
          const auto it = details[kind].find(cut(keys[kind]));
          if (it == details[kind].end()) continue;
          FraudCluster& cluster = it->second.cluster;
          ++cluster.votes;
          cluster.suspect += event.vote.flags != 0;
          for (int i = 0; i < engine::kFraudReasonCount; ++i) {
            if ((event.vote.flags & engine::flag_of(static_cast<engine::FraudReason>(i))) != 0) {
              ++cluster.flags[static_cast<std::size_t>(i)];
            }
          }
          ++cluster.candidates[std::string(event.vote.ballot.candidate)];
          it->second.voters.insert(std::hash<std::string_view>{}(event.vote.ballot.voter));
          if (cluster.sample_seqs.size() < kFraudSampleSeqs)
            cluster.sample_seqs.push_back(event.seq);
        }
      });
  if (!status.ok()) return status;

  std::array<std::vector<FraudCluster>*, kKinds> outputs = {&report.ips, &report.subnets,
                                                            &report.devices};
  for (std::size_t kind = 0; kind < kKinds; ++kind) {
    std::vector<FraudCluster>& out = *outputs[kind];
    for (auto& [key, detail] : details[kind]) {
      if (detail.cluster.votes == 0) continue;
      detail.cluster.voters = detail.voters.size();
      out.push_back(std::move(detail.cluster));
    }
    std::sort(out.begin(), out.end(), [](const FraudCluster& a, const FraudCluster& b) {
      if (a.suspect != b.suspect) return a.suspect > b.suspect;
      if (a.votes != b.votes) return a.votes > b.votes;
      return a.key < b.key;
    });
    if (out.size() > top) out.resize(top);
  }
  return report;
}

std::string fraud_report_json(const FraudReport& report) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string(report.campaign);
  json.key("votes").integer(report.votes);
  json.key("suspect").integer(report.suspect);
  json.key("flags");
  append_flags(json, report.flags);
  append_clusters(json, "ips", report.ips);
  append_clusters(json, "subnets", report.subnets);
  append_clusters(json, "devices", report.devices);
  json.end_object();
  out += '\n';
  return out;
}

std::string fraud_report_text(const FraudReport& report) {
  std::string out = "campaign " + report.campaign + ": " + std::to_string(report.votes) +
                    " votes, " + std::to_string(report.suspect) + " suspect";
  append_flags_text(out, report.flags);
  out += '\n';
  const std::pair<const char*, const std::vector<FraudCluster>*> sections[] = {
      {"IPs", &report.ips}, {"subnets", &report.subnets}, {"devices", &report.devices}};
  for (const auto& [title, clusters] : sections) {
    out += std::string("largest clusters by ") + title + ":\n";
    if (clusters->empty()) out += "  (none)\n";
    for (const FraudCluster& c : *clusters) {
      out += "  " + c.key + "  votes " + std::to_string(c.votes) + "  suspect " +
             std::to_string(c.suspect) + "  voters " + std::to_string(c.voters);
      append_flags_text(out, c.flags);
      out += "\n    candidates";
      for (const auto& [candidate, votes] : c.candidates) {
        out += ' ' + candidate + '=' + std::to_string(votes);
      }
      out += "\n    sample seqs";
      for (std::uint64_t seq : c.sample_seqs) out += ' ' + std::to_string(seq);
      out += '\n';
    }
  }
  return out;
}

}  // namespace tally::storage
