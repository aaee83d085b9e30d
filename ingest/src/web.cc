// Serving the embedded dashboard. See web.h.
#include "web.h"

#include <string>

namespace tally::ingest {
namespace {

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  if (name.ends_with(".png")) return "image/png";
  if (name.ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

std::optional<Answer> web_answer(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view name;
  if (path == "/" || path == "/index.html") {
    name = "index.html";
  } else if (path.starts_with("/web/")) {
    name = path.substr(5);
  } else {
    return std::nullopt;
  }
  for (const WebAsset& asset : web_assets()) {
    if (asset.name != name) continue;
    Answer answer;
    answer.content_type = content_type_of(name);
    answer.body = std::string(asset.bytes);
    return answer;
  }
  return std::nullopt;
}

}  // namespace tally::ingest
