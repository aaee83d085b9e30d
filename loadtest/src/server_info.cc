#include "tally/loadtest/server_info.h"

#include <simdjson.h>

#include <set>

namespace tally::loadtest {
namespace {

// simdjson needs padded input; these documents are small and read once per run.
bool parse(simdjson::dom::parser& parser, std::string_view json, simdjson::dom::element& out) {
  return parser.parse(simdjson::padded_string(json)).get(out) == simdjson::SUCCESS;
}

std::optional<std::string> first_string(simdjson::dom::element root, const char* key) {
  simdjson::dom::array list;
  if (root[key].get_array().get(list) != simdjson::SUCCESS) return std::nullopt;
  for (simdjson::dom::element item : list) {
    std::string_view text;
    if (item.get_string().get(text) == simdjson::SUCCESS && !text.empty()) {
      return std::string(text);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> token_from_tokens_file(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (!parse(parser, json, root)) return std::nullopt;
  if (auto token = first_string(root, "ingest")) return token;
  return first_string(root, "admin");
}

std::vector<std::string> candidate_ids(std::string_view json) {
  std::vector<std::string> ids;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (!parse(parser, json, root)) return ids;
  simdjson::dom::array list;
  if (root["candidates"].get_array().get(list) != simdjson::SUCCESS &&
      root["campaign"]["candidates"].get_array().get(list) != simdjson::SUCCESS) {
    return ids;
  }
  for (simdjson::dom::element candidate : list) {
    std::string_view id;
    if (candidate["id"].get_string().get(id) == simdjson::SUCCESS) ids.emplace_back(id);
  }
  return ids;
}

std::optional<Tally> parse_tally(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (!parse(parser, json, root)) return std::nullopt;
  Tally tally;
  simdjson::dom::array list;
  if (root["total"].get_uint64().get(tally.total) != simdjson::SUCCESS ||
      root["candidates"].get_array().get(list) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  for (simdjson::dom::element candidate : list) {
    std::string_view id;
    std::uint64_t votes = 0;
    if (candidate["id"].get_string().get(id) != simdjson::SUCCESS ||
        candidate["votes"].get_uint64().get(votes) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    tally.votes[std::string(id)] = votes;
  }
  return tally;
}

Verification verify(const Tally& before, const Tally& after,
                    const std::vector<std::string>& candidates, const AnswerCounts& answers) {
  Verification result;
  result.accepted = answers.of(engine::VoteStatus::accepted);
  result.counted = after.total - before.total;
  if (after.total < before.total || result.counted != result.accepted) {
    result.ok = false;
    result.differences.push_back("total: tally grew by " +
                                 std::to_string(static_cast<std::int64_t>(result.counted)) +
                                 ", accepted answers " + std::to_string(result.accepted));
  }
  std::set<std::string> ids(candidates.begin(), candidates.end());
  for (const auto& [id, votes] : after.votes) ids.insert(id);
  for (const auto& [id, votes] : before.votes) ids.insert(id);
  for (const std::string& id : ids) {
    auto votes_of = [&id](const Tally& tally) {
      const auto at = tally.votes.find(id);
      return at == tally.votes.end() ? std::uint64_t{0} : at->second;
    };
    std::uint64_t accepted = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i] == id && i < answers.accepted_by_candidate.size()) {
        accepted += answers.accepted_by_candidate[i];
      }
    }
    const std::uint64_t grew = votes_of(after) - votes_of(before);
    if (votes_of(after) < votes_of(before) || grew != accepted) {
      result.ok = false;
      result.differences.push_back(id + ": tally grew by " +
                                   std::to_string(static_cast<std::int64_t>(grew)) +
                                   ", accepted answers " + std::to_string(accepted));
    }
  }
  return result;
}

}  // namespace tally::loadtest
