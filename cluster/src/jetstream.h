// JetStream: one connection to the NATS cluster with its JetStream context, and the few calls
// the replica group makes, as C++ over libnats 3.4.1 (Debian's libnats-dev). Owns the C
// objects; every call reports failure as a Status naming the call and NATS's reason.
//
// Thread safety: libnats connections and contexts are safe for concurrent use; this class adds
// no state of its own after connect().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nats/nats.h>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"

namespace tally::cluster::internal {

// How a publish ended. `error_code` is JetStream's (10071: wrong last sequence) or 0.
struct PublishResult {
  natsStatus status = NATS_OK;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  std::uint64_t stream_seq = 0;  // when status is NATS_OK
  bool duplicate = false;        // the stream already held this message id
  std::string text;              // why it failed
};

// The conditions a record is published under.
struct PublishConditions {
  std::string_view msg_id;
  std::uint64_t expected_last_seq = 0;  // 0: the stream must be empty
  std::chrono::milliseconds max_wait{2000};
};

struct StreamSettings {
  std::string name;     // TALLY_S0
  std::string subject;  // tally.s0.log
  int replicas = 3;
  std::int64_t max_msg_bytes = 1 << 20;
  std::chrono::minutes duplicate_window{10};
};

class JetStream {
 public:
  // Connects to `servers` (nats://host:port): a 1 s ping with 2 outstanding (so that a cut-off
  // server is left within seconds, not the default 2 minutes), reconnects without end, and
  // keeps retrying in the background when no server answers yet. `name` shows in the servers'
  // monitoring.
  static Result<std::unique_ptr<JetStream>> connect(const std::vector<std::string>& servers,
                                                    const std::string& name);
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Creates the stream unless it exists (same settings: no change).
  Status ensure_stream(const StreamSettings& settings);
  // The stream's last seq (0 when empty).
  Result<std::uint64_t> last_seq(const std::string& stream);
  // Publishes `data` under `conditions`; never throws, never retries.
  PublishResult publish(const std::string& subject, std::string_view data,
                        const PublishConditions& conditions);
  // The message the stream holds at `seq` (nullopt when it has none: not stored yet), as its
  // leader answers.
  Result<std::optional<std::string>> message_at(const std::string& stream, std::uint64_t seq);
  // The message id the stream holds at `seq` (empty when it has none), or an error.
  Result<std::string> msg_id_at(const std::string& stream, std::uint64_t seq);

  // The KV bucket `bucket` (created with `replicas` and a time to live of `ttl` unless it
  // exists).
  Status ensure_bucket(const std::string& bucket, int replicas, std::chrono::milliseconds ttl);
  // The key's value and revision; nullopt when it has none (never set, deleted or expired).
  struct Entry {
    std::string value;
    std::uint64_t revision = 0;
  };
  Result<std::optional<Entry>> get(const std::string& key);
  // Sets the key only if it has no value: its revision, or nullopt when another has one.
  Result<std::optional<std::uint64_t>> create(const std::string& key, std::string_view value);
  // Sets the key only if its revision is still `last`: the new revision, or nullopt when it
  // is not (someone else wrote it, or it expired).
  Result<std::optional<std::uint64_t>> update(const std::string& key, std::string_view value,
                                              std::uint64_t last);
  // Removes the key's value (a primary that stops hands its lease on at once).
  Status erase(const std::string& key);

 private:
  JetStream() = default;
  // Called by the client's thread once a server answers (it connects in the background).
  static void on_connected(natsConnection* connection, void* closure);
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
};

}  // namespace tally::cluster::internal
