// Node: this tallyd's place in its shard's replica group on NATS JetStream (DESIGN.md
// "Replication and failover"; docs/CLUSTER.md). One control thread drives the role:
//
//   standby: follows the shard's stream with a durable pull consumer and applies each record to
//            the local VoteLog and engine (VoteLog::apply_record checks seq and chain); polls
//            the lease, and when it has lapsed, takes it:
//   takeover: catches up to the stream's end, starts the log's writer with the stream
//            replicator, commits an epoch event (which fences any older primary out of the
//            stream), then serves;
//   primary: renews the lease every third of its time to live, and stops accepting when it
//            could not for half of it; a writer that failed (fenced: another node's record holds
//            our place) makes it a standby again, with nothing it answered lost;
//   halted:  a record did not continue the local log: apply stops with an alarm, reads go on
//            serving the applied prefix, and the node never becomes primary.
//
// It is also the engine::EventLog that ingest writes through: submissions go to the VoteLog
// only while this node is a primary that holds its lease.
//
// Thread safety: every public member is safe for concurrent use.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/storage/vote_log.h"

namespace tally::cluster {

struct ClusterOptions {
  std::vector<std::string> servers;  // nats://host:port, every server of the NATS cluster
  std::string node;                  // unique in the replica group: [A-Za-z0-9_-]{1,64}
  std::string shard = "s0";
  // Replicas of the stream and the lease bucket: the number of servers, at most 3.
  int replicas = 3;
  // How long a lease outlives its last renewal. Default: 3 s.
  std::chrono::milliseconds lease_ttl{3000};
};

// Every stream message is one record: a record must stay under NATS's 1 MiB message limit.
inline constexpr std::size_t kMaxReplicatedRecordBytes = 768 * 1024;
// A campaign version is one record: its PUT body is held to this in a replica group (its
// canonical JSON stays within the record).
inline constexpr std::size_t kMaxCampaignBodyBytes = 512 * 1024;

enum class Role : std::uint8_t { standby, primary, halted };
std::string_view to_string(Role role);

// What /v1/cluster and /metrics show. Plain values.
struct ClusterStatus {
  std::string node;
  std::string shard;
  Role role = Role::standby;
  std::uint64_t epoch = 0;        // the lease epoch this node last served in (0: never)
  std::uint64_t applied_seq = 0;  // the last seq in the local log
  std::uint64_t applied_stream_seq = 0;
  std::uint64_t stream_seq = 0;  // the stream's last seq, as last seen
  std::uint64_t lag_records = 0;
  double lag_seconds = 0;
  std::string primary_node;  // as the lease names it; empty when nobody holds it
  std::string primary_address;
  std::string alarm;  // why apply stopped (halted), empty otherwise
  std::uint64_t takeovers = 0;
  std::uint64_t fencings = 0;
  std::uint64_t resends = 0;
  // Publish latency of the records this node replicated as primary.
  std::vector<std::uint64_t> publish_bounds_us;  // upper bounds of the buckets
  std::vector<std::uint64_t> publish_counts;     // per bucket, one more than the bounds
  std::uint64_t publish_ns_sum = 0;
};
std::string status_json(const ClusterStatus& status);

class Node final : public engine::EventLog {
 public:
  // Runs on the control thread each time this node becomes the primary, once its epoch event
  // is committed and before it takes writes: tallyd installs its campaign files then, through
  // the log it is given (the node itself refuses writes until it returns).
  using OnPrimary = std::function<void(engine::EventLog& log)>;

  // `log` must be recovered and not started; it and `engine` must outlive the node.
  Node(ClusterOptions options, storage::VoteLog& log, engine::Engine& engine);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Connects (in the background when no server answers yet) and starts the control thread.
  // `http_address` (host:port) is where this node serves: the lease shows it to the others.
  Status start(std::string http_address, OnPrimary on_primary);
  // Stops the control thread; a primary commits what is queued and hands its lease on.
  void stop();

  ClusterStatus status() const;
  // The primary's HTTP address as the lease last showed it; empty when nobody holds it.
  std::string primary_address() const;

  // engine::EventLog: the VoteLog's, while this node is a primary holding its lease.
  void append_vote_payload(const engine::Ballot& ballot, const engine::Claim& claim,
                           engine::FraudFlags flags, std::string& payloads) const override;
  std::size_t submit_votes(std::span<engine::VoteToCommit> votes, std::string_view payloads,
                           engine::SubmitResult& refusal) override;
  engine::SubmitResult submit_campaign(const engine::Campaign& campaign,
                                       engine::CommitWaiter& waiter) override;
  bool ready() const override;
  std::optional<std::string> event_json(std::uint64_t seq) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::cluster
