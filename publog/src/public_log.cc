#include "tally/publog/public_log.h"

#include <simdjson.h>

#include <algorithm>

#include "tally/base/json.h"
#include "tally/base/json_writer.h"
#include "tally/publog/public_event.h"

namespace tally::publog {

namespace {

namespace dom = simdjson::dom;

constexpr int kMaxDepth = 16;

void append_hashes(JsonWriter& json, const std::vector<Hash>& hashes) {
  json.begin_array();
  for (const Hash& hash : hashes) json.string(to_hex(hash));
  json.end_array();
}

Status canonical(dom::element element, std::string& out, int depth) {
  if (depth > kMaxDepth) return Status::error("nested more than 16 deep");
  switch (element.type()) {
    case dom::element_type::OBJECT: {
      out.push_back('{');
      bool first = true;
      // A repeated member would be read as its first value by one parser and its last by
      // another: no canonical document has one.
      std::vector<std::string_view> names;
      for (auto field : dom::object(element)) {
        if (std::find(names.begin(), names.end(), field.key) != names.end()) {
          return Status::error("member \"" + std::string(field.key) + "\" is repeated");
        }
        names.push_back(field.key);
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, field.key);
        out.push_back(':');
        if (auto s = canonical(field.value, out, depth + 1); !s.ok()) return s;
      }
      out.push_back('}');
      return {};
    }
    case dom::element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      for (auto item : dom::array(element)) {
        if (!first) out.push_back(',');
        first = false;
        if (auto s = canonical(item, out, depth + 1); !s.ok()) return s;
      }
      out.push_back(']');
      return {};
    }
    case dom::element_type::STRING: append_json_string(out, std::string_view(element)); return {};
    case dom::element_type::INT64: out += std::to_string(std::int64_t(element)); return {};
    case dom::element_type::UINT64: out += std::to_string(std::uint64_t(element)); return {};
    case dom::element_type::BOOL: out += bool(element) ? "true" : "false"; return {};
    case dom::element_type::NULL_VALUE: out += "null"; return {};
    case dom::element_type::DOUBLE: return Status::error("a number that is not an integer");
  }
  return Status::error("an unknown JSON value");
}

Result<std::vector<Hash>> read_hashes(dom::element element, const char* field) {
  dom::array array;
  if (element.get_array().get(array) != simdjson::SUCCESS) {
    return Status::error(std::string(field) + ": must be an array of hex hashes");
  }
  std::vector<Hash> out;
  for (auto item : array) {
    std::string_view text;
    Hash hash;
    if (item.get_string().get(text) != simdjson::SUCCESS || !parse_hex(text, hash)) {
      return Status::error(std::string(field) + ": must be an array of 64-digit hex hashes");
    }
    out.push_back(hash);
  }
  return out;
}

}  // namespace

Status canonicalize_json(std::string_view json, std::string& out) {
  dom::parser parser;
  dom::element document;
  if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
    return Status::error("not a JSON document");
  }
  return canonical(document, out, 0);
}

std::string inclusion_json(const InclusionProof& proof) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("seq").integer(proof.seq);
  json.key("size").integer(proof.size);
  json.key("leaf").string(to_hex(proof.leaf));
  json.key("hashes");
  append_hashes(json, proof.hashes);
  json.end_object();
  return out;
}

std::string consistency_json(const ConsistencyProof& proof) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("from").integer(proof.from);
  json.key("to").integer(proof.to);
  json.key("hashes");
  append_hashes(json, proof.hashes);
  json.end_object();
  return out;
}

std::string receipt_json(const Receipt& receipt) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("seq").integer(receipt.seq);
  json.key("leaf").string(to_hex(receipt.leaf));
  json.key("event").raw(receipt.event);
  json.key("proof").begin_object();
  json.key("size").integer(receipt.checkpoint.size);
  json.key("hashes");
  append_hashes(json, receipt.proof);
  json.end_object();
  json.key("checkpoint").raw(checkpoint_json(receipt.checkpoint));
  json.end_object();
  return out;
}

std::string key_json(const PublicKey& key) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("log_id").string(key.log_id());
  json.key("algorithm").string("Ed25519");
  json.key("public_key_pem").string(key.pem());
  json.end_object();
  return out;
}

Result<Receipt> parse_receipt(std::string_view json) {
  dom::parser parser;
  dom::element document;
  if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
    return Status::error("receipt: not a JSON document");
  }
  dom::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return Status::error("receipt: not a JSON object");
  }
  Receipt receipt;
  if (object["seq"].get_uint64().get(receipt.seq) != simdjson::SUCCESS || receipt.seq == 0) {
    return Status::error("receipt: seq: must be a positive integer");
  }
  std::string_view text;
  if (object["leaf"].get_string().get(text) != simdjson::SUCCESS ||
      !parse_hex(text, receipt.leaf)) {
    return Status::error("receipt: leaf: must be 64 hex digits");
  }
  dom::element event;
  if (object["event"].get(event) != simdjson::SUCCESS || !event.is_object()) {
    return Status::error("receipt: event: must be an object");
  }
  if (auto s = canonical(event, receipt.event, 1); !s.ok()) {
    return Status::error("receipt: event: " + s.message());
  }
  dom::element proof;
  if (object["proof"].get(proof) != simdjson::SUCCESS || !proof.is_object()) {
    return Status::error("receipt: proof: must be an object");
  }
  std::uint64_t proof_size = 0;
  if (proof["size"].get_uint64().get(proof_size) != simdjson::SUCCESS) {
    return Status::error("receipt: proof.size: must be a non-negative integer");
  }
  dom::element hashes;
  if (proof["hashes"].get(hashes) != simdjson::SUCCESS) {
    return Status::error("receipt: proof.hashes: required");
  }
  auto path = read_hashes(hashes, "receipt: proof.hashes");
  if (!path.ok()) return path.status();
  receipt.proof = std::move(*path);
  dom::element checkpoint;
  if (object["checkpoint"].get(checkpoint) != simdjson::SUCCESS) {
    return Status::error("receipt: checkpoint: required");
  }
  auto parsed = parse_checkpoint(simdjson::minify(checkpoint));
  if (!parsed.ok()) return Status::error("receipt: " + parsed.message());
  receipt.checkpoint = std::move(*parsed);
  if (proof_size != receipt.checkpoint.size) {
    return Status::error("receipt: proof.size " + std::to_string(proof_size) +
                         " is not the checkpoint's size " +
                         std::to_string(receipt.checkpoint.size));
  }
  return receipt;
}

std::string check_receipt(const Receipt& receipt, const PublicKey& key) {
  if (receipt.checkpoint.log_id != key.log_id()) {
    return "checkpoint: log_id " + receipt.checkpoint.log_id + " is not the key's " + key.log_id();
  }
  if (!key.verifies(receipt.checkpoint)) return "checkpoint: the signature does not verify";
  if (leaf_hash(receipt.event) != receipt.leaf) {
    return "leaf: not the hash of the event (the event or the leaf was changed)";
  }
  if (receipt.seq > receipt.checkpoint.size) {
    return "seq " + std::to_string(receipt.seq) + " is beyond the checkpoint's " +
           std::to_string(receipt.checkpoint.size) + " events";
  }
  if (!verify_inclusion(receipt.leaf, receipt.seq - 1, receipt.checkpoint.size, receipt.proof,
                        receipt.checkpoint.root)) {
    return "proof: does not lead from the leaf at seq " + std::to_string(receipt.seq) +
           " to the checkpoint's root";
  }
  return {};
}

}  // namespace tally::publog
