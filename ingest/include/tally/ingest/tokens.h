// Tokens: the bearer tokens that authorize ingest and admin calls (DESIGN.md "Auth"), and reads
// when they are protected (--protect-reads). docs/INGEST.md "Tokens on disk" has the file format.
//
// The tokens file {"ingest":[...],"admin":[...],"read":[...]} holds each token's SHA-256 digest
// ("sha256:" and 64 hex digits), so that whoever reads the file (a backup, a support bundle)
// learns no token; older and hand-written files may hold tokens in plaintext, which still work.
// tallyd generates DATA_DIR/tokens.json when no --tokens file is given, and shows the generated
// tokens once, in DATA_DIR/tokens.generated; reload() re-reads the file on SIGHUP. check() is
// safe for concurrent use with reload() and lock-free: readers load the current set with acquire
// (pairing with reload()'s release store); replaced sets are kept until the Tokens object dies,
// because a reader may still hold one and reloads are rare (one per SIGHUP).
#pragma once

#include <array>
#include <cstdint>
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
// How a digest entry starts; 64 hex digits of SHA-256 follow.
inline constexpr std::string_view kDigestPrefix = "sha256:";
// The file tallyd writes the plaintext of the tokens it generates to, beside tokens.json.
inline constexpr std::string_view kGeneratedTokensFile = "tokens.generated";

// A tokens file's entries, per kind: digests ("sha256:<64 hex>") or tokens in plaintext.
struct TokenSet {
  std::vector<std::string> ingest;
  std::vector<std::string> admin;
  // For dashboards and the committee's members: a token that can watch cannot vote.
  std::vector<std::string> read;
};

// The entries of one kind ("ingest", "admin" or "read"); nullptr for another word.
std::vector<std::string>* entries_of(TokenSet& tokens, std::string_view kind);

// "sha256:" and the lowercase hex SHA-256 of `token`: how the tokens file stores it.
std::string token_digest(std::string_view token);
// Checks a token in plaintext: 16..256 printable ASCII characters without spaces, not starting
// with "sha256:". The error says which rule it breaks.
Status check_token(std::string_view token);
// True when `entry` starts with "sha256:" (and so must be a well-formed digest).
bool is_digest_entry(std::string_view entry);
// The entries that are tokens in plaintext rather than digests.
std::size_t plaintext_count(const TokenSet& tokens);
// `plaintext` with every token replaced by its digest.
TokenSet digests_of(const TokenSet& plaintext);

// Parses the tokens file's JSON. Every entry must be a digest ("sha256:" and 64 hex digits) or
// a token of 16..256 printable ASCII characters; "read" may be absent, and an ingest or admin
// entry is required.
Result<TokenSet> parse_tokens(std::string_view json);
// Like parse_tokens, without requiring an ingest or admin entry: for a file being built up.
Result<TokenSet> parse_token_entries(std::string_view json);
// {"ingest":[...],"admin":[...],"read":[...]} with one line per kind.
std::string tokens_to_json(const TokenSet& tokens);
// A random token of `kind`: "KIND-" and kGeneratedTokenBytes random bytes in hex (OpenSSL
// RAND_bytes).
Result<std::string> generate_token(std::string_view kind);
// One ingest, one admin and one read token from generate_token, in plaintext.
Result<TokenSet> generate_tokens();

// Reads and parses `path` (parse_tokens; `whole` false: parse_token_entries). Errors name it.
Result<TokenSet> read_tokens_file(const std::string& path, bool whole = true);
// Replaces `path` with `text` atomically: a temporary file beside it (mode 0600, or the mode
// the file had without other users' bits, and its owner where allowed), fsync, rename, fsync of
// the directory. A crash leaves the old file or the new one, never a mix.
Status replace_file(const std::string& path, std::string_view text);

// What one keep-alive connection remembers of the last Authorization header it had checked,
// so that the same header again costs a comparison instead of a SHA-256. Not thread-safe: one
// per connection, whose handlers never run at once.
class TokenMemo {
 public:
  TokenMemo() = default;

 private:
  friend class Tokens;
  std::string header_;         // the header's bytes, as the client sent them
  const void* set_ = nullptr;  // the token set they were checked against
  TokenKind kind_ = TokenKind::none;
};

class Tokens {
 public:
  explicit Tokens(const TokenSet& initial);
  ~Tokens();
  Tokens(const Tokens&) = delete;
  Tokens& operator=(const Tokens&) = delete;

  // Makes `tokens` the current set (entries as parse_tokens checks them).
  void reload(const TokenSet& tokens);

  // Classifies an Authorization header value ("Bearer TOKEN"); empty = no header. Costs one
  // SHA-256 of the token (docs/BENCHMARKS.md "Token check").
  TokenKind check(std::string_view authorization) const;
  // check(), answered from `memo` when it holds the same header bytes checked against the set
  // in force now; else checked, and remembered in `memo`. A reload makes every memo stale.
  TokenKind check(std::string_view authorization, TokenMemo& memo) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Digests {
    std::vector<Digest> ingest;
    std::vector<Digest> admin;
    std::vector<Digest> read;
  };
  static std::unique_ptr<const Digests> digests_for(const TokenSet& tokens);
  static TokenKind check_against(const Digests& set, std::string_view authorization);

  std::mutex reload_mutex_;  // reloads only
  Published<Digests> sets_;
};

// What a tallyd start reads or creates: the tokens in force and where they came from.
struct StartTokens {
  TokenSet tokens;
  std::string path;  // the file SIGHUP re-reads
  // True when the tokens were generated at this start: `path` then holds their digests and
  // `generated_path` their plaintext.
  bool created = false;
  std::string generated_path;
  // An ingest token whose plaintext is known (generated now, a plaintext entry, or one in a
  // tokens.generated file still there that the set accepts), for the demo's curl line; empty
  // when none is.
  std::string known_ingest;
};

// Loads the tokens of a tallyd start: `tokens_path` when not empty; else
// `data_dir`/tokens.json, which when absent is created holding the digests of fresh random
// tokens, whose plaintext goes to `data_dir`/tokens.generated (both mode 0600).
Result<StartTokens> load_or_create_tokens(const std::string& tokens_path,
                                          const std::string& data_dir);

}  // namespace tally::ingest
