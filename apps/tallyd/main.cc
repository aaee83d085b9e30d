// tallyd: the vote counting server. Parses options, opens and recovers storage, installs
// campaign files (and the demo), serves HTTP on --io-threads threads, waits for SIGTERM or
// SIGINT, drains in-flight votes and exits 0. SIGHUP reloads the tokens file.
// Contract: DESIGN.md "Command line".
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/background.h"
#include "tally/base/clock.h"
#include "tally/base/quote_input.h"
#include "tally/base/thread_name.h"
#include "tally/base/time.h"
#include "tally/cluster/node.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/engine/fraud.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/server.h"
#include "tally/ingest/tokens.h"
#include "tally/metrics/metrics.h"
#include "tally/storage/vote_log.h"
#include "cluster_view.h"
#include "log_key_setup.h"
#include "logging.h"
#include "metrics_observer.h"
#include "options.h"
#include "service_notify.h"
#include "token_setup.h"

namespace tally {
extern const char* const kDemoCampaignJson;  // campaigns/demo.json, compiled in
}  // namespace tally

namespace {

using namespace tally;
using tallyd::Options;

// How long SIGTERM waits for in-flight requests to be answered before storage stops.
constexpr std::chrono::milliseconds kDrainTimeout{10'000};
// Between signals the main thread makes the tables of periods (and of campaigns) that begin
// within the lead, and maps their memory, so that a daily quota's reset at midnight, when its
// voters come back at once, does not make the first of them wait for page faults. The lead
// covers a few missed ticks; a period's tables are a few bytes per expected voter.
constexpr std::chrono::seconds kPrepareEvery{5};
constexpr std::chrono::milliseconds kPrepareLead{60'000};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Installs `campaign` as a new version unless it is the one in force; waits for the commit.
Status install_campaign(engine::EventLog& log, engine::Engine& engine,
                        const engine::Campaign& campaign, std::string_view source) {
  struct Waiter final : engine::CommitWaiter {
    void committed(const engine::CommitOutcome& outcome) override { heard.set_value(outcome); }
    std::promise<engine::CommitOutcome> heard;
  } waiter;
  const engine::CampaignPut put = engine::put_campaign(engine, log, campaign, waiter);
  engine::PutOutcome outcome = put.checked;
  std::uint64_t seq = 0;
  if (outcome == engine::PutOutcome::created || outcome == engine::PutOutcome::updated) {
    if (put.submitted != engine::SubmitResult::queued) {
      return Status::error(std::string(source) + ": storage did not take the campaign");
    }
    const engine::CommitOutcome result = waiter.heard.get_future().get();
    if (result.status != engine::VoteStatus::accepted) {
      return Status::error(std::string(source) + ": storage failed to commit the campaign");
    }
    outcome = result.campaign_outcome;  // the writer's word is final
    seq = result.seq;
  }
  switch (outcome) {
    case engine::PutOutcome::conflict:
      return Status::error(std::string(source) + ": " + campaign.id + ": " +
                           std::string(engine::kCampaignConflict));
    case engine::PutOutcome::unchanged:
      spdlog::info("campaign unchanged id={} source={}", log_value(campaign.id), log_value(source));
      return {};
    case engine::PutOutcome::created:
    case engine::PutOutcome::updated: break;
  }
  // The same words as a PUT's line (ingest/src/connection.cc), with the file in place of the
  // peer.
  spdlog::info("campaign {} id={} seq={} title={} source={}",
               outcome == engine::PutOutcome::created ? "created" : "updated",
               log_value(campaign.id), seq, log_value(campaign.title), log_value(source));
  return {};
}

// The demo campaign with its window moved to open now (same length), unless the version in
// force is already that campaign and open.
Status install_demo(engine::EventLog& log, engine::Engine& engine) {
  auto parsed = engine::parse_campaign(kDemoCampaignJson);
  if (!parsed.ok()) return Status::error("demo campaign: " + parsed.message());
  engine::Campaign demo = std::move(parsed).value();
  const std::int64_t now_ms = engine.clock().now_ms();
  if (auto current = engine.campaign(demo.id);
      current && current->is_open_at(now_ms) && !engine::changes_counting(*current, demo) &&
      current->title == demo.title &&
      current->closes_at_ms - current->opens_at_ms == demo.closes_at_ms - demo.opens_at_ms) {
    spdlog::info("demo campaign={} already open opens_at={} closes_at={}", demo.id,
                 format_rfc3339(current->opens_at_ms, current->utc_offset_s),
                 format_rfc3339(current->closes_at_ms, current->utc_offset_s));
    return {};
  }
  const std::int64_t length_ms = demo.closes_at_ms - demo.opens_at_ms;
  demo.opens_at_ms = now_ms - now_ms % 1000;
  demo.closes_at_ms = demo.opens_at_ms + length_ms;
  spdlog::info("demo campaign={} window shifted to open at start-up opens_at={} closes_at={}",
               demo.id, format_rfc3339(demo.opens_at_ms, demo.utc_offset_s),
               format_rfc3339(demo.closes_at_ms, demo.utc_offset_s));
  return install_campaign(log, engine, demo, "demo");
}

// A latency histogram as the metrics show it, from per-bucket counts (one more than the upper
// bounds, in µs) and the sum of the observations in ns.
template <typename Bounds, typename Counts>
metrics::HistogramSnapshot histogram_of(const Bounds& bounds_us, const Counts& counts,
                                        std::uint64_t ns_sum) {
  metrics::HistogramSnapshot out;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (i < bounds_us.size()) {
      out.upper_bounds_seconds.push_back(static_cast<double>(bounds_us[i]) / 1e6);
    }
    cumulative += counts[i];
    out.cumulative_counts.push_back(cumulative);
  }
  out.count = cumulative;
  out.sum_seconds = static_cast<double>(ns_sum) / 1e9;
  return out;
}

// What /metrics reads from storage at each scrape.
metrics::Sources metrics_sources(const storage::VoteLog& vote_log,
                                 const engine::FraudMonitor& fraud) {
  metrics::Sources sources;
  sources.fraud = &fraud;
  sources.ready = [&vote_log] { return vote_log.ready(); };
  sources.storage = [&vote_log] {
    const storage::CommitStats stats = vote_log.commit_stats();
    const storage::DbFigures db = vote_log.db_figures();
    metrics::StorageFigures figures;
    figures.commit_batches = stats.batches;
    figures.commit_events = stats.events;
    figures.failed_batches = stats.failed_batches;
    figures.write_retries = stats.write_retries;
    figures.storage_retrying = stats.retrying;
    figures.queue_depth = stats.queued;
    figures.queue_capacity = stats.queue_capacity;
    figures.commit_write_latency =
        histogram_of(db.kWriteBoundsUs, db.write_counts, db.write_ns_sum);
    figures.rocksdb_estimate_num_keys = db.estimate_num_keys;
    figures.rocksdb_live_sst_bytes = db.live_sst_bytes;
    figures.rocksdb_memtable_bytes = db.memtable_bytes;
    figures.rocksdb_pending_compaction_bytes = db.pending_compaction_bytes;
    const storage::PublicLogFigures public_log = vote_log.public_log_figures();
    figures.public_log = public_log.enabled;
    figures.public_tree_size = public_log.tree_size;
    figures.public_tree_append_ns = public_log.tree_append_ns;
    figures.public_checkpoints_signed = public_log.checkpoints_signed;
    figures.public_sign_ns = public_log.sign_ns;
    figures.public_proofs = public_log.proofs_served;
    figures.public_proof_ns = public_log.proof_ns;
    const storage::AdjudicationFigures adjudication = vote_log.adjudication_figures();
    figures.crossings = adjudication.crossings;
    figures.crossings_dropped = adjudication.crossings_dropped;
    figures.crossings_lost = adjudication.crossings_lost;
    figures.flag_events = adjudication.flag_events;
    figures.votes_flagged_late = adjudication.votes_flagged;
    figures.decision_events = adjudication.decision_events;
    figures.adjudication_scans = adjudication.scans;
    figures.adjudication_scanned_events = adjudication.scanned_events;
    return figures;
  };
  return sources;
}

metrics::ClusterFigures cluster_figures(const cluster::Node& node) {
  const cluster::ClusterStatus status = node.status();
  metrics::ClusterFigures figures;
  figures.role = cluster::to_string(status.role);
  figures.epoch = status.epoch;
  figures.applied_seq = status.applied_seq;
  figures.lag_records = status.lag_records;
  figures.lag_seconds = status.lag_seconds;
  figures.takeovers = status.takeovers;
  figures.fencings = status.fencings;
  figures.publish_resends = status.resends;
  figures.publish_latency =
      histogram_of(status.publish_bounds_us, status.publish_counts, status.publish_ns_sum);
  return figures;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "tallyd";
  std::string out(name);
  for (char& c : out) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!allowed) c = '-';
  }
  return out.substr(0, 64);
}

// The campaign files, then the demo: installed at start-up alone, and by each node of a
// replica group whenever it becomes the primary (a version already in force is unchanged).
Status install_campaigns(const Options& options, engine::EventLog& log, engine::Engine& engine) {
  for (const std::string& path : options.campaign_files) {
    auto text = read_file(path);
    if (!text.ok()) return text.status();
    auto campaign = engine::parse_campaign(*text);
    if (!campaign.ok()) return Status::error(path + ": " + campaign.message());
    if (auto status = install_campaign(log, engine, *campaign, path); !status.ok()) return status;
  }
  if (options.demo) return install_demo(log, engine);
  return {};
}

// The storage writer's retries of a write that failed in a way that may pass: one line as a
// retry begins, one when it recovers. One that gives up is the "storage failed" line's.
void log_write_retry(const storage::WriteRetryReport& report, std::chrono::milliseconds retry_for) {
  using Stage = storage::WriteRetryReport::Stage;
  const double waited_s = static_cast<double>(report.waited.count()) / 1000.0;
  if (report.stage == Stage::began) {
    spdlog::warn(
        "storage write failed, retrying for up to {} s error={} votes_held={}: new votes "
        "are answered 503 meanwhile",
        retry_for.count() / 1000, log_value(report.failure), report.events_held);
  } else if (report.stage == Stage::recovered) {
    spdlog::info("storage write recovered after {:.1f} s retries={} votes_waited={}: serving again",
                 waited_s, report.attempts, report.events_held + report.events_queued);
  }
}

int fail(const std::string& message) {
  spdlog::error("tallyd stopped error={}", log_value(message));
  return tallyd::kExitFailed;
}

// The data dir holds voters' ids, devices and addresses: only tallyd's own user may enter it.
// Created 0700 (the umask set in main()); one that an earlier version or a hand-made mkdir left
// open to other users is narrowed to 0700, and the log says so.
Status restrict_data_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(path, error);
  const fs::perms mode = error ? fs::perms::none : fs::status(path, error).permissions();
  if (!error && (mode & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace, error);
    if (!error) {
      spdlog::warn("data dir was open to other users (mode {:o}): now 0700 data_dir={}",
                   static_cast<unsigned>(mode & fs::perms::mask), log_value(path));
    }
  }
  if (error) return Status::error("--data-dir " + path + ": " + error.message());
  return {};
}

int run(const Options& options) {
  // Signals are taken by sigwait() in this thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (auto status = restrict_data_dir(options.data_dir); !status.ok())
    return fail(status.message());

  SystemClock clock(options.clock_offset_ms);
  if (options.clock_offset_ms != 0) {
    spdlog::warn("test clock offset_ms={}: server time is not the wall clock",
                 options.clock_offset_ms);
  }
  // Declared before the engine, whose tables hand it work until they go.
  BackgroundThread background("tally-arrays");
  engine::FraudMonitor fraud;
  engine::EngineOptions engine_options;
  engine_options.fraud = &fraud;
  engine_options.background = &background;
  engine::Engine engine(clock, engine_options);
  const bool clustered = !options.cluster_servers.empty();
  storage::StorageOptions storage_options = options.storage;
  storage_options.on_retry = [retry_for = options.storage.retry_for](const auto& report) {
    log_write_retry(report, retry_for);
  };
  ingest::ServerOptions server_options = options.server;
  if (clustered) {
    // A replica group's primary steps down on a failed write rather than retry it (another
    // node takes the writes); RocksDB keeps its own recovery of retryable errors.
    storage_options.retry_for = std::chrono::milliseconds(0);
    storage_options.max_record_bytes = cluster::kMaxReplicatedRecordBytes;
    // A campaign version is a record of its own: its body must leave room in one.
    server_options.limits.max_campaign_body_bytes =
        std::min(server_options.limits.max_campaign_body_bytes, cluster::kMaxCampaignBodyBytes);
  }
  auto log_keys = tallyd::open_log_keys(options, clustered);
  if (!log_keys.ok()) {
    const int status = fail(log_keys.message());
    const bool unconfigured = clustered && !publog::log_keys_exist(tallyd::log_keys_dir(options));
    return unconfigured ? tallyd::kExitUsage : status;
  }
  storage_options.log_keys = std::move(*log_keys);
  auto opened = storage::VoteLog::open(storage_options);
  if (!opened.ok()) return fail(opened.message());
  std::unique_ptr<storage::VoteLog> vote_log = std::move(opened).value();
  const auto recovery_start = std::chrono::steady_clock::now();
  tallyd::notify_status("recovering the engine from the log in " + options.data_dir);
  {
    const tallyd::StartExtender extender;  // 20M votes take about 15 s
    if (auto status = vote_log->recover(engine); !status.ok()) return fail(status.message());
  }
  // Clusters that cross a threshold from now on get their earlier votes flagged in the log.
  fraud.set_crossing_listener(vote_log->crossing_listener());
  metrics::Metrics metrics(engine, ingest::http_error_words());
  metrics.set_recovery(std::chrono::steady_clock::now() - recovery_start);
  metrics::Sources sources = metrics_sources(*vote_log, fraud);
  spdlog::info("recovered data_dir={} as_of_seq={} direct_table_writes={}",
               log_value(options.data_dir), engine.as_of_seq(), vote_log->direct_table_writes());
  // In a replica group the node decides when the log may be written: ingest writes through it.
  std::unique_ptr<cluster::Node> node;
  std::unique_ptr<tallyd::NodeView> node_view;
  engine::EventLog* log = vote_log.get();
  if (clustered) {
    cluster::ClusterOptions cluster_options;
    cluster_options.servers = options.cluster_servers;
    cluster_options.node = options.node.empty() ? host_name() : options.node;
    cluster_options.replicas =
        static_cast<int>(std::min<std::size_t>(3, options.cluster_servers.size()));
    node = std::make_unique<cluster::Node>(cluster_options, *vote_log, engine);
    // Late flags and decisions are written only while this node may write votes.
    vote_log->set_write_fence([&node] { return node->ready(); });
    node_view = std::make_unique<tallyd::NodeView>(*node);
    log = node.get();
    sources.ready = [&node] { return node->ready(); };
    sources.cluster = [&node] { return cluster_figures(*node); };
  } else {
    vote_log->start(engine);
    if (auto status = install_campaigns(options, *vote_log, engine); !status.ok()) {
      return fail(status.message());
    }
  }
  // Before the first connection: a campaign's opening rush should not wait on page faults.
  engine.prepare_tables(kPrepareLead.count());

  auto start_tokens = ingest::load_or_create_tokens(options.tokens_path, options.data_dir);
  if (!start_tokens.ok()) return fail(start_tokens.message());
  const std::string tokens_path = start_tokens->path;
  ingest::Tokens tokens(start_tokens->tokens);
  tallyd::log_tokens_loaded(*start_tokens);

  tallyd::MetricsObserver observer(metrics);
  ingest::Server server(server_options, engine, *log, tokens, &observer, &fraud, node_view.get(),
                        vote_log->public_log(), vote_log->adjudication());
  sources.server = [&server] { return tallyd::server_figures(server.load()); };
  metrics.set_sources(std::move(sources));  // before the io threads serve the first scrape
  if (auto status = server.listen(); !status.ok()) return fail(status.message());
  const bool listens_on_any = options.server.host == "0.0.0.0" || options.server.host == "::";
  if (node) {
    std::string advertise = options.advertise;
    if (advertise.empty()) {
      const std::string host = listens_on_any ? host_name() : options.server.host;
      advertise = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                  std::to_string(server.port());
    }
    auto on_primary = [&options, &engine](engine::EventLog& primary_log) {
      if (auto status = install_campaigns(options, primary_log, engine); !status.ok()) {
        spdlog::error("campaigns not installed as primary error={}", log_value(status.message()));
      }
    };
    if (auto status = node->start(advertise, on_primary); !status.ok()) {
      return fail(status.message());
    }
  }
  std::vector<std::thread> io_threads;
  for (int i = 0; i < options.server.io_threads; ++i) {
    io_threads.emplace_back([&server] { server.run(); });
    // Before the ready line below: tools and tests look for the threads once it is out.
    name_thread(io_threads.back(), "tally-io-" + std::to_string(i));
  }
  const std::string host = listens_on_any ? "127.0.0.1" : options.server.host;
  const std::string url = "http://" + host + ":" + std::to_string(server.port());
  spdlog::info(
      "tallyd ready listen={}:{} data_dir={} durability={} io_threads={} "
      "protect_reads={} as_of_seq={}",
      options.server.host, server.port(), log_value(options.data_dir),
      options.storage.durability == storage::Durability::sync ? "sync" : "async",
      options.server.io_threads, options.server.protect_reads, engine.as_of_seq());
  tallyd::notify_ready("serving on " + url + " as of seq " + std::to_string(engine.as_of_seq()));
  if (options.demo) {
    const std::string demo_ingest = tallyd::demo_token(*start_tokens);
    std::printf(
        "\nVote in the demo campaign:\n"
        "  curl -sS -H 'Authorization: Bearer %s' -d "
        "'{\"campaign\":\"ordos-2023-zuimei\",\"candidate\":\"c01\",\"voter\":\"demo-voter-1\"}' "
        "%s/v1/votes\n"
        "Tally:     curl -sS %s/v1/campaigns/ordos-2023-zuimei/tally\n"
        "Dashboard: %s/\n\n",
        demo_ingest.c_str(), url.c_str(), url.c_str(), url.c_str());
    std::fflush(stdout);
  }

  // A failed write leaves every later vote `unavailable` until a restart, which recovers from
  // the data dir alone. (A write that fails in a way that may pass, a full disk, is retried
  // first for --storage-retry-seconds: failure() stays empty meanwhile.) Running alone, tallyd
  // says why once and exits 1 after answering what it holds, so that its service manager
  // restarts it. (In a replica group the node steps down instead, and another takes the
  // writes.)
  constexpr auto kStorageCheckEvery = std::chrono::seconds(1);
  int exit_code = tallyd::kExitStopped;
  auto next_prepare = std::chrono::steady_clock::now() + kPrepareEvery;
  for (;;) {
    // A deadline, not a fixed wait: a stream of SIGHUPs must not hold the preparation off.
    const auto deadline =
        std::min(next_prepare, std::chrono::steady_clock::now() + kStorageCheckEvery);
    const auto wait = std::max(deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const auto wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    const timespec timeout{.tv_sec = static_cast<time_t>(wait_ns / 1'000'000'000),
                           .tv_nsec = static_cast<long>(wait_ns % 1'000'000'000)};
    const int signal_number = sigtimedwait(&signals, nullptr, &timeout);
    if (std::chrono::steady_clock::now() >= next_prepare) {
      engine.prepare_tables(kPrepareLead.count());
      next_prepare = std::chrono::steady_clock::now() + kPrepareEvery;
    }
    if (const std::string failure = node ? std::string() : vote_log->failure(); !failure.empty()) {
      spdlog::error(
          "storage failed error={}: every vote is answered 503 until a restart, which "
          "recovers from the data dir; stopping with exit status 1",
          log_value(failure));
      exit_code = tallyd::kExitFailed;
      break;
    }
    if (signal_number < 0) continue;  // EAGAIN: the tick (or EINTR)
    if (signal_number == SIGHUP) {
      tallyd::reload_tokens(tokens, tokens_path);
      continue;
    }
    spdlog::info("tallyd stopping signal={}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  tallyd::notify_stopping(exit_code == tallyd::kExitStopped
                              ? "draining the votes in flight"
                              : "storage failed: draining the votes in flight");
  server.stop_accepting();
  const bool drained = server.wait_drained(kDrainTimeout);
  if (node) node->stop();  // a primary commits what is queued and hands its lease on
  fraud.set_crossing_listener(nullptr);
  vote_log->stop();  // commits whatever is still queued, then completes it
  const bool answered = server.wait_drained(kDrainTimeout);
  server.stop();
  for (std::thread& thread : io_threads) thread.join();
  spdlog::info("tallyd stopped drained={} answered={} as_of_seq={}", drained, answered,
               engine.as_of_seq());
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const auto exit_status = tallyd::parse_options(argc, argv, options)) return *exit_status;
  // Nothing tallyd writes (the log, tokens, backups' sources) is for other local users,
  // whatever umask it was started with.
  ::umask(077);
  // Before storage opens: RocksDB's lines take the logger and its level then.
  tallyd::start_logging(tallyd::log_level_named(options.log_level).value_or(spdlog::level::info));
  try {
    return run(options);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
