// The public form of an event (docs/EVENT_FORMAT.md "Public form"): what the public log's
// leaves hash and what the published bundle shows. A vote's voter, device, ip and request_id
// become keyed tags, HMAC-SHA-256 under its campaign's tag key, so that anyone can re-check
// dedupe and quotas on tags without learning who voted; every other field is as stored. The
// seq is not in it: a leaf's place in the tree is its seq.
//
// - TagSecret: the log's secret (32 bytes), kept in its key directory (log_keys.h); every
//   campaign's key derives from it.
// - TagKey: one campaign's key, with its HMAC states computed once (two SHA-256 blocks per tag
//   instead of four). Handed to auditors as hex with the full export.
// - append_public_*(): the canonical JSON of each kind, appended to a caller's buffer.
//
// Keys are immutable once made: safe for concurrent use.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tally/base/status.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_flags.h"
#include "tally/publog/merkle.h"

namespace tally::publog {

inline constexpr std::size_t kTagKeyBytes = 32;
// A tag is the first 16 bytes of the HMAC, as 32 lowercase hex digits: 128 bits keep the
// chance that two of 50M values share a tag below 1e-20.
inline constexpr std::size_t kTagBytes = 16;

class TagKey {
 public:
  explicit TagKey(const std::array<std::uint8_t, kTagKeyBytes>& key);
  static Result<TagKey> from_hex(std::string_view hex);
  std::string hex() const;
  // Appends the tag of `value`: 32 hex digits.
  void append_tag(std::string& out, std::string_view value) const;
  std::string tag(std::string_view value) const;

 private:
  std::array<std::uint8_t, kTagKeyBytes> key_;
  // SHA-256 states after the key's inner and outer pad blocks (SHA256_CTX, opaque here).
  std::shared_ptr<const void> inner_, outer_;
};

class TagSecret {
 public:
  explicit TagSecret(const std::array<std::uint8_t, kTagKeyBytes>& secret) : secret_(secret) {}
  static TagSecret generate();
  static Result<TagSecret> from_hex(std::string_view hex);
  std::string hex() const;
  // HMAC-SHA-256(secret, "tally tag key v1" 0x00 campaign_id).
  TagKey campaign_key(std::string_view campaign_id) const;
  // A value that tells this secret from another without revealing it: the campaign key of
  // the id "" (no campaign has it), as 64 hex digits. A log records it with its tree.
  std::string check_value() const { return campaign_key("").hex(); }

 private:
  std::array<std::uint8_t, kTagKeyBytes> secret_;
};

// Every campaign's tag key, derived when first asked for and kept: the ingest threads ask for
// their vote's campaign key once per vote. Safe for concurrent use; a thread that asks for the
// campaign it asked for last takes no lock.
class TagKeyring {
 public:
  explicit TagKeyring(const TagSecret& secret);
  ~TagKeyring();
  TagKeyring(const TagKeyring&) = delete;
  TagKeyring& operator=(const TagKeyring&) = delete;
  // The key of `campaign_id`; the reference lives as long as the keyring.
  const TagKey& key(std::string_view campaign_id) const;

 private:
  struct Keys;
  TagSecret secret_;
  std::unique_ptr<Keys> keys_;
  std::uint64_t id_;  // tells this keyring from a later one at the same address
};

// {"kind":"vote","campaign","candidate","voter","device","ip","ua","ts","request_id",
// "server_ms","period","flags"}: absent optional fields omitted; voter, device, ip and
// request_id as tags.
void append_public_vote(std::string& out, const TagKey& key, const engine::Ballot& ballot,
                        std::int64_t server_ms, std::int64_t period, engine::FraudFlags flags);
// {"kind":"campaign","campaign":<the stored canonical definition>}.
void append_public_campaign(std::string& out, std::string_view canonical_json);
// {"kind":"epoch","node","epoch","server_ms"}.
void append_public_epoch(std::string& out, std::string_view node, std::uint64_t epoch,
                         std::int64_t server_ms);
// {"kind":"flag","campaign","reason","scope","key","server_ms","seqs":[…]}: the cluster's key
// as a tag (an address or a device is as private as a voter's).
void append_public_flag(std::string& out, const TagKey& key, std::string_view campaign,
                        engine::FraudReason reason, engine::ClusterScope scope,
                        std::string_view cluster_key, std::int64_t server_ms,
                        std::span<const engine::MarkedVote> votes);
// The parts of a decision its public form shows.
struct PublicDecision {
  std::string_view campaign;
  std::string_view action;  // void, restore, disqualify, reinstate
  std::string_view author;
  std::string_view reason;
  std::int64_t server_ms = 0;
  std::string_view candidate;  // disqualify, reinstate
  engine::ClusterScope scope = engine::ClusterScope::none;
  std::string_view cluster_key;
  std::span<const engine::MarkedVote> votes;  // void, restore
};
// {"kind":"decision","campaign","action","author","reason","server_ms","candidate","scope",
// "key","seqs":[…]}: `candidate` only when it names one, `scope` and `key` (a tag) only when
// its votes came from a cluster, `seqs` only when it names votes. Author and reason are
// public: the committee decides in the open.
void append_public_decision(std::string& out, const TagKey& key, const PublicDecision& decision);

}  // namespace tally::publog

namespace tally::publog {

// Writes the JSON document `json` again in the canonical form of docs/EVENT_FORMAT.md
// "Canonical JSON" (members in their order, no spaces, integers only, strings escaped as
// append_json_string does) into `out`. An error when it does not parse, holds a number that is
// not an integer, repeats a member name within an object, or nests too deep. A document is
// canonical when the result equals it.
Status canonicalize_json(std::string_view json, std::string& out);

}  // namespace tally::publog
