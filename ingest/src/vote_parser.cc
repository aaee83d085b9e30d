// Ballot parsing with simdjson On-Demand (error codes only). See vote_parser.h.
#include "tally/ingest/vote_parser.h"

#include <simdjson.h>

#include <cstring>
#include <memory>
#include <utility>

namespace tally::ingest {
namespace {

// Reads a string field; a JSON null counts as absent. Returns the error for the field.
std::string_view read_string(simdjson::ondemand::value& value, std::string_view& out,
                             std::string_view type_error) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return "body: not valid JSON";
  if (type == simdjson::ondemand::json_type::null) {
    out = {};
    return {};
  }
  if (type != simdjson::ondemand::json_type::string) return type_error;
  if (value.get_string().get(out) != simdjson::SUCCESS) return "body: not valid JSON";
  return {};
}

}  // namespace

struct VoteParser::Impl {
  simdjson::ondemand::parser parser;
  // The input copied with simdjson's padding behind it; grows to the largest input seen.
  std::unique_ptr<char[]> padded;
  std::size_t padded_capacity = 0;
};

VoteParser::VoteParser() : impl_(std::make_unique<Impl>()) {}
VoteParser::~VoteParser() = default;

ParsedBallot VoteParser::parse(std::string_view json, std::string_view peer_ip) {
  ParsedBallot result;
  engine::Ballot& ballot = result.ballot;

  const std::size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
  if (needed > impl_->padded_capacity) {
    impl_->padded_capacity = needed < 4096 ? 4096 : needed;
    impl_->padded = std::make_unique<char[]>(impl_->padded_capacity);
  }
  std::memcpy(impl_->padded.get(), json.data(), json.size());
  std::memset(impl_->padded.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);

  simdjson::ondemand::document doc;
  const auto iterate_error =
      impl_->parser.iterate(impl_->padded.get(), json.size(), impl_->padded_capacity).get(doc);
  if (iterate_error == simdjson::UTF8_ERROR) {
    result.error = "body: not valid UTF-8";
    return result;
  }
  if (iterate_error != simdjson::SUCCESS) {
    result.error = "body: not valid JSON";
    return result;
  }
  simdjson::ondemand::object object;
  if (const auto error = doc.get_object().get(object); error != simdjson::SUCCESS) {
    result.error =
        error == simdjson::INCORRECT_TYPE ? "body: must be a JSON object" : "body: not valid JSON";
    return result;
  }

  for (auto field_result : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(field_result).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      result.error = "body: not valid JSON";
      return result;
    }
    simdjson::ondemand::value value = field.value();
    std::string_view error;
    if (key == "campaign") {
      error = read_string(value, ballot.campaign, "campaign: must be a string");
    } else if (key == "candidate") {
      error = read_string(value, ballot.candidate, "candidate: must be a string");
    } else if (key == "voter") {
      error = read_string(value, ballot.voter, "voter: must be a string");
    } else if (key == "device") {
      error = read_string(value, ballot.device, "device: must be a string");
    } else if (key == "ip") {
      error = read_string(value, ballot.ip, "ip: must be a string");
    } else if (key == "ua") {
      error = read_string(value, ballot.ua, "ua: must be a string");
    } else if (key == "request_id") {
      error = read_string(value, ballot.request_id, "request_id: must be a string");
    } else if (key == "ts") {
      simdjson::ondemand::json_type type;
      if (value.type().get(type) != simdjson::SUCCESS) {
        error = "body: not valid JSON";
      } else if (type == simdjson::ondemand::json_type::null) {
        ballot.ts_ms.reset();
      } else {
        std::int64_t ts_ms = 0;
        if (type != simdjson::ondemand::json_type::number ||
            value.get_int64().get(ts_ms) != simdjson::SUCCESS) {
          error = "ts: must be an integer (ms since the epoch)";
        } else {
          ballot.ts_ms = ts_ms;
        }
      }
    }
    // Unknown fields are skipped by the iteration itself.
    if (!error.empty()) {
      result.error = error;
      return result;
    }
  }
  // Past the object's closing brace the document must be at its end: any further token
  // (`{...} x`) has a location.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    result.error = "body: trailing content after the JSON object";
    return result;
  }
  // Required fields: absent, null and "" are all missing.
  if (ballot.campaign.empty()) {
    result.error = "campaign: required, a non-empty string";
    return result;
  }
  if (ballot.candidate.empty()) {
    result.error = "candidate: required, a non-empty string";
    return result;
  }
  if (ballot.voter.empty()) {
    result.error = "voter: required, a non-empty string";
    return result;
  }
  if (ballot.ip.empty()) ballot.ip = peer_ip;
  // Every string field came out of get_string(): stage 1 validated the whole input as UTF-8,
  // and unescaping refuses \u escapes that would not decode to it (lone surrogates). The
  // peer address is ASCII. The fuzz target holds parse() to the full check_ballot().
  if (auto field_error = engine::check_ballot(ballot, engine::Utf8::known_valid)) {
    result.error = *field_error;
  }
  return result;
}

}  // namespace tally::ingest
