// Tags and the canonical JSON of the public form. The HMAC is computed by hand over
// SHA256_CTX states saved after the key's pad blocks, as RFC 2104 allows: a vote needs up to
// four tags on the ingest thread, and this makes each two SHA-256 blocks with no allocation
// (EVP_Q_mac takes a new context and both pad blocks every call).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tally/publog/public_event.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <atomic>
#include <cstring>

#include "tally/base/json.h"
#include "hex.h"

namespace tally::publog {

namespace {

constexpr std::size_t kBlockBytes = 64;
constexpr std::string_view kCampaignKeyLabel{"tally tag key v1\0", 17};

using internal::append_hex;

bool parse_key_hex(std::string_view text, std::array<std::uint8_t, kTagKeyBytes>& out) {
  return internal::parse_hex(text, out.data(), out.size());
}

std::shared_ptr<const void> pad_state(const std::array<std::uint8_t, kTagKeyBytes>& key,
                                      std::uint8_t pad) {
  std::uint8_t block[kBlockBytes];
  std::memset(block, pad, sizeof block);
  for (std::size_t i = 0; i < key.size(); ++i) block[i] ^= key[i];
  auto state = std::make_shared<SHA256_CTX>();
  SHA256_Init(state.get());
  SHA256_Update(state.get(), block, sizeof block);
  return state;
}

void append_tagged(std::string& out, std::string_view name, const TagKey& key,
                   std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":\"";
  key.append_tag(out, value);
  out += '"';
}

void append_string_member(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_string(out, value);
}

void append_integer_member(std::string& out, std::string_view name, std::int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

TagKey::TagKey(const std::array<std::uint8_t, kTagKeyBytes>& key)
    : key_(key), inner_(pad_state(key, 0x36)), outer_(pad_state(key, 0x5c)) {}

Result<TagKey> TagKey::from_hex(std::string_view hex) {
  std::array<std::uint8_t, kTagKeyBytes> key;
  if (!parse_key_hex(hex, key)) return Status::error("tag key: must be 64 hex digits");
  return TagKey(key);
}

std::string TagKey::hex() const {
  std::string out;
  append_hex(out, key_.data(), key_.size());
  return out;
}

void TagKey::append_tag(std::string& out, std::string_view value) const {
  SHA256_CTX ctx = *static_cast<const SHA256_CTX*>(inner_.get());
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Update(&ctx, value.data(), value.size());
  SHA256_Final(digest, &ctx);
  ctx = *static_cast<const SHA256_CTX*>(outer_.get());
  SHA256_Update(&ctx, digest, sizeof digest);
  SHA256_Final(digest, &ctx);
  append_hex(out, digest, kTagBytes);
}

std::string TagKey::tag(std::string_view value) const {
  std::string out;
  append_tag(out, value);
  return out;
}

TagSecret TagSecret::generate() {
  std::array<std::uint8_t, kTagKeyBytes> secret;
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    // OpenSSL's generator failing means no secret can be trusted: nothing to fall back to.
    std::abort();
  }
  return TagSecret(secret);
}

Result<TagSecret> TagSecret::from_hex(std::string_view hex) {
  std::array<std::uint8_t, kTagKeyBytes> secret;
  if (!parse_key_hex(hex, secret)) return Status::error("tag secret: must be 64 hex digits");
  return TagSecret(secret);
}

std::string TagSecret::hex() const {
  std::string out;
  append_hex(out, secret_.data(), secret_.size());
  return out;
}

TagKey TagSecret::campaign_key(std::string_view campaign_id) const {
  std::string message(kCampaignKeyLabel);
  message += campaign_id;
  std::array<std::uint8_t, kTagKeyBytes> key{};
  std::size_t length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret_.data(), secret_.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(), key.data(),
                key.size(), &length) == nullptr ||
      length != key.size()) {
    std::abort();  // as above: libcrypto's HMAC cannot fail on these inputs
  }
  return TagKey(key);
}

struct TagKeyring::Keys {
  std::mutex mutex;
  // Keys are never removed, so a reference handed out stays valid. Guarded by mutex.
  std::map<std::string, std::unique_ptr<TagKey>, std::less<>> by_campaign;
};

namespace {
std::atomic<std::uint64_t> next_keyring_id{1};
}  // namespace

TagKeyring::TagKeyring(const TagSecret& secret)
    : secret_(secret),
      keys_(std::make_unique<Keys>()),
      id_(next_keyring_id.fetch_add(1, std::memory_order_relaxed)) {}

TagKeyring::~TagKeyring() = default;

const TagKey& TagKeyring::key(std::string_view campaign_id) const {
  // The last key this thread asked for, by keyring id (not address: a keyring freed and
  // another made at the same place must not see the first one's keys).
  struct Last {
    std::uint64_t keyring = 0;
    std::string campaign;
    const TagKey* key = nullptr;
  };
  thread_local Last last;
  if (last.keyring == id_ && last.campaign == campaign_id) return *last.key;
  const TagKey* found = nullptr;
  {
    std::lock_guard lock(keys_->mutex);
    auto it = keys_->by_campaign.find(campaign_id);
    if (it == keys_->by_campaign.end()) {
      it = keys_->by_campaign
               .emplace(std::string(campaign_id),
                        std::make_unique<TagKey>(secret_.campaign_key(campaign_id)))
               .first;
    }
    found = it->second.get();
  }
  last.keyring = id_;
  last.campaign.assign(campaign_id);
  last.key = found;
  return *found;
}

void append_public_vote(std::string& out, const TagKey& key, const engine::Ballot& ballot,
                        std::int64_t server_ms, std::int64_t period, engine::FraudFlags flags) {
  out += R"({"kind":"vote")";
  append_string_member(out, "campaign", ballot.campaign);
  append_string_member(out, "candidate", ballot.candidate);
  append_tagged(out, "voter", key, ballot.voter);
  if (!ballot.device.empty()) append_tagged(out, "device", key, ballot.device);
  if (!ballot.ip.empty()) append_tagged(out, "ip", key, ballot.ip);
  if (!ballot.ua.empty()) append_string_member(out, "ua", ballot.ua);
  if (ballot.ts_ms) append_integer_member(out, "ts", *ballot.ts_ms);
  if (!ballot.request_id.empty()) append_tagged(out, "request_id", key, ballot.request_id);
  append_integer_member(out, "server_ms", server_ms);
  append_integer_member(out, "period", period);
  out += R"(,"flags":[)";
  bool first = true;
  for (int bit = 0; bit < 32; ++bit) {
    if ((flags & (engine::FraudFlags{1} << bit)) == 0) continue;
    if (!first) out += ',';
    first = false;
    if (bit < engine::kFraudReasonCount) {
      append_json_string(out, engine::to_string(static_cast<engine::FraudReason>(bit)));
    } else {
      append_json_string(out, "bit" + std::to_string(bit));
    }
  }
  out += "]}";
}

void append_public_campaign(std::string& out, std::string_view canonical_json) {
  out += R"({"kind":"campaign","campaign":)";
  out += canonical_json;
  out += '}';
}

void append_public_epoch(std::string& out, std::string_view node, std::uint64_t epoch,
                         std::int64_t server_ms) {
  out += R"({"kind":"epoch")";
  append_string_member(out, "node", node);
  out += R"(,"epoch":)";
  out += std::to_string(epoch);
  append_integer_member(out, "server_ms", server_ms);
  out += '}';
}

namespace {

void append_seqs(std::string& out, std::span<const engine::MarkedVote> votes) {
  out += R"(,"seqs":[)";
  for (std::size_t i = 0; i < votes.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(votes[i].seq);
  }
  out += ']';
}

std::string reason_name(engine::FraudReason reason) {
  const auto bit = static_cast<int>(reason);
  if (bit < engine::kFraudReasonCount) return std::string(engine::to_string(reason));
  return "bit" + std::to_string(bit);
}

}  // namespace

void append_public_flag(std::string& out, const TagKey& key, std::string_view campaign,
                        engine::FraudReason reason, engine::ClusterScope scope,
                        std::string_view cluster_key, std::int64_t server_ms,
                        std::span<const engine::MarkedVote> votes) {
  out += R"({"kind":"flag")";
  append_string_member(out, "campaign", campaign);
  append_string_member(out, "reason", reason_name(reason));
  append_string_member(out, "scope", engine::to_string(scope));
  append_tagged(out, "key", key, cluster_key);
  append_integer_member(out, "server_ms", server_ms);
  append_seqs(out, votes);
  out += '}';
}

void append_public_decision(std::string& out, const TagKey& key, const PublicDecision& decision) {
  out += R"({"kind":"decision")";
  append_string_member(out, "campaign", decision.campaign);
  append_string_member(out, "action", decision.action);
  append_string_member(out, "author", decision.author);
  append_string_member(out, "reason", decision.reason);
  append_integer_member(out, "server_ms", decision.server_ms);
  if (!decision.candidate.empty()) append_string_member(out, "candidate", decision.candidate);
  if (decision.scope != engine::ClusterScope::none) {
    append_string_member(out, "scope", engine::to_string(decision.scope));
    append_tagged(out, "key", key, decision.cluster_key);
  }
  if (!decision.votes.empty()) append_seqs(out, decision.votes);
  out += '}';
}

}  // namespace tally::publog
