// What tallyd says about its tokens. See token_setup.h.
#include "token_setup.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "tally/base/quote_input.h"

namespace tally::tallyd {
namespace {

// Plaintext entries still work, but whoever reads the file (a backup, a support bundle) reads
// the tokens: one warning per load says how many there are and how to replace them.
void warn_of_plaintext(const std::string& path, const ingest::TokenSet& tokens) {
  if (const std::size_t count = ingest::plaintext_count(tokens); count > 0) {
    spdlog::warn(
        "tokens file path={} holds {} token(s) in plaintext: store their digests instead "
        "(tallyctl token hash < TOKEN_FILE prints one), then send SIGHUP",
        log_value(path), count);
  }
}

}  // namespace

void log_tokens_loaded(const ingest::StartTokens& start) {
  spdlog::info("tokens path={} generated={}", log_value(start.path), start.created);
  warn_of_plaintext(start.path, start.tokens);
  std::error_code error;
  if (start.created) {
    spdlog::warn(
        "tokens generated: path={} holds their digests; their plaintext is in generated={}, "
        "shown there once: copy the tokens you need, then delete that file",
        log_value(start.path), log_value(start.generated_path));
  } else if (std::filesystem::exists(start.generated_path, error)) {
    spdlog::warn(
        "tokens generated={} still holds generated tokens in plaintext: copy what you need, "
        "then delete it",
        log_value(start.generated_path));
  }
}

void reload_tokens(ingest::Tokens& tokens, const std::string& path) {
  auto reread = ingest::read_tokens_file(path);
  if (!reread.ok()) {
    spdlog::error("tokens reload failed path={} error={}: previous tokens kept", log_value(path),
                  log_value(reread.message()));
    return;
  }
  tokens.reload(*reread);
  spdlog::info("tokens reloaded path={} ingest={} admin={} read={}", log_value(path),
               reread->ingest.size(), reread->admin.size(), reread->read.size());
  warn_of_plaintext(path, *reread);
}

// The demo's curl line needs a token in plaintext; when tallyd knows none (tokens.generated was
// deleted, the file holds digests only), the line has a placeholder and says how to make one.
std::string demo_token(const ingest::StartTokens& start) {
  if (!start.known_ingest.empty()) return start.known_ingest;
  std::printf(
      "\nNo ingest token is known in plaintext: make one with\n"
      "  tallyctl token new --kind ingest --tokens %s\n"
      "then send tallyd SIGHUP and put the token in place of INGEST_TOKEN below.\n",
      start.path.c_str());
  return "INGEST_TOKEN";
}

}  // namespace tally::tallyd
