// Bearer tokens: file format, generation, constant-time checks. See tokens.h.
#include "tally/ingest/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <simdjson.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

Status read_list(simdjson::dom::element root, const char* kind, std::vector<std::string>& out) {
  simdjson::dom::element list;
  if (root[kind].get(list) != simdjson::SUCCESS) return {};  // absent: no token of this kind
  simdjson::dom::array array;
  if (list.get_array().get(array) != simdjson::SUCCESS) {
    return Status::error(std::string(kind) + ": must be an array of strings");
  }
  std::size_t index = 0;
  for (simdjson::dom::element item : array) {
    std::string_view token;
    const std::string where = std::string(kind) + "[" + std::to_string(index++) + "]";
    if (item.get_string().get(token) != simdjson::SUCCESS) {
      return Status::error(where + ": must be a string");
    }
    if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
      return Status::error(where + ": must be 16..256 characters");
    }
    for (const char c : token) {
      if (c <= ' ' || c > '~') {
        return Status::error(where + ": must be printable ASCII without spaces");
      }
    }
    out.emplace_back(token);
  }
  return {};
}

bool matches(const std::vector<std::string>& tokens, std::string_view presented) {
  bool found = false;
  // Every token is compared, so the time does not tell which one (if any) matched.
  for (const std::string& token : tokens) {
    if (token.size() == presented.size() &&
        CRYPTO_memcmp(token.data(), presented.data(), token.size()) == 0) {
      found = true;
    }
  }
  return found;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
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

}  // namespace

Result<TokenSet> parse_tokens(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::error("tokens: must be a JSON object {\"ingest\":[...],\"admin\":[...]}");
  }
  TokenSet tokens;
  if (auto status = read_list(root, "ingest", tokens.ingest); !status.ok()) return status;
  if (auto status = read_list(root, "admin", tokens.admin); !status.ok()) return status;
  if (auto status = read_list(root, "read", tokens.read); !status.ok()) return status;
  if (tokens.ingest.empty() && tokens.admin.empty()) {
    return Status::error("tokens: no ingest or admin token");
  }
  return tokens;
}

std::string tokens_to_json(const TokenSet& tokens) {
  std::string out = "{";
  const auto list = [&out](const char* kind, const std::vector<std::string>& list_tokens,
                           const char* after) {
    out += "\n  \"";
    out += kind;
    out += "\": [";
    for (std::size_t i = 0; i < list_tokens.size(); ++i) {
      if (i != 0) out += ", ";
      append_json_string(out, list_tokens[i]);
    }
    out += "]";
    out += after;
  };
  list("ingest", tokens.ingest, ",");
  list("admin", tokens.admin, ",");
  list("read", tokens.read, "\n}\n");
  return out;
}

Result<TokenSet> generate_tokens() {
  TokenSet tokens;
  std::string ingest = random_hex(kGeneratedTokenBytes);
  std::string admin = random_hex(kGeneratedTokenBytes);
  std::string read = random_hex(kGeneratedTokenBytes);
  if (ingest.empty() || admin.empty() || read.empty()) {
    return Status::error("tokens: RAND_bytes failed to generate random tokens");
  }
  tokens.ingest.push_back("ingest-" + ingest);
  tokens.admin.push_back("admin-" + admin);
  tokens.read.push_back("read-" + read);
  return tokens;
}

Tokens::Tokens(TokenSet initial) : sets_(std::make_unique<const TokenSet>(std::move(initial))) {}

Tokens::~Tokens() = default;

Status Tokens::load_file(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto parsed = parse_tokens(*text);
  if (!parsed.ok()) return Status::error(path + ": " + parsed.message());
  std::lock_guard lock(reload_mutex_);
  sets_.publish(std::make_unique<const TokenSet>(std::move(parsed).value()));
  return {};
}

TokenKind Tokens::check(std::string_view authorization) const {
  if (authorization.empty()) return TokenKind::none;
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      strncasecmp(authorization.data(), kBearer.data(), kBearer.size()) != 0) {
    return TokenKind::wrong;
  }
  std::string_view presented = authorization.substr(kBearer.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  const TokenSet* set = sets_.current();
  const bool admin = matches(set->admin, presented);
  const bool ingest = matches(set->ingest, presented);
  const bool read = matches(set->read, presented);
  if (admin) return TokenKind::admin;
  if (ingest) return TokenKind::ingest;
  if (read) return TokenKind::read;
  return TokenKind::wrong;
}

std::string Tokens::first_ingest() const {
  const TokenSet* set = sets_.current();
  return set->ingest.empty() ? std::string() : set->ingest.front();
}

Result<TokenSet> load_or_create_tokens(const std::string& tokens_path, const std::string& data_dir,
                                       std::string& used_path, bool& created) {
  created = false;
  if (!tokens_path.empty()) {
    used_path = tokens_path;
  } else {
    used_path = (std::filesystem::path(data_dir) / "tokens.json").string();
    std::error_code exists_error;
    if (!std::filesystem::exists(used_path, exists_error)) {
      auto tokens = generate_tokens();
      if (!tokens.ok()) return tokens;
      const std::string text = tokens_to_json(*tokens);
      const int fd = ::open(used_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        return Status::error(used_path + ": cannot create: " + std::strerror(errno));
      }
      const ssize_t written = ::write(fd, text.data(), text.size());
      const bool synced = ::fsync(fd) == 0;
      ::close(fd);
      if (written != static_cast<ssize_t>(text.size()) || !synced) {
        return Status::error(used_path + ": cannot write the generated tokens");
      }
      created = true;
      return tokens;
    }
  }
  auto text = read_file(used_path);
  if (!text.ok()) return text.status();
  auto parsed = parse_tokens(*text);
  if (!parsed.ok()) return Status::error(used_path + ": " + parsed.message());
  return parsed;
}

}  // namespace tally::ingest
