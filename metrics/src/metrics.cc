// Scrape-time fold of tally's metrics into prometheus-cpp families. See metrics.h.
#include "tally/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

#include "tally/base/version.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_flags.h"
#include "process_figures.h"

namespace tally::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily out;
  out.name = std::move(name);
  out.help = std::move(help);
  out.type = type;
  return out;
}

ClientMetric with_labels(std::vector<ClientMetric::Label> labels) {
  ClientMetric metric;
  metric.label = std::move(labels);
  return metric;
}

void add_counter(MetricFamily& out, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric = with_labels(std::move(labels));
  metric.counter.value = value;
  out.metric.push_back(std::move(metric));
}

void add_gauge(MetricFamily& out, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric = with_labels(std::move(labels));
  metric.gauge.value = value;
  out.metric.push_back(std::move(metric));
}

MetricFamily one_gauge(std::string name, std::string help, double value) {
  MetricFamily out = family(std::move(name), std::move(help), MetricType::Gauge);
  add_gauge(out, {}, value);
  return out;
}

MetricFamily one_counter(std::string name, std::string help, double value) {
  MetricFamily out = family(std::move(name), std::move(help), MetricType::Counter);
  add_counter(out, {}, value);
  return out;
}

MetricFamily histogram_family(std::string name, std::string help,
                              const HistogramSnapshot& snapshot) {
  MetricFamily out = family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric metric;
  metric.histogram.sample_count = snapshot.count;
  metric.histogram.sample_sum = snapshot.sum_seconds;
  for (std::size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = snapshot.cumulative_counts[i];
    bucket.upper_bound = i < snapshot.upper_bounds_seconds.size()
                             ? snapshot.upper_bounds_seconds[i]
                             : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  out.metric.push_back(std::move(metric));
  return out;
}

}  // namespace

// The library's registry, for the few metrics that are set once and not on the vote path.
struct Metrics::Prometheus {
  prometheus::Registry registry;
  prometheus::Gauge* build_info = nullptr;
};

// Folds the sharded counters and reads the engine and the sources at each scrape.
class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const Metrics& metrics) : metrics_(metrics) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    collect_tallies(out);
    collect_ingest(out);
    collect_server(out);
    collect_engine(out);
    collect_storage(out);
    collect_process(out);
    collect_cluster(out);
    collect_fraud(out);
    return out;
  }

 private:
  void collect_tallies(std::vector<MetricFamily>& out) const {
    MetricFamily votes = family("tally_votes_total",
                                "Committed votes per campaign and candidate (as /tally shows them)",
                                MetricType::Counter);
    MetricFamily suspect = family(
        "tally_suspect_votes_total",
        "Committed suspect votes per campaign, candidate and reason; reason=\"any\" counts each "
        "suspect vote once, the other reasons count a vote once per reason it carries",
        MetricType::Counter);
    MetricFamily as_of =
        family("tally_as_of_seq", "Highest committed seq visible to tallies", MetricType::Gauge);
    add_gauge(as_of, {}, static_cast<double>(metrics_.engine_.as_of_seq()));
    MetricFamily open = family("tally_campaign_open",
                               "1 while the campaign's voting window is open (server time), else 0",
                               MetricType::Gauge);
    const std::int64_t now_ms = metrics_.engine_.clock().now_ms();
    MetricFamily candidates =
        family("tally_candidate_info",
               "Always 1, one series per candidate of each campaign; the name label is its "
               "display name (join on campaign and candidate to show names)",
               MetricType::Gauge);
    for (const auto& campaign : metrics_.engine_.campaigns()) {
      add_gauge(open, {{"campaign", campaign->id}}, campaign->is_open_at(now_ms) ? 1.0 : 0.0);
      for (const auto& candidate : campaign->candidates) {
        add_gauge(
            candidates,
            {{"campaign", campaign->id}, {"candidate", candidate.id}, {"name", candidate.name}},
            1.0);
      }
    }
    for (const auto& campaign : metrics_.engine_.campaigns()) {
      const auto tally = metrics_.engine_.tally(campaign->id);
      if (!tally) continue;
      for (const auto& candidate : tally->candidates) {
        add_counter(votes, {{"campaign", tally->campaign}, {"candidate", candidate.id}},
                    static_cast<double>(candidate.votes));
        add_counter(suspect,
                    {{"campaign", tally->campaign}, {"candidate", candidate.id}, {"reason", "any"}},
                    static_cast<double>(candidate.suspect));
        for (int reason = 0; reason < engine::kFraudReasonCount; ++reason) {
          const std::uint64_t count = candidate.suspect_by_reason[reason];
          if (count == 0) continue;
          add_counter(suspect,
                      {{"campaign", tally->campaign},
                       {"candidate", candidate.id},
                       {"reason",
                        std::string(engine::to_string(static_cast<engine::FraudReason>(reason)))}},
                      static_cast<double>(count));
        }
      }
    }
    out.push_back(std::move(votes));
    out.push_back(std::move(suspect));
    out.push_back(std::move(as_of));
    out.push_back(std::move(open));
    out.push_back(std::move(candidates));
  }

  // Heavy hitters (top 10 of each list) and per-candidate concentration: bounded label sets.
  void collect_fraud(std::vector<MetricFamily>& out) const {
    const engine::FraudMonitor* fraud = metrics_.sources_.fraud;
    if (fraud == nullptr) return;
    MetricFamily flagged =
        family("tally_fraud_flagged_votes_total",
               "Ballots the fraud signals flagged, per campaign and reason, counted when observed",
               MetricType::Counter);
    MetricFamily rejected =
        family("tally_fraud_rejected_total", "Ballots answered rate_limited by a fraud signal",
               MetricType::Counter);
    MetricFamily hitters = family(
        "tally_fraud_heavy_hitter_votes",
        "Votes of the top sources per campaign (kind: ip, subnet, device; Space-Saving counts)",
        MetricType::Gauge);
    MetricFamily share =
        family("tally_fraud_top_sources_share",
               "Share of a candidate's votes from its own top sources (source: ip, device)",
               MetricType::Gauge);
    constexpr std::size_t kTop = 10;
    for (const auto& campaign : metrics_.engine_.campaigns()) {
      const auto summary = fraud->summary(campaign->id, kTop);
      if (!summary) continue;
      for (int reason = 0; reason < engine::kFraudReasonCount; ++reason) {
        add_counter(
            flagged,
            {{"campaign", campaign->id},
             {"reason", std::string(engine::to_string(static_cast<engine::FraudReason>(reason)))}},
            static_cast<double>(summary->flags[reason]));
      }
      add_counter(rejected, {{"campaign", campaign->id}}, static_cast<double>(summary->rejected));
      for (const auto& [kind, list] :
           {std::pair{"ip", &summary->top_ips}, std::pair{"subnet", &summary->top_subnets},
            std::pair{"device", &summary->top_devices}}) {
        for (const auto& source : *list) {
          add_gauge(hitters, {{"campaign", campaign->id}, {"kind", kind}, {"key", source.key}},
                    static_cast<double>(source.votes));
        }
      }
      for (const auto& row : summary->concentration) {
        add_gauge(share,
                  {{"campaign", campaign->id}, {"candidate", row.candidate}, {"source", "ip"}},
                  row.top_ips_share);
        add_gauge(share,
                  {{"campaign", campaign->id}, {"candidate", row.candidate}, {"source", "device"}},
                  row.top_devices_share);
      }
    }
    out.push_back(std::move(flagged));
    out.push_back(std::move(rejected));
    out.push_back(std::move(hitters));
    out.push_back(std::move(share));
  }

  void collect_ingest(std::vector<MetricFamily>& out) const {
    MetricFamily requests = family(
        "tally_ingest_requests_total",
        "Answers by status word: one per ballot (each batch line counts), plus every request "
        "refused as a whole",
        MetricType::Counter);
    for (std::size_t i = 0; i < metrics_.status_count(); ++i) {
      add_counter(requests, {{"status", std::string(metrics_.status_word(i))}},
                  static_cast<double>(metrics_.answers(i)));
    }
    out.push_back(std::move(requests));
    out.push_back(histogram_family(
        "tally_ingest_latency_seconds",
        "Vote requests (single and batch) from the complete request to its answer being ready",
        metrics_.request_latency()));
  }

  // Each load beside its limit, so that alerts and panels can take their ratio.
  void collect_server(std::vector<MetricFamily>& out) const {
    if (!metrics_.sources_.server) return;
    const ServerFigures figures = metrics_.sources_.server();
    out.push_back(one_gauge("tally_http_connections",
                            "Open HTTP connections, tally streams included",
                            static_cast<double>(figures.connections)));
    out.push_back(one_gauge("tally_http_max_connections",
                            "Open HTTP connections allowed (--max-connections); one more is "
                            "answered 503 overloaded and closed",
                            static_cast<double>(figures.max_connections)));
    out.push_back(one_gauge("tally_stream_connections", "Open Server-Sent Event tally streams",
                            static_cast<double>(figures.tally_streams)));
    out.push_back(one_gauge("tally_stream_max_connections",
                            "Open tally streams allowed (--max-tally-streams; 0: streams off); "
                            "one more is answered 503 overloaded",
                            static_cast<double>(figures.max_tally_streams)));
    out.push_back(one_gauge("tally_http_inflight_body_bytes",
                            "Bytes of batch and campaign bodies being read or handled",
                            static_cast<double>(figures.inflight_body_bytes)));
    out.push_back(one_gauge("tally_http_max_inflight_body_bytes",
                            "Bytes of batch and campaign bodies allowed in flight "
                            "(--max-inflight-body-bytes); a body past them is answered 503 "
                            "overloaded",
                            static_cast<double>(figures.max_inflight_body_bytes)));
  }

  void collect_engine(std::vector<MetricFamily>& out) const {
    const auto stats = metrics_.engine_.table_stats();
    MetricFamily keys =
        family("tally_table_keys", "Keys held by the tables of every campaign, by table",
               MetricType::Gauge);
    MetricFamily bytes = family("tally_table_bytes",
                                "Bytes held by the tables of every campaign (tables made ahead "
                                "and a growth's second array included), by table",
                                MetricType::Gauge);
    for (std::size_t i = 0; i < engine::kTableKinds; ++i) {
      const std::string table(engine::table_kind_name(static_cast<engine::TableKind>(i)));
      add_gauge(keys, {{"table", table}}, static_cast<double>(stats.by_kind[i].keys));
      add_gauge(bytes, {{"table", table}}, static_cast<double>(stats.by_kind[i].bytes));
    }
    out.push_back(std::move(keys));
    out.push_back(std::move(bytes));
    MetricFamily generations = family(
        "tally_table_generations_total",
        "Table generations (a period's dedupe and quota tables, a UTC day's request ids) made "
        "ahead of their period, or late: once it had begun, by its first ballot, replay or "
        "start-up",
        MetricType::Counter);
    add_counter(generations, {{"made", "ahead"}},
                static_cast<double>(stats.generations_made_ahead));
    add_counter(generations, {{"made", "late"}}, static_cast<double>(stats.generations_made_late));
    out.push_back(std::move(generations));
    out.push_back(one_counter("tally_table_growths_total",
                              "Doublings of the tables of every campaign since start: a "
                              "campaign drew more voters than its expected_voters",
                              static_cast<double>(stats.table_growths)));
    out.push_back(one_gauge("tally_table_generations_held",
                            "Table generations in memory: live, made ahead, or retired (a passed "
                            "period's, a replaced campaign version's) and not freed yet",
                            static_cast<double>(stats.generations_live)));
    const std::int64_t recovery_ns = metrics_.recovery_ns_.load(std::memory_order_relaxed);
    if (recovery_ns >= 0) {
      out.push_back(one_gauge("tally_recovery_seconds",
                              "Time the last start-up took to recover the engine from the log",
                              static_cast<double>(recovery_ns) / 1e9));
    }
    const auto uptime = std::chrono::steady_clock::now() - metrics_.started_;
    out.push_back(one_gauge("tally_uptime_seconds", "Seconds since the metrics were set up",
                            std::chrono::duration<double>(uptime).count()));
    if (metrics_.sources_.ready) {
      out.push_back(one_gauge("tally_ready",
                              "1 when recovered and writable (what /readyz reports), else 0",
                              metrics_.sources_.ready() ? 1.0 : 0.0));
    }
  }

  void collect_process(std::vector<MetricFamily>& out) const {
    const auto figures = internal::read_process_figures();
    if (!figures) return;
    out.push_back(one_counter("process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds",
                              figures->cpu_seconds));
    out.push_back(one_gauge("process_resident_memory_bytes", "Resident memory size in bytes",
                            figures->resident_bytes));
    out.push_back(one_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes",
                            figures->virtual_bytes));
    out.push_back(
        one_gauge("process_open_fds", "Number of open file descriptors", figures->open_fds));
    out.push_back(
        one_gauge("process_max_fds", "Maximum number of open file descriptors", figures->max_fds));
    out.push_back(one_gauge("process_start_time_seconds",
                            "Start time of the process since the Unix epoch in seconds",
                            figures->start_time_seconds));
  }

  void collect_storage(std::vector<MetricFamily>& out) const {
    if (!metrics_.sources_.storage) return;
    const StorageFigures figures = metrics_.sources_.storage();
    out.push_back(one_counter("tally_commit_batches_total",
                              "Commit batches written, one WAL sync each in sync mode",
                              static_cast<double>(figures.commit_batches)));
    out.push_back(one_counter("tally_commit_events_total", "Events in the commit batches written",
                              static_cast<double>(figures.commit_events)));
    out.push_back(one_counter("tally_commit_failed_batches_total",
                              "Commit batches that failed (storage is then unavailable)",
                              static_cast<double>(figures.failed_batches)));
    out.push_back(one_gauge("tally_storage_retrying",
                            "1 while a failed write's batch is held and retried, else 0",
                            figures.storage_retrying ? 1.0 : 0.0));
    out.push_back(one_counter("tally_storage_write_retries_total",
                              "Writes of a held batch tried again after a failure that may pass",
                              static_cast<double>(figures.write_retries)));
    out.push_back(one_gauge("tally_commit_queue_depth", "Events waiting for the storage writer",
                            static_cast<double>(figures.queue_depth)));
    out.push_back(one_gauge("tally_commit_queue_capacity",
                            "Events the storage writer's queue holds before it answers overloaded "
                            "(--queue-depth)",
                            static_cast<double>(figures.queue_capacity)));
    out.push_back(histogram_family(
        "tally_commit_write_seconds",
        "RocksDB write of one commit batch: WAL append and, in sync mode, its fsync",
        figures.commit_write_latency));
    out.push_back(one_gauge("tally_rocksdb_estimate_num_keys", "rocksdb.estimate-num-keys",
                            static_cast<double>(figures.rocksdb_estimate_num_keys)));
    out.push_back(one_gauge("tally_rocksdb_live_sst_bytes", "rocksdb.live-sst-files-size",
                            static_cast<double>(figures.rocksdb_live_sst_bytes)));
    out.push_back(one_gauge("tally_rocksdb_memtable_bytes", "rocksdb.cur-size-all-mem-tables",
                            static_cast<double>(figures.rocksdb_memtable_bytes)));
    out.push_back(one_gauge("tally_rocksdb_pending_compaction_bytes",
                            "rocksdb.estimate-pending-compaction-bytes",
                            static_cast<double>(figures.rocksdb_pending_compaction_bytes)));
    out.push_back(one_counter("tally_fraud_crossings_total",
                              "Clusters that crossed a fraud threshold (their earlier votes get a "
                              "late flag)",
                              static_cast<double>(figures.crossings)));
    out.push_back(one_counter("tally_fraud_crossings_dropped_total",
                              "Crossings heard while the adjudicator's queue was full: not "
                              "flagged late",
                              static_cast<double>(figures.crossings_dropped)));
    out.push_back(one_counter("tally_fraud_crossings_lost_total",
                              "Crossings whose pass failed or whose flag the log refused (this "
                              "node stopped being the primary, or storage failed): not flagged "
                              "late",
                              static_cast<double>(figures.crossings_lost)));
    out.push_back(one_counter("tally_late_flag_events_total", "Flag events written",
                              static_cast<double>(figures.flag_events)));
    out.push_back(one_counter("tally_late_flagged_votes_total",
                              "Votes given a reason by flag events",
                              static_cast<double>(figures.votes_flagged_late)));
    out.push_back(one_counter("tally_decision_events_total", "Committee decision events written",
                              static_cast<double>(figures.decision_events)));
    out.push_back(one_counter("tally_adjudication_scans_total",
                              "Passes over the log for late flags and decided clusters",
                              static_cast<double>(figures.adjudication_scans)));
    out.push_back(one_counter("tally_adjudication_scanned_events_total", "Events those passes read",
                              static_cast<double>(figures.adjudication_scanned_events)));
    if (!figures.public_log) return;
    out.push_back(one_gauge("tally_public_log_size",
                            "Events in the public log's Merkle tree (the committed seq)",
                            static_cast<double>(figures.public_tree_size)));
    out.push_back(one_counter("tally_public_log_tree_append_seconds_total",
                              "Time the storage writer spent adding leaves to the public tree "
                              "and encoding its entries",
                              static_cast<double>(figures.public_tree_append_ns) / 1e9));
    out.push_back(one_counter("tally_public_log_checkpoints_signed_total",
                              "Checkpoints of the public log signed (Ed25519)",
                              static_cast<double>(figures.public_checkpoints_signed)));
    out.push_back(one_counter("tally_public_log_sign_seconds_total",
                              "Time spent signing checkpoints",
                              static_cast<double>(figures.public_sign_ns) / 1e9));
    out.push_back(one_counter("tally_public_log_proofs_total",
                              "Inclusion and consistency proofs and receipts served",
                              static_cast<double>(figures.public_proofs)));
    out.push_back(one_counter("tally_public_log_proof_seconds_total",
                              "Time spent reading the tree for proofs and receipts",
                              static_cast<double>(figures.public_proof_ns) / 1e9));
  }

  void collect_cluster(std::vector<MetricFamily>& out) const {
    if (!metrics_.sources_.cluster) return;
    const ClusterFigures figures = metrics_.sources_.cluster();
    MetricFamily role = family("tally_cluster_role",
                               "1 for this node's role in its replica group (primary, standby, "
                               "or halted: apply stopped with an alarm), 0 for the others",
                               MetricType::Gauge);
    for (std::string_view name : {"primary", "standby", "halted"}) {
      add_gauge(role, {{"role", std::string(name)}}, name == figures.role ? 1.0 : 0.0);
    }
    out.push_back(std::move(role));
    out.push_back(one_gauge("tally_cluster_epoch",
                            "Lease epoch this node last served in as primary",
                            static_cast<double>(figures.epoch)));
    out.push_back(one_gauge("tally_cluster_applied_seq", "Last seq in this node's log",
                            static_cast<double>(figures.applied_seq)));
    out.push_back(one_gauge("tally_cluster_lag_records",
                            "Stream records a standby has not applied yet",
                            static_cast<double>(figures.lag_records)));
    out.push_back(one_gauge("tally_cluster_lag_seconds",
                            "How long the oldest record a standby has not applied has waited",
                            figures.lag_seconds));
    out.push_back(one_counter("tally_cluster_takeovers_total",
                              "Times this node became its replica group's primary",
                              static_cast<double>(figures.takeovers)));
    out.push_back(one_counter("tally_cluster_fencings_total",
                              "Times this node, as primary, found another node's record in its "
                              "place in the stream and stepped down",
                              static_cast<double>(figures.fencings)));
    out.push_back(one_counter("tally_cluster_publish_resends_total",
                              "Records sent to the stream again after no answer",
                              static_cast<double>(figures.publish_resends)));
    out.push_back(histogram_family("tally_cluster_publish_seconds",
                                   "Publish of one commit batch record to the stream until its "
                                   "acknowledgement (a majority holds it)",
                                   figures.publish_latency));
  }

  const Metrics& metrics_;
};

Metrics::Metrics(const engine::Engine& engine, std::span<const std::string_view> refusal_words)
    : engine_(engine),
      refusal_words_(refusal_words.begin(), refusal_words.end()),
      refusals_(std::make_unique<ShardedCounter[]>(refusal_words.size())),
      prometheus_(std::make_unique<Prometheus>()) {
  prometheus_->build_info = &prometheus::BuildGauge()
                                 .Name("tally_build_info")
                                 .Help("Always 1; the labels name the build")
                                 .Register(prometheus_->registry)
                                 .Add({{"version", std::string(base::version())},
                                       {"revision", std::string(base::revision())}});
  prometheus_->build_info->Set(1);
}

Metrics::~Metrics() = default;

void Metrics::set_sources(Sources sources) { sources_ = std::move(sources); }

void Metrics::set_recovery(std::chrono::nanoseconds duration) {
  recovery_ns_.store(duration.count(), std::memory_order_relaxed);
}

std::string_view Metrics::status_word(std::size_t status_index) const {
  if (status_index < statuses_.size()) {
    return engine::to_string(static_cast<engine::VoteStatus>(status_index));
  }
  return refusal_words_[status_index - statuses_.size()];
}

std::uint64_t Metrics::answers(std::size_t status_index) const {
  if (status_index < statuses_.size()) return statuses_[status_index].value();
  return refusals_[status_index - statuses_.size()].value();
}

void Metrics::count_status_word(std::string_view word) {
  for (std::size_t i = 0; i < statuses_.size(); ++i) {
    if (status_word(i) == word) return statuses_[i].add();
  }
  for (std::size_t i = 0; i < refusal_words_.size(); ++i) {
    if (refusal_words_[i] == word) return refusals_[i].add();
  }
}

std::string Metrics::scrape() const {
  std::vector<MetricFamily> families = prometheus_->registry.Collect();
  const Collector collector(*this);
  for (auto& collected : collector.Collect()) families.push_back(std::move(collected));
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  return text.str();
}

}  // namespace tally::metrics
