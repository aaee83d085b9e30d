// The replica group's control loop. See tally/cluster/node.h; the protocol and its reasons are
// in docs/CLUSTER.md.
#include "tally/cluster/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

#include "tally/base/json_writer.h"
#include "tally/base/quote_input.h"
#include "tally/base/thread_name.h"
#include "jetstream.h"
#include "lease.h"
#include "stream_names.h"
#include "stream_replicator.h"

namespace tally::cluster {

using internal::JetStream;
using internal::StreamSettings;
using Clock = std::chrono::steady_clock;

namespace {

// How often a standby looks at the lease: what a takeover adds to the lease's time to live.
constexpr std::chrono::milliseconds kLeasePoll{200};
// A standby reads up to this many records per step, then looks at the lease; with nothing to
// read it waits kIdlePoll (what a record can wait for a standby that is caught up).
constexpr int kReadBatch = 64;
constexpr std::chrono::milliseconds kIdlePoll{10};
// How often a standby asks for the stream's end (its lag), and how many answers in a row must
// show a hole before it stops.
constexpr std::chrono::seconds kEndCheck{1};
constexpr int kMissingChecks = 3;
// Repeated warnings of the control loop: at most one per this.
constexpr std::chrono::seconds kWarnEvery{2};
// The primary's pace between looks at its writer and its lease.
constexpr std::chrono::milliseconds kPrimaryTick{100};
// After a failed call to NATS: the loop tries again after this pause.
constexpr std::chrono::milliseconds kRetryPause{250};

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Hears the epoch event's outcome on the writer thread.
struct EpochWaiter final : engine::CommitWaiter {
  void committed(const engine::CommitOutcome& outcome) override { heard.set_value(outcome); }
  std::promise<engine::CommitOutcome> heard;
};

}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::standby: return "standby";
    case Role::primary: return "primary";
    case Role::halted: return "halted";
  }
  return "standby";
}

struct Node::Impl {
  Impl(ClusterOptions options_in, storage::VoteLog& log_in, engine::Engine& engine_in)
      : options(std::move(options_in)),
        log(log_in),
        engine(engine_in),
        stream(internal::stream_of(options.shard, options.replicas)) {}

  const ClusterOptions options;
  storage::VoteLog& log;
  engine::Engine& engine;
  const StreamSettings stream;
  OnPrimary on_primary;
  std::string http_address;  // set by start(), before the control thread
  std::unique_ptr<JetStream> js;
  std::unique_ptr<internal::StreamReplicator> replicator;
  std::thread control;
  std::atomic<bool> stopping{false};

  // Written by the control thread; read by anyone (acquire/release: a reader that sees the
  // role primary sees the writer it started).
  std::atomic<Role> role{Role::standby};
  std::atomic<std::int64_t> renewed_ns{0};  // when the lease was last renewed (steady clock)
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<std::uint64_t> stream_last{0};
  std::atomic<std::int64_t> behind_since_ns{0};  // wall clock; 0: caught up
  std::atomic<std::uint64_t> takeovers{0};
  mutable std::mutex text_mutex;  // guards the strings below
  std::string primary_node, primary_address, alarm;

  // Control thread only.
  std::uint64_t lease_revision = 0;
  Clock::time_point next_end_check{};
  Clock::time_point next_warning{};
  Clock::time_point next_lease_poll{};
  int missing_checks = 0;         // checks in a row that found missing_seq missing
  std::uint64_t missing_seq = 0;  // the seq those checks were about

  // Whether a repeated warning (NATS unreachable, a leader being elected) may be logged now:
  // the first, then one every kWarnEvery, not one per retry.
  bool warn_due() {
    const auto now = Clock::now();
    if (now < next_warning) return false;
    next_warning = now + kWarnEvery;
    return true;
  }

  bool holds_fresh_lease() const {
    return now_ns() - renewed_ns.load(std::memory_order_acquire) <
           std::chrono::nanoseconds(options.lease_ttl).count() / 2;
  }

  void set_primary_seen(std::string node, std::string address) {
    std::lock_guard lock(text_mutex);
    primary_node = std::move(node);
    primary_address = std::move(address);
  }

  void run();
  bool connect_once();
  void standby_step();
  void follow_step();
  void check_stream_end(bool next_missing);
  void halt_apply(const std::string& why);
  void poll_lease();
  bool catch_up(std::chrono::milliseconds budget);
  // True when this node is the primary at the end.
  bool take_over(std::uint64_t new_epoch);
  void give_up_lease();
  void primary_step();
  void step_down(const std::string& why);
};

bool Node::Impl::connect_once() {
  if (auto status = js->ensure_stream(stream); !status.ok()) {
    if (warn_due()) {
      spdlog::warn("cluster: stream {} not ready error={}", stream.name,
                   log_value(status.message()));
    }
    return false;
  }
  if (auto status = js->ensure_bucket(internal::kLeaseBucket, options.replicas, options.lease_ttl);
      !status.ok()) {
    if (warn_due()) {
      spdlog::warn("cluster: lease bucket not ready error={}", log_value(status.message()));
    }
    return false;
  }
  return true;
}

void Node::Impl::run() {
  name_this_thread("tally-cluster");
  while (!stopping.load(std::memory_order_acquire) && !connect_once()) {
    std::this_thread::sleep_for(kRetryPause);
  }
  spdlog::info(
      "cluster: joined shard={} stream={} node={} role=standby applied_seq={} "
      "applied_stream_seq={}",
      options.shard, stream.name, log_value(options.node), log.last_seq(), log.stream_seq());
  while (!stopping.load(std::memory_order_acquire)) {
    switch (role.load(std::memory_order_acquire)) {
      case Role::standby: standby_step(); break;
      case Role::primary: primary_step(); break;
      case Role::halted:
        std::this_thread::sleep_for(kLeasePoll);
        poll_lease();  // still shows who the primary is
        break;
    }
  }
}

void Node::Impl::standby_step() {
  follow_step();
  if (role.load(std::memory_order_acquire) != Role::standby) return;
  if (Clock::now() >= next_lease_poll) {
    next_lease_poll = Clock::now() + kLeasePoll;
    poll_lease();
  }
}

void Node::Impl::follow_step() {
  // The stream by seq, from its leader: each record as the leader holds it (it stores a message
  // once a majority has it). Not a consumer: in a 2.9.10 cluster one delivered stream seq N+1
  // right after N-1 once, after a stream leader's kill (a replica's view), which halted a
  // standby that had lost nothing; and a consumer's acknowledgements cost the servers writes.
  bool found_all = true;
  for (int i = 0; i < kReadBatch; ++i) {
    const std::uint64_t next = log.stream_seq() + 1;
    auto message = js->message_at(stream.name, next);
    if (!message.ok()) {
      if (warn_due()) {
        spdlog::warn("cluster: read of stream seq {} error={}", next, log_value(message.message()));
      }
      std::this_thread::sleep_for(kRetryPause);
      return;
    }
    if (!message->has_value()) {
      found_all = false;
      break;
    }
    if (auto status = log.apply_record(**message, next, engine); !status.ok()) {
      return halt_apply("stream seq " + std::to_string(next) + ": " + status.message());
    }
  }
  if (found_all || Clock::now() >= next_end_check) check_stream_end(!found_all);
  if (!found_all && role.load(std::memory_order_acquire) == Role::standby) {
    std::this_thread::sleep_for(kIdlePoll);
  }
}

void Node::Impl::check_stream_end(bool next_missing) {
  next_end_check = Clock::now() + kEndCheck;
  auto last = js->last_seq(stream.name);
  if (!last.ok()) return;
  stream_last.store(*last, std::memory_order_relaxed);
  const std::uint64_t applied = log.stream_seq();
  const std::uint64_t behind = *last > applied ? *last - applied : 0;
  if (behind == 0) {
    behind_since_ns.store(0, std::memory_order_relaxed);
  } else if (behind_since_ns.load(std::memory_order_relaxed) == 0) {
    behind_since_ns.store(wall_ns(), std::memory_order_relaxed);
  }
  // The leader holds messages past one it said it did not have: usually that one was stored
  // between the two calls (a stream being written to), so it is asked for again, after the
  // end was read. Still missing then, the same seq at kMissingChecks checks in a row: a hole
  // in the stream (its messages cannot be deleted).
  bool hole = false;
  if (next_missing && behind > 0) {
    auto again = js->message_at(stream.name, applied + 1);
    hole = again.ok() && !again->has_value();
  }
  missing_checks = hole ? (missing_seq == applied + 1 ? missing_checks + 1 : 1) : 0;
  missing_seq = applied + 1;
  if (missing_checks >= kMissingChecks) {
    halt_apply("stream seq " + std::to_string(applied + 1) + " is missing while the stream holds " +
               std::to_string(*last));
  }
}

void Node::Impl::halt_apply(const std::string& why) {
  {
    std::lock_guard lock(text_mutex);
    alarm = why;
  }
  role.store(Role::halted, std::memory_order_release);
  spdlog::error(
      "cluster: role halted: apply stopped at seq={} stream_seq={} error={}. Reads serve "
      "the applied log; this node will not become primary. Compare the data dir with "
      "the stream (tallyctl verify) before restarting it.",
      log.last_seq(), log.stream_seq(), log_value(why));
}

void Node::Impl::poll_lease() {
  auto entry = js->get(options.shard);
  if (!entry.ok()) {
    if (warn_due()) {
      spdlog::warn("cluster: lease of {} error={}", options.shard, log_value(entry.message()));
    }
    return;
  }
  if (entry->has_value()) {
    if (auto holder = internal::decode_lease((*entry)->value, (*entry)->revision)) {
      set_primary_seen(holder->node, holder->address);
    }
    return;
  }
  set_primary_seen({}, {});
  if (role.load(std::memory_order_acquire) != Role::standby) return;
  const std::string value = internal::encode_lease({options.node, http_address, 0});
  // The lease runs from when it was asked for, not from the answer: the servers count from
  // the moment they stored it, which is earlier.
  const std::int64_t asked_ns = now_ns();
  auto created = js->create(options.shard, value);
  if (!created.ok() || !created->has_value()) return;  // unreachable, or another was first
  lease_revision = **created;
  renewed_ns.store(asked_ns, std::memory_order_release);
  if (!take_over(lease_revision)) give_up_lease();
}

bool Node::Impl::catch_up(std::chrono::milliseconds budget) {
  const auto deadline = Clock::now() + budget;
  auto last = js->last_seq(stream.name);
  if (!last.ok()) {
    spdlog::warn("cluster: takeover: stream end unknown error={}", log_value(last.message()));
    return false;
  }
  stream_last.store(*last, std::memory_order_relaxed);
  while (log.stream_seq() < *last) {
    if (Clock::now() >= deadline || stopping.load(std::memory_order_acquire)) return false;
    follow_step();
    if (role.load(std::memory_order_acquire) == Role::halted) return false;
  }
  return true;
}

bool Node::Impl::take_over(std::uint64_t new_epoch) {
  spdlog::info("cluster: lease won shard={} epoch={}: catching up from stream_seq={}",
               options.shard, new_epoch, log.stream_seq());
  // Writes the epoch into the lease, so that readers need not know the revision it began at.
  const std::string value = internal::encode_lease({options.node, http_address, new_epoch});
  const std::int64_t asked_ns = now_ns();
  if (auto updated = js->update(options.shard, value, lease_revision);
      updated.ok() && updated->has_value()) {
    lease_revision = **updated;
    renewed_ns.store(asked_ns, std::memory_order_release);
  }
  if (!catch_up(options.lease_ttl / 2)) {
    spdlog::warn("cluster: takeover of epoch {} gave up: not caught up with the stream", new_epoch);
    return false;
  }
  if (log.stream_seq() == 0 && log.last_seq() > 0) {
    // The stream is empty, and this data dir holds a log written alone: an epoch event after
    // it would start the stream at a seq no other node could follow from.
    halt_apply("this data dir holds seqs 1.." + std::to_string(log.last_seq()) +
               " that are not in the empty stream: a replica group starts from empty data dirs");
    return false;
  }
  if (stopping.load(std::memory_order_acquire)) return false;
  replicator->begin(new_epoch, log.stream_seq());
  log.start(engine, replicator.get());
  EpochWaiter waiter;
  auto heard = waiter.heard.get_future();
  if (log.submit_epoch(options.node, new_epoch, waiter) != engine::SubmitResult::queued) {
    log.halt();
    spdlog::warn("cluster: takeover of epoch {}: the log did not take the epoch event", new_epoch);
    return false;
  }
  const engine::CommitOutcome outcome = heard.get();
  if (outcome.status != engine::VoteStatus::accepted) {
    // Another node's record got in first: apply it, and try again with a new lease.
    log.halt();
    spdlog::warn("cluster: takeover of epoch {}: the epoch event was not replicated", new_epoch);
    return false;
  }
  epoch.store(new_epoch, std::memory_order_relaxed);
  stream_last.store(log.stream_seq(), std::memory_order_relaxed);
  behind_since_ns.store(0, std::memory_order_relaxed);
  takeovers.fetch_add(1, std::memory_order_relaxed);
  // Before it takes writes: a ballot for a campaign its files install must not find it
  // missing. The log's writer runs; ingest still refuses (the role is not primary yet).
  if (on_primary) on_primary(log);
  set_primary_seen(options.node, http_address);
  role.store(Role::primary, std::memory_order_release);
  spdlog::info("cluster: role primary shard={} epoch={} seq={} stream_seq={}", options.shard,
               new_epoch, outcome.seq, log.stream_seq());
  return true;
}

void Node::Impl::give_up_lease() {
  // Only while it is surely ours: renewed less than half its time to live ago, no other node
  // can have created it since (it lives a whole time to live after a renewal).
  if (!holds_fresh_lease()) return;
  renewed_ns.store(0, std::memory_order_release);
  if (auto status = js->erase(options.shard); !status.ok()) {
    spdlog::warn("cluster: lease not handed on error={}", log_value(status.message()));
  }
}

void Node::Impl::primary_step() {
  std::this_thread::sleep_for(kPrimaryTick);
  if (!log.ready()) {
    return step_down(replicator->fenced()
                         ? "fenced: another node took over the stream (" +
                               replicator->last_failure() + ")"
                         : "the log's writer failed (" + replicator->last_failure() + ")");
  }
  stream_last.store(log.stream_seq(), std::memory_order_relaxed);
  const auto since_renewal =
      std::chrono::nanoseconds(now_ns() - renewed_ns.load(std::memory_order_acquire));
  if (since_renewal < options.lease_ttl / 3) return;
  const std::string value =
      internal::encode_lease({options.node, http_address, epoch.load(std::memory_order_relaxed)});
  const std::int64_t asked_ns = now_ns();
  auto updated = js->update(options.shard, value, lease_revision);
  if (!updated.ok()) {
    if (!holds_fresh_lease() && warn_due()) {
      spdlog::warn("cluster: lease not renewed for {} ms (not accepting until it is) error={}",
                   std::chrono::duration_cast<std::chrono::milliseconds>(since_renewal).count(),
                   log_value(updated.message()));
    }
    return;
  }
  if (!updated->has_value()) return step_down("lease lost to another node");
  lease_revision = **updated;
  renewed_ns.store(asked_ns, std::memory_order_release);
}

void Node::Impl::step_down(const std::string& why) {
  spdlog::warn("cluster: role standby shard={} epoch={} why={}", options.shard,
               epoch.load(std::memory_order_relaxed), log_value(why));
  role.store(Role::standby, std::memory_order_release);
  renewed_ns.store(0, std::memory_order_release);
  // Waits for what the writer holds: each record is replicated or known not to be.
  log.halt();
  set_primary_seen({}, {});
  spdlog::info("cluster: following shard={} from seq={} stream_seq={}", options.shard,
               log.last_seq(), log.stream_seq());
}

Node::Node(ClusterOptions options, storage::VoteLog& log, engine::Engine& engine)
    : impl_(std::make_unique<Impl>(std::move(options), log, engine)) {}

Node::~Node() { stop(); }

Status Node::start(std::string http_address, OnPrimary on_primary) {
  Impl& impl = *impl_;
  impl.on_primary = std::move(on_primary);
  impl.http_address = std::move(http_address);
  auto js = JetStream::connect(impl.options.servers, "tallyd " + impl.options.node);
  if (!js.ok()) return js.status();
  impl.js = std::move(js).value();
  impl.replicator =
      std::make_unique<internal::StreamReplicator>(*impl.js, impl.stream, impl.options.shard);
  impl.control = std::thread([&impl] { impl.run(); });
  return {};
}

void Node::stop() {
  Impl& impl = *impl_;
  if (impl.stopping.exchange(true, std::memory_order_acq_rel)) return;
  if (impl.replicator) impl.replicator->abandon();
  if (impl.control.joinable()) impl.control.join();
  if (impl.role.load(std::memory_order_acquire) != Role::primary) return;
  // Accepts nothing more; the lease is handed on (below) only if it was still surely ours.
  impl.role.store(Role::standby, std::memory_order_release);
  impl.log.stop();
  // Nothing renewed it while the log stopped (the control thread is gone): if that took long,
  // another node may hold it by now.
  if (!impl.holds_fresh_lease()) return;
  // The next primary need not wait for the lease to lapse.
  if (auto status = impl.js->erase(impl.options.shard); !status.ok()) {
    spdlog::warn("cluster: lease not handed on error={}", log_value(status.message()));
  } else {
    spdlog::info("cluster: lease handed on shard={}", impl.options.shard);
  }
}

ClusterStatus Node::status() const {
  const Impl& impl = *impl_;
  ClusterStatus out;
  out.node = impl.options.node;
  out.shard = impl.options.shard;
  out.role = impl.role.load(std::memory_order_acquire);
  out.epoch = impl.epoch.load(std::memory_order_relaxed);
  out.applied_seq = impl.log.last_seq();
  out.applied_stream_seq = impl.log.stream_seq();
  out.stream_seq =
      std::max(impl.stream_last.load(std::memory_order_relaxed), out.applied_stream_seq);
  out.lag_records = out.role == Role::primary ? 0 : out.stream_seq - out.applied_stream_seq;
  const std::int64_t behind = impl.behind_since_ns.load(std::memory_order_relaxed);
  if (behind != 0 && out.lag_records > 0) {
    out.lag_seconds = std::max(0.0, static_cast<double>(wall_ns() - behind) / 1e9);
  }
  {
    std::lock_guard lock(impl.text_mutex);
    out.primary_node = impl.primary_node;
    out.primary_address = impl.primary_address;
    out.alarm = impl.alarm;
  }
  out.takeovers = impl.takeovers.load(std::memory_order_relaxed);
  if (impl.replicator) {
    const internal::ReplicatorFigures figures = impl.replicator->figures();
    out.resends = figures.resends;
    out.fencings = figures.fenced;
    out.publish_bounds_us.assign(figures.kBoundsUs.begin(), figures.kBoundsUs.end());
    out.publish_counts.assign(figures.counts.begin(), figures.counts.end());
    out.publish_ns_sum = figures.ns_sum;
  }
  return out;
}

std::string Node::primary_address() const {
  std::lock_guard lock(impl_->text_mutex);
  return impl_->primary_address;
}

std::string status_json(const ClusterStatus& status) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("node").string(status.node);
  json.key("shard").string(status.shard);
  json.key("role").string(to_string(status.role));
  json.key("epoch").integer(status.epoch);
  json.key("applied_seq").integer(status.applied_seq);
  json.key("applied_stream_seq").integer(status.applied_stream_seq);
  json.key("stream_seq").integer(status.stream_seq);
  json.key("lag_records").integer(status.lag_records);
  char seconds[32];
  const int length = std::snprintf(seconds, sizeof seconds, "%.3f", status.lag_seconds);
  json.key("lag_seconds").raw(std::string_view(seconds, static_cast<std::size_t>(length)));
  json.key("primary");
  if (status.primary_node.empty()) {
    json.null();
  } else {
    json.begin_object();
    json.key("node").string(status.primary_node);
    json.key("address").string(status.primary_address);
    json.end_object();
  }
  json.key("alarm");
  if (status.alarm.empty()) {
    json.null();
  } else {
    json.string(status.alarm);
  }
  json.key("takeovers").integer(status.takeovers);
  json.key("fencings").integer(status.fencings);
  json.end_object();
  return out;
}

void Node::append_vote_payload(const engine::Ballot& ballot, const engine::Claim& claim,
                               engine::FraudFlags flags, std::string& payloads) const {
  impl_->log.append_vote_payload(ballot, claim, flags, payloads);
}

std::size_t Node::submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                               engine::SubmitResult& refusal) {
  if (!ready()) {
    refusal = engine::SubmitResult::unavailable;
    return 0;
  }
  return impl_->log.submit_votes(votes, payloads, refusal);
}

engine::SubmitResult Node::submit_campaign(const engine::Campaign& campaign,
                                           engine::CommitWaiter& waiter) {
  if (!ready()) return engine::SubmitResult::unavailable;
  return impl_->log.submit_campaign(campaign, waiter);
}

bool Node::ready() const {
  const Impl& impl = *impl_;
  return impl.role.load(std::memory_order_acquire) == Role::primary && impl.holds_fresh_lease() &&
         impl.log.ready();
}

std::optional<std::string> Node::event_json(std::uint64_t seq) const {
  return impl_->log.event_json(seq);
}

}  // namespace tally::cluster
