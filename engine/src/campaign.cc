// Campaign definitions: JSON in (validated, every error naming the field and the rule) and
// canonical JSON out. Contract: DESIGN.md, "Campaign".
#include "tally/engine/campaign.h"

#include <simdjson.h>

#include <limits>
#include <unordered_map>

#include "tally/base/json.h"
#include "tally/base/json_writer.h"
#include "tally/base/quote_input.h"
#include "tally/base/time.h"

namespace tally::engine {
namespace {

namespace dom = simdjson::dom;

// Larger definitions are refused before parsing. The canonical JSON of the largest valid
// campaign (kMaxCandidates candidates, every text at its limit, every byte escaped as \u00XX)
// stays below it, so campaign_to_json's output always parses again.
constexpr std::size_t kMaxCampaignJsonBytes = 16 * 1024 * 1024;
constexpr std::int64_t kMaxExpectedVoters = 1'000'000'000;

bool is_campaign_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_candidate_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

template <typename CharTest>
bool matches_id(std::string_view text, CharTest is_id_char) {
  if (text.empty() || text.size() > kMaxIdBytes) return false;
  for (char c : text) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

Status field_error(std::string_view path, std::string_view rule) {
  return Status::error(std::string(path) + ": " + std::string(rule));
}

// The field `key` of `object`, or nullopt when absent. A JSON null counts as absent only
// where the caller says so (optional fields).
std::optional<dom::element> find_field(dom::object object, std::string_view key) {
  dom::element element;
  if (object.at_key(key).get(element) != simdjson::SUCCESS) return std::nullopt;
  return element;
}

// A string field. Absent (or null when optional): nullopt for optional fields, an error for
// required ones.
Result<std::optional<std::string_view>> read_string(dom::object object, std::string_view key,
                                                    const std::string& path, bool required) {
  const std::optional<dom::element> element = find_field(object, key);
  if (!element || (!required && element->is_null())) {
    if (required) return field_error(path, "required");
    return std::optional<std::string_view>();
  }
  std::string_view text;
  if (element->get_string().get(text) != simdjson::SUCCESS) {
    return field_error(path, "must be a string");
  }
  // simdjson validates the whole document's UTF-8; this keeps the rule local and explicit.
  if (!is_valid_utf8(text)) return field_error(path, "not valid UTF-8");
  return std::optional<std::string_view>(text);
}

Result<std::string_view> required_string(dom::object object, std::string_view key,
                                         const std::string& path) {
  auto text = read_string(object, key, path, /*required=*/true);
  if (!text.ok()) return text.status();
  return **text;
}

// An integer field within min..max. Absent (or null when optional): nullopt for optional
// fields, an error for required ones.
Result<std::optional<std::int64_t>> read_integer(dom::object object, std::string_view key,
                                                 const std::string& path, bool required,
                                                 std::int64_t min, std::int64_t max) {
  const std::optional<dom::element> element = find_field(object, key);
  if (!element || (!required && element->is_null())) {
    if (required) return field_error(path, "required");
    return std::optional<std::int64_t>();
  }
  const std::string range = "must be " + std::to_string(min) + ".." + std::to_string(max);
  switch (element->type()) {
    case dom::element_type::INT64: {
      std::int64_t value = 0;
      if (element->get_int64().get(value) != simdjson::SUCCESS) break;
      if (value < min || value > max) {
        return field_error(path, range + ", got " + std::to_string(value));
      }
      return std::optional<std::int64_t>(value);
    }
    case dom::element_type::UINT64: {
      // Only integers above INT64_MAX are typed UINT64: always out of range.
      std::uint64_t value = 0;
      if (element->get_uint64().get(value) != simdjson::SUCCESS) break;
      return field_error(path, range + ", got " + std::to_string(value));
    }
    default: break;
  }
  return field_error(path, "must be an integer");
}

Result<std::int64_t> required_integer(dom::object object, std::string_view key,
                                      const std::string& path, std::int64_t min, std::int64_t max) {
  auto value = read_integer(object, key, path, /*required=*/true, min, max);
  if (!value.ok()) return value.status();
  return **value;
}

Result<std::int64_t> required_time(dom::object object, std::string_view key) {
  const std::string path(key);
  auto text = required_string(object, key, path);
  if (!text.ok()) return text.status();
  auto ms = parse_rfc3339_ms(*text);
  if (!ms.ok()) return field_error(path, "not an RFC 3339 time: " + ms.message());
  return *ms;
}

Status check_text_length(const std::string& path, std::string_view text, std::size_t min_bytes,
                         std::size_t max_bytes) {
  if (text.size() >= min_bytes && text.size() <= max_bytes) return Status();
  const std::string rule =
      min_bytes == 0
          ? "must be at most " + std::to_string(max_bytes) + " bytes"
          : "must be " + std::to_string(min_bytes) + ".." + std::to_string(max_bytes) + " bytes";
  return field_error(path, rule + ", got " + std::to_string(text.size()));
}

Result<Candidate> parse_candidate(dom::element element, std::size_t index) {
  const std::string path = "candidates[" + std::to_string(index) + "]";
  dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    return field_error(path, "must be an object");
  }
  Candidate candidate;

  auto id = required_string(object, "id", path + ".id");
  if (!id.ok()) return id.status();
  if (!matches_id(*id, is_candidate_id_char)) {
    return field_error(path + ".id", "must match [A-Za-z0-9_-]{1,64}, got " + quote_input(*id));
  }
  candidate.id = std::string(*id);

  auto name = required_string(object, "name", path + ".name");
  if (!name.ok()) return name.status();
  if (Status s = check_text_length(path + ".name", *name, 1, kMaxTextBytes); !s.ok()) return s;
  candidate.name = std::string(*name);

  for (auto [key, target] :
       {std::pair{"unit", &candidate.unit}, std::pair{"industry", &candidate.industry}}) {
    const std::string field_path = path + "." + key;
    auto text = read_string(object, key, field_path, /*required=*/false);
    if (!text.ok()) return text.status();
    if (!text->has_value()) continue;
    if (Status s = check_text_length(field_path, **text, 0, kMaxTextBytes); !s.ok()) return s;
    *target = std::string(**text);
  }
  return candidate;
}

Status parse_candidates(dom::object root, std::vector<Candidate>& candidates) {
  const std::optional<dom::element> element = find_field(root, "candidates");
  if (!element) return field_error("candidates", "required");
  dom::array array;
  if (element->get_array().get(array) != simdjson::SUCCESS) {
    return field_error("candidates", "must be an array");
  }
  const std::size_t count = array.size();
  if (count < 1 || count > kMaxCandidates) {
    return field_error("candidates", "must hold 1.." + std::to_string(kMaxCandidates) +
                                         " candidates, got " + std::to_string(count));
  }
  candidates.reserve(count);
  std::unordered_map<std::string_view, std::size_t> index_of_id;
  index_of_id.reserve(count);
  for (dom::element item : array) {
    const std::size_t index = candidates.size();
    auto candidate = parse_candidate(item, index);
    if (!candidate.ok()) return candidate.status();
    candidates.push_back(std::move(*candidate));
  }
  // Indexed after the vector stops growing, so the string_views stay valid.
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto [it, inserted] = index_of_id.emplace(candidates[i].id, i);
    if (!inserted) {
      return field_error("candidates[" + std::to_string(i) + "].id",
                         "duplicate of candidates[" + std::to_string(it->second) + "].id " +
                             quote_input(candidates[i].id));
    }
  }
  return Status();
}

// REQUIRES: candidate_count is the number of valid candidates (max_candidates is checked
// against it).
Result<Rules> parse_rules(dom::object root, std::size_t candidate_count) {
  const std::optional<dom::element> element = find_field(root, "rules");
  if (!element) return field_error("rules", "required");
  dom::object object;
  if (element->get_object().get(object) != simdjson::SUCCESS) {
    return field_error("rules", "must be an object");
  }
  Rules rules;
  auto period = required_string(object, "period", "rules.period");
  if (!period.ok()) return period.status();
  if (*period == "day") {
    rules.period = PeriodKind::day;
  } else if (*period == "campaign") {
    rules.period = PeriodKind::campaign;
  } else {
    return field_error("rules.period",
                       "must be \"day\" or \"campaign\", got " + quote_input(*period));
  }
  auto max_votes = required_integer(object, "max_votes_per_candidate",
                                    "rules.max_votes_per_candidate", 1, kMaxVotesPerCandidate);
  if (!max_votes.ok()) return max_votes.status();
  rules.max_votes_per_candidate = static_cast<std::uint32_t>(*max_votes);
  auto max_candidates = required_integer(object, "max_candidates", "rules.max_candidates", 1,
                                         static_cast<std::int64_t>(candidate_count));
  if (!max_candidates.ok()) return max_candidates.status();
  rules.max_candidates = static_cast<std::uint32_t>(*max_candidates);
  return rules;
}

// The optional "fraud" object: every field optional, defaults from FraudThresholds.
Result<FraudThresholds> parse_fraud(dom::object root) {
  FraudThresholds fraud;
  const std::optional<dom::element> element = find_field(root, "fraud");
  if (!element || element->is_null()) return fraud;
  dom::object object;
  if (element->get_object().get(object) != simdjson::SUCCESS) {
    return field_error("fraud", "must be an object");
  }
  struct Limit {
    const char* key;
    std::uint32_t* target;
    std::int64_t min;
    std::int64_t max;
  };
  const Limit limits[] = {
      {"window_s", &fraud.window_s, 10, 86'400},
      {"ip_lookalike_votes", &fraud.ip_lookalike_votes, 1, 1'000'000'000},
      {"subnet_lookalike_votes", &fraud.subnet_lookalike_votes, 1, 1'000'000'000},
      {"regular_votes", &fraud.regular_votes, 3, 1'000'000'000},
      {"device_max_voters", &fraud.device_max_voters, 1, 100},
      {"burst_factor", &fraud.burst_factor, 2, 1'000'000},
      {"burst_min_per_minute", &fraud.burst_min_per_minute, 1, 1'000'000'000},
      {"baseline_minutes", &fraud.baseline_minutes, 1, kMaxBaselineMinutes},
  };
  for (const Limit& limit : limits) {
    const std::string path = std::string("fraud.") + limit.key;
    auto value = read_integer(object, limit.key, path, /*required=*/false, limit.min, limit.max);
    if (!value.ok()) return value.status();
    if (value->has_value()) *limit.target = static_cast<std::uint32_t>(**value);
  }
  if (const std::optional<dom::element> reject = find_field(object, "reject");
      reject && !reject->is_null()) {
    dom::array array;
    if (reject->get_array().get(array) != simdjson::SUCCESS) {
      return field_error("fraud.reject", "must be an array of reasons");
    }
    std::size_t index = 0;
    for (dom::element item : array) {
      const std::string path = "fraud.reject[" + std::to_string(index++) + "]";
      std::string_view word;
      if (item.get_string().get(word) != simdjson::SUCCESS) {
        return field_error(path, "must be a string");
      }
      const std::optional<FraudReason> reason = fraud_reason_from_string(word);
      if (!reason) {
        return field_error(path,
                           "must be ip_flood, device_multi_account, burst, no_device or "
                           "bot_ua, got " +
                               quote_input(word));
      }
      fraud.reject |= flag_of(*reason);
    }
  }
  return fraud;
}

void append_fraud_json(JsonWriter& json, const FraudThresholds& fraud) {
  json.key("fraud").begin_object();
  const std::pair<const char*, std::uint32_t> fields[] = {
      {"window_s", fraud.window_s},
      {"ip_lookalike_votes", fraud.ip_lookalike_votes},
      {"subnet_lookalike_votes", fraud.subnet_lookalike_votes},
      {"regular_votes", fraud.regular_votes},
      {"device_max_voters", fraud.device_max_voters},
      {"burst_factor", fraud.burst_factor},
      {"burst_min_per_minute", fraud.burst_min_per_minute},
      {"baseline_minutes", fraud.baseline_minutes},
  };
  for (const auto& [key, value] : fields) json.key(key).integer(value);
  json.key("reject").begin_array();
  for (int i = 0; i < kFraudReasonCount; ++i) {
    const auto reason = static_cast<FraudReason>(i);
    if ((fraud.reject & flag_of(reason)) != 0) json.string(to_string(reason));
  }
  json.end_array();
  json.end_object();
}

}  // namespace

std::optional<std::uint32_t> Campaign::candidate_index(std::string_view candidate_id) const {
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].id == candidate_id) return static_cast<std::uint32_t>(i);
  }
  return std::nullopt;
}

std::int64_t Campaign::period_of(std::int64_t server_ms) const {
  switch (rules.period) {
    case PeriodKind::day: return local_day(server_ms, utc_offset_s);
    case PeriodKind::campaign: return 0;
  }
  return 0;
}

std::string_view Campaign::state_at(std::int64_t server_ms) const {
  if (server_ms < opens_at_ms) return "scheduled";
  if (server_ms < closes_at_ms) return "open";
  return "closed";
}

Result<Campaign> parse_campaign(std::string_view json) {
  if (json.size() > kMaxCampaignJsonBytes) {
    return Status::error("campaign: larger than " + std::to_string(kMaxCampaignJsonBytes) +
                         " bytes");
  }
  // The caller's buffer may end anywhere; simdjson reads SIMDJSON_PADDING bytes past the end.
  const simdjson::padded_string padded(json.data(), json.size());
  dom::parser parser;
  dom::element document;
  if (const auto error = parser.parse(padded).get(document); error != simdjson::SUCCESS) {
    return Status::error(std::string("campaign: not valid JSON (") +
                         simdjson::error_message(error) + ")");
  }
  dom::object root;
  if (document.get_object().get(root) != simdjson::SUCCESS) {
    return Status::error("campaign: must be a JSON object");
  }

  Campaign campaign;
  auto id = required_string(root, "id", "id");
  if (!id.ok()) return id.status();
  if (!matches_id(*id, is_campaign_id_char)) {
    return field_error("id", "must match [a-z0-9-]{1,64}, got " + quote_input(*id));
  }
  campaign.id = std::string(*id);

  auto title = read_string(root, "title", "title", /*required=*/false);
  if (!title.ok()) return title.status();
  if (title->has_value()) {
    if (Status s = check_text_length("title", **title, 0, kMaxTitleBytes); !s.ok()) return s;
    campaign.title = std::string(**title);
  }

  auto opens_at = required_time(root, "opens_at");
  if (!opens_at.ok()) return opens_at.status();
  campaign.opens_at_ms = *opens_at;
  auto closes_at = required_time(root, "closes_at");
  if (!closes_at.ok()) return closes_at.status();
  campaign.closes_at_ms = *closes_at;
  if (campaign.closes_at_ms <= campaign.opens_at_ms) {
    return field_error("closes_at", "must be after opens_at");
  }

  auto offset_text = required_string(root, "utc_offset", "utc_offset");
  if (!offset_text.ok()) return offset_text.status();
  auto offset = parse_utc_offset(*offset_text);
  if (!offset.ok()) return field_error("utc_offset", offset.message());
  campaign.utc_offset_s = *offset;

  if (Status s = parse_candidates(root, campaign.candidates); !s.ok()) return s;
  auto rules = parse_rules(root, campaign.candidates.size());
  if (!rules.ok()) return rules.status();
  campaign.rules = *rules;

  auto expected_voters = read_integer(root, "expected_voters", "expected_voters",
                                      /*required=*/false, 0, kMaxExpectedVoters);
  if (!expected_voters.ok()) return expected_voters.status();
  campaign.expected_voters = static_cast<std::uint64_t>(expected_voters->value_or(0));

  auto fraud = parse_fraud(root);
  if (!fraud.ok()) return fraud.status();
  campaign.fraud = *fraud;
  return campaign;
}

std::string campaign_to_json(const Campaign& campaign, std::string_view state) {
  std::string out;
  out.reserve(256 + campaign.title.size() + campaign.candidates.size() * 96);
  JsonWriter json(out);
  json.begin_object();
  json.key("id").string(campaign.id);
  json.key("title").string(campaign.title);
  json.key("opens_at").string(format_rfc3339(campaign.opens_at_ms, campaign.utc_offset_s));
  json.key("closes_at").string(format_rfc3339(campaign.closes_at_ms, campaign.utc_offset_s));
  json.key("utc_offset").string(format_utc_offset(campaign.utc_offset_s));
  json.key("rules").begin_object();
  json.key("period").string(campaign.rules.period == PeriodKind::day ? "day" : "campaign");
  json.key("max_votes_per_candidate").integer(campaign.rules.max_votes_per_candidate);
  json.key("max_candidates").integer(campaign.rules.max_candidates);
  json.end_object();
  json.key("candidates").begin_array();
  for (const Candidate& candidate : campaign.candidates) {
    json.begin_object();
    json.key("id").string(candidate.id);
    json.key("name").string(candidate.name);
    json.key("unit").string(candidate.unit);
    json.key("industry").string(candidate.industry);
    json.end_object();
  }
  json.end_array();
  if (campaign.expected_voters != 0) json.key("expected_voters").integer(campaign.expected_voters);
  if (campaign.fraud != FraudThresholds{}) append_fraud_json(json, campaign.fraud);
  if (!state.empty()) json.key("state").string(state);
  json.end_object();
  return out;
}

bool changes_counting(const Campaign& current, const Campaign& next) {
  return current.candidates != next.candidates || current.rules != next.rules ||
         current.utc_offset_s != next.utc_offset_s;
}

}  // namespace tally::engine
