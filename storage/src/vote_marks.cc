#include "vote_marks.h"

namespace tally::storage {
namespace {

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A varint in its shortest form, of at most `max_bytes` bytes: one value, one spelling.
bool read_varint(std::string_view in, std::size_t& pos, std::uint64_t& value, int max_bytes) {
  value = 0;
  for (int i = 0, shift = 0; i < max_bytes && pos < in.size(); ++i, shift += 7) {
    const auto byte = static_cast<std::uint8_t>(in[pos++]);
    if (shift == 63 && byte > 1) return false;
    value |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return !(i > 0 && byte == 0);
  }
  return false;
}

}  // namespace

std::string encode_marks(const VoteMarks& marks) {
  std::string out;
  put_varint(out, marks.late_flags);
  put_varint(out, marks.voided_by);
  return out;
}

std::optional<VoteMarks> decode_marks(std::string_view value) {
  std::size_t pos = 0;
  std::uint64_t flags = 0;
  VoteMarks marks;
  if (!read_varint(value, pos, flags, 5) || flags > 0xffffffffu ||
      !read_varint(value, pos, marks.voided_by, 10) || pos != value.size()) {
    return std::nullopt;
  }
  marks.late_flags = static_cast<engine::FraudFlags>(flags);
  return marks;
}

Result<VoteMarks> read_marks(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::uint64_t seq) {
  if (cf == nullptr) return VoteMarks{};
  std::string value;
  const rocksdb::Status s = db.Get(rocksdb::ReadOptions(), cf, seq_key(seq), &value);
  if (s.IsNotFound()) return VoteMarks{};
  if (!s.ok()) return Status::error("marks of seq " + std::to_string(seq) + ": " + s.ToString());
  auto marks = decode_marks(value);
  if (!marks) return Status::error("marks of seq " + std::to_string(seq) + ": corrupt");
  return *marks;
}

rocksdb::Status put_marks(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf,
                          rocksdb::WriteBatch& batch, const StoredEvent& event, std::uint64_t seq) {
  const std::vector<engine::MarkedVote>* votes = nullptr;
  if (event.kind == EventKind::flag) votes = &event.flag.votes;
  if (event.kind == EventKind::decision && names_votes(event.decision.action)) {
    votes = &event.decision.votes;
  }
  if (votes == nullptr) return rocksdb::Status::OK();
  for (const engine::MarkedVote& vote : *votes) {
    auto marks = read_marks(db, cf, vote.seq);
    if (!marks.ok()) return rocksdb::Status::Corruption(marks.message());
    VoteMarks next = *marks;
    if (event.kind == EventKind::flag) {
      next.late_flags |= engine::flag_of(event.flag.reason);
    } else if (event.decision.action == DecisionAction::void_votes) {
      next.voided_by = seq;
    } else {
      next.voided_by = 0;
    }
    const rocksdb::Status s = next.empty() ? batch.Delete(cf, seq_key(vote.seq))
                                           : batch.Put(cf, seq_key(vote.seq), encode_marks(next));
    if (!s.ok()) return s;
  }
  return rocksdb::Status::OK();
}

}  // namespace tally::storage
