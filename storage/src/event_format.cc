// Encoding and decoding of commit batch records. Grammar: docs/EVENT_FORMAT.md.
//
// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP_Digest*, whose
// EVP_DigestInit_ex2 (OpenSSL 3.0) makes a new provider context on every call, even on a
// reused EVP_MD_CTX of the same digest: one allocation and about 55 ns more per event (235
// against 177 ns for a vote's chain hash here), on the writer thread, for the same SHA-NI
// code underneath. Defined before any include, so that no OpenSSL header is read without it.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tally/storage/event_format.h"

#include <openssl/sha.h>
#include <xxhash.h>

#include <bit>
#include <cstring>
#include <iterator>
#include <optional>
#include <random>
#include <unordered_set>

namespace tally::storage {
namespace {

// Presence bits of a vote payload's optional fields (docs/EVENT_FORMAT.md).
constexpr std::uint8_t kHasDevice = 1u << 0;
constexpr std::uint8_t kHasIp = 1u << 1;
constexpr std::uint8_t kHasUa = 1u << 2;
constexpr std::uint8_t kHasRequestId = 1u << 3;
constexpr std::uint8_t kHasTs = 1u << 4;
// Version 2: the campaign id, and the user agent when present, are indexes into the record's
// string table instead of strings.
constexpr std::uint8_t kByReference = 1u << 5;
constexpr std::uint8_t kKnownPresenceBitsV1 = 0x1f;
constexpr std::uint8_t kKnownPresenceBitsV2 = kKnownPresenceBitsV1 | kByReference;
// A record holds at most two table strings per event (read_string_table). A table string is
// at most as long as the longest field it holds, the user agent (the campaign id is shorter):
// a vote refers to it for a byte or two, so a longer one would let a small tampered record
// stand for a great many bytes to hash. Long agents are the common case (WeChat on Android
// sends about 300 bytes), and are what the table saves most on.
constexpr std::size_t kMaxTableStringBytes = engine::kMaxUaBytes;
static_assert(engine::kMaxFieldBytes <= kMaxTableStringBytes);

// Whether a vote's campaign id and user agent (empty: absent) go into the string table: the
// encoder stores a vote by reference exactly when they fit, and the decoder holds it to that.
bool fits_table(std::string_view campaign, std::string_view ua) {
  return !campaign.empty() && campaign.size() <= kMaxTableStringBytes &&
         ua.size() <= kMaxTableStringBytes;
}

constexpr std::size_t kMaxVarintBytes = 10;

// Writes `value` as LEB128 at `out` (room for kMaxVarintBytes); returns the bytes written.
std::size_t write_varint(char* out, std::uint64_t value) {
  std::size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<char>(value);
  return n;
}

// Copies `bytes` to `out`; returns the end of the copy. An empty view may have no data
// pointer, which memcpy must not be given.
char* write_bytes(char* out, std::string_view bytes) {
  if (bytes.empty()) return out;
  std::memcpy(out, bytes.data(), bytes.size());
  return out + bytes.size();
}

// How many bytes write_varint() writes for `value`.
std::size_t varint_size(std::uint64_t value) {
  return 1 + static_cast<std::size_t>(std::bit_width(value | 1) - 1) / 7;
}

void put_varint(std::string& out, std::uint64_t value) {
  char buf[kMaxVarintBytes];
  out.append(buf, write_varint(buf, value));
}

std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

void put_string(std::string& out, std::string_view text) {
  put_varint(out, text.size());
  out.append(text);
}

// A bounds-checked cursor over untrusted bytes: every read fails cleanly at the end.
class Reader {
 public:
  // `minimal`: varints must be in their shortest form (version 2 records), so that no two
  // byte strings decode to the same values.
  explicit Reader(std::string_view input, std::size_t pos = 0, bool minimal = false)
      : input_(input), pos_(pos), minimal_(minimal) {}

  bool varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= input_.size()) return false;
      const auto byte = static_cast<std::uint8_t>(input_[pos_++]);
      if (shift == 63 && byte > 1) return false;  // more than 64 bits
      value |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return !(minimal_ && shift > 0 && byte == 0);  // overlong
    }
    return false;
  }
  bool varint32(std::uint32_t& value) {
    std::uint64_t wide = 0;
    if (!varint(wide) || wide > 0xffffffffu) return false;
    value = static_cast<std::uint32_t>(wide);
    return true;
  }
  bool svarint(std::int64_t& value) {
    std::uint64_t wide = 0;
    if (!varint(wide)) return false;
    value = unzigzag(wide);
    return true;
  }
  bool byte(std::uint8_t& value) {
    if (pos_ >= input_.size()) return false;
    value = static_cast<std::uint8_t>(input_[pos_++]);
    return true;
  }
  bool bytes(std::size_t n, std::string_view& value) {
    if (n > input_.size() - pos_) return false;
    value = input_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool string(std::string_view& value) {
    std::uint64_t n = 0;
    return varint(n) && n <= kMaxEventBytes && bytes(static_cast<std::size_t>(n), value);
  }
  bool done() const { return pos_ == input_.size(); }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return input_.size() - pos_; }

 private:
  std::string_view input_;
  std::size_t pos_ = 0;
  bool minimal_ = false;
};

Status event_error(std::uint64_t seq, std::string_view what) {
  return Status::error("seq " + std::to_string(seq) + ": corrupt event: " + std::string(what));
}

// A version 2 record's string table, and how far its references have got: the encoder adds
// a string at its first use, so the strings are first referred to in table order. Checking
// that (and that no string repeats, or goes unused) leaves one byte string per record.
struct StringTable {
  std::vector<std::string_view> strings;
  std::uint32_t first_unused = 0;
};

// A string field: inline, or (by_reference) an index into the record's string table.
bool read_field(Reader& in, bool by_reference, StringTable* table, std::string_view& value) {
  if (!by_reference) return in.string(value);
  std::uint32_t index = 0;
  if (table == nullptr || !in.varint32(index) || index > table->first_unused ||
      index >= table->strings.size()) {
    return false;
  }
  if (index == table->first_unused) ++table->first_unused;
  value = table->strings[index];
  return true;
}

// `table` is the record's string table (version 2), null for version 1. Sets
// `by_reference` when the stored bytes hold references. A version 2 vote must be in the one
// form the encoder writes (see the end).
Status decode_vote(Reader& in, std::uint64_t seq, StringTable* table, VoteFields& vote,
                   bool& by_reference) {
  std::uint8_t presence = 0;
  if (!in.byte(presence)) return event_error(seq, "truncated presence byte");
  const std::uint8_t known = table != nullptr ? kKnownPresenceBitsV2 : kKnownPresenceBitsV1;
  if ((presence & ~known) != 0) return event_error(seq, "unknown presence bits");
  by_reference = (presence & kByReference) != 0;
  if (!in.svarint(vote.server_ms)) return event_error(seq, "truncated server_ms");
  if (!in.svarint(vote.period)) return event_error(seq, "truncated period");
  if (!in.varint32(vote.flags)) return event_error(seq, "truncated flags");
  if (!read_field(in, by_reference, table, vote.ballot.campaign)) {
    return event_error(seq, "truncated campaign, or a bad string reference");
  }
  if (!in.string(vote.ballot.candidate)) return event_error(seq, "truncated candidate");
  if (!in.string(vote.ballot.voter)) return event_error(seq, "truncated voter");
  if ((presence & kHasDevice) && !in.string(vote.ballot.device)) {
    return event_error(seq, "truncated device");
  }
  if ((presence & kHasIp) && !in.string(vote.ballot.ip)) return event_error(seq, "truncated ip");
  if ((presence & kHasUa) && !read_field(in, by_reference, table, vote.ballot.ua)) {
    return event_error(seq, "truncated ua, or a bad string reference");
  }
  if ((presence & kHasRequestId) && !in.string(vote.ballot.request_id)) {
    return event_error(seq, "truncated request_id");
  }
  if (presence & kHasTs) {
    std::int64_t ts = 0;
    if (!in.svarint(ts)) return event_error(seq, "truncated ts");
    vote.ballot.ts_ms = ts;
  }
  if (!in.done()) return event_error(seq, "trailing bytes after the vote");
  if (table != nullptr) {
    // Version 2 takes one form per vote, so that a changed byte either breaks the chain or
    // fails here: optional fields present only when not empty, and campaign and user agent
    // by reference unless one of them is too long for the string table.
    const bool empty_optional = ((presence & kHasDevice) && vote.ballot.device.empty()) ||
                                ((presence & kHasIp) && vote.ballot.ip.empty()) ||
                                ((presence & kHasUa) && vote.ballot.ua.empty()) ||
                                ((presence & kHasRequestId) && vote.ballot.request_id.empty());
    if (empty_optional) return event_error(seq, "an empty optional field marked present");
    if (by_reference != fits_table(vote.ballot.campaign, vote.ballot.ua)) {
      return event_error(seq, "not in version 2's form");
    }
  }
  return {};
}

// A payload's layout, read from the payload: for events whose encoder gave none.
std::optional<VoteLayout> vote_layout(std::string_view payload) {
  Reader in(payload);
  std::uint8_t presence = 0;
  std::int64_t number = 0;
  std::uint32_t flags = 0;
  std::string_view skipped;
  if (!in.byte(presence) || (presence & ~kKnownPresenceBitsV1) != 0 || !in.svarint(number) ||
      !in.svarint(number) || !in.varint32(flags)) {
    return std::nullopt;
  }
  VoteLayout layout;
  layout.campaign_begin = static_cast<std::uint32_t>(in.pos());
  if (!in.string(skipped)) return std::nullopt;
  layout.campaign_end = static_cast<std::uint32_t>(in.pos());
  if (!in.string(skipped) || !in.string(skipped)) return std::nullopt;  // candidate, voter
  if ((presence & kHasDevice) && !in.string(skipped)) return std::nullopt;
  if ((presence & kHasIp) && !in.string(skipped)) return std::nullopt;
  layout.ua_begin = static_cast<std::uint32_t>(in.pos());
  if ((presence & kHasUa) && !in.string(skipped)) return std::nullopt;
  layout.ua_end = static_cast<std::uint32_t>(in.pos());
  return layout;
}

}  // namespace

void encode_vote_payload(const VoteFields& vote, std::string& out, VoteLayout* layout) {
  std::uint8_t presence = 0;
  if (!vote.ballot.device.empty()) presence |= kHasDevice;
  if (!vote.ballot.ip.empty()) presence |= kHasIp;
  if (!vote.ballot.ua.empty()) presence |= kHasUa;
  if (!vote.ballot.request_id.empty()) presence |= kHasRequestId;
  if (vote.ballot.ts_ms) presence |= kHasTs;
  const std::uint64_t server_ms = zigzag(vote.server_ms);
  const std::uint64_t period = zigzag(vote.period);
  const std::uint64_t ts = vote.ballot.ts_ms ? zigzag(*vote.ballot.ts_ms) : 0;
  const std::string_view strings[] = {
      vote.ballot.campaign, vote.ballot.candidate, vote.ballot.voter,     vote.ballot.device,
      vote.ballot.ip,       vote.ballot.ua,        vote.ballot.request_id};
  // The exact size first, so that the payload is written in one pass into room made once
  // (this runs once per vote; appending value by value cost more than the values).
  std::size_t size = 1 + varint_size(server_ms) + varint_size(period) + varint_size(vote.flags);
  // campaign, candidate and voter always; the optional fields when present (presence bits).
  constexpr std::size_t kAlwaysStored = 3;
  for (std::size_t i = 0; i < std::size(strings); ++i) {
    if (i < kAlwaysStored || !strings[i].empty()) {
      size += varint_size(strings[i].size()) + strings[i].size();
    }
  }
  if (vote.ballot.ts_ms) size += varint_size(ts);
  const std::size_t start = out.size();
  out.resize(start + size);
  char* at = out.data() + start;
  *at++ = static_cast<char>(presence);
  at += write_varint(at, server_ms);
  at += write_varint(at, period);
  at += write_varint(at, vote.flags);
  constexpr std::size_t kCampaign = 0, kUa = 5;  // indexes in `strings`
  const char* const payload = out.data() + start;
  for (std::size_t i = 0; i < std::size(strings); ++i) {
    const auto offset = static_cast<std::uint32_t>(at - payload);
    if (layout != nullptr && i == kCampaign) layout->campaign_begin = offset;
    if (layout != nullptr && i == kUa) layout->ua_begin = offset;
    if (i < kAlwaysStored || !strings[i].empty()) {
      at += write_varint(at, strings[i].size());
      at = write_bytes(at, strings[i]);
    }
    if (layout != nullptr && i == kCampaign)
      layout->campaign_end = static_cast<std::uint32_t>(at - payload);
    if (layout != nullptr && i == kUa) layout->ua_end = static_cast<std::uint32_t>(at - payload);
  }
  if (vote.ballot.ts_ms) write_varint(at, ts);
}

void encode_campaign_payload(std::string_view campaign_json, std::string& out) {
  put_string(out, campaign_json);
}

void encode_epoch_payload(const EpochFields& epoch, std::string& out) {
  put_string(out, epoch.node);
  put_varint(out, epoch.epoch);
  put_varint(out, zigzag(epoch.server_ms));
}

namespace {

// The marked votes of a flag (with their prior flags) or a decision: count, then each seq as
// its gap from the one before (the first from 0).
void put_marked_votes(std::string& out, const std::vector<engine::MarkedVote>& votes,
                      bool with_prior) {
  put_varint(out, votes.size());
  std::uint64_t previous = 0;
  for (const engine::MarkedVote& vote : votes) {
    put_varint(out, vote.seq - previous);
    previous = vote.seq;
    put_varint(out, vote.candidate);
    if (with_prior) put_varint(out, vote.prior);
  }
}

// Whether `votes` are 1..kMaxMarkedVotes seqs, ascending, each below `seq`.
std::string check_marked_votes(const std::vector<engine::MarkedVote>& votes, std::uint64_t seq) {
  if (votes.empty() || votes.size() > kMaxMarkedVotes) {
    return "names " + std::to_string(votes.size()) + " votes (1 to " +
           std::to_string(kMaxMarkedVotes) + ")";
  }
  std::uint64_t previous = 0;
  for (const engine::MarkedVote& vote : votes) {
    if (vote.seq <= previous || vote.seq >= seq) {
      return "names seq " + std::to_string(vote.seq) + " out of order or not before it";
    }
    previous = vote.seq;
  }
  return {};
}

}  // namespace

std::string_view to_string(DecisionAction action) {
  switch (action) {
    case DecisionAction::void_votes: return "void";
    case DecisionAction::restore: return "restore";
    case DecisionAction::disqualify: return "disqualify";
    case DecisionAction::reinstate: return "reinstate";
  }
  return "unknown";
}

std::optional<DecisionAction> decision_action_from_string(std::string_view text) {
  for (DecisionAction action : {DecisionAction::void_votes, DecisionAction::restore,
                                DecisionAction::disqualify, DecisionAction::reinstate}) {
    if (to_string(action) == text) return action;
  }
  return std::nullopt;
}

std::string check_flag(const FlagFields& flag, std::uint64_t seq) {
  if (flag.campaign.empty()) return "flag without a campaign";
  if (static_cast<int>(flag.reason) >= 32) return "flag with an unknown reason";
  if (flag.scope == engine::ClusterScope::none || flag.scope > engine::ClusterScope::device ||
      flag.key.empty()) {
    return "flag without a cluster";
  }
  if (auto wrong = check_marked_votes(flag.votes, seq); !wrong.empty()) return "flag " + wrong;
  return {};
}

std::string check_decision(const DecisionFields& decision, std::uint64_t seq) {
  if (decision.campaign.empty()) return "decision without a campaign";
  if (decision.author.empty() || decision.author.size() > kMaxAuthorBytes) {
    return "decision author empty or longer than " + std::to_string(kMaxAuthorBytes) + " bytes";
  }
  if (decision.reason.empty() || decision.reason.size() > kMaxReasonBytes) {
    return "decision reason empty or longer than " + std::to_string(kMaxReasonBytes) + " bytes";
  }
  if (decision.action < DecisionAction::void_votes || decision.action > DecisionAction::reinstate) {
    return "decision with an unknown action";
  }
  if (decision.scope > engine::ClusterScope::device ||
      (decision.scope == engine::ClusterScope::none) != decision.key.empty()) {
    return "decision with a malformed cluster";
  }
  if (names_votes(decision.action)) {
    if (!decision.candidate.empty()) return "void or restore decision naming a candidate";
    if (auto wrong = check_marked_votes(decision.votes, seq); !wrong.empty()) {
      return "decision " + wrong;
    }
    for (const engine::MarkedVote& vote : decision.votes) {
      if (vote.prior != 0) return "decision with prior flags";
    }
    return {};
  }
  if (decision.candidate.empty()) return "disqualify or reinstate decision without a candidate";
  if (decision.scope != engine::ClusterScope::none || !decision.votes.empty()) {
    return "disqualify or reinstate decision naming votes";
  }
  return {};
}

void encode_flag_payload(const FlagFields& flag, std::string& out) {
  put_string(out, flag.campaign);
  out.push_back(static_cast<char>(flag.reason));
  out.push_back(static_cast<char>(flag.scope));
  put_string(out, flag.key);
  put_varint(out, zigzag(flag.server_ms));
  put_marked_votes(out, flag.votes, true);
}

void encode_decision_payload(const DecisionFields& decision, std::string& out) {
  put_string(out, decision.campaign);
  out.push_back(static_cast<char>(decision.action));
  put_varint(out, zigzag(decision.server_ms));
  put_string(out, decision.author);
  put_string(out, decision.reason);
  put_string(out, decision.candidate);
  out.push_back(static_cast<char>(decision.scope));
  put_string(out, decision.key);
  put_marked_votes(out, decision.votes, false);
}

ChainHash ChainHasher::next(const ChainHash& prev, std::string_view head,
                            std::string_view tail) const {
  ChainHash out{};
  SHA256_CTX ctx;
  // Over in-memory buffers these cannot fail (OpenSSL 3.0 returns 1 from each).
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, prev.data(), prev.size());
  SHA256_Update(&ctx, head.data(), head.size());
  SHA256_Update(&ctx, tail.data(), tail.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

BatchEncoder::BatchEncoder() : hash_seed_(std::random_device{}()) {}

void BatchEncoder::begin(std::size_t expected_events) {
  record_.clear();
  record_.reserve(kHeaderRoom + expected_events * 128);
  record_.resize(kHeaderRoom);
  count_ = 0;
  strings_.clear();
  string_hashes_.clear();
  string_index_.assign(64, 0);
}

std::uint32_t BatchEncoder::intern(std::string_view text) {
  const std::uint64_t hash = XXH3_64bits_withSeed(text.data(), text.size(), hash_seed_);
  std::size_t mask = string_index_.size() - 1;
  std::size_t at = hash & mask;
  for (; string_index_[at] != 0; at = (at + 1) & mask) {
    const std::uint32_t index = string_index_[at] - 1;
    if (string_hashes_[index] == hash && strings_[index] == text) return index;
  }
  const auto index = static_cast<std::uint32_t>(strings_.size());
  strings_.push_back(text);
  string_hashes_.push_back(hash);
  string_index_[at] = index + 1;
  if (strings_.size() * 2 > string_index_.size()) {  // keep the index at most half full
    string_index_.assign(string_index_.size() * 2, 0);
    mask = string_index_.size() - 1;
    for (std::uint32_t i = 0; i < strings_.size(); ++i) {
      std::size_t slot = string_hashes_[i] & mask;
      while (string_index_[slot] != 0) slot = (slot + 1) & mask;
      string_index_[slot] = i + 1;
    }
  }
  return index;
}

ChainHash BatchEncoder::add(const ChainHasher& hasher, const ChainHash& prev, EventKind kind,
                            std::uint64_t seq, std::string_view payload,
                            const VoteLayout* known_layout) {
  char head_bytes[1 + kMaxVarintBytes];  // kind, seq
  head_bytes[0] = static_cast<char>(kind);
  const std::string_view head(head_bytes, 1 + write_varint(head_bytes + 1, seq));
  // The chain covers the canonical bytes, whatever the record stores.
  const ChainHash chain = hasher.next(prev, head, payload);
  std::optional<VoteLayout> layout;
  if (kind == EventKind::vote) layout = known_layout ? *known_layout : vote_layout(payload);
  // The fields themselves, without their length prefixes.
  const auto field = [&](std::uint32_t begin, std::uint32_t end) {
    Reader in(payload.substr(begin, end - begin));
    std::string_view text;
    if (!in.string(text)) return std::string_view();  // an absent user agent's empty span
    return text;
  };
  const std::string_view campaign =
      layout ? field(layout->campaign_begin, layout->campaign_end) : "";
  const std::string_view ua = layout ? field(layout->ua_begin, layout->ua_end) : "";
  if (layout && !fits_table(campaign, ua)) {
    layout.reset();  // not for the table (no ballot is): inline, as version 1
  }
  if (!layout) {
    // A campaign version (or a payload this encoder cannot read: stored as given, and the
    // decoder reports it).
    put_varint(record_, head.size() + payload.size());
    record_.append(head);
    record_.append(payload);
  } else {
    // The payload with its campaign id and user agent replaced by string table indexes.
    char campaign_ref[kMaxVarintBytes];
    char ua_ref[kMaxVarintBytes];
    const std::size_t campaign_ref_size = write_varint(campaign_ref, intern(campaign));
    const bool has_ua = layout->ua_end > layout->ua_begin;
    const std::size_t ua_ref_size = has_ua ? write_varint(ua_ref, intern(ua)) : 0;
    const std::size_t stored = head.size() + payload.size() -
                               (layout->campaign_end - layout->campaign_begin) + campaign_ref_size -
                               (layout->ua_end - layout->ua_begin) + ua_ref_size;
    // Written in one pass into room made once, as encode_vote_payload() does.
    const std::size_t start = record_.size();
    record_.resize(start + varint_size(stored) + stored + chain.size());
    char* at = record_.data() + start;
    at += write_varint(at, stored);
    at = write_bytes(at, head);
    *at++ = static_cast<char>(static_cast<std::uint8_t>(payload[0]) | kByReference);
    at = write_bytes(at, payload.substr(1, layout->campaign_begin - 1));
    at = write_bytes(at, {campaign_ref, campaign_ref_size});
    at = write_bytes(at,
                     payload.substr(layout->campaign_end, layout->ua_begin - layout->campaign_end));
    at = write_bytes(at, {ua_ref, ua_ref_size});
    at = write_bytes(at, payload.substr(layout->ua_end));
    write_bytes(at, {reinterpret_cast<const char*>(chain.data()), chain.size()});
    ++count_;
    return chain;
  }
  record_.append(reinterpret_cast<const char*>(chain.data()), chain.size());
  ++count_;
  return chain;
}

std::string_view BatchEncoder::record() {
  put_varint(record_, strings_.size());
  for (std::string_view text : strings_) put_string(record_, text);
  char header[kHeaderRoom];
  header[0] = static_cast<char>(kBatchFormatVersion);
  const std::size_t header_size = 1 + write_varint(header + 1, count_);  // <= 5: 32 bits
  const std::size_t start = kHeaderRoom - header_size;
  std::memcpy(record_.data() + start, header, header_size);
  count_ = 0;
  return std::string_view(record_).substr(start);
}

ChainHash chain_of(const ChainHasher& hasher, const ChainHash& prev, const StoredEvent& event,
                   std::string& scratch) {
  if (event.stored_canonical) return hasher.next(prev, event.bytes, {});
  // A vote whose canonical payload is its fields encoded as in version 1.
  scratch.clear();
  scratch.push_back(static_cast<char>(event.kind));
  put_varint(scratch, event.seq);
  encode_vote_payload(event.vote, scratch);
  return hasher.next(prev, scratch, {});
}

namespace {

// Version 2: the string table after the events. `events_end` is where the events stop.
Status read_string_table(std::string_view record, std::size_t events_begin, std::uint32_t count,
                         StringTable& table, std::size_t& events_end) {
  Reader in(record.substr(events_begin), 0, true);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t length = 0;
    std::string_view skipped;
    if (!in.varint32(length) || length > kMaxEventBytes || !in.bytes(length, skipped) ||
        !in.bytes(kChainBytes, skipped)) {
      return Status::error("batch record: truncated event " + std::to_string(i + 1) + " of " +
                           std::to_string(count));
    }
  }
  events_end = events_begin + in.pos();
  std::uint32_t n = 0;
  // Each string takes at least two bytes (length and one byte), each event at most two.
  if (!in.varint32(n) || n > 2 * std::uint64_t{count} || n > in.left() / 2) {
    return Status::error("batch record: bad string table size");
  }
  table.strings.clear();
  table.strings.reserve(n);
  table.first_unused = 0;
  std::unordered_set<std::string_view> seen;
  seen.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string_view text;
    if (!in.string(text)) return Status::error("batch record: truncated string table");
    if (text.empty() || text.size() > kMaxTableStringBytes || !seen.insert(text).second) {
      return Status::error("batch record: string " + std::to_string(i) +
                           " of the table is empty, too long or repeated");
    }
    table.strings.push_back(text);
  }
  if (!in.done()) return Status::error("batch record: trailing bytes after the strings");
  return {};
}

}  // namespace

namespace {

// The marked votes put_marked_votes() wrote: each seq's gap from the one before must be at
// least 1 (the first's from 0), so seqs ascend and none is 0.
bool read_marked_votes(Reader& in, bool with_prior, std::vector<engine::MarkedVote>& votes) {
  votes.clear();
  std::uint32_t count = 0;
  if (!in.varint32(count) || count > kMaxMarkedVotes) return false;
  votes.reserve(count);
  std::uint64_t seq = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t gap = 0;
    engine::MarkedVote vote;
    if (!in.varint(gap) || gap == 0 || gap > UINT64_MAX - seq || !in.varint32(vote.candidate) ||
        (with_prior && !in.varint32(vote.prior))) {
      return false;
    }
    seq += gap;
    vote.seq = seq;
    votes.push_back(vote);
  }
  return true;
}

// One event's bytes (kind, seq, payload) and stored chain into `event`. An error with an empty
// message: the header itself is unreadable (the caller names where).
Status decode_event_bytes(std::string_view bytes, std::string_view chain, bool minimal,
                          StringTable* table, StoredEvent& event) {
  event.bytes = bytes;
  std::memcpy(event.chain.data(), chain.data(), chain.size());
  Reader ev(bytes, 0, minimal);
  std::uint8_t kind = 0;
  if (!ev.byte(kind) || !ev.varint(event.seq)) return Status::error("");
  if (kind == static_cast<std::uint8_t>(EventKind::vote)) {
    event.kind = EventKind::vote;
    bool by_reference = false;
    if (auto status = decode_vote(ev, event.seq, table, event.vote, by_reference); !status.ok()) {
      return status;
    }
    event.stored_canonical = !by_reference;
  } else if (kind == static_cast<std::uint8_t>(EventKind::campaign)) {
    event.kind = EventKind::campaign;
    if (!ev.string(event.campaign_json)) return event_error(event.seq, "truncated campaign");
    if (!ev.done()) return event_error(event.seq, "trailing bytes after the campaign");
  } else if (kind == static_cast<std::uint8_t>(EventKind::epoch)) {
    event.kind = EventKind::epoch;
    if (!ev.string(event.epoch.node) || !ev.varint(event.epoch.epoch) ||
        !ev.svarint(event.epoch.server_ms)) {
      return event_error(event.seq, "truncated epoch");
    }
    if (!ev.done()) return event_error(event.seq, "trailing bytes after the epoch");
  } else if (kind == static_cast<std::uint8_t>(EventKind::flag)) {
    event.kind = EventKind::flag;
    FlagFields& flag = event.flag;
    std::uint8_t reason = 0;
    std::uint8_t scope = 0;
    if (!ev.string(flag.campaign) || !ev.byte(reason) || !ev.byte(scope) || !ev.string(flag.key) ||
        !ev.svarint(flag.server_ms) || !read_marked_votes(ev, true, flag.votes)) {
      return event_error(event.seq, "truncated flag");
    }
    flag.reason = static_cast<engine::FraudReason>(reason);
    flag.scope = static_cast<engine::ClusterScope>(scope);
    if (!ev.done()) return event_error(event.seq, "trailing bytes after the flag");
    if (auto wrong = check_flag(flag, event.seq); !wrong.empty()) {
      return event_error(event.seq, wrong);
    }
  } else if (kind == static_cast<std::uint8_t>(EventKind::decision)) {
    event.kind = EventKind::decision;
    DecisionFields& decision = event.decision;
    std::uint8_t action = 0;
    std::uint8_t scope = 0;
    if (!ev.string(decision.campaign) || !ev.byte(action) || !ev.svarint(decision.server_ms) ||
        !ev.string(decision.author) || !ev.string(decision.reason) ||
        !ev.string(decision.candidate) || !ev.byte(scope) || !ev.string(decision.key) ||
        !read_marked_votes(ev, false, decision.votes)) {
      return event_error(event.seq, "truncated decision");
    }
    decision.action = static_cast<DecisionAction>(action);
    decision.scope = static_cast<engine::ClusterScope>(scope);
    if (!ev.done()) return event_error(event.seq, "trailing bytes after the decision");
    // A decision naming no votes stores a count of 0, which read_marked_votes() takes.
    if (auto wrong = check_decision(decision, event.seq); !wrong.empty()) {
      return event_error(event.seq, wrong);
    }
  } else {
    return event_error(event.seq, "unknown kind " + std::to_string(kind));
  }
  return {};
}

// A record's header and string table: `in` is left at its first event, reading no further
// than the events' end.
struct RecordStart {
  std::uint8_t version = 0;
  std::uint32_t count = 0;
  StringTable strings;
  bool minimal() const { return version >= 2; }
  StringTable* table() { return version >= 2 ? &strings : nullptr; }
};
Status read_record_start(std::string_view record, Reader& in, RecordStart& start) {
  in = Reader(record);
  if (!in.byte(start.version)) return Status::error("batch record: empty");
  if (start.version == 0 || start.version > kBatchFormatVersion) {
    return Status::error("batch record: unknown format version " + std::to_string(start.version));
  }
  if (!in.varint32(start.count) || start.count == 0 || start.count > kMaxEventsPerRecord) {
    return Status::error("batch record: bad event count");
  }
  if (start.version >= 2) {
    std::size_t events_end = record.size();
    if (auto status = read_string_table(record, in.pos(), start.count, start.strings, events_end);
        !status.ok()) {
      return status;
    }
    in = Reader(record.substr(0, events_end), in.pos(), start.minimal());
  }
  return {};
}

}  // namespace

Status decode_event(std::string_view record, std::uint64_t seq, StoredEvent& out) {
  Reader in(record);
  RecordStart start;
  if (auto status = read_record_start(record, in, start); !status.ok()) return status;
  // One event out of the record's order: any string of the table may be its first use.
  start.strings.first_unused = static_cast<std::uint32_t>(start.strings.strings.size());
  const bool minimal = start.minimal();
  for (std::uint32_t i = 0; i < start.count; ++i) {
    std::uint32_t length = 0;
    std::string_view bytes;
    std::string_view chain;
    if (!in.varint32(length) || length > kMaxEventBytes || !in.bytes(length, bytes) ||
        !in.bytes(kChainBytes, chain)) {
      return Status::error("seq " + std::to_string(seq) + ": the record is truncated");
    }
    // Only the header of the others: the kind byte, then the seq.
    Reader header(bytes, 0, minimal);
    std::uint8_t kind = 0;
    std::uint64_t event_seq = 0;
    if (!header.byte(kind) || !header.varint(event_seq) || event_seq != seq) continue;
    out = StoredEvent{};
    auto status = decode_event_bytes(bytes, chain, minimal, start.table(), out);
    if (!status.ok() && status.message().empty()) {
      return Status::error("seq " + std::to_string(seq) + ": bad header");
    }
    return status;
  }
  return Status::error("seq " + std::to_string(seq) + ": not in the record");
}

Status decode_batch(std::string_view record, std::vector<StoredEvent>& out) {
  out.clear();
  Reader in(record);
  RecordStart start;
  if (auto status = read_record_start(record, in, start); !status.ok()) return status;
  const std::uint32_t count = start.count;
  const bool minimal = start.minimal();
  StringTable* table = start.table();
  out.reserve(count);
  std::uint64_t last_seq = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t length = 0;
    std::string_view bytes;
    std::string_view chain;
    // Named lazily: building the text per event would cost recovery an allocation each.
    const auto where = [last_seq] {
      return last_seq == 0 ? std::string("batch record: first event")
                           : "seq " + std::to_string(last_seq) + ": the event after it";
    };
    if (!in.varint32(length) || length > kMaxEventBytes || !in.bytes(length, bytes) ||
        !in.bytes(kChainBytes, chain)) {
      return Status::error(where() + ": truncated");
    }
    StoredEvent event;
    if (auto status = decode_event_bytes(bytes, chain, minimal, table, event); !status.ok()) {
      return status.message().empty() ? Status::error(where() + ": bad header") : status;
    }
    last_seq = event.seq;
    out.push_back(event);
  }
  if (!in.done()) {
    return Status::error("seq " + std::to_string(last_seq) +
                         ": trailing bytes after the batch record's last event");
  }
  if (table != nullptr && table->first_unused != table->strings.size()) {
    return Status::error("batch record: a string of the table is never used");
  }
  return {};
}

std::string seq_key(std::uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[static_cast<std::size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

std::optional<std::uint64_t> parse_seq_key(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : key) seq = (seq << 8) | static_cast<std::uint8_t>(c);
  return seq;
}

std::string to_hex(const ChainHash& chain) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(chain.size() * 2);
  for (std::uint8_t b : chain) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

}  // namespace tally::storage
