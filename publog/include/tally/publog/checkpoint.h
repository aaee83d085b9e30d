// Signed checkpoints of the public log (docs/EVENT_FORMAT.md "Checkpoint"): the log id, the
// tree size, the root and the server time, signed with the log's Ed25519 key (OpenSSL).
//
// - SigningKey: the log's private key, loaded from or created as a PKCS#8 PEM file (what
//   `openssl genpkey -algorithm ed25519` writes). Signs checkpoints.
// - PublicKey: its public half (SubjectPublicKeyInfo PEM, what `openssl pkey -pubout`
//   writes). Verifies them. log_id() = hex SHA-256 of the 32 raw key bytes.
//
// Keys are immutable once made: safe for concurrent use. Checkpoint is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tally/base/status.h"
#include "tally/publog/merkle.h"

namespace tally::publog {

inline constexpr std::size_t kSignatureBytes = 64;
using Signature = std::array<std::uint8_t, kSignatureBytes>;

struct Checkpoint {
  std::string log_id;  // 64 hex digits
  std::uint64_t size = 0;
  Hash root{};
  std::int64_t time_ms = 0;  // server time of the signature, ms since the Unix epoch
  Signature signature{};
  bool operator==(const Checkpoint&) const = default;
};

// The bytes a checkpoint's signature covers:
// "tally checkpoint v1\n" log_id "\n" size "\n" root-hex "\n" time_ms "\n".
std::string checkpoint_message(const Checkpoint& checkpoint);

// {"log_id","size","root","time_ms","signature"} (root and signature in lowercase hex).
std::string checkpoint_json(const Checkpoint& checkpoint);
// The inverse; an error names the field.
Result<Checkpoint> parse_checkpoint(std::string_view json);

class PublicKey {
 public:
  // From a PEM public key (SubjectPublicKeyInfo); a private key is refused.
  static Result<PublicKey> from_pem(std::string_view pem);
  std::string pem() const;
  const std::string& log_id() const { return log_id_; }
  // Whether `checkpoint` carries this key's log id and a valid signature of it.
  bool verifies(const Checkpoint& checkpoint) const;

 private:
  friend class SigningKey;
  std::shared_ptr<void> key_;  // EVP_PKEY
  std::string log_id_;
};

class SigningKey {
 public:
  // A new random key.
  static Result<SigningKey> generate();
  static Result<SigningKey> from_pem(std::string_view pem);
  // PKCS#8 PEM: secret.
  std::string private_pem() const;
  const PublicKey& public_key() const { return public_key_; }
  // Signs a checkpoint of `size` leaves with root `root` at `time_ms`.
  Result<Checkpoint> sign(std::uint64_t size, const Hash& root, std::int64_t time_ms) const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
  PublicKey public_key_;
};

std::string to_hex(const Signature& signature);

}  // namespace tally::publog
