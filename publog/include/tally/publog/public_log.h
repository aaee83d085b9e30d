// PublicLog: the public log as the HTTP endpoints see it (DESIGN.md "Public verification"):
// signed checkpoints, inclusion and consistency proofs, receipts, the log's key. The port
// between ingest and whatever keeps the tree: storage's PublicLogView implements it over the
// vote log's RocksDB (VoteLog::public_log()). JSON forms of the answers are here too, so that the
// server, tallyctl and the tests write and read one shape.
//
// Thread safety: every member is safe for concurrent use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/base/status.h"
#include "tally/publog/checkpoint.h"
#include "tally/publog/merkle.h"

namespace tally::publog {

// Why a question to the log has no answer: it was malformed (400), asks beyond the log (404),
// or the log could not be read (503).
enum class LogError : std::uint8_t { none, bad_request, not_found, unavailable };

template <typename T>
struct LogAnswer {
  LogAnswer() = default;
  LogAnswer(T answer) : value(std::move(answer)) {}  // NOLINT(google-explicit-constructor)

  T value{};
  LogError error = LogError::none;
  std::string reason;  // names the parameter and the rule: "size: beyond the log's 812 events"
  bool ok() const { return error == LogError::none; }
  static LogAnswer fail(LogError error, std::string reason) {
    LogAnswer answer;
    answer.error = error;
    answer.reason = std::move(reason);
    return answer;
  }
};

struct InclusionProof {
  std::uint64_t seq = 0;
  std::uint64_t size = 0;
  Hash leaf{};
  std::vector<Hash> hashes;
};

struct ConsistencyProof {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::vector<Hash> hashes;
};

// What a voter keeps: the public event of their vote, its leaf, its inclusion proof in the
// tree of checkpoint.size leaves, and that checkpoint.
struct Receipt {
  std::uint64_t seq = 0;
  std::string event;  // the public form's canonical JSON
  Hash leaf{};
  std::vector<Hash> proof;
  Checkpoint checkpoint;
};

class PublicLog {
 public:
  // Events in the tree (= the highest committed seq).
  virtual std::uint64_t size() const = 0;
  // A checkpoint signed for the first `size` leaves; 0 = the whole tree now. Checkpoints are
  // signed when asked for and kept: the same size gives the same checkpoint while it is kept.
  virtual LogAnswer<Checkpoint> checkpoint(std::uint64_t size) = 0;
  // `size` 0 = the whole tree now.
  virtual LogAnswer<InclusionProof> inclusion(std::uint64_t seq, std::uint64_t size) = 0;
  virtual LogAnswer<ConsistencyProof> consistency(std::uint64_t from, std::uint64_t to) = 0;
  // The receipt of `seq` against a checkpoint of the whole tree now.
  virtual LogAnswer<Receipt> receipt(std::uint64_t seq) = 0;
  virtual const PublicKey& key() const = 0;

 protected:
  ~PublicLog() = default;
};

// {"seq","size","leaf","hashes":[…]}
std::string inclusion_json(const InclusionProof& proof);
// {"from","to","hashes":[…]}
std::string consistency_json(const ConsistencyProof& proof);
// {"seq","leaf","event":{…},"proof":{"size","hashes":[…]},"checkpoint":{…}}
std::string receipt_json(const Receipt& receipt);
// {"log_id","algorithm":"Ed25519","public_key_pem"}
std::string key_json(const PublicKey& key);
// The inverse of receipt_json(); `event` is canonicalized again from the parsed object.
// An error names the field.
Result<Receipt> parse_receipt(std::string_view json);

// What a receipt check found: empty when it holds, else the first thing that fails.
std::string check_receipt(const Receipt& receipt, const PublicKey& key);

}  // namespace tally::publog
