// What tallyd says about its tokens: at start (where they came from, generated tokens shown
// once in tokens.generated, plaintext entries), at each SIGHUP reload, and the token the demo's
// curl line shows. Called from tallyd's main thread only. docs/INGEST.md "Tokens on disk".
#pragma once

#include <string>

#include "tally/ingest/tokens.h"

namespace tally::tallyd {

// Logs the tokens a start loaded or generated, and warns of plaintext on disk.
void log_tokens_loaded(const ingest::StartTokens& start);

// Re-reads `path` into `tokens` (SIGHUP); on error logs it and keeps the tokens in force.
void reload_tokens(ingest::Tokens& tokens, const std::string& path);

// An ingest token for the demo's curl line; when none is known in plaintext, prints on stdout
// how to make one and returns a placeholder.
std::string demo_token(const ingest::StartTokens& start);

}  // namespace tally::tallyd
