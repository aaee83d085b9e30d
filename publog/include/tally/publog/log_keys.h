// The public log's keys, in a directory of their own (by default DATA_DIR/log-keys):
//   signing-key.pem  the Ed25519 private key that signs checkpoints (PKCS#8 PEM, mode 0600)
//   tag-secret       64 hex digits from which every campaign's tag key derives (mode 0600)
//   public-key.pem   the public half, for convenience (mode 0600 too: the data dir is its
//                    user's alone; the key is public at GET /v1/log/key and in every bundle)
// A lone tallyd creates them on first start; a replica group's nodes share one set, made once
// with `tallyctl log-keys new` and installed on every node like a TLS key (docs/CLUSTER.md),
// so that every replica derives the same public events and signs for the shard's log.
#pragma once

#include <string>

#include "tally/base/status.h"
#include "tally/publog/checkpoint.h"
#include "tally/publog/public_event.h"

namespace tally::publog {

inline constexpr char kSigningKeyFile[] = "signing-key.pem";
inline constexpr char kTagSecretFile[] = "tag-secret";
inline constexpr char kPublicKeyFile[] = "public-key.pem";

struct LogKeys {
  SigningKey signing;
  TagSecret tags;
};

// Reads the keys in `dir`; an error names the file and what is wrong.
Result<LogKeys> read_log_keys(const std::string& dir);
// Whether `dir` holds any of the key files.
bool log_keys_exist(const std::string& dir);
// Makes new keys and writes them into `dir` (created with mode 0700 if missing), each file
// whole or not at all. Refuses to replace keys that exist: a log's key never changes.
Result<LogKeys> create_log_keys(const std::string& dir);

}  // namespace tally::publog
