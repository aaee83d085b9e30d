// Routing table of DESIGN.md's HTTP API. See route.h.
#include "tally/ingest/route.h"

#include <charconv>

namespace tally::ingest {
namespace {

constexpr std::string_view kGetAndHead = "GET, HEAD";
constexpr std::string_view kCampaignAllow = "GET, HEAD, PUT";
constexpr std::string_view kDecisionsAllow = "GET, HEAD, POST";

bool takes(Method method, Method wanted) {
  return method == wanted || (method == Method::head && wanted == Method::get);
}

Route only(Method method, Method wanted, Endpoint endpoint, std::string_view allow) {
  Route result;
  if (takes(method, wanted)) {
    result.endpoint = endpoint;
  } else {
    result.endpoint = Endpoint::method_not_allowed;
    result.allow = allow;
  }
  return result;
}

// A read that other origins may make (cross_origin_readable()): OPTIONS is its preflight,
// which keeps the path's Allow for the 405 it is without CORS.
Route read_only(Method method, Endpoint endpoint, std::string_view allow = kGetAndHead) {
  if (method != Method::options) return only(method, Method::get, endpoint, allow);
  Route result;
  result.endpoint = Endpoint::preflight;
  result.allow = allow;
  return result;
}

}  // namespace

Route route(Method method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kCampaignPrefix = "/v1/campaigns/";
  constexpr std::string_view kVotePrefix = "/v1/votes/";

  if (path == "/v1/votes") return only(method, Method::post, Endpoint::vote, "POST");
  if (path == "/v1/votes:batch") return only(method, Method::post, Endpoint::vote_batch, "POST");
  if (path == "/v1/campaigns" || path == kCampaignPrefix) {
    return read_only(method, Endpoint::campaign_list);
  }
  if (path.starts_with(kCampaignPrefix)) {
    const std::string_view rest = path.substr(kCampaignPrefix.size());
    const std::size_t slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    if (id.empty()) return {};
    Route result;
    if (slash == std::string_view::npos) {
      if (takes(method, Method::get) || method == Method::options) {
        result = read_only(method, Endpoint::campaign_get, kCampaignAllow);
      } else if (method == Method::put) {
        result.endpoint = Endpoint::campaign_put;
      } else {
        result.endpoint = Endpoint::method_not_allowed;
        result.allow = kCampaignAllow;
      }
    } else {
      const std::string_view sub = rest.substr(slash);
      if (sub == "/tally") {
        result = read_only(method, Endpoint::tally);
      } else if (sub == "/tally/stream") {
        result = read_only(method, Endpoint::tally_stream);
      } else if (sub == "/fraud") {
        result = read_only(method, Endpoint::fraud);
      } else if (sub == "/decisions") {
        if (method == Method::post) {
          result.endpoint = Endpoint::decision_post;
        } else {
          result = read_only(method, Endpoint::decisions, kDecisionsAllow);
        }
      } else if (sub == "/history") {
        result = read_only(method, Endpoint::history);
      } else {
        return {};
      }
    }
    result.campaign_id = id;
    return result;
  }
  if (path == "/v1/log/key") return read_only(method, Endpoint::log_key);
  if (path == "/v1/log/checkpoint") return read_only(method, Endpoint::log_checkpoint);
  if (path == "/v1/log/proof") return read_only(method, Endpoint::log_proof);
  if (path == "/v1/log/consistency") return read_only(method, Endpoint::log_consistency);
  if (path.starts_with(kVotePrefix)) {
    std::string_view digits = path.substr(kVotePrefix.size());
    constexpr std::string_view kReceipt = "/receipt";
    const bool receipt = digits.ends_with(kReceipt);
    if (receipt) digits.remove_suffix(kReceipt.size());
    std::uint64_t seq = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        seq == 0) {
      return {};
    }
    Route result = receipt ? read_only(method, Endpoint::vote_receipt)
                           : only(method, Method::get, Endpoint::vote_event, kGetAndHead);
    result.seq = seq;
    return result;
  }
  if (path == "/metrics") return only(method, Method::get, Endpoint::metrics, kGetAndHead);
  if (path == "/healthz") return only(method, Method::get, Endpoint::healthz, kGetAndHead);
  if (path == "/readyz") return only(method, Method::get, Endpoint::readyz, kGetAndHead);
  if (path == "/v1/cluster") return only(method, Method::get, Endpoint::cluster, kGetAndHead);
  if (path == "/" || path == "/index.html" || path.starts_with("/web/")) {
    return only(method, Method::get, Endpoint::dashboard, kGetAndHead);
  }
  return {};
}

Access access_of(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::vote:
    case Endpoint::vote_batch: return Access::ingest;
    case Endpoint::campaign_put:
    case Endpoint::decision_post:
    case Endpoint::vote_event: return Access::admin;
    case Endpoint::dashboard:
    case Endpoint::preflight: return Access::open;
    default: return Access::read;
  }
}

bool cross_origin_readable(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::campaign_list:
    case Endpoint::campaign_get:
    case Endpoint::tally:
    case Endpoint::tally_stream:
    case Endpoint::fraud:
    case Endpoint::decisions:
    case Endpoint::history:
    case Endpoint::vote_receipt:
    case Endpoint::log_key:
    case Endpoint::log_checkpoint:
    case Endpoint::log_proof:
    case Endpoint::log_consistency:
    case Endpoint::preflight: return true;
    default: return false;
  }
}

std::string_view to_string(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::not_found: return "not_found";
    case Endpoint::method_not_allowed: return "method_not_allowed";
    case Endpoint::vote: return "vote";
    case Endpoint::vote_batch: return "vote_batch";
    case Endpoint::campaign_list: return "campaign_list";
    case Endpoint::campaign_get: return "campaign_get";
    case Endpoint::campaign_put: return "campaign_put";
    case Endpoint::tally: return "tally";
    case Endpoint::tally_stream: return "tally_stream";
    case Endpoint::fraud: return "fraud";
    case Endpoint::decisions: return "decisions";
    case Endpoint::decision_post: return "decision_post";
    case Endpoint::history: return "history";
    case Endpoint::vote_event: return "vote_event";
    case Endpoint::vote_receipt: return "vote_receipt";
    case Endpoint::log_key: return "log_key";
    case Endpoint::log_checkpoint: return "log_checkpoint";
    case Endpoint::log_proof: return "log_proof";
    case Endpoint::log_consistency: return "log_consistency";
    case Endpoint::metrics: return "metrics";
    case Endpoint::healthz: return "healthz";
    case Endpoint::readyz: return "readyz";
    case Endpoint::cluster: return "cluster";
    case Endpoint::dashboard: return "dashboard";
    case Endpoint::preflight: return "preflight";
  }
  return "unknown";
}

}  // namespace tally::ingest
