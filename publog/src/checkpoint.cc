#include "tally/publog/checkpoint.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <cstring>

#include "tally/base/json_writer.h"
#include "hex.h"

namespace tally::publog {

namespace {

constexpr char kMessageHead[] = "tally checkpoint v1\n";

std::shared_ptr<void> own(EVP_PKEY* key) {
  return std::shared_ptr<void>(key, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}
EVP_PKEY* raw(const std::shared_ptr<void>& key) { return static_cast<EVP_PKEY*>(key.get()); }

std::unique_ptr<BIO, decltype(&BIO_free)> memory_bio(std::string_view bytes) {
  return {BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())), &BIO_free};
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

bool is_ed25519(EVP_PKEY* key) { return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519; }

std::string log_id_of(EVP_PKEY* key) {
  std::uint8_t bytes[32];
  std::size_t length = sizeof bytes;
  if (EVP_PKEY_get_raw_public_key(key, bytes, &length) != 1 || length != sizeof bytes) return {};
  Hash digest;
  SHA256(bytes, length, digest.data());
  return to_hex(digest);
}

}  // namespace

std::string checkpoint_message(const Checkpoint& checkpoint) {
  std::string out = kMessageHead;
  out += checkpoint.log_id;
  out += '\n';
  out += std::to_string(checkpoint.size);
  out += '\n';
  out += to_hex(checkpoint.root);
  out += '\n';
  out += std::to_string(checkpoint.time_ms);
  out += '\n';
  return out;
}

std::string to_hex(const Signature& signature) {
  std::string out;
  internal::append_hex(out, signature.data(), signature.size());
  return out;
}

std::string checkpoint_json(const Checkpoint& checkpoint) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("log_id").string(checkpoint.log_id);
  json.key("size").integer(checkpoint.size);
  json.key("root").string(to_hex(checkpoint.root));
  json.key("time_ms").integer(checkpoint.time_ms);
  json.key("signature").string(to_hex(checkpoint.signature));
  json.end_object();
  return out;
}

Result<Checkpoint> parse_checkpoint(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
    return Status::error("checkpoint: not a JSON document");
  }
  simdjson::dom::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return Status::error("checkpoint: not a JSON object");
  }
  Checkpoint checkpoint;
  std::string_view text;
  if (object["log_id"].get_string().get(text) != simdjson::SUCCESS || text.size() != 64) {
    return Status::error("checkpoint: log_id: must be 64 hex digits");
  }
  checkpoint.log_id = std::string(text);
  if (object["size"].get_uint64().get(checkpoint.size) != simdjson::SUCCESS) {
    return Status::error("checkpoint: size: must be a non-negative integer");
  }
  if (object["root"].get_string().get(text) != simdjson::SUCCESS ||
      !parse_hex(text, checkpoint.root)) {
    return Status::error("checkpoint: root: must be 64 hex digits");
  }
  if (object["time_ms"].get_int64().get(checkpoint.time_ms) != simdjson::SUCCESS) {
    return Status::error("checkpoint: time_ms: must be an integer");
  }
  if (object["signature"].get_string().get(text) != simdjson::SUCCESS ||
      !internal::parse_hex(text, checkpoint.signature.data(), checkpoint.signature.size())) {
    return Status::error("checkpoint: signature: must be 128 hex digits");
  }
  return checkpoint;
}

Result<PublicKey> PublicKey::from_pem(std::string_view pem) {
  // A public key only: a private key where a public one belongs is a key about to be published
  // (OpenSSL's reader would skip a private block and take a public one after it).
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return Status::error("public key: the file holds a private key");
  }
  auto bio = memory_bio(pem);
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return Status::error("public key: not a PEM public key");
  PublicKey out;
  out.key_ = own(key);
  if (!is_ed25519(key)) return Status::error("public key: not an Ed25519 key");
  out.log_id_ = log_id_of(key);
  return out;
}

std::string PublicKey::pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PUBKEY(bio.get(), raw(key_)) != 1) return {};
  return bio_text(bio.get());
}

bool PublicKey::verifies(const Checkpoint& checkpoint) const {
  if (checkpoint.log_id != log_id_) return false;
  const std::string message = checkpoint_message(checkpoint);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, raw(key_)) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), checkpoint.signature.data(), checkpoint.signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

Result<SigningKey> SigningKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return Status::error("log key: Ed25519 key generation failed");
  SigningKey out;
  out.key_ = own(key);
  out.public_key_.key_ = out.key_;
  out.public_key_.log_id_ = log_id_of(key);
  return out;
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem) {
  auto bio = memory_bio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return Status::error("log key: not a PEM private key");
  SigningKey out;
  out.key_ = own(key);
  if (!is_ed25519(key)) return Status::error("log key: not an Ed25519 key");
  out.public_key_.key_ = out.key_;
  out.public_key_.log_id_ = log_id_of(key);
  return out;
}

std::string SigningKey::private_pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PrivateKey(bio.get(), raw(key_), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bio_text(bio.get());
}

Result<Checkpoint> SigningKey::sign(std::uint64_t size, const Hash& root,
                                    std::int64_t time_ms) const {
  Checkpoint checkpoint;
  checkpoint.log_id = public_key_.log_id();
  checkpoint.size = size;
  checkpoint.root = root;
  checkpoint.time_ms = time_ms;
  const std::string message = checkpoint_message(checkpoint);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t length = checkpoint.signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, raw(key_)) != 1 ||
      EVP_DigestSign(ctx.get(), checkpoint.signature.data(), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      length != checkpoint.signature.size()) {
    return Status::error("log key: signing the checkpoint failed");
  }
  return checkpoint;
}

}  // namespace tally::publog
