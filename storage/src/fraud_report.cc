// tallyctl fraud-report as a library call: the two passes over the log, then the report as
// text, JSON and a printable page. See tally/storage/fraud_report.h.
#include "tally/storage/fraud_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "tally/base/json_writer.h"
#include "tally/base/time.h"
#include "tally/engine/campaign.h"
#include "tally/engine/fraud_sketch.h"
#include "db_layout.h"
#include "rule_checker.h"

namespace tally::storage {
namespace {

// The first pass's sketches: shards of Space-Saving counters per cluster kind, so that the
// error bound (votes / (kShards * kShardCapacity)) stays small and each update scans little.
constexpr std::size_t kShards = 16;
constexpr std::size_t kShardCapacity = 256;
// Candidates for the exact pass: this many times `top` from each sketch.
constexpr std::size_t kCandidateFactor = 4;
// Counters of each cluster's devices, agents and addresses sketch (exact up to this many
// distinct ones).
constexpr std::size_t kSourceCapacity = 16;
// Agents are shortened to this many bytes (they are a sketch's labels).
constexpr std::size_t kShortAgentBytes = engine::kMaxLabelBytes;

enum Kind : std::size_t { kIp = 0, kSubnet = 1, kDevice = 2, kKinds = 3 };

std::optional<Kind> kind_of(engine::ClusterScope scope) {
  switch (scope) {
    case engine::ClusterScope::ip: return kIp;
    case engine::ClusterScope::subnet: return kSubnet;
    case engine::ClusterScope::device: return kDevice;
    case engine::ClusterScope::none: break;
  }
  return std::nullopt;
}

// `text` cut to at most `bytes` bytes, never inside a UTF-8 sequence.
std::string_view cut_utf8(std::string_view text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  std::size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// A cluster key as the sketches hold it (their labels are cut to kMaxLabelBytes: longer keys
// are matched by that prefix in the exact pass).
std::string cut(std::string_view key) { return std::string(cut_utf8(key, engine::kMaxLabelBytes)); }

std::uint64_t hash_of(std::string_view text) { return std::hash<std::string_view>{}(text); }

class TopKeys {
 public:
  TopKeys() {
    for (std::size_t i = 0; i < kShards; ++i) shards_.emplace_back(kShardCapacity);
  }
  void add(std::string_view key, std::uint64_t weight) {
    const std::uint64_t hash = hash_of(key);
    shards_[hash % kShards].add(hash, cut_utf8(key, engine::kMaxLabelBytes), weight);
  }
  // Keys of the n largest.
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

// What a flag or decision event does to one vote, in the order of the log.
struct MarkOp {
  enum Op : std::uint8_t { kFlag, kVoid, kRestore };
  std::uint64_t vote_seq = 0;
  std::uint64_t event_seq = 0;
  engine::FraudFlags flags = 0;  // kFlag
  Op op = kFlag;
};

// A vote's marks as the log's flag and decision events leave them.
struct Marks {
  std::uint64_t seq = 0;
  engine::FraudFlags late_flags = 0;
  std::uint64_t voided_by = 0;
};

// The operations folded per vote, by seq (each vote's in log order).
std::vector<Marks> fold(std::vector<MarkOp>& ops) {
  std::stable_sort(ops.begin(), ops.end(),
                   [](const MarkOp& a, const MarkOp& b) { return a.vote_seq < b.vote_seq; });
  std::vector<Marks> out;
  for (const MarkOp& op : ops) {
    if (out.empty() || out.back().seq != op.vote_seq) out.push_back({op.vote_seq, 0, 0});
    Marks& marks = out.back();
    if (op.op == MarkOp::kFlag) marks.late_flags |= op.flags;
    if (op.op == MarkOp::kVoid) marks.voided_by = op.event_seq;
    if (op.op == MarkOp::kRestore) marks.voided_by = 0;
  }
  std::erase_if(out, [](const Marks& m) { return m.late_flags == 0 && m.voided_by == 0; });
  ops.clear();
  ops.shrink_to_fit();
  return out;
}

// Gaps between votes on a log scale, 16 buckets per doubling (each within 4.4 % of its
// centre), from 1 ms to 2^40 ms; bucket 0 holds gaps of 0 ms.
class GapHistogram {
 public:
  void add(std::int64_t gap_ms) {
    ++counts_[bucket_of(gap_ms)];
    ++total_;
  }
  // The median gap, -1 when there is none.
  std::int64_t median() const {
    if (total_ == 0) return -1;
    const std::uint64_t wanted = (total_ - 1) / 2;  // the lower median's rank
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      seen += counts_[b];
      if (seen > wanted) return centre_of(b);
    }
    return centre_of(kBuckets - 1);
  }

 private:
  static constexpr std::size_t kPerDoubling = 16;
  static constexpr std::size_t kBuckets = 1 + kPerDoubling * 40;
  static std::size_t bucket_of(std::int64_t gap_ms) {
    if (gap_ms <= 0) return 0;
    const double at = std::log2(static_cast<double>(gap_ms)) * kPerDoubling;
    return std::min(kBuckets - 1, 1 + static_cast<std::size_t>(at));
  }
  static std::int64_t centre_of(std::size_t b) {
    if (b == 0) return 0;
    const double lo = std::exp2(static_cast<double>(b - 1) / kPerDoubling);
    const double hi = std::exp2(static_cast<double>(b) / kPerDoubling);
    return std::llround(std::sqrt(lo * hi));
  }
  std::array<std::uint32_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
};

// The exact pass's state of one candidate cluster.
struct Detail {
  FraudCluster cluster;
  std::unordered_set<std::uint64_t> voters;  // hashes
  std::unordered_set<std::uint64_t> devices;
  std::unordered_set<std::uint64_t> agents;
  std::unordered_set<std::uint64_t> ips;
  engine::SpaceSaving top_devices{kSourceCapacity};
  engine::SpaceSaving top_agents{kSourceCapacity};
  engine::SpaceSaving top_ips{kSourceCapacity};
  GapHistogram gaps;
  std::int64_t previous_ms = 0;
  std::int64_t minute = 0;
  std::uint64_t in_minute = 0;
  std::map<std::uint64_t, std::uint64_t> void_by;  // decision seq -> votes void by it
};

// Visits every event in seq order, counting each in `events_read`.
template <typename OnEvent>
Status scan_log(ReadOnlyDb& db, ProgressCounter& events_read, OnEvent&& on_event) {
  LogScan scan(*db.db, db.events_cf);
  std::vector<StoredEvent> events;
  while (scan.next()) {
    if (auto status = decode_batch(scan.value(), events); !status.ok()) {
      const auto seq = parse_seq_key(scan.key());
      return Status::error("seq " + std::to_string(seq.value_or(0)) + ": record does not decode: " +
                           status.message() + " (run tallyctl verify)");
    }
    for (const StoredEvent& event : events) {
      on_event(event);
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

void count_reasons(engine::FraudFlags flags, ReasonCounts& counts) {
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if ((flags & engine::flag_of(static_cast<engine::FraudReason>(i))) != 0) {
      ++counts[static_cast<std::size_t>(i)];
    }
  }
}

std::vector<SourceCount> top_of(const engine::SpaceSaving& sketch) {
  std::vector<SourceCount> out;
  for (const engine::HeavyHitter& hitter : sketch.top(kFraudTopSources)) {
    out.push_back({hitter.key, hitter.votes});
  }
  return out;
}

void add_vote(Detail& detail, const StoredEvent& event, engine::FraudFlags late_flags,
              std::uint64_t voided_by, const std::string& short_agent) {
  FraudCluster& cluster = detail.cluster;
  const VoteFields& vote = event.vote;
  const engine::FraudFlags flags = vote.flags | late_flags;
  ++cluster.votes;
  cluster.suspect += flags != 0;
  cluster.flagged += vote.flags != 0;
  cluster.late += late_flags != 0;
  count_reasons(flags, cluster.flags);
  if (voided_by != 0) {
    ++cluster.void_votes;
    ++detail.void_by[voided_by];
  }
  ++cluster.candidates[std::string(vote.ballot.candidate)];
  detail.voters.insert(hash_of(vote.ballot.voter));
  detail.agents.insert(hash_of(vote.ballot.ua));
  detail.top_agents.add(hash_of(vote.ballot.ua), short_agent);
  if (!vote.ballot.device.empty()) {
    detail.devices.insert(hash_of(vote.ballot.device));
    detail.top_devices.add(hash_of(vote.ballot.device),
                           cut_utf8(vote.ballot.device, engine::kMaxLabelBytes));
  }
  if (!vote.ballot.ip.empty()) {
    detail.ips.insert(hash_of(vote.ballot.ip));
    detail.top_ips.add(hash_of(vote.ballot.ip), vote.ballot.ip);
  }
  // Times: the first and last, the gaps between consecutive votes in seq order (a replica's
  // clock may step back a little: such a gap counts as 0), the busiest calendar minute.
  const std::int64_t ms = vote.server_ms;
  const std::int64_t minute = ms >= 0 ? ms / 60'000 : -((-ms + 59'999) / 60'000);
  if (cluster.votes == 1) {
    cluster.first_ms = cluster.last_ms = ms;
  } else {
    detail.gaps.add(std::max<std::int64_t>(0, ms - detail.previous_ms));
    cluster.first_ms = std::min(cluster.first_ms, ms);
    cluster.last_ms = std::max(cluster.last_ms, ms);
  }
  detail.previous_ms = ms;
  detail.in_minute = cluster.votes == 1 || minute != detail.minute ? 1 : detail.in_minute + 1;
  detail.minute = minute;
  cluster.peak_per_minute = std::max(cluster.peak_per_minute, detail.in_minute);
  if (cluster.sample_seqs.size() < kFraudSampleSeqs) cluster.sample_seqs.push_back(event.seq);
}

FraudCluster finish(Detail& detail, Kind kind, const std::vector<ReportDecision>& decisions) {
  FraudCluster cluster = std::move(detail.cluster);
  cluster.voters = detail.voters.size();
  cluster.devices = detail.devices.size();
  cluster.agents = detail.agents.size();
  cluster.ips = detail.ips.size();
  cluster.median_gap_ms = detail.gaps.median();
  cluster.top_devices = top_of(detail.top_devices);
  cluster.top_agents = top_of(detail.top_agents);
  cluster.top_ips = top_of(detail.top_ips);
  std::uint64_t most = 0;
  for (const auto& [candidate, votes] : cluster.candidates) {
    if (votes > most) {
      most = votes;
      cluster.top_candidate = candidate;
    }
  }
  std::map<std::uint64_t, ClusterDecision> bearing;
  for (const auto& [seq, votes] : detail.void_by) bearing[seq] = {seq, false, votes};
  for (const ReportDecision& decision : decisions) {
    if (kind_of(decision.scope) == kind && cut(decision.key) == cluster.key) {
      ClusterDecision& entry = bearing[decision.seq];
      entry.seq = decision.seq;
      entry.names_cluster = true;
    }
  }
  for (const auto& [seq, entry] : bearing) cluster.decisions.push_back(entry);
  return cluster;
}

}  // namespace

double FraudCluster::top_share() const {
  if (votes == 0) return 0;
  const auto it = candidates.find(top_candidate);
  return it == candidates.end() ? 0 : static_cast<double>(it->second) / static_cast<double>(votes);
}

std::string_view FraudReport::candidate_name(std::string_view id) const {
  for (const engine::CandidateTally& c : results.candidates) {
    if (c.id == id) return c.name;
  }
  return id;
}

Result<FraudReport> fraud_report(const std::string& data_dir, std::string_view campaign_id,
                                 std::size_t top, const ScanProgress& progress) {
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  FraudReport report;
  report.campaign = std::string(campaign_id);

  // Pass 1: the campaign, the counts per candidate, the decisions and what flag and decision
  // events do to each vote they name; bounded sketches by suspect votes and by volume choose
  // the candidate clusters. A vote's late flags come after it in the log, so the suspect
  // sketch counts its stored flags, and each flag event's own cluster by the votes it turned
  // suspect; the exact pass counts both.
  std::array<TopKeys, kKinds> by_suspect;
  std::array<TopKeys, kKinds> by_volume;
  std::array<std::unordered_set<std::string>, kKinds> named;  // clusters a decision names
  std::vector<MarkOp> ops;
  std::optional<engine::Campaign> campaign;
  Counter counter;
  ProgressCounter events_read(progress);
  auto status = scan_log(**opened, events_read, [&](const StoredEvent& event) {
    report.as_of_seq = std::max(report.as_of_seq, event.seq);
    if (event.kind == EventKind::campaign) {
      auto parsed = engine::parse_campaign(event.campaign_json);
      if (parsed.ok() && parsed->id == campaign_id) {
        counter.add_version(*parsed, event.seq);
        campaign = std::move(parsed).value();
      }
    } else if (event.kind == EventKind::vote && event.vote.ballot.campaign == campaign_id) {
      const bool suspect = event.vote.flags != 0;
      counter.add_vote(campaign_id, event.vote.ballot.candidate, suspect, event.seq);
      ++report.votes;
      report.flagged += suspect;
      const auto keys = keys_of(event.vote);
      for (std::size_t kind = 0; kind < kKinds; ++kind) {
        if (keys[kind].empty()) continue;
        by_volume[kind].add(keys[kind], 1);
        if (suspect) by_suspect[kind].add(keys[kind], 1);
      }
    } else if (event.kind == EventKind::flag && event.flag.campaign == campaign_id) {
      counter.add_adjudication(event);
      std::uint64_t turned = 0;
      for (const engine::MarkedVote& vote : event.flag.votes) {
        ops.push_back({vote.seq, event.seq, engine::flag_of(event.flag.reason), MarkOp::kFlag});
        turned += vote.prior == 0;
      }
      if (const auto kind = kind_of(event.flag.scope); kind && turned > 0) {
        by_suspect[*kind].add(event.flag.key, turned);
      }
    } else if (event.kind == EventKind::decision && event.decision.campaign == campaign_id) {
      counter.add_adjudication(event);
      const DecisionFields& d = event.decision;
      report.decisions.push_back({event.seq, d.action, std::string(d.author), std::string(d.reason),
                                  d.server_ms, std::string(d.candidate), d.scope,
                                  std::string(d.key), d.votes.size()});
      if (names_votes(d.action)) {
        const MarkOp::Op op =
            d.action == DecisionAction::void_votes ? MarkOp::kVoid : MarkOp::kRestore;
        for (const engine::MarkedVote& vote : d.votes) ops.push_back({vote.seq, event.seq, 0, op});
      }
      if (const auto kind = kind_of(d.scope)) named[*kind].insert(cut(d.key));
    }
  });
  if (!status.ok()) return status;
  if (!campaign) return Status::error("campaign " + std::string(campaign_id) + ": not in the log");
  report.title = campaign->title;
  report.utc_offset_s = campaign->utc_offset_s;
  for (auto& tally : counter.tallies()) {
    if (tally.campaign == campaign_id) report.results = std::move(tally);
  }
  report.results.as_of_seq = report.as_of_seq;
  report.suspect = report.results.suspect;
  report.void_votes = report.results.voided;
  report.valid = report.results.valid;
  const std::vector<Marks> marks = fold(ops);

  // Pass 2: exact counts for the chosen keys only, each vote with its marks (both in seq
  // order: a cursor walks the marks).
  std::array<std::unordered_map<std::string, Detail>, kKinds> details;
  for (std::size_t kind = 0; kind < kKinds; ++kind) {
    std::unordered_set<std::string> chosen = named[kind];
    by_suspect[kind].collect(top * kCandidateFactor, chosen);
    by_volume[kind].collect(top * kCandidateFactor, chosen);
    for (const std::string& key : chosen) details[kind][key].cluster.key = key;
  }
  std::size_t next_marks = 0;
  std::string short_agent;
  status = scan_log(**opened, events_read, [&](const StoredEvent& event) {
    if (event.kind != EventKind::vote || event.vote.ballot.campaign != campaign_id) return;
    while (next_marks < marks.size() && marks[next_marks].seq < event.seq) ++next_marks;
    const bool marked = next_marks < marks.size() && marks[next_marks].seq == event.seq;
    const engine::FraudFlags late_flags = marked ? marks[next_marks].late_flags : 0;
    const std::uint64_t voided_by = marked ? marks[next_marks].voided_by : 0;
    count_reasons(event.vote.flags | late_flags, report.flags);
    report.late += late_flags != 0;
    const auto keys = keys_of(event.vote);
    bool agent_known = false;
    for (std::size_t kind = 0; kind < kKinds; ++kind) {
      if (keys[kind].empty()) continue;
      const auto it = details[kind].find(cut(keys[kind]));
      if (it == details[kind].end()) continue;
      if (!agent_known) {
        short_agent = shorten_user_agent(event.vote.ballot.ua);
        agent_known = true;
      }
      add_vote(it->second, event, late_flags, voided_by, short_agent);
    }
  });
  if (!status.ok()) return status;

  std::array<std::vector<FraudCluster>*, kKinds> outputs = {&report.ips, &report.subnets,
                                                            &report.devices};
  for (std::size_t kind = 0; kind < kKinds; ++kind) {
    std::vector<FraudCluster>& out = *outputs[kind];
    for (auto& [key, detail] : details[kind]) {
      if (detail.cluster.votes == 0) continue;
      out.push_back(finish(detail, static_cast<Kind>(kind), report.decisions));
    }
    std::sort(out.begin(), out.end(), [](const FraudCluster& a, const FraudCluster& b) {
      if (a.suspect != b.suspect) return a.suspect > b.suspect;
      if (a.votes != b.votes) return a.votes > b.votes;
      return a.key < b.key;
    });
    // The largest `top`, and after them the other clusters a decision names.
    std::size_t kept = std::min(top, out.size());
    for (std::size_t i = kept; i < out.size(); ++i) {
      if (named[kind].contains(out[i].key)) std::swap(out[kept++], out[i]);
    }
    out.resize(kept);
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Presentation: shared helpers.

namespace {

// The next code point of `text` from `at` (advanced past it); U+FFFD for a malformed byte.
char32_t next_code_point(std::string_view text, std::size_t& at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  std::size_t length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x6  ? 2
                       : (lead >> 4) == 0xE  ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 0;
  if (length == 0 || at + length > text.size()) {
    ++at;
    return 0xFFFD;
  }
  char32_t code = length == 1 ? lead : lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) {
      ++at;
      return 0xFFFD;
    }
    code = (code << 6) | (byte(at + i) & 0x3F);
  }
  at += length;
  return code;
}

bool is_ideograph(char32_t c) {
  return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3134F);
}

// Columns a terminal gives a code point: 2 for East Asian wide and full-width forms.
std::size_t columns_of(char32_t c) {
  const bool wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
                    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
                    (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                    (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
  return wide ? 2 : 1;
}

std::size_t width_of(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t at = 0; at < text.size();) width += columns_of(next_code_point(text, at));
  return width;
}

// A string from the log made safe for a terminal: control characters (an escape sequence in
// a user agent, a line break in a reason) become spaces.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) c = ' ';
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab and line breaks are not allowed in HTML text.
        if ((byte < 0x20 && c != '\t' && c != '\n' && c != '\r') || byte == 0x7F) {
          out += "\xEF\xBF\xBD";
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// "2023-03-27 12:00:05" at the campaign's offset (milliseconds when not 0).
std::string local_time(std::int64_t ms, std::int32_t utc_offset_s) {
  std::string text = format_rfc3339(ms, utc_offset_s);
  const std::size_t zone = text.find_first_of("Z+-", 19);
  if (zone != std::string::npos) text.resize(zone);
  if (text.size() > 10) text[10] = ' ';
  return text;
}

std::string utc_offset_text(std::int32_t utc_offset_s) {
  return "UTC" + (utc_offset_s == 0 ? std::string("+00:00") : format_utc_offset(utc_offset_s));
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string percent(double share) { return fixed(share * 100, 0) + "%"; }

// A gap for people: "850 ms", "2.0 s", "3.5 min", "2.1 h" (or the Chinese units).
std::string gap_text(std::int64_t ms, ReportLanguage language) {
  const bool zh = language == ReportLanguage::zh;
  if (ms < 1000) return std::to_string(ms) + (zh ? " 毫秒" : " ms");
  const double s = static_cast<double>(ms) / 1000;
  if (s < 60) return fixed(s, 1) + (zh ? " 秒" : " s");
  if (s < 3600) return fixed(s / 60, 1) + (zh ? " 分钟" : " min");
  return fixed(s / 3600, 1) + (zh ? " 小时" : " h");
}

std::string reasons_text(const ReasonCounts& flags) {
  std::string out;
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if (flags[static_cast<std::size_t>(i)] == 0) continue;
    if (!out.empty()) out += ' ';
    out += engine::to_string(static_cast<engine::FraudReason>(i));
    out += '=' + std::to_string(flags[static_cast<std::size_t>(i)]);
  }
  return out;
}

const ReportDecision* find_decision(const FraudReport& report, std::uint64_t seq) {
  for (const ReportDecision& decision : report.decisions) {
    if (decision.seq == seq) return &decision;
  }
  return nullptr;
}

// Candidate ids of a cluster by its votes for them, largest first, then id.
std::vector<std::pair<std::string, std::uint64_t>> by_votes(const FraudCluster& cluster) {
  std::vector<std::pair<std::string, std::uint64_t>> out(cluster.candidates.begin(),
                                                         cluster.candidates.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

struct Section {
  engine::ClusterScope scope;
  const std::vector<FraudCluster>* clusters;
};

std::array<Section, 3> sections_of(const FraudReport& report) {
  return {Section{engine::ClusterScope::ip, &report.ips},
          Section{engine::ClusterScope::subnet, &report.subnets},
          Section{engine::ClusterScope::device, &report.devices}};
}

// ---------------------------------------------------------------------------------------------
// JSON.

void append_reasons(JsonWriter& json, const ReasonCounts& flags) {
  json.begin_object();
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if (flags[static_cast<std::size_t>(i)] == 0) continue;
    json.key(engine::to_string(static_cast<engine::FraudReason>(i)));
    json.integer(flags[static_cast<std::size_t>(i)]);
  }
  json.end_object();
}

void append_sources(JsonWriter& json, std::string_view name,
                    const std::vector<SourceCount>& sources) {
  json.key(name).begin_array();
  for (const SourceCount& source : sources) {
    json.begin_object();
    json.key("key").string(source.key);
    json.key("votes").integer(source.votes);
    json.end_object();
  }
  json.end_array();
}

void append_clusters(JsonWriter& json, std::string_view name,
                     const std::vector<FraudCluster>& clusters, std::int32_t utc_offset_s) {
  json.key(name).begin_array();
  for (const FraudCluster& c : clusters) {
    json.begin_object();
    json.key("key").string(c.key);
    json.key("votes").integer(c.votes);
    json.key("suspect").integer(c.suspect);
    json.key("flagged").integer(c.flagged);
    json.key("late").integer(c.late);
    json.key("void").integer(c.void_votes);
    json.key("voters").integer(c.voters);
    json.key("devices").integer(c.devices);
    json.key("agents").integer(c.agents);
    json.key("ips").integer(c.ips);
    json.key("flags");
    append_reasons(json, c.flags);
    json.key("candidates").begin_object();
    for (const auto& [candidate, votes] : c.candidates) json.key(candidate).integer(votes);
    json.end_object();
    json.key("top_candidate").string(c.top_candidate);
    json.key("top_share").raw(fixed(c.top_share(), 4));
    json.key("first").string(format_rfc3339(c.first_ms, utc_offset_s));
    json.key("last").string(format_rfc3339(c.last_ms, utc_offset_s));
    json.key("first_ms").integer(c.first_ms);
    json.key("last_ms").integer(c.last_ms);
    json.key("median_gap_ms");
    if (c.median_gap_ms < 0) {
      json.null();
    } else {
      json.integer(c.median_gap_ms);
    }
    json.key("peak_per_minute").integer(c.peak_per_minute);
    append_sources(json, "top_devices", c.top_devices);
    append_sources(json, "top_agents", c.top_agents);
    append_sources(json, "top_ips", c.top_ips);
    json.key("decisions").begin_array();
    for (const ClusterDecision& d : c.decisions) {
      json.begin_object();
      json.key("seq").integer(d.seq);
      json.key("names_cluster").boolean(d.names_cluster);
      json.key("void").integer(d.void_votes);
      json.end_object();
    }
    json.end_array();
    json.key("sample_seqs").begin_array();
    for (const std::uint64_t seq : c.sample_seqs) json.integer(seq);
    json.end_array();
    json.end_object();
  }
  json.end_array();
}

// ---------------------------------------------------------------------------------------------
// Text.

// Rows of cells printed in aligned columns (by display width), two spaces apart; columns in
// `right` are right-aligned.
std::string table_text(const std::vector<std::vector<std::string>>& rows,
                       const std::vector<bool>& right, std::string_view indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width_of(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::string pad(widths[i] - width_of(row[i]), ' ');
      const bool align_right = i < right.size() && right[i];
      if (i > 0) line += "  ";
      line += align_right ? pad + row[i] : row[i] + (i + 1 < row.size() ? pad : "");
    }
    out += line + '\n';
  }
  return out;
}

std::string decision_target_text(const ReportDecision& d) {
  if (!d.candidate.empty()) return "candidate " + printable(d.candidate);
  if (d.scope != engine::ClusterScope::none) {
    return std::string(engine::to_string(d.scope)) + " " + printable(d.key);
  }
  return "by seq";
}

// "1 voter", "2 voters".
std::string count_text(std::uint64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string sources_text(const std::vector<SourceCount>& sources) {
  if (sources.empty()) return "none";
  std::string out;
  for (const SourceCount& source : sources) {
    if (!out.empty()) out += ", ";
    out += (source.key.empty() ? std::string("(none)") : printable(source.key)) + " " +
           std::to_string(source.votes);
  }
  return out;
}

void append_cluster_text(std::string& out, const FraudReport& report, const FraudCluster& c,
                         engine::ClusterScope scope) {
  out += "  " + printable(c.key) + '\n';
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"votes", std::to_string(c.votes) + ", suspect " + std::to_string(c.suspect) +
                               " (flagged " + std::to_string(c.flagged) + ", late " +
                               std::to_string(c.late) + "), void " + std::to_string(c.void_votes)});
  rows.push_back({"sources", count_text(c.voters, "voter") + ", " +
                                 count_text(c.devices, "device") + ", " +
                                 count_text(c.agents, "agent") + ", " + count_text(c.ips, "IP")});
  std::string candidates;
  for (const auto& [id, votes] : by_votes(c)) {
    if (!candidates.empty()) candidates += ", ";
    candidates += printable(id) + " " + printable(report.candidate_name(id)) + " " +
                  std::to_string(votes) + " (" +
                  percent(static_cast<double>(votes) / static_cast<double>(c.votes)) + ")";
  }
  rows.push_back({"candidates", candidates});
  std::string timing = local_time(c.first_ms, report.utc_offset_s) + " .. " +
                       local_time(c.last_ms, report.utc_offset_s);
  if (c.median_gap_ms >= 0) {
    timing += ", median gap " + gap_text(c.median_gap_ms, ReportLanguage::en);
  }
  timing += ", peak " + std::to_string(c.peak_per_minute) + "/min";
  rows.push_back({"time", timing});
  if (scope != engine::ClusterScope::device)
    rows.push_back({"devices", sources_text(c.top_devices)});
  if (scope != engine::ClusterScope::ip) rows.push_back({"IPs", sources_text(c.top_ips)});
  rows.push_back({"agents", sources_text(c.top_agents)});
  rows.push_back({"flags", c.suspect == 0 ? std::string("none") : reasons_text(c.flags)});
  if (c.decisions.empty()) rows.push_back({"decision", "none"});
  for (const ClusterDecision& bearing : c.decisions) {
    const ReportDecision* d = find_decision(report, bearing.seq);
    if (d == nullptr) continue;
    std::string line = "seq " + std::to_string(d->seq) + " " + std::string(to_string(d->action)) +
                       " " + decision_target_text(*d) + " by " + printable(d->author) + " at " +
                       local_time(d->server_ms, report.utc_offset_s) +
                       (bearing.names_cluster ? " (names this cluster)" : "") + ": " +
                       std::to_string(bearing.void_votes) + " of these votes void by it; \"" +
                       printable(d->reason) + "\"";
    rows.push_back({"decision", line});
  }
  std::string seqs;
  for (const std::uint64_t seq : c.sample_seqs)
    seqs += (seqs.empty() ? "" : " ") + std::to_string(seq);
  rows.push_back({"sample seqs", seqs});
  out += table_text(rows, {}, "    ");
}

// ---------------------------------------------------------------------------------------------
// HTML.

// The page's words in one language.
struct Words {
  const char* lang;  // the html element's
  const char* heading;
  const char* campaign;
  const char* as_of;
  const char* times_at;
  const char* summary;
  const char* votes;
  const char* suspect;
  const char* flagged;
  const char* late;
  const char* void_votes;
  const char* valid;
  const char* reasons;
  const char* decisions;
  const char* no_decisions;
  const char* seq;
  const char* time;
  const char* action;
  const char* target;
  const char* author;
  const char* reason;
  const char* changed;
  const char* candidates;
  const char* rank;
  const char* id;
  const char* name;
  const char* disqualified;
  const char* clusters[3];  // by ip, subnet, device
  const char* none;
  const char* voters;
  const char* devices;
  const char* agents;
  const char* ips;
  const char* share;
  const char* per_candidate;
  const char* first_last;
  const char* median_gap;
  const char* peak;
  const char* per_minute;
  const char* flags;
  const char* decision;
  const char* names_cluster;
  const char* void_here;
  const char* samples;
  const char* samples_hint;
  const char* by_seq;
  const char* scopes[3];   // ip, subnet, device
  const char* actions[4];  // void, restore, disqualify, reinstate
  const char* reason_names[engine::kFraudReasonCount];
  const char* footer;
};

constexpr Words kEnglish = {
    "en",
    "Fraud report",
    "Campaign",
    "As of seq",
    "Times are local at",
    "Summary",
    "Votes",
    "Suspect",
    "flagged when cast",
    "flagged later",
    "Void",
    "Valid",
    "Votes per reason",
    "Decisions",
    "No decision has been taken.",
    "Seq",
    "Time",
    "Action",
    "Concerns",
    "Author",
    "Reason",
    "Votes changed",
    "Candidates by valid votes",
    "Rank",
    "ID",
    "Name",
    "Disqualified",
    {"Largest clusters by IP address", "Largest clusters by subnet", "Largest clusters by device"},
    "none",
    "voters",
    "devices",
    "agents",
    "IPs",
    "Top candidate",
    "Votes per candidate",
    "First and last vote",
    "median gap",
    "peak",
    "per minute",
    "Flags",
    "Decision",
    "names this cluster",
    "of these votes void by it",
    "Sample seqs",
    "look up with GET /v1/votes/{seq}",
    "by seq",
    {"IP", "subnet", "device"},
    {"void", "restore", "disqualify", "reinstate"},
    {"ip_flood", "device_multi_account", "burst", "no_device", "bot_ua"},
    "Read from the vote log by tallyctl fraud-report. Signals are evidence; the committee "
    "decides.",
};

constexpr Words kChinese = {
    "zh-CN",
    "投票异常情况报告",
    "活动",
    "截至日志序号",
    "时间均为当地时间",
    "总体情况",
    "票数",
    "可疑票",
    "投票时标记",
    "事后标记",
    "作废",
    "有效票",
    "各类标记票数",
    "评审决定",
    "尚未作出任何决定。",
    "序号",
    "时间",
    "决定",
    "对象",
    "决定人",
    "理由",
    "涉及票数",
    "候选人有效票排名",
    "名次",
    "编号",
    "姓名",
    "已取消资格",
    {"按 IP 地址的最大集群", "按网段的最大集群", "按设备的最大集群"},
    "无",
    "投票人",
    "设备",
    "浏览器标识",
    "IP",
    "最多得票候选人",
    "各候选人票数",
    "首票与末票时间",
    "间隔中位数",
    "峰值",
    "票/分钟",
    "标记",
    "决定",
    "针对本集群",
    "票因此作废",
    "样本序号",
    "可用 GET /v1/votes/{seq} 查询",
    "按序号",
    {"IP 地址", "网段", "设备"},
    {"作废", "恢复", "取消资格", "恢复资格"},
    {"同址相似票 (ip_flood)", "一机多号 (device_multi_account)", "突增 (burst)",
     "无设备标识 (no_device)", "机器客户端 (bot_ua)"},
    "由 tallyctl fraud-report 从投票日志生成。异常信号仅为证据，由评审委员会综合评定。",
};

constexpr char kStyle[] =
    "@page{size:A4;margin:14mm 12mm}"
    "body{font-family:'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',"
    "'Helvetica Neue',Arial,sans-serif;font-size:10pt;line-height:1.4;color:#000;margin:0 auto;"
    "max-width:186mm}"
    "h1{font-size:16pt;margin:0 0 2mm}h2{font-size:12.5pt;margin:6mm 0 2mm;"
    "border-bottom:1px solid #444;break-after:avoid;page-break-after:avoid}"
    "h3{font-size:10.5pt;margin:0 0 1mm;word-break:break-all}"
    ".meta{color:#333;margin:0 0 3mm}"
    "table{border-collapse:collapse;width:100%;margin:1mm 0 3mm}"
    "th,td{border:1px solid #999;padding:1mm 1.5mm;text-align:left;vertical-align:top;"
    "word-break:break-word}"
    "th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}"
    "td.n,th.n{text-align:right;white-space:nowrap}"
    "table.facts th{width:28%;font-weight:normal;background:#f4f4f4}"
    "section.cluster{break-inside:avoid;page-break-inside:avoid;margin:0 0 4mm}"
    "tr.apart td{color:#555;font-style:italic}"
    ".decided{font-weight:bold}"
    "footer{margin-top:6mm;font-size:8.5pt;color:#444}"
    "@media print{body{max-width:none}}";

std::string td(const std::string& text) { return "<td>" + text + "</td>"; }
std::string td_n(std::uint64_t n) { return "<td class=\"n\">" + std::to_string(n) + "</td>"; }

std::string action_word(const Words& w, DecisionAction action) {
  const auto i = static_cast<std::size_t>(action) - 1;
  return i < 4 ? w.actions[i] : std::string(to_string(action));
}

std::string scope_word(const Words& w, engine::ClusterScope scope) {
  const auto i = static_cast<std::size_t>(scope);
  return i >= 1 && i <= 3 ? w.scopes[i - 1] : std::string(engine::to_string(scope));
}

std::string decision_target_html(const Words& w, const FraudReport& report,
                                 const ReportDecision& d) {
  if (!d.candidate.empty()) {
    return html_escape(d.candidate) + " " + html_escape(report.candidate_name(d.candidate));
  }
  if (d.scope != engine::ClusterScope::none) {
    return html_escape(scope_word(w, d.scope)) + " <code>" + html_escape(d.key) + "</code>";
  }
  return w.by_seq;
}

std::string reasons_html(const Words& w, const ReasonCounts& flags) {
  std::string out;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    if (flags[i] == 0) continue;
    if (!out.empty()) out += "; ";
    out += std::string(w.reason_names[i]) + " " + std::to_string(flags[i]);
  }
  return out.empty() ? w.none : out;
}

std::string sources_html(const Words& w, const std::vector<SourceCount>& sources) {
  std::string out;
  for (const SourceCount& source : sources) {
    if (!out.empty()) out += "<br>";
    out += "<code>" + (source.key.empty() ? std::string("&ndash;") : html_escape(source.key)) +
           "</code> &times; " + std::to_string(source.votes);
  }
  return out.empty() ? w.none : out;
}

void append_cluster_html(std::string& out, const Words& w, const FraudReport& report,
                         ReportLanguage language, const FraudCluster& c,
                         engine::ClusterScope scope) {
  const bool decided = !c.decisions.empty();
  out += "<section class=\"cluster\"><h3" + std::string(decided ? " class=\"decided\"" : "") + ">" +
         html_escape(scope_word(w, scope)) + " <code>" + html_escape(c.key) +
         "</code></h3>\n<table class=\"facts\">\n";
  const auto row = [&](const std::string& label, const std::string& value) {
    out += "<tr><th>" + label + "</th><td>" + value + "</td></tr>\n";
  };
  row(w.votes, std::to_string(c.votes) + " &middot; " + w.suspect + " " +
                   std::to_string(c.suspect) + " (" + w.flagged + " " + std::to_string(c.flagged) +
                   ", " + w.late + " " + std::to_string(c.late) + ") &middot; " + w.void_votes +
                   " " + std::to_string(c.void_votes));
  row(std::string(w.voters) + " / " + w.devices + " / " + w.agents + " / " + w.ips,
      std::to_string(c.voters) + " / " + std::to_string(c.devices) + " / " +
          std::to_string(c.agents) + " / " + std::to_string(c.ips));
  row(w.share, html_escape(c.top_candidate) + " " +
                   html_escape(report.candidate_name(c.top_candidate)) + " &middot; " +
                   percent(c.top_share()));
  std::string candidates;
  for (const auto& [id, votes] : by_votes(c)) {
    if (!candidates.empty()) candidates += ", ";
    candidates += html_escape(id) + " " + html_escape(report.candidate_name(id)) + " " +
                  std::to_string(votes);
  }
  row(w.per_candidate, candidates);
  std::string timing = local_time(c.first_ms, report.utc_offset_s) + " &ndash; " +
                       local_time(c.last_ms, report.utc_offset_s);
  if (c.median_gap_ms >= 0) {
    timing += "<br>" + std::string(w.median_gap) + " " + gap_text(c.median_gap_ms, language);
  }
  timing += " &middot; " + std::string(w.peak) + " " + std::to_string(c.peak_per_minute) + " " +
            w.per_minute;
  row(w.first_last, timing);
  if (scope != engine::ClusterScope::device) row(w.devices, sources_html(w, c.top_devices));
  if (scope != engine::ClusterScope::ip) row(w.ips, sources_html(w, c.top_ips));
  row(w.agents, sources_html(w, c.top_agents));
  row(w.flags, reasons_html(w, c.flags));
  std::string decisions;
  for (const ClusterDecision& bearing : c.decisions) {
    const ReportDecision* d = find_decision(report, bearing.seq);
    if (d == nullptr) continue;
    if (!decisions.empty()) decisions += "<br>";
    decisions += "<span class=\"decided\">" + action_word(w, d->action) + "</span> (" + w.seq +
                 " " + std::to_string(d->seq) + ", " + html_escape(d->author) + ", " +
                 local_time(d->server_ms, report.utc_offset_s) + ")";
    if (bearing.names_cluster) decisions += " &middot; " + std::string(w.names_cluster);
    decisions += " &middot; " + std::to_string(bearing.void_votes) + " " + w.void_here +
                 "<br>&ldquo;" + html_escape(d->reason) + "&rdquo;";
  }
  row(w.decision, decisions.empty() ? w.none : decisions);
  std::string seqs;
  for (const std::uint64_t seq : c.sample_seqs)
    seqs += (seqs.empty() ? "" : " ") + std::to_string(seq);
  row(w.samples, seqs + " <small>(" + html_escape(w.samples_hint) + ")</small>");
  out += "</table></section>\n";
}

}  // namespace

std::string shorten_user_agent(std::string_view ua) {
  if (ua.size() <= kShortAgentBytes) return std::string(ua);
  std::string platform;
  const std::size_t open = ua.find('(');
  const std::size_t close = open == std::string_view::npos ? open : ua.find(')', open);
  if (close != std::string_view::npos) {
    std::string_view inside = ua.substr(open + 1, close - open - 1);
    while (!inside.empty()) {
      const std::size_t semicolon = inside.find(';');
      std::string_view part = inside.substr(0, semicolon);
      inside =
          semicolon == std::string_view::npos ? std::string_view() : inside.substr(semicolon + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (const std::size_t build = part.find(" Build/"); build != std::string_view::npos) {
        part = part.substr(0, build);
      }
      if (part.starts_with("CPU ")) part.remove_prefix(4);
      if (const std::size_t like = part.find(" like Mac OS X"); like != std::string_view::npos) {
        part = part.substr(0, like);
      }
      if (part.empty() || part == "Linux" || part == "U" || part == "wv" || part == "K") continue;
      if (!platform.empty()) platform += "; ";
      platform += part;
    }
  }
  std::string_view app;
  for (std::string_view marker : {"MicroMessenger/", "wxwork/", "HeadlessChrome/", "PhantomJS/"}) {
    if (const std::size_t at = ua.find(marker); at != std::string_view::npos) {
      app = ua.substr(at);
      break;
    }
  }
  if (app.empty()) {
    std::string_view rest = ua;
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    const std::size_t space = rest.rfind(' ');
    app = space == std::string_view::npos ? rest : rest.substr(space + 1);
  }
  app = app.substr(0, std::min(app.find(' '), app.find('(')));
  std::string out = platform.empty() ? std::string(app) : platform + " " + std::string(app);
  if (out.size() > kShortAgentBytes) {
    out = std::string(cut_utf8(out, kShortAgentBytes - 3)) + "\xE2\x80\xA6";  // an ellipsis
  }
  return out;
}

ReportLanguage report_language_of(std::string_view title) {
  for (std::size_t at = 0; at < title.size();) {
    if (is_ideograph(next_code_point(title, at))) return ReportLanguage::zh;
  }
  return ReportLanguage::en;
}

std::string fraud_report_json(const FraudReport& report) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string(report.campaign);
  json.key("title").string(report.title);
  json.key("utc_offset")
      .string(report.utc_offset_s == 0 ? std::string("+00:00")
                                       : format_utc_offset(report.utc_offset_s));
  json.key("as_of_seq").integer(report.as_of_seq);
  json.key("votes").integer(report.votes);
  json.key("suspect").integer(report.suspect);
  json.key("flagged").integer(report.flagged);
  json.key("late").integer(report.late);
  json.key("void").integer(report.void_votes);
  json.key("valid").integer(report.valid);
  json.key("flags");
  append_reasons(json, report.flags);
  json.key("decisions").begin_array();
  for (const ReportDecision& d : report.decisions) {
    json.begin_object();
    json.key("seq").integer(d.seq);
    json.key("action").string(to_string(d.action));
    json.key("author").string(d.author);
    json.key("reason").string(d.reason);
    json.key("server_ms").integer(d.server_ms);
    json.key("time").string(format_rfc3339(d.server_ms, report.utc_offset_s));
    if (!d.candidate.empty()) json.key("candidate").string(d.candidate);
    if (d.scope != engine::ClusterScope::none) {
      json.key("scope").string(engine::to_string(d.scope));
      json.key("key").string(d.key);
    }
    json.key("votes").integer(d.votes);
    json.end_object();
  }
  json.end_array();
  json.key("candidates").begin_array();
  for (const engine::CandidateTally& c : report.results.candidates) {
    json.begin_object();
    json.key("rank").integer(c.rank);
    json.key("id").string(c.id);
    json.key("name").string(c.name);
    json.key("votes").integer(c.votes);
    json.key("suspect").integer(c.suspect);
    json.key("void").integer(c.voided);
    json.key("valid").integer(c.valid);
    json.key("disqualified").boolean(c.disqualified);
    json.end_object();
  }
  json.end_array();
  append_clusters(json, "ips", report.ips, report.utc_offset_s);
  append_clusters(json, "subnets", report.subnets, report.utc_offset_s);
  append_clusters(json, "devices", report.devices, report.utc_offset_s);
  json.end_object();
  out += '\n';
  return out;
}

std::string fraud_report_text(const FraudReport& report) {
  std::string out = "fraud report: " + printable(report.title) + " (campaign " +
                    printable(report.campaign) + "), as of seq " +
                    std::to_string(report.as_of_seq) + "; times at " +
                    utc_offset_text(report.utc_offset_s) + "\n";
  out += table_text(
      {{"votes", std::to_string(report.votes)},
       {"suspect", std::to_string(report.suspect) + " (flagged " + std::to_string(report.flagged) +
                       ", late " + std::to_string(report.late) + ")"},
       {"void", std::to_string(report.void_votes)},
       {"valid", std::to_string(report.valid)},
       {"flags", report.suspect == 0 ? std::string("none") : reasons_text(report.flags)}},
      {}, "  ");

  out += "decisions (" + std::to_string(report.decisions.size()) + "):\n";
  if (report.decisions.empty()) out += "  (none)\n";
  if (!report.decisions.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"seq", "time", "action", "concerns", "votes", "author", "reason"}};
    for (const ReportDecision& d : report.decisions) {
      rows.push_back({std::to_string(d.seq), local_time(d.server_ms, report.utc_offset_s),
                      std::string(to_string(d.action)), decision_target_text(d),
                      names_votes(d.action) ? std::to_string(d.votes) : "-", printable(d.author),
                      printable(d.reason)});
    }
    out += table_text(rows, {true, false, false, false, true}, "  ");
  }

  out += "candidates by valid votes:\n";
  std::vector<std::vector<std::string>> rows = {
      {"rank", "id", "name", "votes", "suspect", "void", "valid"}};
  for (const engine::CandidateTally& c : report.results.candidates) {
    rows.push_back({c.disqualified ? "-" : std::to_string(c.rank), printable(c.id),
                    printable(c.name), std::to_string(c.votes), std::to_string(c.suspect),
                    std::to_string(c.voided), std::to_string(c.valid)});
  }
  // Disqualified candidates come last (TallySnapshot's order), under a line of their own.
  const std::string table = table_text(rows, {true, false, false, true, true, true, true}, "  ");
  std::size_t line = 0;
  for (std::size_t at = 0; at < table.size(); ++line) {
    const std::size_t end = table.find('\n', at) + 1;
    const bool first_apart = line > 0 && report.results.candidates[line - 1].disqualified &&
                             (line == 1 || !report.results.candidates[line - 2].disqualified);
    if (first_apart) out += "  disqualified:\n";
    out.append(table, at, end - at);
    at = end;
  }

  const char* titles[] = {"IPs", "subnets", "devices"};
  std::size_t i = 0;
  for (const Section& section : sections_of(report)) {
    out += std::string("largest clusters by ") + titles[i++] + ":\n";
    if (section.clusters->empty()) out += "  (none)\n";
    for (const FraudCluster& c : *section.clusters) {
      append_cluster_text(out, report, c, section.scope);
    }
  }
  return out;
}

std::string fraud_report_html(const FraudReport& report, ReportLanguage language) {
  const Words& w = language == ReportLanguage::zh ? kChinese : kEnglish;
  std::string out = "<!DOCTYPE html>\n<html lang=\"" + std::string(w.lang) +
                    "\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + w.heading + " &ndash; " +
                    html_escape(report.title) + "</title>\n<style>" + kStyle +
                    "</style>\n</head>\n<body>\n";
  out += "<h1>" + html_escape(report.title) + "</h1>\n";
  out += "<p class=\"meta\">" + std::string(w.heading) + " &middot; " + w.campaign + " <code>" +
         html_escape(report.campaign) + "</code> &middot; " + w.as_of + " " +
         std::to_string(report.as_of_seq) + " &middot; " + w.times_at + " " +
         utc_offset_text(report.utc_offset_s) + "</p>\n";

  out += "<h2>" + std::string(w.summary) + "</h2>\n<table class=\"facts\">\n";
  const auto row = [&](const std::string& label, const std::string& value) {
    out += "<tr><th>" + label + "</th><td>" + value + "</td></tr>\n";
  };
  row(w.votes, std::to_string(report.votes));
  row(w.suspect, std::to_string(report.suspect) + " (" + w.flagged + " " +
                     std::to_string(report.flagged) + ", " + w.late + " " +
                     std::to_string(report.late) + ")");
  row(w.void_votes, std::to_string(report.void_votes));
  row(w.valid, std::to_string(report.valid));
  row(w.reasons, reasons_html(w, report.flags));
  out += "</table>\n";

  out += "<h2>" + std::string(w.decisions) + "</h2>\n";
  if (report.decisions.empty()) {
    out += "<p>" + std::string(w.no_decisions) + "</p>\n";
  } else {
    out += "<table>\n<thead><tr><th class=\"n\">" + std::string(w.seq) + "</th><th>" + w.time +
           "</th><th>" + w.action + "</th><th>" + w.target + "</th><th class=\"n\">" + w.changed +
           "</th><th>" + w.author + "</th><th>" + w.reason + "</th></tr></thead>\n<tbody>\n";
    for (const ReportDecision& d : report.decisions) {
      out += "<tr>" + td_n(d.seq) + td(local_time(d.server_ms, report.utc_offset_s)) +
             td(action_word(w, d.action)) + td(decision_target_html(w, report, d)) +
             (names_votes(d.action) ? td_n(d.votes) : std::string("<td class=\"n\">&ndash;</td>")) +
             td(html_escape(d.author)) + td(html_escape(d.reason)) + "</tr>\n";
    }
    out += "</tbody></table>\n";
  }

  out += "<h2>" + std::string(w.candidates) + "</h2>\n<table>\n<thead><tr><th class=\"n\">" +
         w.rank + "</th><th>" + w.id + "</th><th>" + w.name + "</th><th class=\"n\">" + w.votes +
         "</th><th class=\"n\">" + w.suspect + "</th><th class=\"n\">" + w.void_votes +
         "</th><th class=\"n\">" + w.valid + "</th></tr></thead>\n<tbody>\n";
  for (const engine::CandidateTally& c : report.results.candidates) {
    out += std::string(c.disqualified ? "<tr class=\"apart\">" : "<tr>") +
           (c.disqualified ? "<td class=\"n\">" + std::string(w.disqualified) + "</td>"
                           : td_n(c.rank)) +
           td(html_escape(c.id)) + td(html_escape(c.name)) + td_n(c.votes) + td_n(c.suspect) +
           td_n(c.voided) + td_n(c.valid) + "</tr>\n";
  }
  out += "</tbody></table>\n";

  std::size_t i = 0;
  for (const Section& section : sections_of(report)) {
    out += "<h2>" + std::string(w.clusters[i++]) + "</h2>\n";
    if (section.clusters->empty()) out += "<p>" + std::string(w.none) + "</p>\n";
    for (const FraudCluster& c : *section.clusters) {
      append_cluster_html(out, w, report, language, c, section.scope);
    }
  }
  out += "<footer>" + std::string(w.footer) + "</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace tally::storage
