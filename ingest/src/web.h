// The operators' dashboard (web/), compiled into the binary: GET / and GET /web/{file}.
//
// cmake/EmbedFiles.cmake generates web_assets.cc from web/ at build time, so tallyd needs no
// files at run time. Pure functions over constant data, safe everywhere.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "tally/ingest/answer.h"

namespace tally::ingest {

struct WebAsset {
  std::string_view name;  // file name in web/, e.g. "app.js"
  std::string_view bytes;
};

// Every embedded file (defined in the generated web_assets.cc).
std::span<const WebAsset> web_assets();

// The answer for `target` ("/", "/index.html" or "/web/{file}", query ignored); nullopt when
// there is no such file.
std::optional<Answer> web_answer(std::string_view target);

}  // namespace tally::ingest
