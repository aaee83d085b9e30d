// Bearer tokens: file format, digests, generation, constant-time checks. See tokens.h.
#include "tally/ingest/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <simdjson.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tally/base/json.h"

namespace tally::ingest {
namespace {

constexpr std::size_t kMinTokenChars = 16;
constexpr std::size_t kMaxTokenChars = 256;
constexpr std::size_t kDigestBytes = 32;
// "Bearer ", spaces and the longest token: a longer header is never a valid one, and a memo
// need not hold what a client could make as long as the header limit.
constexpr std::size_t kMaxMemoHeaderChars = 2 * kMaxTokenChars;
constexpr std::size_t kDigestHexChars = 2 * kDigestBytes;
constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// SHA-256 through EVP with the algorithm fetched once: EVP_sha256() would look it up in the
// provider tables again on every call (docs/BENCHMARKS.md "Token check").
const EVP_MD* sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

template <typename Digest>
void hash_into(std::string_view text, Digest& out) {
  static_assert(sizeof(out) == kDigestBytes);
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &length, sha256(), nullptr) != 1 ||
      length != kDigestBytes) {
    // Never matches a stored digest of a token: a failed hash must not let anyone in.
    out.fill(0);
  }
}

Status check_entry(std::string_view entry, const std::string& where) {
  if (is_digest_entry(entry)) {
    const std::string_view hex = entry.substr(kDigestPrefix.size());
    if (hex.size() != kDigestHexChars) {
      return Status::error(where + ": a sha256: digest must have 64 hex digits, got " +
                           std::to_string(hex.size()) + " characters");
    }
    for (const char c : hex) {
      if (hex_value(c) < 0) {
        return Status::error(where + ": a sha256: digest must have 64 hex digits, got a '" +
                             std::string(1, c) + "'");
      }
    }
    return {};
  }
  if (auto status = check_token(entry); !status.ok()) {
    return Status::error(where + ": " + status.message());
  }
  return {};
}

Status read_list(simdjson::dom::element root, const char* kind, std::vector<std::string>& out) {
  simdjson::dom::element list;
  if (root[kind].get(list) != simdjson::SUCCESS) return {};  // absent: no token of this kind
  simdjson::dom::array array;
  if (list.get_array().get(array) != simdjson::SUCCESS) {
    return Status::error(std::string(kind) + ": must be an array of strings");
  }
  std::size_t index = 0;
  for (simdjson::dom::element item : array) {
    std::string_view entry;
    const std::string where = std::string(kind) + "[" + std::to_string(index++) + "]";
    if (item.get_string().get(entry) != simdjson::SUCCESS) {
      return Status::error(where + ": must be a string");
    }
    if (auto status = check_entry(entry, where); !status.ok()) return status;
    out.emplace_back(entry);
  }
  return {};
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return {};
  std::string hex;
  hex.reserve(bytes * 2);
  for (const unsigned char b : raw) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Creates `path` with `text`, mode 0600; fails when it exists.
Status create_file(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error(path + ": cannot create: " + std::strerror(errno));
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size()) || !synced) {
    return Status::error(path + ": cannot write: " + std::strerror(errno));
  }
  return {};
}

// The first ingest token of DATA_DIR/tokens.generated that `tokens` accepts, or "".
std::string still_generated_ingest(const std::string& generated_path, const TokenSet& tokens) {
  std::error_code error;
  if (!std::filesystem::exists(generated_path, error)) return {};
  auto generated = read_tokens_file(generated_path);
  if (!generated.ok()) return {};
  const Tokens accepted(tokens);
  for (const std::string& token : generated->ingest) {
    if (is_digest_entry(token)) continue;
    const TokenKind kind = accepted.check("Bearer " + token);
    if (kind == TokenKind::ingest || kind == TokenKind::admin) return token;
  }
  return {};
}

}  // namespace

std::vector<std::string>* entries_of(TokenSet& tokens, std::string_view kind) {
  if (kind == "ingest") return &tokens.ingest;
  if (kind == "admin") return &tokens.admin;
  if (kind == "read") return &tokens.read;
  return nullptr;
}

std::string token_digest(std::string_view token) {
  std::array<unsigned char, kDigestBytes> digest{};
  hash_into(token, digest);
  std::string out(kDigestPrefix);
  for (const unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Status check_token(std::string_view token) {
  if (is_digest_entry(token)) return Status::error("a token must not start with \"sha256:\"");
  if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
    return Status::error("a token must have 16..256 characters, got " +
                         std::to_string(token.size()));
  }
  for (const char c : token) {
    if (c <= ' ' || c > '~') return Status::error("a token must be printable ASCII without spaces");
  }
  return {};
}

bool is_digest_entry(std::string_view entry) { return entry.starts_with(kDigestPrefix); }

std::size_t plaintext_count(const TokenSet& tokens) {
  std::size_t count = 0;
  for (const auto* list : {&tokens.ingest, &tokens.admin, &tokens.read}) {
    for (const std::string& entry : *list) count += is_digest_entry(entry) ? 0 : 1;
  }
  return count;
}

TokenSet digests_of(const TokenSet& plaintext) {
  TokenSet out;
  for (const std::string& token : plaintext.ingest) out.ingest.push_back(token_digest(token));
  for (const std::string& token : plaintext.admin) out.admin.push_back(token_digest(token));
  for (const std::string& token : plaintext.read) out.read.push_back(token_digest(token));
  return out;
}

Result<TokenSet> parse_token_entries(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::error("tokens: must be a JSON object {\"ingest\":[...],\"admin\":[...]}");
  }
  TokenSet tokens;
  if (auto status = read_list(root, "ingest", tokens.ingest); !status.ok()) return status;
  if (auto status = read_list(root, "admin", tokens.admin); !status.ok()) return status;
  if (auto status = read_list(root, "read", tokens.read); !status.ok()) return status;
  return tokens;
}

Result<TokenSet> parse_tokens(std::string_view json) {
  auto tokens = parse_token_entries(json);
  if (tokens.ok() && tokens->ingest.empty() && tokens->admin.empty()) {
    return Status::error("tokens: no ingest or admin token");
  }
  return tokens;
}

std::string tokens_to_json(const TokenSet& tokens) {
  std::string out = "{";
  const auto list = [&out](const char* kind, const std::vector<std::string>& entries,
                           const char* after) {
    out += "\n  \"";
    out += kind;
    out += "\": [";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i != 0) out += ", ";
      append_json_string(out, entries[i]);
    }
    out += "]";
    out += after;
  };
  list("ingest", tokens.ingest, ",");
  list("admin", tokens.admin, ",");
  list("read", tokens.read, "\n}\n");
  return out;
}

Result<std::string> generate_token(std::string_view kind) {
  const std::string random = random_hex(kGeneratedTokenBytes);
  if (random.empty()) return Status::error("tokens: RAND_bytes failed to generate a token");
  return std::string(kind) + "-" + random;
}

Result<TokenSet> generate_tokens() {
  TokenSet tokens;
  for (const char* kind : {"ingest", "admin", "read"}) {
    auto token = generate_token(kind);
    if (!token.ok()) return token.status();
    entries_of(tokens, kind)->push_back(std::move(token).value());
  }
  return tokens;
}

Result<TokenSet> read_tokens_file(const std::string& path, bool whole) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto parsed = whole ? parse_tokens(*text) : parse_token_entries(*text);
  if (!parsed.ok()) return Status::error(path + ": " + parsed.message());
  return parsed;
}

Status replace_file(const std::string& path, std::string_view text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  // mkstemp creates the file 0600, before any byte of it is written.
  const int fd = ::mkstemp(temp.data());
  if (fd < 0)
    return Status::error(path + ": cannot create a file beside it: " + std::strerror(errno));
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0) {
    // The reader of the old file (tallyd's user or group) must read the new one; nobody else.
    static_cast<void>(::fchown(fd, old.st_uid, old.st_gid));  // allowed or not, 0600 is safe
    ::fchmod(fd, old.st_mode & (S_IRUSR | S_IWUSR | S_IRGRP));
  }
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size()) || !synced ||
      ::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    return Status::error(path + ": cannot write: " + reason);
  }
  // The rename is durable once the directory's entry is.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

Tokens::Tokens(const TokenSet& initial) : sets_(digests_for(initial)) {}

Tokens::~Tokens() = default;

std::unique_ptr<const Tokens::Digests> Tokens::digests_for(const TokenSet& tokens) {
  auto digests = std::make_unique<Digests>();
  const auto convert = [](const std::vector<std::string>& entries, std::vector<Digest>& out) {
    for (const std::string& entry : entries) {
      Digest digest{};
      const std::string_view hex =
          std::string_view(entry).substr(std::min(entry.size(), kDigestPrefix.size()));
      if (is_digest_entry(entry) && hex.size() == kDigestHexChars) {
        for (std::size_t i = 0; i < kDigestBytes; ++i) {
          digest[i] = static_cast<unsigned char>((std::max(hex_value(hex[2 * i]), 0) << 4) |
                                                 std::max(hex_value(hex[2 * i + 1]), 0));
        }
      } else {
        hash_into(entry, digest);  // a plaintext entry
      }
      out.push_back(digest);
    }
  };
  convert(tokens.ingest, digests->ingest);
  convert(tokens.admin, digests->admin);
  convert(tokens.read, digests->read);
  return digests;
}

void Tokens::reload(const TokenSet& tokens) {
  auto next = digests_for(tokens);
  std::lock_guard lock(reload_mutex_);
  sets_.publish(std::move(next));
}

namespace {

// Every digest is compared, each over all its bytes (CRYPTO_memcmp), so the time tells neither
// which one matched nor how much of one did. A lookup in a hash set keyed by digest would be as
// safe: what timing could reveal is the digest, and a digest of a random 192-bit token gives
// away nothing about the token. The scan is kept because the sets are a handful of entries.
template <typename Digest>
bool matches(const std::vector<Digest>& digests, const Digest& presented) {
  bool found = false;
  for (const Digest& digest : digests) {
    found |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
  }
  return found;
}

}  // namespace

TokenKind Tokens::check(std::string_view authorization) const {
  return check_against(*sets_.current(), authorization);
}

TokenKind Tokens::check(std::string_view authorization, TokenMemo& memo) const {
  const Digests* set = sets_.current();
  // A set's address names it for as long as this object lives: Published keeps every version
  // it published, so no later set can take the address of one a memo holds.
  if (memo.set_ == set && memo.header_.size() == authorization.size() &&
      CRYPTO_memcmp(memo.header_.data(), authorization.data(), authorization.size()) == 0) {
    return memo.kind_;
  }
  const TokenKind kind = check_against(*set, authorization);
  if (authorization.size() <= kMaxMemoHeaderChars) {
    memo.header_.assign(authorization);  // reuses its buffer: no allocation after the first
    memo.set_ = set;
    memo.kind_ = kind;
  }
  return kind;
}

TokenKind Tokens::check_against(const Digests& set, std::string_view authorization) {
  if (authorization.empty()) return TokenKind::none;
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      strncasecmp(authorization.data(), kBearer.data(), kBearer.size()) != 0) {
    return TokenKind::wrong;
  }
  std::string_view presented = authorization.substr(kBearer.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  if (presented.size() < kMinTokenChars || presented.size() > kMaxTokenChars) {
    return TokenKind::wrong;  // no stored token has that length: no hash needed
  }
  Digest digest{};
  hash_into(presented, digest);
  const bool admin = matches(set.admin, digest);
  const bool ingest = matches(set.ingest, digest);
  const bool read = matches(set.read, digest);
  if (admin) return TokenKind::admin;
  if (ingest) return TokenKind::ingest;
  if (read) return TokenKind::read;
  return TokenKind::wrong;
}

Result<StartTokens> load_or_create_tokens(const std::string& tokens_path,
                                          const std::string& data_dir) {
  StartTokens start;
  const std::filesystem::path dir(data_dir);
  start.generated_path = (dir / kGeneratedTokensFile).string();
  if (!tokens_path.empty()) {
    start.path = tokens_path;
  } else {
    start.path = (dir / "tokens.json").string();
    std::error_code exists_error;
    if (!std::filesystem::exists(start.path, exists_error)) {
      auto generated = generate_tokens();
      if (!generated.ok()) return generated.status();
      // The plaintext first: a crash before tokens.json exists generates both again at the
      // next start, and never leaves digests whose tokens nobody was shown.
      if (auto status = replace_file(start.generated_path, tokens_to_json(*generated));
          !status.ok()) {
        return status;
      }
      start.tokens = digests_of(*generated);
      if (auto status = create_file(start.path, tokens_to_json(start.tokens)); !status.ok()) {
        return status;
      }
      start.created = true;
      start.known_ingest = generated->ingest.front();
      return start;
    }
  }
  auto parsed = read_tokens_file(start.path);
  if (!parsed.ok()) return parsed.status();
  start.tokens = std::move(parsed).value();
  for (const std::string& entry : start.tokens.ingest) {
    if (!is_digest_entry(entry)) {
      start.known_ingest = entry;
      break;
    }
  }
  if (start.known_ingest.empty()) {
    start.known_ingest = still_generated_ingest(start.generated_path, start.tokens);
  }
  return start;
}

}  // namespace tally::ingest
