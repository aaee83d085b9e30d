// The commit batch record: round trips, chain hashes, the JSON shape, and corrupt input; the
// adjudication events (late flags, decisions) pinned byte for byte, and what their decoders
// refuse.
#include "tally/storage/event_format.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tally/storage/event_json.h"

namespace tally::storage {
namespace {

VoteFields full_vote() {
  VoteFields v;
  v.ballot.campaign = "ordos";
  v.ballot.candidate = "c01";
  v.ballot.voter = "wx-openid-1";
  v.ballot.device = "dev-1";
  v.ballot.ip = "10.0.0.1";
  v.ballot.ua = "MicroMessenger/8.0 \"quoted\"";
  v.ballot.request_id = "req-1";
  v.ballot.ts_ms = 1679846400123;
  v.server_ms = 1679846400456;
  v.period = 19443;
  v.flags =
      engine::flag_of(engine::FraudReason::ip_flood) | engine::flag_of(engine::FraudReason::bot_ua);
  return v;
}

VoteFields minimal_vote() {
  VoteFields v;
  v.ballot.campaign = "ordos";
  v.ballot.candidate = "c02";
  v.ballot.voter = "v";
  v.server_ms = -5;  // negative values must survive the zigzag encoding
  v.period = -1;
  return v;
}

// The vote of the pinned records (docs/EVENT_FORMAT.md, "Example"): campaign `o`, candidate
// `c`, voter `v`, server_ms 1, period 2, nothing else.
std::string pinned_vote_payload() {
  VoteFields v;
  v.ballot.campaign = "o";
  v.ballot.candidate = "c";
  v.ballot.voter = "v";
  v.server_ms = 1;
  v.period = 2;
  std::string payload;
  encode_vote_payload(v, payload);
  return payload;
}

constexpr std::string_view kCampaignJson = R"({"id":"ordos","title":"t"})";

// Three events: a campaign version, a full vote and a minimal vote, seqs 7..9.
std::string three_event_record(std::vector<ChainHash>* chains = nullptr) {
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(3);
  std::string campaign, full, minimal;
  encode_campaign_payload(kCampaignJson, campaign);
  encode_vote_payload(full_vote(), full);
  encode_vote_payload(minimal_vote(), minimal);
  ChainHash chain = kGenesisChain;
  chain = encoder.add(hasher, chain, EventKind::campaign, 7, campaign);
  if (chains) chains->push_back(chain);
  chain = encoder.add(hasher, chain, EventKind::vote, 8, full);
  if (chains) chains->push_back(chain);
  chain = encoder.add(hasher, chain, EventKind::vote, 9, minimal);
  if (chains) chains->push_back(chain);
  return std::string(encoder.record());
}

void expect_same(const VoteFields& a, const VoteFields& b) {
  EXPECT_EQ(a.ballot.campaign, b.ballot.campaign);
  EXPECT_EQ(a.ballot.candidate, b.ballot.candidate);
  EXPECT_EQ(a.ballot.voter, b.ballot.voter);
  EXPECT_EQ(a.ballot.device, b.ballot.device);
  EXPECT_EQ(a.ballot.ip, b.ballot.ip);
  EXPECT_EQ(a.ballot.ua, b.ballot.ua);
  EXPECT_EQ(a.ballot.request_id, b.ballot.request_id);
  EXPECT_EQ(a.ballot.ts_ms, b.ballot.ts_ms);
  EXPECT_EQ(a.server_ms, b.server_ms);
  EXPECT_EQ(a.period, b.period);
  EXPECT_EQ(a.flags, b.flags);
}

TEST(EventFormatTest, RecordRoundTripsEveryField) {
  std::vector<ChainHash> chains;
  const std::string record = three_event_record(&chains);
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, EventKind::campaign);
  EXPECT_EQ(events[0].seq, 7u);
  EXPECT_EQ(events[0].campaign_json, kCampaignJson);
  EXPECT_EQ(events[1].kind, EventKind::vote);
  EXPECT_EQ(events[1].seq, 8u);
  expect_same(events[1].vote, full_vote());
  EXPECT_EQ(events[2].seq, 9u);
  expect_same(events[2].vote, minimal_vote());
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(events[i].chain, chains[i]);
}

TEST(EventFormatTest, ChainHashIsSha256OfPreviousChainAndCanonicalEventBytes) {
  const std::string record = three_event_record();
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  ASSERT_EQ(events.size(), 3u);
  // Canonical bytes: kind, seq (one byte below 128), then the payload as encoded for the
  // submitter, whatever the record stores.
  std::string campaign, full, minimal;
  encode_campaign_payload(kCampaignJson, campaign);
  encode_vote_payload(full_vote(), full);
  encode_vote_payload(minimal_vote(), minimal);
  const std::string canonical[] = {std::string("\x02\x07") + campaign,
                                   std::string("\x01\x08") + full,
                                   std::string("\x01\x09") + minimal};
  ChainHasher hasher;
  std::string scratch;
  ChainHash chain = kGenesisChain;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const ChainHash expected = hasher.next(chain, canonical[i], {});
    EXPECT_EQ(chain_of(hasher, chain, events[i], scratch), expected) << i;
    EXPECT_EQ(events[i].chain, expected) << i;
    chain = expected;
  }
  // A campaign version is stored as it is hashed; a vote holds references instead.
  EXPECT_TRUE(events[0].stored_canonical);
  EXPECT_EQ(events[0].bytes, canonical[0]);
  EXPECT_FALSE(events[1].stored_canonical);
  EXPECT_LT(events[1].bytes.size(), canonical[1].size());
  // SHA-256 of 32 zero bytes followed by "abc", split anywhere, is the same value.
  EXPECT_EQ(hasher.next(kGenesisChain, "ab", "c"), hasher.next(kGenesisChain, "abc", ""));
  EXPECT_EQ(to_hex(hasher.next(kGenesisChain, "", "")),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
}

// The layout the encoder hands the writer is where the writer would find the fields itself:
// a record written with it is the record written without it.
TEST(EventFormatTest, TheEncodersLayoutWritesTheSameRecordAsReadingThePayload) {
  VoteFields without_ua = full_vote();
  without_ua.ballot.ua = {};
  for (const VoteFields& vote : {full_vote(), minimal_vote(), without_ua}) {
    std::string payload;
    VoteLayout layout;
    encode_vote_payload(vote, payload, &layout);
    EXPECT_LT(layout.campaign_begin, layout.campaign_end);
    EXPECT_LE(layout.campaign_end, layout.ua_begin);
    EXPECT_EQ(layout.ua_end > layout.ua_begin, !vote.ballot.ua.empty());
    ChainHasher hasher;
    BatchEncoder with, without;
    with.begin(1);
    without.begin(1);
    EXPECT_EQ(with.add(hasher, kGenesisChain, EventKind::vote, 9, payload, &layout),
              without.add(hasher, kGenesisChain, EventKind::vote, 9, payload));
    EXPECT_EQ(with.record(), without.record());
  }
}

// Version 2 pinned byte for byte: the vote of the version 1 test below, with its campaign id
// in the record's string table.
TEST(EventFormatTest, VersionTwoRecordIsPinned) {
  const std::string payload = pinned_vote_payload();
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(1);
  const ChainHash chain = encoder.add(hasher, kGenesisChain, EventKind::vote, 1, payload);
  // One row per field of the record.
  // clang-format off
  const unsigned char head[] = {0x02, 0x01, 0x0b,  // version 2, one event of 11 bytes
                                0x01, 0x01,        // kind vote, seq 1
                                0x20, 0x02, 0x04, 0x00,  // presence (by reference), ms, period, flags
                                0x00,                    // campaign: string 0
                                0x01, 'c', 0x01, 'v'};
  // clang-format on
  const unsigned char tail[] = {0x01, 0x01, 'o'};  // one string: "o"
  std::string expected(reinterpret_cast<const char*>(head), sizeof(head));
  expected.append(reinterpret_cast<const char*>(chain.data()), chain.size());
  expected.append(reinterpret_cast<const char*>(tail), sizeof(tail));
  EXPECT_EQ(std::string(encoder.record()), expected);
  // The chain is version 1's: SHA-256 of the canonical bytes, the campaign inline.
  EXPECT_EQ(chain, hasher.next(kGenesisChain, std::string("\x01\x01") + payload, {}));
}

TEST(EventFormatTest, RecordStoresEachCampaignAndUserAgentOnce) {
  const std::string agents[] = {std::string(200, 'a'), std::string(200, 'b'),
                                std::string(200, 'c')};
  std::vector<std::string> payloads(300);
  std::vector<std::string> voters(300);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    voters[i] = "voter-" + std::to_string(i);
    VoteFields v = full_vote();
    v.ballot.voter = voters[i];
    v.ballot.ua = agents[i % 3];
    encode_vote_payload(v, payloads[i]);
  }
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(payloads.size());
  std::vector<ChainHash> chains;
  ChainHash chain = kGenesisChain;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    chain = encoder.add(hasher, chain, EventKind::vote, i + 1, payloads[i]);
    chains.push_back(chain);
  }
  const std::string record(encoder.record());
  std::size_t canonical_bytes = 0;
  for (const auto& payload : payloads) canonical_bytes += payload.size();
  EXPECT_LT(record.size() + 3 * 200, canonical_bytes / 2);  // the agents once, not 300 times

  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  ASSERT_EQ(events.size(), payloads.size());
  std::string scratch;
  chain = kGenesisChain;
  for (std::size_t i = 0; i < events.size(); ++i) {
    VoteFields expected = full_vote();
    expected.ballot.voter = voters[i];
    expected.ballot.ua = agents[i % 3];
    expect_same(events[i].vote, expected);
    chain = chain_of(hasher, chain, events[i], scratch);
    EXPECT_EQ(chain, chains[i]) << i;
    EXPECT_EQ(events[i].chain, chains[i]) << i;
  }

  // One event decoded alone (a receipt's lookup) is the event decode_batch gives, table
  // references resolved whatever their order in the record.
  for (const std::uint64_t seq :
       {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{150}, std::uint64_t{300}}) {
    StoredEvent alone;
    ASSERT_TRUE(decode_event(record, seq, alone).ok()) << seq;
    EXPECT_EQ(alone.seq, seq);
    expect_same(alone.vote, events[seq - 1].vote);
    EXPECT_EQ(alone.chain, events[seq - 1].chain);
    EXPECT_EQ(chain_of(hasher, seq == 1 ? kGenesisChain : chains[seq - 2], alone, scratch),
              chains[seq - 1]);
  }
  StoredEvent missing;
  EXPECT_EQ(decode_event(record, 301, missing).message(), "seq 301: not in the record");

  // A changed byte in the string table changes every vote that refers to it: their chains
  // no longer match, although the events' own bytes are untouched.
  std::string changed = record;
  const std::size_t at = changed.rfind(agents[1]);
  ASSERT_NE(at, std::string::npos);
  changed[at] = 'x';
  ASSERT_TRUE(decode_batch(changed, events).ok());
  EXPECT_EQ(events[0].chain, chain_of(hasher, kGenesisChain, events[0], scratch));
  EXPECT_NE(events[1].chain, chain_of(hasher, chains[0], events[1], scratch));
}

// Version 2 has one byte form per vote (besides the chain): any other form of the same
// fields is refused, so a changed byte cannot hide behind an equal decoding.
TEST(EventFormatTest, VersionTwoRefusesEveryOtherFormOfTheSameVote) {
  const auto record = [](std::string event, std::string table, char version = '\x02') {
    std::string out{version, '\x01', static_cast<char>(event.size())};
    out += event;
    out.append(32, '\xab');
    if (version == '\x02') out += table;
    return out;
  };
  // Byte strings are split where a hex escape would run into the letter after it.
  // clang-format off
  const std::string vote("\x01\x01\x20\x02\x04\x00\x00\x01" "c" "\x01" "v", 11);
  // clang-format on
  const std::string table("\x01\x01o", 3);
  std::vector<StoredEvent> events;
  const std::string sound = record(vote, table);  // the encoder's form
  ASSERT_TRUE(decode_batch(sound, events).ok());
  EXPECT_EQ(events[0].vote.ballot.campaign, "o");
  // The longest table string: a user agent of kMaxUaBytes.
  const std::string longest = record(vote, std::string("\x01\x80\x08", 3) + std::string(1024, 'o'));
  ASSERT_TRUE(decode_batch(longest, events).ok());
  EXPECT_EQ(events[0].vote.ballot.campaign.size(), 1024u);

  // clang-format off
  const std::pair<const char*, std::string> others[] = {
      {"bit 5 in version 1", record(vote, "", '\x01')},
      {"an overlong varint",
       record(std::string("\x01\x01\x20\x82\x00\x04\x00\x00\x01" "c" "\x01" "v", 12), table)},
      {"the campaign inline",
       record(std::string("\x01\x01\x00\x02\x04\x00\x01" "o" "\x01" "c" "\x01" "v", 12),
              std::string("\x00", 1))},
      {"an empty device marked present",
       record(std::string("\x01\x01\x21\x02\x04\x00\x00\x01" "c" "\x01" "v" "\x00", 12),
              table)},
      {"a repeated string", record(vote, std::string("\x02\x01o\x01o", 5))},
      {"an unused string", record(vote, std::string("\x02\x01o\x01p", 5))},
      {"an empty string", record(vote, std::string("\x02\x01o\x00", 4))},
      {"a string longer than a user agent",
       record(vote, std::string("\x01\x81\x08", 3) + std::string(1025, 'o'))},
  };
  // clang-format on
  for (const auto& [what, bad] : others) {
    EXPECT_FALSE(decode_batch(bad, events).ok()) << what;
  }
}

TEST(EventFormatTest, StringReferenceOutOfRangeIsAnErrorNamingItsSeq) {
  const unsigned char head[] = {0x02, 0x01, 0x0b, 0x01, 0x05, 0x20, 0x02, 0x04, 0x00,
                                0x01,  // campaign: string 1, of a table of one
                                0x01, 'c',  0x01, 'v'};
  std::string record(reinterpret_cast<const char*>(head), sizeof(head));
  record.append(32, '\xab');
  record.append("\x01\x01o", 3);
  std::vector<StoredEvent> events;
  const auto status = decode_batch(record, events);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("seq 5: ", 0), 0u) << status.message();
  record[9] = 0x00;  // string 0: fine
  EXPECT_TRUE(decode_batch(record, events).ok());
  EXPECT_EQ(events[0].vote.ballot.campaign, "o");
}

TEST(EventFormatTest, VoteRendersAsTheStoredEventJson) {
  const std::string record = three_event_record();
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  std::string json;
  append_event_json(json, events[1]);
  EXPECT_EQ(json,
            "{\"seq\":8,\"kind\":\"vote\",\"campaign\":\"ordos\",\"candidate\":\"c01\","
            "\"voter\":\"wx-openid-1\",\"device\":\"dev-1\",\"ip\":\"10.0.0.1\","
            "\"ua\":\"MicroMessenger/8.0 \\\"quoted\\\"\",\"ts\":1679846400123,"
            "\"request_id\":\"req-1\",\"server_ms\":1679846400456,\"period\":19443,"
            "\"flags\":[\"ip_flood\",\"bot_ua\"],\"chain\":\"" +
                to_hex(events[1].chain) + "\"}");
  json.clear();
  append_event_json(json, events[2]);
  EXPECT_EQ(json,
            "{\"seq\":9,\"kind\":\"vote\",\"campaign\":\"ordos\",\"candidate\":\"c02\","
            "\"voter\":\"v\",\"server_ms\":-5,\"period\":-1,\"flags\":[],\"chain\":\"" +
                to_hex(events[2].chain) + "\"}");
  json.clear();
  append_event_json(json, events[0]);
  EXPECT_EQ(json, "{\"seq\":7,\"kind\":\"campaign\",\"campaign\":" + std::string(kCampaignJson) +
                      ",\"chain\":\"" + to_hex(events[0].chain) + "\"}");
}

TEST(EventFormatTest, RedactorReplacesOnlyVoterDeviceAndIp) {
  struct Upper final : Redactor {
    std::string redact(std::string_view field, std::string_view) const override {
      return "R-" + std::string(field);
    }
  } redactor;
  const std::string record = three_event_record();
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  std::string json;
  append_event_json(json, events[1], &redactor);
  EXPECT_NE(json.find("\"voter\":\"R-voter\""), std::string::npos);
  EXPECT_NE(json.find("\"device\":\"R-device\""), std::string::npos);
  EXPECT_NE(json.find("\"ip\":\"R-ip\""), std::string::npos);
  EXPECT_EQ(json.find("wx-openid-1"), std::string::npos);
  EXPECT_NE(json.find("\"candidate\":\"c01\""), std::string::npos);
}

TEST(EventFormatTest, VersionOneRecordWrittenByEarlierBuildsStillDecodes) {
  // A version 1 record pinned byte for byte: one vote, seq 1, no optional fields.
  // Changing the encoder must keep this decoding the same (docs/EVENT_FORMAT.md).
  // One row per field of the record.
  // clang-format off
  const unsigned char bytes[] = {0x01, 0x01, 0x0c,  // version 1, one event of 12 bytes
                                 0x01, 0x01,        // kind vote, seq 1
                                 0x00, 0x02, 0x04, 0x00,  // presence, server_ms, period, flags
                                 0x01, 'o', 0x01, 'c', 0x01, 'v'};
  // clang-format on
  std::string record(reinterpret_cast<const char*>(bytes), sizeof(bytes));
  record.append(32, '\xab');
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(record, events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq, 1u);
  EXPECT_EQ(events[0].vote.ballot.campaign, "o");
  EXPECT_EQ(events[0].vote.ballot.candidate, "c");
  EXPECT_EQ(events[0].vote.ballot.voter, "v");
  EXPECT_EQ(events[0].vote.server_ms, 1);
  EXPECT_EQ(events[0].vote.period, 2);
  EXPECT_EQ(events[0].vote.flags, 0u);
  EXPECT_EQ(events[0].chain[0], 0xab);
  // The encoder writes exactly these bytes for the same event.
  const std::string payload = pinned_vote_payload();
  EXPECT_EQ(std::string("\x01\x01") + payload, record.substr(3, 12));
}

TEST(EventFormatTest, UnknownVersionIsAnError) {
  std::string record = three_event_record();
  for (char version : {'\x00', '\x03', '\xff'}) {
    record[0] = version;
    std::vector<StoredEvent> events;
    const auto status = decode_batch(record, events);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("version"), std::string::npos) << status.message();
  }
}

TEST(EventFormatTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string record = three_event_record();
  std::vector<StoredEvent> events;
  for (std::size_t n = 0; n < record.size(); ++n) {
    EXPECT_FALSE(decode_batch(std::string_view(record).substr(0, n), events).ok()) << n;
  }
  EXPECT_FALSE(decode_batch(record + "x", events).ok());
  StoredEvent event;
  for (std::size_t n = 0; n < record.size(); ++n) {
    (void)decode_event(std::string_view(record).substr(0, n), 2, event).ok();  // never a crash
  }
}

TEST(EventFormatTest, CorruptBytesNeverCrashTheDecoder) {
  const std::string record = three_event_record();
  std::mt19937 rng(12345);
  std::cout << "seed 12345\n";
  std::vector<StoredEvent> events;
  // Every single-byte change to every value, then random multi-byte damage.
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string bad = record;
      bad[i] = static_cast<char>(b);
      (void)decode_batch(bad, events).ok();
      StoredEvent event;
      (void)decode_event(bad, 2, event).ok();
    }
  }
  for (int round = 0; round < 20000; ++round) {
    std::string bad = record;
    for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    (void)decode_batch(bad, events).ok();
  }
  // Huge lengths and counts are refused before anything is allocated.
  EXPECT_FALSE(decode_batch(std::string("\x01\xff\xff\xff\xff\x0f", 6), events).ok());
  EXPECT_FALSE(decode_batch(std::string("\x01\x01\xff\xff\xff\xff\x0f", 7), events).ok());
}

TEST(EventFormatTest, CorruptEventErrorNamesItsSeq) {
  std::string payload = "\x01";  // a vote payload cut after its presence byte
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(1);
  (void)encoder.add(hasher, kGenesisChain, EventKind::vote, 42, payload);
  std::vector<StoredEvent> events;
  const auto status = decode_batch(encoder.record(), events);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("seq 42: ", 0), 0u) << status.message();
}

TEST(EventFormatTest, SeqKeysSortAsNumbers) {
  EXPECT_LT(seq_key(255), seq_key(256));
  EXPECT_LT(seq_key(1), seq_key(1ull << 40));
  EXPECT_EQ(parse_seq_key(seq_key(0x0102030405060708ull)), 0x0102030405060708ull);
  EXPECT_FALSE(parse_seq_key("short").has_value());
}

// Adjudication events: late flags and decisions (DESIGN.md "Adjudication").

void put_test_varint(std::string& out, std::uint64_t value) {
  for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>(value | 0x80));
  out.push_back(static_cast<char>(value));
}

std::string hex_of(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(kDigits[static_cast<std::uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<std::uint8_t>(c) & 0xf]);
  }
  return out;
}

// An event's bytes as the chain hashes them: kind, seq, then the payload as encoded.
std::string flag_event_bytes(const FlagFields& flag, std::uint64_t seq) {
  std::string out(1, static_cast<char>(EventKind::flag));
  put_test_varint(out, seq);
  encode_flag_payload(flag, out);
  return out;
}
std::string decision_event_bytes(const DecisionFields& decision, std::uint64_t seq) {
  std::string out(1, static_cast<char>(EventKind::decision));
  put_test_varint(out, seq);
  encode_decision_payload(decision, out);
  return out;
}

// A version 2 record of one event stored as given, with a made-up chain (decoders return
// chains as stored) and an empty string table.
std::string one_event_record(std::string_view event_bytes) {
  std::string out(1, '\x02');
  put_test_varint(out, 1);
  put_test_varint(out, event_bytes.size());
  out += event_bytes;
  out.append(kChainBytes, '\xab');
  out.push_back('\x00');
  return out;
}

// The small flag and decision of the pinned record: campaign `o`, server_ms 1, votes seq 2 of
// candidate 0 and seq 5 of candidate 1.
FlagFields small_flag() {
  FlagFields flag;
  flag.campaign = "o";
  flag.reason = engine::FraudReason::device_multi_account;
  flag.scope = engine::ClusterScope::device;
  flag.key = "d";
  flag.server_ms = 1;
  flag.votes = {{2, 0, 0}, {5, 1, engine::flag_of(engine::FraudReason::ip_flood)}};
  return flag;
}
DecisionFields small_void() {
  DecisionFields decision;
  decision.campaign = "o";
  decision.action = DecisionAction::void_votes;
  decision.server_ms = 1;
  decision.author = "a";
  decision.reason = "r";
  decision.scope = engine::ClusterScope::ip;
  decision.key = "k";
  decision.votes = {{2, 0, 0}, {5, 1, 0}};
  return decision;
}

void expect_same_votes(const std::vector<engine::MarkedVote>& got,
                       const std::vector<engine::MarkedVote>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, want[i].seq) << i;
    EXPECT_EQ(got[i].candidate, want[i].candidate) << i;
    EXPECT_EQ(got[i].prior, want[i].prior) << i;
  }
}
void expect_same(const FlagFields& got, const FlagFields& want) {
  EXPECT_EQ(got.campaign, want.campaign);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.scope, want.scope);
  EXPECT_EQ(got.key, want.key);
  EXPECT_EQ(got.server_ms, want.server_ms);
  expect_same_votes(got.votes, want.votes);
}
void expect_same(const DecisionFields& got, const DecisionFields& want) {
  EXPECT_EQ(got.campaign, want.campaign);
  EXPECT_EQ(got.action, want.action);
  EXPECT_EQ(got.server_ms, want.server_ms);
  EXPECT_EQ(got.author, want.author);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.candidate, want.candidate);
  EXPECT_EQ(got.scope, want.scope);
  EXPECT_EQ(got.key, want.key);
  expect_same_votes(got.votes, want.votes);
}

TEST(AdjudicationEventFormatTest, FlagsAndDecisionsRoundTripEveryFieldAndChainAsStored) {
  // Seq gaps of one and of several varint bytes; every prior a flag can carry.
  FlagFields flag;
  flag.campaign = "ordos";
  flag.reason = engine::FraudReason::ip_flood;
  flag.scope = engine::ClusterScope::subnet;
  flag.key = "198.51.100.0/24";
  flag.server_ms = -1679846400456;  // negative: the zigzag encoding
  flag.votes = {{2, 3, 0},
                {3, 0, engine::flag_of(engine::FraudReason::bot_ua)},
                {200, 1, engine::flag_of(engine::FraudReason::no_device)},
                {70'000, 2, engine::FraudFlags{1} << 31}};
  DecisionFields voided;
  voided.campaign = "ordos";
  voided.action = DecisionAction::void_votes;
  voided.server_ms = 1679846400789;
  voided.author = "评审委员会";
  voided.reason = "同一设备 12 个账号";
  voided.scope = engine::ClusterScope::device;
  voided.key = "emulator-1";
  voided.votes = {{3, 0, 0}, {4, 1, 0}, {69'999, 3, 0}};
  DecisionFields restored;
  restored.campaign = "ordos";
  restored.action = DecisionAction::restore;
  restored.server_ms = 7;
  restored.author = "a";
  restored.reason = "appeal upheld";
  restored.votes = {{4, 1, 0}};
  DecisionFields disqualified;
  disqualified.campaign = "ordos";
  disqualified.action = DecisionAction::disqualify;
  disqualified.server_ms = 8;
  disqualified.author = "a";
  disqualified.reason = "材料不实";
  disqualified.candidate = "c02";
  DecisionFields reinstated = disqualified;
  reinstated.action = DecisionAction::reinstate;

  std::string payloads[5];
  encode_flag_payload(flag, payloads[0]);
  encode_decision_payload(voided, payloads[1]);
  encode_decision_payload(restored, payloads[2]);
  encode_decision_payload(disqualified, payloads[3]);
  encode_decision_payload(reinstated, payloads[4]);
  const EventKind kinds[5] = {EventKind::flag, EventKind::decision, EventKind::decision,
                              EventKind::decision, EventKind::decision};
  for (std::size_t i = 0; i < 5; ++i) {
    const std::string wrong = i == 0 ? check_flag(flag, 70'001)
                                     : check_decision(i == 1   ? voided
                                                      : i == 2 ? restored
                                                      : i == 3 ? disqualified
                                                               : reinstated,
                                                      70'001 + i);
    EXPECT_EQ(wrong, "") << i;
  }
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(5);
  ChainHash chain = kGenesisChain;
  std::vector<ChainHash> chains;
  for (std::size_t i = 0; i < 5; ++i) {
    chain = encoder.add(hasher, chain, kinds[i], 70'001 + i, payloads[i]);
    chains.push_back(chain);
  }
  const std::string record(encoder.record());

  std::vector<StoredEvent> events;
  const Status decoded = decode_batch(record, events);
  ASSERT_TRUE(decoded.ok()) << decoded.message();
  ASSERT_EQ(events.size(), 5u);
  expect_same(events[0].flag, flag);
  expect_same(events[1].decision, voided);
  expect_same(events[2].decision, restored);
  expect_same(events[3].decision, disqualified);
  expect_same(events[4].decision, reinstated);
  std::string scratch;
  ChainHash prev = kGenesisChain;
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kind, kinds[i]) << i;
    EXPECT_EQ(events[i].seq, 70'001 + i) << i;
    // Stored as hashed: kind, seq and payload, with no string table references.
    EXPECT_TRUE(events[i].stored_canonical) << i;
    std::string canonical(1, static_cast<char>(kinds[i]));
    put_test_varint(canonical, 70'001 + i);
    EXPECT_EQ(events[i].bytes, canonical + payloads[i]) << i;
    EXPECT_EQ(events[i].chain, chains[i]) << i;
    EXPECT_EQ(chain_of(hasher, prev, events[i], scratch), chains[i]) << i;
    EXPECT_EQ(chains[i], hasher.next(prev, canonical + payloads[i], {})) << i;
    prev = chains[i];

    // One event alone, as a receipt's lookup reads it.
    StoredEvent alone;
    const Status found = decode_event(record, 70'001 + i, alone);
    ASSERT_TRUE(found.ok()) << i << ": " << found.message();
    EXPECT_EQ(alone.kind, kinds[i]) << i;
    EXPECT_EQ(alone.chain, chains[i]) << i;
    EXPECT_EQ(alone.bytes, events[i].bytes) << i;
  }
  StoredEvent alone;
  ASSERT_TRUE(decode_event(record, 70'001, alone).ok());
  expect_same(alone.flag, flag);
  ASSERT_TRUE(decode_event(record, 70'002, alone).ok());
  expect_same(alone.decision, voided);
  ASSERT_TRUE(decode_event(record, 70'004, alone).ok());
  expect_same(alone.decision, disqualified);
}

// One flag and one decision pinned byte for byte, chains included: the stored format of
// adjudication cannot drift without this test saying so.
TEST(AdjudicationEventFormatTest, FlagAndDecisionRecordIsPinned) {
  std::string flag_payload, decision_payload;
  encode_flag_payload(small_flag(), flag_payload);
  encode_decision_payload(small_void(), decision_payload);
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(2);
  const ChainHash flag_chain = encoder.add(hasher, kGenesisChain, EventKind::flag, 9, flag_payload);
  const ChainHash decision_chain =
      encoder.add(hasher, flag_chain, EventKind::decision, 10, decision_payload);
  // One row per field; chains = SHA-256(previous chain ‖ event bytes), the first after 32 zero
  // bytes.
  const std::string expected =
      "02"      // version 2
      "02"      // two events
      "10"      // flag event: 16 bytes
      "0409"    // kind flag, seq 9
      "016f"    // campaign "o"
      "01"      // reason device_multi_account
      "03"      // scope device
      "0164"    // key "d"
      "02"      // server_ms zigzag(1)
      "02"      // two votes
      "020000"  // seq +2, candidate 0, prior {}
      "030101"  // seq +3 (5), candidate 1, prior {ip_flood}
      "02259acb6a3929c0ad137fffd52567ebeee9b793655dcb5d960decd8bc7140fe"  // chain
      "13"    // decision event: 19 bytes
      "050a"  // kind decision, seq 10
      "016f"  // campaign "o"
      "01"    // action void
      "02"    // server_ms zigzag(1)
      "0161"  // author "a"
      "0172"  // reason "r"
      "00"    // candidate ""
      "01"    // scope ip
      "016b"  // key "k"
      "02"    // two votes
      "0200"  // seq +2, candidate 0
      "0301"  // seq +3 (5), candidate 1
      "10fb33f8c0ea031115c79852d44bf33bcf07e08b40b537361961341a09fb2503"  // chain
      "00";                                                               // no strings
  EXPECT_EQ(hex_of(encoder.record()), expected);
  EXPECT_EQ(to_hex(flag_chain), "02259acb6a3929c0ad137fffd52567ebeee9b793655dcb5d960decd8bc7140fe");
  EXPECT_EQ(to_hex(decision_chain),
            "10fb33f8c0ea031115c79852d44bf33bcf07e08b40b537361961341a09fb2503");
}

TEST(AdjudicationEventFormatTest, FlagAndDecisionRenderAsStoredEventJson) {
  std::string flag_payload, decision_payload, disqualify_payload;
  encode_flag_payload(small_flag(), flag_payload);
  encode_decision_payload(small_void(), decision_payload);
  DecisionFields disqualify;
  disqualify.campaign = "o";
  disqualify.action = DecisionAction::disqualify;
  disqualify.server_ms = 3;
  disqualify.author = "评审组";
  disqualify.reason = "材料\"不实\"";
  disqualify.candidate = "c";
  encode_decision_payload(disqualify, disqualify_payload);
  ChainHasher hasher;
  BatchEncoder encoder;
  encoder.begin(3);
  ChainHash chain = encoder.add(hasher, kGenesisChain, EventKind::flag, 9, flag_payload);
  chain = encoder.add(hasher, chain, EventKind::decision, 10, decision_payload);
  (void)encoder.add(hasher, chain, EventKind::decision, 11, disqualify_payload);
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(encoder.record(), events).ok());
  ASSERT_EQ(events.size(), 3u);
  std::string json;
  append_event_json(json, events[0]);
  EXPECT_EQ(json, R"({"seq":9,"kind":"flag","campaign":"o","reason":"device_multi_account",)"
                  R"("scope":"device","key":"d","server_ms":1,"votes":[{"seq":2,"candidate":0,)"
                  R"("prior":[]},{"seq":5,"candidate":1,"prior":["ip_flood"]}],"chain":")" +
                      to_hex(events[0].chain) + "\"}");
  json.clear();
  append_event_json(json, events[1]);
  EXPECT_EQ(json, R"({"seq":10,"kind":"decision","campaign":"o","action":"void","author":"a",)"
                  R"("reason":"r","server_ms":1,"scope":"ip","key":"k","votes":[{"seq":2,)"
                  R"("candidate":0},{"seq":5,"candidate":1}],"chain":")" +
                      to_hex(events[1].chain) + "\"}");
  json.clear();
  append_event_json(json, events[2]);
  EXPECT_EQ(json, R"({"seq":11,"kind":"decision","campaign":"o","action":"disqualify",)"
                  R"("author":"评审组","reason":"材料\"不实\"","server_ms":3,"candidate":"c",)"
                  R"("chain":")" +
                      to_hex(events[2].chain) + "\"}");
}

// A decoder refuses every flag whose fields no writer could have meant, naming the seq.
TEST(AdjudicationEventFormatTest, DecoderRefusesMalformedFlagsNamingTheirSeq) {
  const std::string sound = flag_event_bytes(small_flag(), 9);
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(one_event_record(sound), events).ok());

  std::vector<std::pair<std::string, std::string>> bad;  // what, event bytes
  const auto with = [&](const std::string& what, auto change) {
    FlagFields flag = small_flag();
    change(flag);
    bad.emplace_back(what, flag_event_bytes(flag, 9));
  };
  with("a seq 0", [](FlagFields& f) { f.votes = {{0, 0, 0}}; });
  with("a seq named twice (a gap of 0)", [](FlagFields& f) { f.votes = {{2, 0, 0}, {2, 0, 0}}; });
  with("a gap past 2^64", [](FlagFields& f) {
    f.votes = {{5, 0, 0}, {2, 0, 0}};
  });  // encoded as 2 - 5 wrapped
  with("its own seq", [](FlagFields& f) { f.votes = {{2, 0, 0}, {9, 0, 0}}; });
  with("a seq after its own", [](FlagFields& f) { f.votes = {{10, 0, 0}}; });
  with("no votes", [](FlagFields& f) { f.votes.clear(); });
  with("no campaign", [](FlagFields& f) { f.campaign = ""; });
  with("scope none", [](FlagFields& f) { f.scope = engine::ClusterScope::none; });
  with("an unknown scope", [](FlagFields& f) { f.scope = static_cast<engine::ClusterScope>(4); });
  with("no key", [](FlagFields& f) { f.key = ""; });
  with("a reason beyond the flag bits",
       [](FlagFields& f) { f.reason = static_cast<engine::FraudReason>(32); });
  bad.emplace_back("trailing bytes", sound + std::string(1, '\0'));
  // server_ms 1 as zigzag 2 in two bytes: 0x82 0x00 where the encoder writes 0x02.
  std::string overlong = sound;
  ASSERT_EQ(overlong.substr(8, 1), "\x02");
  overlong.replace(8, 1, "\x82\x00", 2);
  bad.emplace_back("an overlong varint", overlong);
  for (const auto& [what, bytes] : bad) {
    const std::string record = one_event_record(bytes);
    const Status status = decode_batch(record, events);
    ASSERT_FALSE(status.ok()) << what;
    EXPECT_EQ(status.message().rfind("seq 9: corrupt event: ", 0), 0u)
        << what << ": " << status.message();
    StoredEvent alone;
    EXPECT_FALSE(decode_event(record, 9, alone).ok()) << what;
  }
}

// kMaxMarkedVotes votes is one event; one more must take a second event.
TEST(AdjudicationEventFormatTest, FlagOfMoreThanTheMostMarkedVotesIsRefused) {
  FlagFields flag = small_flag();
  flag.votes.clear();
  for (std::uint64_t seq = 1; seq <= kMaxMarkedVotes; ++seq) flag.votes.push_back({seq, 0, 0});
  const std::uint64_t own_seq = kMaxMarkedVotes + 10;
  EXPECT_EQ(check_flag(flag, own_seq), "");
  std::vector<StoredEvent> events;
  ASSERT_TRUE(decode_batch(one_event_record(flag_event_bytes(flag, own_seq)), events).ok());
  EXPECT_EQ(events[0].flag.votes.size(), kMaxMarkedVotes);

  flag.votes.push_back({kMaxMarkedVotes + 1, 0, 0});
  EXPECT_NE(check_flag(flag, own_seq), "");
  const Status status = decode_batch(one_event_record(flag_event_bytes(flag, own_seq)), events);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("seq " + std::to_string(own_seq) + ": ", 0), 0u)
      << status.message();

  DecisionFields decision = small_void();
  decision.votes.assign(flag.votes.begin(), flag.votes.end());
  for (auto& vote : decision.votes) vote.prior = 0;
  EXPECT_NE(check_decision(decision, own_seq), "");
  EXPECT_FALSE(
      decode_batch(one_event_record(decision_event_bytes(decision, own_seq)), events).ok());
  decision.votes.pop_back();
  EXPECT_EQ(check_decision(decision, own_seq), "");
  EXPECT_TRUE(decode_batch(one_event_record(decision_event_bytes(decision, own_seq)), events).ok());
}

TEST(AdjudicationEventFormatTest, DecoderRefusesMalformedDecisionsNamingTheirSeq) {
  DecisionFields disqualify;
  disqualify.campaign = "o";
  disqualify.action = DecisionAction::disqualify;
  disqualify.author = "a";
  disqualify.reason = "r";
  disqualify.candidate = "c";
  std::vector<StoredEvent> events;
  const std::string sound = decision_event_bytes(small_void(), 10);
  ASSERT_TRUE(decode_batch(one_event_record(sound), events).ok());
  ASSERT_TRUE(decode_batch(one_event_record(decision_event_bytes(disqualify, 10)), events).ok());

  std::vector<std::pair<std::string, std::string>> bad;  // what, event bytes
  const auto with = [&](const std::string& what, const DecisionFields& base, auto change) {
    DecisionFields decision = base;
    change(decision);
    bad.emplace_back(what, decision_event_bytes(decision, 10));
  };
  const DecisionFields voided = small_void();
  with("no author", voided, [](DecisionFields& d) { d.author = ""; });
  const std::string long_author(kMaxAuthorBytes + 1, 'a');
  with("an author too long", voided, [&](DecisionFields& d) { d.author = long_author; });
  with("no reason", voided, [](DecisionFields& d) { d.reason = ""; });
  const std::string long_reason(kMaxReasonBytes + 1, 'r');
  with("a reason too long", voided, [&](DecisionFields& d) { d.reason = long_reason; });
  with("no campaign", voided, [](DecisionFields& d) { d.campaign = ""; });
  with("a void naming a candidate", voided, [](DecisionFields& d) { d.candidate = "c"; });
  with("a restore naming a candidate", voided, [](DecisionFields& d) {
    d.action = DecisionAction::restore;
    d.candidate = "c";
  });
  with("a void naming no votes", voided, [](DecisionFields& d) { d.votes.clear(); });
  with("a void of seq 0", voided, [](DecisionFields& d) { d.votes = {{0, 0, 0}}; });
  with("a void naming a seq twice", voided, [](DecisionFields& d) {
    d.votes = {{2, 0, 0}, {2, 0, 0}};
  });
  with("a void of its own seq", voided, [](DecisionFields& d) { d.votes = {{10, 0, 0}}; });
  with("scope none with a key", voided, [](DecisionFields& d) {
    d.scope = engine::ClusterScope::none;
    d.key = "k";
  });
  with("a scope without a key", voided, [](DecisionFields& d) { d.key = ""; });
  with("an unknown scope", voided,
       [](DecisionFields& d) { d.scope = static_cast<engine::ClusterScope>(4); });
  with("action 0", voided, [](DecisionFields& d) { d.action = static_cast<DecisionAction>(0); });
  with("action 5", voided, [](DecisionFields& d) { d.action = static_cast<DecisionAction>(5); });
  with("a disqualify naming votes", disqualify, [](DecisionFields& d) { d.votes = {{2, 0, 0}}; });
  with("a reinstate naming votes", disqualify, [](DecisionFields& d) {
    d.action = DecisionAction::reinstate;
    d.votes = {{2, 0, 0}};
  });
  with("a disqualify naming a cluster", disqualify, [](DecisionFields& d) {
    d.scope = engine::ClusterScope::ip;
    d.key = "k";
  });
  with("a disqualify without a candidate", disqualify, [](DecisionFields& d) { d.candidate = ""; });
  bad.emplace_back("trailing bytes", sound + std::string(1, '\0'));
  // server_ms 1 as zigzag 2 in two bytes: 0x82 0x00 where the encoder writes 0x02.
  std::string overlong = sound;
  ASSERT_EQ(overlong.substr(5, 1), "\x02");
  overlong.replace(5, 1, "\x82\x00", 2);
  bad.emplace_back("an overlong varint", overlong);
  // The vote count 2 as 0x82 0x00.
  std::string overlong_count = sound;
  ASSERT_EQ(overlong_count.substr(14, 1), "\x02");
  overlong_count.replace(14, 1, "\x82\x00", 2);
  bad.emplace_back("an overlong vote count", overlong_count);
  for (const auto& [what, bytes] : bad) {
    const std::string record = one_event_record(bytes);
    const Status status = decode_batch(record, events);
    ASSERT_FALSE(status.ok()) << what;
    EXPECT_EQ(status.message().rfind("seq 10: corrupt event: ", 0), 0u)
        << what << ": " << status.message();
    StoredEvent alone;
    EXPECT_FALSE(decode_event(record, 10, alone).ok()) << what;
  }
}

// Every prefix of a flag or decision, in a record whose framing is intact and as a cut record,
// is an error, never a crash; so is every single-byte change (decoded or refused).
TEST(AdjudicationEventFormatTest, TruncatedOrDamagedFlagsAndDecisionsAreErrorsNotCrashes) {
  FlagFields flag = small_flag();
  flag.votes.push_back({300, 3, engine::flag_of(engine::FraudReason::bot_ua)});
  DecisionFields decision = small_void();
  decision.votes.push_back({300, 3, 0});
  DecisionFields disqualify = small_void();
  disqualify.action = DecisionAction::disqualify;
  disqualify.scope = engine::ClusterScope::none;
  disqualify.key = "";
  disqualify.votes.clear();
  disqualify.candidate = "c01";
  std::vector<StoredEvent> events;
  StoredEvent alone;
  for (const std::string& event : {flag_event_bytes(flag, 400), decision_event_bytes(decision, 400),
                                   decision_event_bytes(disqualify, 400)}) {
    ASSERT_TRUE(decode_batch(one_event_record(event), events).ok());
    for (std::size_t n = 0; n < event.size(); ++n) {
      const std::string record = one_event_record(std::string_view(event).substr(0, n));
      EXPECT_FALSE(decode_batch(record, events).ok()) << n;
      EXPECT_FALSE(decode_event(record, 400, alone).ok()) << n;
    }
    const std::string record = one_event_record(event);
    for (std::size_t n = 0; n < record.size(); ++n) {
      EXPECT_FALSE(decode_batch(std::string_view(record).substr(0, n), events).ok()) << n;
      (void)decode_event(std::string_view(record).substr(0, n), 400, alone).ok();
    }
    for (std::size_t i = 0; i < record.size(); ++i) {
      for (int b = 0; b < 256; ++b) {
        std::string damaged = record;
        damaged[i] = static_cast<char>(b);
        (void)decode_batch(damaged, events).ok();
        (void)decode_event(damaged, 400, alone).ok();
      }
    }
  }
}

}  // namespace
}  // namespace tally::storage
