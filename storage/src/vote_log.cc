// VoteLog over RocksDB: column families, the group-commit sink, recovery and lookups.
// Record format: docs/EVENT_FORMAT.md. Commit queue: internal/commit_pipeline.h.
#include "tally/storage/vote_log.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "tally/base/json_writer.h"
#include "tally/base/thread_name.h"
#include "tally/engine/campaign.h"
#include "tally/storage/event_format.h"
#include "tally/storage/event_json.h"
#include "tally/storage/internal/commit_pipeline.h"
#include "adjudicator.h"
#include "db_layout.h"
#include "fault_injection.h"
#include "public_form.h"
#include "public_log_view.h"
#include "rocksdb_logger.h"
#include "tree_store.h"
#include "upper_tree.h"
#include "vote_marks.h"
#include "write_failure.h"

namespace tally::storage {

using engine::CommitOutcome;
using engine::SubmitResult;

struct VoteLog::Impl final : internal::BatchSink {
  StorageOptions options;
  std::unique_ptr<rocksdb::Env> env;  // set when fault injection is on
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* events_cf = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  rocksdb::ColumnFamilyHandle* tree_cf = nullptr;
  rocksdb::ColumnFamilyHandle* marks_cf = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  // The public log: its keys, every campaign's tag key, and what the endpoints read. All null
  // without log keys (StorageOptions::log_keys).
  std::unique_ptr<publog::TagKeyring> keyring;
  std::unique_ptr<UpperTree> upper_tree;  // the tree's upper levels, for proofs
  std::unique_ptr<PublicLogView> public_view;
  // Server time for checkpoints: the engine's clock once recover() has it.
  std::atomic<const engine::Engine*> clock_engine{nullptr};

  // The thread that writes the log: recover(), then the writer (between start() and halt()),
  // or apply_record()'s caller (while no writer runs). One at a time.
  ChainHasher hasher;
  BatchEncoder encoder;
  rocksdb::WriteBatch write_batch_buffer;
  ChainHash chain_head = kGenesisChain;
  RecordReplicator* replicator = nullptr;  // set by start(), before the writer starts
  bool failure_passes = false;             // the last write_batch() or resume() failure may pass
  std::string canonical;                   // chain_of() scratch
  std::vector<StoredEvent> decoded;        // apply_record() scratch
  // The public tree's right edge after the last written record; with its scratch buffers.
  publog::Frontier frontier;
  std::vector<publog::Hash> leaves;
  TreeEntries tree_entries;
  std::string public_form;
  // The writer's time spent on the tree (PublicLogFigures); relaxed: a statistic.
  std::atomic<std::uint64_t> tree_append_ns{0};

  // Commit write latency (see DbFigures); written by the writing thread only, read by
  // db_figures(). relaxed: statistics, ordered with nothing else.
  std::atomic<std::uint64_t> write_ns_sum{0};
  std::array<std::atomic<std::uint64_t>, DbFigures::kWriteBoundsUs.size() + 1> write_counts{};
  // The last seq and stream seq while no writer runs (the writer's own count is its
  // pipeline's). Written by the writing thread, read by anyone: release/acquire.
  std::atomic<std::uint64_t> last_seq_at_rest{0};
  std::atomic<std::uint64_t> stream_seq{0};

  std::atomic<bool> recovered{false};
  std::atomic<bool> stopped{false};
  engine::Engine* engine = nullptr;  // set by start()
  // start(), halt() and stop() one at a time.
  std::mutex lifecycle;
  // Every writer started, in order, kept until the log closes: a submitter may still hold a
  // halted one, which answers `unavailable`. The running one, or null, is `writer`; acquire
  // pairs with the release in start() and halt(), so a submitter sees a started writer whole.
  std::vector<std::unique_ptr<internal::CommitPipeline>> writers;  // guarded by writers_mutex
  mutable std::mutex writers_mutex;  // not `lifecycle`: a halt may wait on the replicas
  std::atomic<internal::CommitPipeline*> writer{nullptr};

  internal::CommitPipeline* running() const { return writer.load(std::memory_order_acquire); }
  // Queues one event with the running writer; none running: `unavailable`.
  SubmitResult submit(internal::PendingEvent& event) {
    internal::CommitPipeline* current = running();
    return current != nullptr ? current->submit(event) : SubmitResult::unavailable;
  }

  // The tree entries of a record whose events have `leaves`, into tree_entries, and the frontier
  // after it, into `next` (the caller keeps it once the record is written).
  void build_tree(std::span<const publog::Hash> record_leaves, publog::Frontier& next) {
    const auto start = std::chrono::steady_clock::now();
    next = frontier;
    tree_entries.build(next, record_leaves);
    tree_append_ns.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()),
        std::memory_order_relaxed);
  }

  // After a written record: its tree is the log's, and its upper nodes go to memory before the
  // caller publishes the seq that covers them (upper_tree.h).
  void keep_tree(publog::Frontier next) {
    frontier = std::move(next);
    for (const TreeEntries::Completed& node : tree_entries.upper()) {
      upper_tree->add(node.id, node.hash);
    }
  }

  // The public leaves of decoded events, into `leaves`.
  void leaves_of(const std::vector<StoredEvent>& events) {
    leaves.clear();
    for (const StoredEvent& event : events)
      leaves.push_back(public_leaf(event, *keyring, public_form));
  }

  // Writes one record with meta (and its tree entries, when given) in one atomic, timed
  // write. `stream_seq` 0: not replicated.
  // `marked`: the record's flag and decision events, whose votes' marks change with it.
  rocksdb::Status write_record(std::string_view record, std::uint64_t first_seq,
                               std::uint64_t last_seq, const ChainHash& chain,
                               std::uint64_t record_stream_seq, const TreeEntries* tree,
                               std::span<const StoredEvent* const> marked = {}) {
    // Reused: a fresh megabyte-sized batch per write would be fresh pages to fault in.
    rocksdb::WriteBatch& batch = write_batch_buffer;
    batch.Clear();
    rocksdb::Status s =
        batch.Put(events_cf, seq_key(first_seq), rocksdb::Slice(record.data(), record.size()));
    for (const StoredEvent* event : marked) {
      if (s.ok()) s = put_marks(*db, marks_cf, batch, *event, event->seq);
    }
    for (std::size_t i = 0; s.ok() && tree != nullptr && i < tree->size(); ++i) {
      const std::string_view entry = tree->bytes(i);
      s = batch.Put(tree_cf, seq_key(tree->first_seq(i)),
                    rocksdb::Slice(entry.data(), entry.size()));
    }
    if (s.ok()) {
      s = batch.Put(meta_cf, kMetaChainHead,
                    rocksdb::Slice(reinterpret_cast<const char*>(chain.data()), chain.size()));
    }
    if (s.ok()) s = batch.Put(meta_cf, kMetaLastSeq, seq_key(last_seq));
    if (s.ok() && record_stream_seq != 0) {
      s = batch.Put(meta_cf, kMetaStreamSeq, seq_key(record_stream_seq));
    }
    if (!s.ok()) return s;
    rocksdb::WriteOptions write_options;
    write_options.sync = options.durability == Durability::sync;
    const auto write_start = std::chrono::steady_clock::now();
    s = db->Write(write_options, &batch);
    const std::uint64_t ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - write_start)
                                       .count());
    constexpr auto& kBoundsUs = DbFigures::kWriteBoundsUs;
    std::size_t bucket = 0;
    while (bucket < kBoundsUs.size() && ns > kBoundsUs[bucket] * 1000) ++bucket;
    write_counts[bucket].fetch_add(1, std::memory_order_relaxed);
    write_ns_sum.fetch_add(ns, std::memory_order_relaxed);
    return s;
  }

  Status write_batch(std::span<const internal::PendingEvent> events,
                     std::uint64_t first_seq) override {
    failure_passes = false;
    encoder.begin(events.size());
    ChainHash chain = chain_head;
    std::uint64_t seq = first_seq;
    for (const auto& event : events) {
      chain = encoder.add(hasher, chain, event.kind, seq++, event.bytes(),
                          event.has_layout ? &event.layout : nullptr);
    }
    const std::string_view record = encoder.record();
    publog::Frontier next_frontier;
    if (keyring) {
      leaves.clear();
      for (const auto& event : events) leaves.push_back(event.leaf);
      build_tree(leaves, next_frontier);
    }
    // Named only in errors: no string is built for a batch that commits.
    const auto seqs = [&] { return std::to_string(first_seq) + ".." + std::to_string(seq - 1); };
    // The replicas first: the local log never runs ahead of the replicated one, so a node that
    // loses its place has nothing to take back.
    std::uint64_t record_stream_seq = 0;
    if (record.size() > options.max_record_bytes) {
      // A lone event over the cap (the writer never batches past it): the stream would refuse
      // it, and alone it must not stop the log. Refused before anything is sent.
      return Status::error("storage: record of seqs " + seqs() + " is " +
                           std::to_string(record.size()) + " bytes, over the " +
                           std::to_string(options.max_record_bytes) + " byte limit");
    }
    if (replicator != nullptr) {
      auto replicated = replicator->replicate(record, first_seq, seq - 1);
      if (!replicated.ok()) {
        return Status::error("storage: replicate seqs " + seqs() + ": " + replicated.message());
      }
      record_stream_seq = *replicated;
    }
    // A flag or decision forms a record of its own; its votes' marks change with it.
    std::optional<StoredEvent> adjudication;
    const StoredEvent* marked[1] = {};
    std::span<const StoredEvent* const> marked_events;
    if (events.size() == 1 && events.front().adjudication != nullptr) {
      adjudication.emplace(events.front().adjudication->event);
      adjudication->seq = first_seq;
      marked[0] = &*adjudication;
      marked_events = marked;
    }
    if (auto s = write_record(record, first_seq, seq - 1, chain, record_stream_seq,
                              keyring ? &tree_entries : nullptr, marked_events);
        !s.ok()) {
      const WriteFailure failure = classify_write_failure(s);
      if (replicator != nullptr) {
        replicator->replicated_not_written("write of seqs " + seqs() + ": " + s.ToString());
      }
      // A replica group's primary never writes a record again: it steps down instead
      // (docs/CLUSTER.md), and the stream already holds the record.
      failure_passes = failure.may_pass && replicator == nullptr;
      return Status::error("storage: write of seqs " + seqs() + ": " + s.ToString() + "; " +
                           std::string(failure.meaning));
    }
    chain_head = chain;
    if (keyring) keep_tree(std::move(next_frontier));
    if (record_stream_seq != 0) stream_seq.store(record_stream_seq, std::memory_order_release);
    if (adjudication) note_adjudication(*adjudication);
    if (events.front().kind == EventKind::vote) {
      note_time(first_seq, events.front().claim.server_ms());
    }
    return {};
  }

  // Where the log was at each second of server time: (first seq, server_ms) of a vote at
  // most once a second, the last kTimeSamples of them (2.3 hours of a busy log, 128 KiB),
  // so that a late flag's scan starts near its window's beginning rather than at seq 1.
  // Written by the thread that writes the log, read by the adjudicator (under time_mutex).
  static constexpr std::size_t kTimeSamples = 8192;
  mutable std::mutex time_mutex;
  std::deque<std::pair<std::uint64_t, std::int64_t>> time_samples;
  std::int64_t last_time_sample_ms = INT64_MIN;  // the writing thread's own copy: no lock
  void note_time(std::uint64_t seq, std::int64_t server_ms) {
    if (last_time_sample_ms != INT64_MIN && server_ms < last_time_sample_ms + 1000) return;
    last_time_sample_ms = server_ms;
    std::lock_guard lock(time_mutex);
    if (time_samples.size() == kTimeSamples) time_samples.pop_front();
    time_samples.emplace_back(seq, server_ms);
  }
  // A seq at or before the first vote judged at `server_ms` or later. Votes are committed in
  // about the order they were judged: a vote held in the queue for more than the second of
  // slack behind later-judged ones (an overloaded writer) can be missed by a late flag.
  std::uint64_t seq_before(std::int64_t server_ms) const {
    std::lock_guard lock(time_mutex);
    std::uint64_t seq = 1;
    for (const auto& [sample_seq, sample_ms] : time_samples) {
      if (sample_ms >= server_ms - 1000) break;
      seq = sample_seq;
    }
    return seq;
  }

  std::unique_ptr<Adjudicator> adjudicator;  // made by recover()
  // VoteLog::set_write_fence(); guarded by fence_mutex (set by the owner, read by the
  // adjudicator before each event it writes).
  std::mutex fence_mutex;
  std::function<bool()> write_fence;

  // Decisions by campaign, for GET /v1/campaigns/{id}/decisions: each as its JSON summary.
  // Written by the thread that writes the log, read by anyone (under decisions_mutex). A
  // decision is a committee's act, a handful per campaign: all of them are kept.
  mutable std::mutex decisions_mutex;
  std::map<std::string, std::vector<std::string>, std::less<>> decisions;
  // Recovery: the marks of a flag or decision written again, in log order, so that marks that
  // went missing (a log from a build before them, a copy without the family) are rebuilt from
  // the events; a replay of the same events leaves correct marks as they were.
  Status rewrite_marks(const StoredEvent& event) {
    if (event.kind != EventKind::flag && event.kind != EventKind::decision) return {};
    rocksdb::WriteBatch batch;
    rocksdb::Status s = put_marks(*db, marks_cf, batch, event, event.seq);
    if (s.ok()) s = db->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok())
      return Status::error("seq " + std::to_string(event.seq) + ": marks: " + s.ToString());
    return {};
  }

  void note_adjudication(const StoredEvent& event) {
    if (event.kind != EventKind::decision) return;
    std::string summary = decision_summary_json(event);
    std::lock_guard lock(decisions_mutex);
    auto it = decisions.find(event.decision.campaign);
    if (it == decisions.end()) {
      it =
          decisions.emplace(std::string(event.decision.campaign), std::vector<std::string>()).first;
    }
    it->second.push_back(std::move(summary));
  }

  bool failure_may_pass() const override { return failure_passes; }

  // After a failed write RocksDB takes none until Resume(), which flushes the memtables into
  // tables and starts a new WAL: the old one, which may end in the failed write's partial
  // record, is then no longer read by recovery. Resume() switches WALs only for a memtable
  // that holds data (RocksDB issue 11447): after a failed first write into a fresh WAL, the
  // retried record would go in behind the partial one, where recovery stops reading, and an
  // acknowledged vote would be lost at the next restart. So every family is given a deletion
  // of a key that never exists, in its memtable alone, and flushed: each switches to a new
  // WAL, and the old one holds nothing recovery needs.
  Status resume() override {
    rocksdb::Status s = db->Resume();
    rocksdb::WriteOptions memory_only;
    memory_only.disableWAL = true;
    for (auto* handle : handles) {
      if (s.ok()) s = db->Delete(memory_only, handle, kWalSwitchKey);
    }
    if (s.ok()) {
      rocksdb::FlushOptions flush;
      flush.allow_write_stall = true;
      s = db->Flush(flush, handles);
    }
    if (s.ok()) return {};
    const WriteFailure failure = classify_write_failure(s);
    failure_passes = failure.may_pass;
    return Status::error("storage: resume after a failed write: " + s.ToString() + "; " +
                         std::string(failure.meaning));
  }

  // Whether `events` (one record) continue the log after `last_seq` and `chain`: consecutive
  // seqs and every chain hash as stored. Advances both when they do.
  Status check_continues(const std::vector<StoredEvent>& events, ChainHash& chain,
                         std::uint64_t& last_seq) {
    ChainHash next_chain = chain;
    std::uint64_t next_seq = last_seq;
    for (const StoredEvent& event : events) {
      if (event.seq != next_seq + 1) {
        return Status::error("seq " + std::to_string(event.seq) + ": expected seq " +
                             std::to_string(next_seq + 1) +
                             " (an event is missing or out of order)");
      }
      next_chain = chain_of(hasher, next_chain, event, canonical);
      if (next_chain != event.chain) {
        return Status::error("seq " + std::to_string(event.seq) +
                             ": chain hash mismatch (the event or one before it "
                             "was changed)");
      }
      next_seq = event.seq;
    }
    chain = next_chain;
    last_seq = next_seq;
    return {};
  }
};

namespace {

// Counts a checked, stored event into the engine as recovery does (the fraud view apart).
Status count_event(engine::Engine& engine, const StoredEvent& event) {
  switch (event.kind) {
    case EventKind::campaign: {
      auto campaign = engine::parse_campaign(event.campaign_json);
      if (!campaign.ok()) {
        return Status::error("seq " + std::to_string(event.seq) +
                             ": stored campaign: " + campaign.message());
      }
      if (engine.install_campaign(*campaign, event.seq) == engine::PutOutcome::conflict) {
        return Status::error("seq " + std::to_string(event.seq) +
                             ": campaign version alters counting after votes");
      }
      return {};
    }
    case EventKind::vote: {
      const VoteFields& v = event.vote;
      auto status = engine.replay_vote(v.ballot, v.server_ms, v.period, v.flags, event.seq);
      if (!status.ok()) {
        return Status::error("seq " + std::to_string(event.seq) + ": " + status.message());
      }
      return {};
    }
    case EventKind::epoch: return {};  // orders the log; counts nothing
    case EventKind::flag:
    case EventKind::decision:
      if (auto status = internal::count_adjudication(engine, event); !status.ok()) {
        return Status::error("seq " + std::to_string(event.seq) + ": " + status.message());
      }
      return {};
  }
  return {};
}

}  // namespace

VoteLog::VoteLog() : impl_(std::make_unique<Impl>()) {}

VoteLog::~VoteLog() {
  stop();
  impl_->writers.clear();
  if (impl_->db) {
    for (auto* handle : impl_->handles) {
      // Closing a handle only frees memory; a failure here has nothing left to protect.
      impl_->db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    impl_->db->Close().PermitUncheckedError();
    impl_->db.reset();
  }
}

Result<std::unique_ptr<VoteLog>> VoteLog::open(const StorageOptions& options) {
  std::unique_ptr<VoteLog> log(new VoteLog());
  Impl& impl = *log->impl_;
  impl.options = options;

  // RocksDB would create the directory itself, but its open scans it for leftover trash first
  // and, with the paced deleter of write_db_options(), logs an error when it is missing.
  std::error_code ignored;  // a real problem is reported by the open below
  std::filesystem::create_directories(options.data_dir, ignored);
  rocksdb::DBOptions db_options = write_db_options(options.data_dir, spdlog_info_log());
  // A writer that retries calls Resume() itself; without one (a replica group's node, or
  // --storage-retry-seconds 0) RocksDB keeps its own recovery of retryable errors.
  if (options.retry_for > std::chrono::seconds(0)) leave_write_recovery_to_the_writer(db_options);
  if (options.fail_io) {
    auto fs = internal::faulty_file_system(rocksdb::FileSystem::Default(), options.fail_io,
                                           options.fail_io_no_space);
    impl.env = rocksdb::NewCompositeEnv(fs);
    db_options.env = impl.env.get();
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families = column_families();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.data_dir, families, &impl.handles, &raw);
  if (!s.ok()) {
    return Status::error("storage: open " + options.data_dir + ": " + s.ToString());
  }
  impl.db.reset(raw);
  impl.events_cf = impl.handles[kEventsIndex];
  impl.meta_cf = impl.handles[kMetaIndex];
  impl.tree_cf = impl.handles[kTreeIndex];
  impl.marks_cf = impl.handles[kMarksIndex];
  if (options.log_keys) {
    impl.keyring = std::make_unique<publog::TagKeyring>(options.log_keys->tags);
    impl.upper_tree = std::make_unique<UpperTree>();
    PublicLogView::Sources sources;
    sources.db = impl.db.get();
    sources.events_cf = impl.events_cf;
    sources.tree_cf = impl.tree_cf;
    sources.keys = options.log_keys;
    sources.keyring = impl.keyring.get();
    sources.upper_tree = impl.upper_tree.get();
    VoteLog* self = log.get();
    sources.committed_size = [self] { return self->last_seq(); };
    sources.now_ms = [&impl] {
      const engine::Engine* engine = impl.clock_engine.load(std::memory_order_acquire);
      if (engine != nullptr) return engine->clock().now_ms();
      return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
    };
    impl.public_view = std::make_unique<PublicLogView>(std::move(sources));
  }
  return log;
}

namespace {

// Recovery's second thread: replays checked batches into the fraud monitor while the
// recovering thread goes on with the next ones (the two halves cost about the same per
// event). Starts its thread in the constructor; the destructor drains the queue and joins.
class FraudReplayer {
 public:
  // A batch record and its decoded events, whose views point into the record.
  struct Chunk {
    std::unique_ptr<std::string> record;
    std::vector<StoredEvent> events;
  };

  explicit FraudReplayer(engine::Engine& engine)
      : engine_(engine), thread_([this] {
          name_this_thread("tally-replay");
          run();
        }) {}
  ~FraudReplayer() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }

  // Blocks while kMaxChunks wait: recovery memory stays bounded.
  void push(Chunk chunk) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return chunks_.size() < kMaxChunks; });
    chunks_.push_back(std::move(chunk));
    lock.unlock();
    ready_.notify_one();
  }

 private:
  static constexpr std::size_t kMaxChunks = 16;

  void run() {
    for (;;) {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return closed_ || !chunks_.empty(); });
      if (chunks_.empty()) return;  // closed and drained
      Chunk chunk = std::move(chunks_.front());
      chunks_.pop_front();
      lock.unlock();
      room_.notify_one();
      for (const StoredEvent& event : chunk.events) {
        if (event.kind != EventKind::vote) continue;
        const VoteFields& v = event.vote;
        engine_.replay_fraud(v.ballot, v.server_ms, v.period, v.flags);
      }
    }
  }

  engine::Engine& engine_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable room_;
  std::deque<Chunk> chunks_;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace

Status VoteLog::recover(engine::Engine& engine) {
  Impl& impl = *impl_;
  if (impl.running() != nullptr || impl.recovered.load(std::memory_order_acquire)) {
    return Status::error("storage: recover: REQUIRES not started, once");
  }
  impl.clock_engine.store(&engine, std::memory_order_release);
  // The public tree: where it ends, and its right edge there. A log written before the tree
  // existed (or by a build without log keys) has a shorter one: the scan builds the rest.
  std::uint64_t tree_size = 0;
  if (impl.keyring) {
    const StoredTree tree(*impl.db, impl.tree_cf);
    auto size = tree.size();
    if (!size.ok()) return size.status();
    tree_size = *size;
    auto frontier = tree.frontier(tree_size);
    if (!frontier.ok()) return Status::error("tree: " + frontier.message());
    impl.frontier = std::move(*frontier);
    // The upper levels: every stored 256-leaf subtree, then their parents hashed (a seek per
    // 256 leaves: about 40,000 at 10M events).
    constexpr std::uint32_t kUpper = UpperTree::kUpperLevel;
    for (std::uint64_t i = 0; i < (tree_size >> kUpper); ++i) {
      auto node = tree.node({kUpper, i});
      if (!node.ok()) return Status::error("tree: " + node.message());
      impl.upper_tree->add({kUpper, i}, *node);
    }
    for (std::uint32_t level = kUpper + 1; level <= UpperTree::kMaxLevel; ++level) {
      for (std::uint64_t i = 0; i < (tree_size >> level); ++i) {
        impl.upper_tree->add({level, i},
                             publog::node_hash(impl.upper_tree->node({level - 1, 2 * i}),
                                               impl.upper_tree->node({level - 1, 2 * i + 1})));
      }
    }
    // The keys must be the ones the tree was made with: other keys would go on with other
    // tags and sign as another log, and every checkpoint and receipt given so far would be
    // orphaned.
    const publog::LogKeys& keys = *impl.options.log_keys;
    const std::string given = keys.signing.public_key().log_id() + ":" + keys.tags.check_value();
    std::string recorded;
    const rocksdb::Status read =
        impl.db->Get(rocksdb::ReadOptions(), impl.meta_cf, kMetaPublicLogKeys, &recorded);
    if (read.ok() && recorded != given) {
      return Status::error("log keys: this log's public tree was made with the keys of log id " +
                           recorded.substr(0, recorded.find(':')) + ", not these (log id " +
                           keys.signing.public_key().log_id() +
                           " or another tag secret): start it with its own keys (--log-keys)");
    }
    if (!read.ok() && !read.IsNotFound()) return Status::error("meta: " + read.ToString());
    if (read.IsNotFound()) {
      rocksdb::WriteOptions sync;
      sync.sync = true;
      if (auto s = impl.db->Put(sync, impl.meta_cf, kMetaPublicLogKeys, given); !s.ok()) {
        return Status::error("meta: " + s.ToString());
      }
    }
  }
  rocksdb::WriteBatch built_tree;  // entries of records the tree did not cover yet
  std::uint64_t leaves_built = 0;
  const auto write_built_tree = [&] {
    rocksdb::WriteOptions options;
    options.sync = true;
    rocksdb::Status s = impl.db->Write(options, &built_tree);
    built_tree.Clear();
    return s.ok() ? Status() : Status::error("tree: write: " + s.ToString());
  };
  LogScan scan(*impl.db, impl.events_cf);
  std::optional<FraudReplayer> fraud;
  if (engine.has_fraud_monitor()) fraud.emplace(engine);
  std::vector<StoredEvent> events;
  ChainHash chain = kGenesisChain;
  std::uint64_t last_seq = 0;
  while (scan.next()) {
    const auto key_seq = parse_seq_key(scan.key());
    // With a fraud replayer the events outlive the iterator's value: keep a copy.
    auto record = fraud ? std::make_unique<std::string>(scan.value()) : nullptr;
    if (auto status = decode_batch(record ? std::string_view(*record) : scan.value(), events);
        !status.ok()) {
      return status;
    }
    if (!key_seq || *key_seq != events.front().seq) {
      return Status::error("seq " + std::to_string(events.front().seq) +
                           ": stored under a key that is not its seq");
    }
    if (auto status = impl.check_continues(events, chain, last_seq); !status.ok()) return status;
    for (const StoredEvent& event : events) {
      if (auto status = count_event(engine, event); !status.ok()) return status;
      if (auto status = impl.rewrite_marks(event); !status.ok()) return status;
      impl.note_adjudication(event);
      if (event.kind == EventKind::vote) impl.note_time(event.seq, event.vote.server_ms);
    }
    if (impl.keyring && last_seq > tree_size) {
      impl.leaves.clear();
      std::uint64_t first_new = 0;
      for (const StoredEvent& event : events) {
        if (event.seq <= tree_size) continue;
        if (first_new == 0) first_new = event.seq;
        impl.leaves.push_back(public_leaf(event, *impl.keyring, impl.public_form));
      }
      if (first_new != impl.frontier.size() + 1) {
        return Status::error("tree: ends at seq " + std::to_string(impl.frontier.size()) +
                             " but the next leaf to build is seq " + std::to_string(first_new));
      }
      publog::Frontier next;
      impl.build_tree(impl.leaves, next);
      impl.keep_tree(std::move(next));
      for (std::size_t i = 0; i < impl.tree_entries.size(); ++i) {
        const std::string_view entry = impl.tree_entries.bytes(i);
        if (auto s = built_tree.Put(impl.tree_cf, seq_key(impl.tree_entries.first_seq(i)),
                                    rocksdb::Slice(entry.data(), entry.size()));
            !s.ok()) {
          return Status::error("tree: " + s.ToString());
        }
      }
      leaves_built += impl.leaves.size();
      constexpr std::size_t kBuiltTreeBytes = 4u << 20;
      if (built_tree.GetDataSize() > kBuiltTreeBytes) {
        if (auto status = write_built_tree(); !status.ok()) return status;
      }
    }
    if (fraud) fraud->push({std::move(record), std::move(events)});
    events.clear();
  }
  fraud.reset();  // drains: the fraud view is complete before serving
  if (auto status = scan.status(); !status.ok()) return status;
  const MetaState meta = read_meta(*impl.db, impl.meta_cf);
  if (!meta.status.ok()) return meta.status;
  if (meta.last_seq != last_seq || (last_seq != 0 && meta.chain_head != chain)) {
    return Status::error("seq " + std::to_string(last_seq) +
                         ": the log ends here but meta says last seq " +
                         std::to_string(meta.last_seq) + " with another chain head");
  }
  if (impl.keyring) {
    if (built_tree.Count() > 0) {
      if (auto status = write_built_tree(); !status.ok()) return status;
    }
    if (impl.frontier.size() != last_seq) {
      return Status::error("tree: holds " + std::to_string(impl.frontier.size()) +
                           " leaves but the log " + std::to_string(last_seq) + " events");
    }
    if (leaves_built > 0) {
      spdlog::info("public log: built the tree of {} events written before it (seqs {}..{})",
                   leaves_built, last_seq - leaves_built + 1, last_seq);
    }
  }
  impl.chain_head = chain;
  impl.last_seq_at_rest.store(last_seq, std::memory_order_release);
  impl.stream_seq.store(meta.stream_seq, std::memory_order_release);
  engine.publish(last_seq);
  Adjudicator::Ports ports;
  ports.db = impl.db.get();
  ports.events_cf = impl.events_cf;
  ports.marks_cf = impl.marks_cf;
  ports.engine = &engine;
  ports.keyring = impl.keyring.get();
  ports.submit = [&impl](internal::PendingEvent& event) { return impl.submit(event); };
  ports.seq_before = [&impl](std::int64_t server_ms) { return impl.seq_before(server_ms); };
  ports.writable = [&impl] {
    std::lock_guard lock(impl.fence_mutex);
    return !impl.write_fence || impl.write_fence();
  };
  ports.decisions_json = [&impl](std::string_view campaign) {
    std::string out = "{\"campaign\":";
    JsonWriter(out).string(campaign);
    out += ",\"decisions\":[";
    std::lock_guard lock(impl.decisions_mutex);
    if (auto it = impl.decisions.find(campaign); it != impl.decisions.end()) {
      for (std::size_t i = 0; i < it->second.size(); ++i) {
        if (i > 0) out += ',';
        out += it->second[i];
      }
    }
    out += "]}";
    return out;
  };
  impl.adjudicator = std::make_unique<Adjudicator>(std::move(ports), Adjudicator::Options{});
  impl.recovered.store(true, std::memory_order_release);
  return {};
}

void VoteLog::start(engine::Engine& engine, RecordReplicator* replicator) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle);
  if (impl.running() != nullptr || impl.stopped.load(std::memory_order_acquire)) return;
  internal::CommitPipelineOptions options;
  options.queue_capacity = impl.options.queue_capacity;
  options.max_batch_events = impl.options.max_batch_events;
  options.max_batch_bytes = impl.options.max_record_bytes;
  options.durable = impl.options.durability == Durability::sync;
  options.retry_for = impl.options.retry_for;
  options.on_retry = impl.options.on_retry;
  impl.replicator = replicator;
  impl.engine = &engine;
  auto writer = std::make_unique<internal::CommitPipeline>(
      impl, engine, options, impl.last_seq_at_rest.load(std::memory_order_acquire));
  writer->start();
  impl.writer.store(writer.get(), std::memory_order_release);
  std::lock_guard writers_lock(impl.writers_mutex);
  impl.writers.push_back(std::move(writer));
}

void VoteLog::halt() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle);
  internal::CommitPipeline* writer = impl.running();
  if (writer == nullptr) return;
  writer->stop();  // joins: the writer's state is this thread's now
  impl.last_seq_at_rest.store(writer->last_seq(), std::memory_order_release);
  impl.writer.store(nullptr, std::memory_order_release);
}

Status VoteLog::apply_record(std::string_view record, std::uint64_t stream_seq,
                             engine::Engine& engine) {
  Impl& impl = *impl_;
  if (!impl.recovered.load(std::memory_order_acquire) || impl.running() != nullptr ||
      impl.stopped.load(std::memory_order_acquire)) {
    return Status::error(
        "storage: apply_record: REQUIRES recovered, no writer running, not stopped");
  }
  std::vector<StoredEvent>& events = impl.decoded;
  if (auto status = decode_batch(record, events); !status.ok()) return status;
  ChainHash chain = impl.chain_head;
  std::uint64_t last_seq = impl.last_seq_at_rest.load(std::memory_order_acquire);
  const std::uint64_t first_seq = events.front().seq;
  if (auto status = impl.check_continues(events, chain, last_seq); !status.ok()) return status;
  publog::Frontier next_frontier;
  if (impl.keyring) {
    impl.leaves_of(events);
    impl.build_tree(impl.leaves, next_frontier);
  }
  std::vector<const StoredEvent*> marked;
  for (const StoredEvent& event : events) {
    if (event.kind == EventKind::flag || event.kind == EventKind::decision) {
      marked.push_back(&event);
    }
  }
  if (auto s = impl.write_record(record, first_seq, last_seq, chain, stream_seq,
                                 impl.keyring ? &impl.tree_entries : nullptr, marked);
      !s.ok()) {
    return Status::error("storage: write of seqs " + std::to_string(first_seq) + ".." +
                         std::to_string(last_seq) + ": " + s.ToString());
  }
  impl.chain_head = chain;
  if (impl.keyring) impl.keep_tree(std::move(next_frontier));
  impl.last_seq_at_rest.store(last_seq, std::memory_order_release);
  impl.stream_seq.store(stream_seq, std::memory_order_release);
  for (const StoredEvent& event : events) {
    if (auto status = count_event(engine, event); !status.ok()) return status;
    impl.note_adjudication(event);
    if (event.kind == EventKind::vote) impl.note_time(event.seq, event.vote.server_ms);
    if (event.kind == EventKind::vote && engine.has_fraud_monitor()) {
      const VoteFields& v = event.vote;
      engine.replay_fraud(v.ballot, v.server_ms, v.period, v.flags);
    }
  }
  engine.publish(last_seq);
  return {};
}

// The log's bytes for a vote in the caller's buffer: the payload's layout (kLayoutBytes), so
// that the writer finds the campaign id and user agent without reading the payload again,
// the vote's public leaf (kLeafBytes, zero without log keys), then the payload. The leaf is
// hashed here, on the ingest thread, because nothing in the public form depends on the seq:
// the writer only joins leaves into the tree.
namespace {
constexpr std::size_t kLayoutBytes = sizeof(VoteLayout);
constexpr std::size_t kLeafBytes = publog::kHashBytes;
}  // namespace

void VoteLog::append_vote_payload(const engine::Ballot& ballot, const engine::Claim& claim,
                                  engine::FraudFlags flags, std::string& payloads) const {
  const std::size_t start = payloads.size();
  payloads.resize(start + kLayoutBytes + kLeafBytes);
  VoteLayout layout;
  encode_vote_payload(VoteFields{ballot, claim.server_ms(), claim.period(), flags}, payloads,
                      &layout);
  std::memcpy(payloads.data() + start, &layout, kLayoutBytes);
  if (impl_->keyring) {
    thread_local std::string public_form;
    public_form.clear();
    publog::append_public_vote(public_form, impl_->keyring->key(ballot.campaign), ballot,
                               claim.server_ms(), claim.period(), flags);
    const publog::Hash leaf = publog::leaf_hash(public_form);
    std::memcpy(payloads.data() + start + kLayoutBytes, leaf.data(), kLeafBytes);
  }
}

std::size_t VoteLog::submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                                  SubmitResult& refusal) {
  refusal = SubmitResult::queued;
  if (votes.empty()) return 0;
  if (!ready()) {
    refusal = SubmitResult::unavailable;
    return 0;
  }
  thread_local std::vector<internal::PendingEvent> events;
  events.clear();
  for (std::size_t i = 0; i < votes.size(); ++i) {
    internal::PendingEvent& event = events.emplace_back();
    event.kind = EventKind::vote;
    const std::string_view bytes =
        payloads.substr(votes[i].payload_begin, votes[i].payload_end - votes[i].payload_begin);
    std::memcpy(&event.layout, bytes.data(), kLayoutBytes);
    event.has_layout = true;
    std::memcpy(event.leaf.data(), bytes.data() + kLayoutBytes, kLeafBytes);
    event.has_leaf = impl_->keyring != nullptr;
    event.payload_view = bytes.substr(kLayoutBytes + kLeafBytes);
    event.flags = votes[i].flags;
    event.claim = std::move(votes[i].claim);
    event.waiter = votes[i].waiter;
  }
  internal::CommitPipeline* writer = impl_->running();
  const std::size_t queued = writer != nullptr ? writer->submit_all(events, refusal)
                                               : (refusal = SubmitResult::unavailable, 0);
  for (std::size_t i = queued; i < votes.size(); ++i) votes[i].claim = std::move(events[i].claim);
  events.clear();
  return queued;
}

SubmitResult VoteLog::submit_campaign(const engine::Campaign& campaign,
                                      engine::CommitWaiter& waiter) {
  if (!ready()) return SubmitResult::unavailable;
  internal::PendingEvent event;
  event.kind = EventKind::campaign;
  const std::string json = engine::campaign_to_json(campaign);
  encode_campaign_payload(json, event.payload);
  // A record of its own that would exceed the cap: refused here, rather than failing the log.
  if (event.payload.size() + internal::kEventOverheadBytes + internal::kRecordOverheadBytes >
      impl_->options.max_record_bytes) {
    return SubmitResult::unavailable;
  }
  // Install what recovery will read back, so that a restart rebuilds the same engine.
  auto stored = engine::parse_campaign(json);
  event.campaign =
      std::make_shared<const engine::Campaign>(stored.ok() ? std::move(*stored) : campaign);
  if (impl_->keyring) {
    std::string public_form;
    publog::append_public_campaign(public_form, json);
    event.leaf = publog::leaf_hash(public_form);
    event.has_leaf = true;
  }
  event.waiter = &waiter;
  return impl_->submit(event);
}

SubmitResult VoteLog::submit_epoch(std::string_view node, std::uint64_t epoch,
                                   engine::CommitWaiter& waiter) {
  if (!ready()) return SubmitResult::unavailable;
  internal::PendingEvent event;
  event.kind = EventKind::epoch;
  const std::int64_t now_ms = impl_->engine->clock().now_ms();
  encode_epoch_payload(EpochFields{node, epoch, now_ms}, event.payload);
  if (impl_->keyring) {
    std::string public_form;
    publog::append_public_epoch(public_form, node, epoch, now_ms);
    event.leaf = publog::leaf_hash(public_form);
    event.has_leaf = true;
  }
  event.waiter = &waiter;
  return impl_->submit(event);
}

bool VoteLog::direct_table_writes() const {
  return impl_->db->GetDBOptions().use_direct_io_for_flush_and_compaction;
}

bool VoteLog::ready() const {
  const internal::CommitPipeline* writer = impl_->running();
  return writer != nullptr && !writer->failed() && !writer->retrying() &&
         !impl_->stopped.load(std::memory_order_acquire);
}

std::string VoteLog::failure() const {
  const internal::CommitPipeline* writer = impl_->running();
  return writer != nullptr ? writer->failure() : std::string();
}

std::uint64_t VoteLog::last_seq() const {
  if (const internal::CommitPipeline* writer = impl_->running()) return writer->last_seq();
  return impl_->last_seq_at_rest.load(std::memory_order_acquire);
}

std::uint64_t VoteLog::stream_seq() const {
  return impl_->stream_seq.load(std::memory_order_acquire);
}

CommitStats VoteLog::commit_stats() const {
  // The counters of every writer this log ran, summed; the queue is the running one's.
  std::lock_guard lock(impl_->writers_mutex);
  CommitStats total;
  total.queue_capacity = impl_->options.queue_capacity;  // a writer's, running or not
  for (const auto& writer : impl_->writers) {
    const CommitStats stats = writer->stats();
    total.batches += stats.batches;
    total.events += stats.events;
    total.failed_batches += stats.failed_batches;
    total.write_retries += stats.write_retries;
    total.retrying = total.retrying || stats.retrying;
    total.queued += stats.queued;
  }
  return total;
}

DbFigures VoteLog::db_figures() const {
  DbFigures figures;
  for (std::size_t i = 0; i < figures.write_counts.size(); ++i) {
    figures.write_counts[i] = impl_->write_counts[i].load(std::memory_order_relaxed);
    figures.writes += figures.write_counts[i];
  }
  figures.write_ns_sum = impl_->write_ns_sum.load(std::memory_order_relaxed);
  rocksdb::DB& db = *impl_->db;
  auto sum = [&](const rocksdb::Slice& property) {
    std::uint64_t total = 0;
    for (auto* handle : impl_->handles) {
      std::uint64_t value = 0;
      if (db.GetIntProperty(handle, property, &value)) total += value;
    }
    return total;
  };
  figures.estimate_num_keys = sum(rocksdb::DB::Properties::kEstimateNumKeys);
  figures.live_sst_bytes = sum(rocksdb::DB::Properties::kLiveSstFilesSize);
  figures.memtable_bytes = sum(rocksdb::DB::Properties::kCurSizeAllMemTables);
  figures.pending_compaction_bytes = sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
  return figures;
}

std::optional<std::string> VoteLog::event_json(std::uint64_t seq) const {
  if (seq == 0) return std::nullopt;
  auto found = find_event_record(*impl_->db, impl_->events_cf, seq);
  if (!found) return std::nullopt;
  std::vector<StoredEvent> events;
  if (!decode_batch(*found, events).ok()) return std::nullopt;
  for (const StoredEvent& event : events) {
    if (event.seq != seq) continue;
    std::string out;
    VoteMarks marks;
    if (event.kind == EventKind::vote) {
      auto read = read_marks(*impl_->db, impl_->marks_cf, seq);
      if (read.ok()) marks = *read;
    }
    append_event_json(out, event, nullptr, &marks);
    return out;
  }
  return std::nullopt;
}

publog::PublicLog* VoteLog::public_log() { return impl_->public_view.get(); }

engine::CrossingListener* VoteLog::crossing_listener() { return impl_->adjudicator.get(); }
void VoteLog::set_write_fence(std::function<bool()> writable) {
  std::lock_guard lock(impl_->fence_mutex);
  impl_->write_fence = std::move(writable);
}
engine::Adjudication* VoteLog::adjudication() { return impl_->adjudicator.get(); }
AdjudicationFigures VoteLog::adjudication_figures() const {
  return impl_->adjudicator ? impl_->adjudicator->figures() : AdjudicationFigures{};
}

PublicLogFigures VoteLog::public_log_figures() const {
  PublicLogFigures figures;
  if (!impl_->public_view) return figures;
  figures.enabled = true;
  figures.tree_size = last_seq();
  figures.tree_append_ns = impl_->tree_append_ns.load(std::memory_order_relaxed);
  impl_->public_view->add_figures(figures);
  return figures;
}

void VoteLog::stop() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle);
  // First, while the writer still takes what it is writing.
  if (impl.adjudicator) impl.adjudicator->stop();
  if (impl.stopped.exchange(true, std::memory_order_acq_rel)) return;
  internal::CommitPipeline* writer = impl.running();
  if (writer == nullptr) return;
  writer->stop();
  if (writer->failed() || impl.engine == nullptr) return;
  // Everything queued is committed and published: record each campaign's tally so that
  // verify can compare it with the recount. Best effort: the log stays authoritative.
  rocksdb::WriteBatch batch;
  for (const auto& campaign : impl.engine->campaigns()) {
    auto tally = impl.engine->tally(campaign->id);
    if (!tally) continue;
    batch
        .Put(impl.meta_cf, std::string(kMetaTallyPrefix) + campaign->id,
             engine::tally_to_json(*tally))
        .PermitUncheckedError();
  }
  rocksdb::WriteOptions options;
  options.sync = true;
  impl.db->Write(options, &batch).PermitUncheckedError();
}

}  // namespace tally::storage
