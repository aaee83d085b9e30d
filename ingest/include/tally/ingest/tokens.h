// Tokens: the bearer tokens that authorize ingest and admin calls (DESIGN.md "Auth"), and reads
// when they are protected (--protect-reads).
//
// Loaded from a JSON file {"ingest":["..."],"admin":["..."],"read":["..."]}; tallyd generates one
// at DATA_DIR/tokens.json (mode 0600) when no --tokens file is given, and reload() re-reads it on
// SIGHUP. check() is safe for concurrent use with reload() and lock-free: readers load the current
// set with acquire (pairing with reload()'s release store); replaced sets are kept until the Tokens
// object dies, because a reader may still hold one and reloads are rare (one per SIGHUP). Tokens
// are compared in constant time (CRYPTO_memcmp); a token's length is not treated as secret.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/published.h"
#include "tally/base/status.h"

namespace tally::ingest {

enum class TokenKind : std::uint8_t {
  none,    // no Authorization header
  wrong,   // a header with no valid token in it
  read,    // may read (tallies, fraud views, metrics) when reads are protected; nothing else
  ingest,  // may post votes, and read
  admin,   // may post votes, call admin endpoints, and read
};

// Random token bytes before hex encoding.
inline constexpr std::size_t kGeneratedTokenBytes = 24;

struct TokenSet {
  std::vector<std::string> ingest;
  std::vector<std::string> admin;
  // For dashboards and the committee's members: a token that can watch cannot vote.
  std::vector<std::string> read;
};

// Parses the tokens file's JSON. Every token must be 16..256 printable ASCII characters; "read"
// may be absent, and an ingest or admin token is required.
Result<TokenSet> parse_tokens(std::string_view json);
// {"ingest":[...],"admin":[...],"read":[...]} with one line per kind.
std::string tokens_to_json(const TokenSet& tokens);
// One ingest, one admin and one read token of kGeneratedTokenBytes random bytes (OpenSSL
// RAND_bytes).
Result<TokenSet> generate_tokens();

class Tokens {
 public:
  explicit Tokens(TokenSet initial);
  ~Tokens();
  Tokens(const Tokens&) = delete;
  Tokens& operator=(const Tokens&) = delete;

  // Reads `path` (see parse_tokens) and makes it the current set; on error the current set
  // stays in force.
  Status load_file(const std::string& path);

  // Classifies an Authorization header value ("Bearer TOKEN"); empty = no header.
  TokenKind check(std::string_view authorization) const;

  // The first ingest token, for the demo's curl line. Empty when there is none.
  std::string first_ingest() const;

 private:
  std::mutex reload_mutex_;  // reloads only
  Published<TokenSet> sets_;
};

// Loads the tokens of a tallyd start: `tokens_path` when not empty; else
// `data_dir`/tokens.json, created with fresh random tokens and mode 0600 when absent.
// On success `used_path` is the file that was read or written (what SIGHUP reloads) and
// `created` says whether it was generated now.
Result<TokenSet> load_or_create_tokens(const std::string& tokens_path, const std::string& data_dir,
                                       std::string& used_path, bool& created);

}  // namespace tally::ingest
