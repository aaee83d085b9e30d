// tallyctl against real logs: verify passes on a sound log and names the seq of each kind of
// tampering (changed byte, removed event, reordered events, removed tail, a vote that breaks a
// rule even with a correctly recomputed chain); export, replay, results and backup agree.
// Runs the real binary from TALLY_BIN_DIR.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tally/base/clock.h"
#include "tally/publog/log_keys.h"
#include "tally/storage/event_format.h"
#include "tally/storage/vote_log.h"
#include "file_modes.h"
#include "log_world.h"
#include "raw_log.h"

namespace tally::storage {
namespace {

using testing::kCloses;
using testing::kNoon;
using testing::LogWriter;
using testing::make_campaign;
using testing::run_tallyctl;
using testing::RunResult;
using testing::TempDir;

// Writes a campaign (seq 1) and one vote per commit batch: alice c01 (2), bob c01 (3),
// bob c02 (4), carol c03 (5, flagged no_device).
// With the log's keys where tallyd keeps them (DATA_DIR/log-keys): the log has a public tree.
void write_sample_log(const std::string& dir) {
  auto keys = publog::create_log_keys(dir + "/log-keys");
  ASSERT_TRUE(keys.ok()) << keys.message();
  LogWriter writer;
  ASSERT_NO_FATAL_FAILURE(
      writer.open(dir, std::make_shared<const publog::LogKeys>(std::move(*keys))));
  const std::pair<const char*, const char*> votes[] = {
      {"alice", "c01"}, {"bob", "c01"}, {"bob", "c02"}, {"carol", "c03"}};
  for (const auto& [voter, candidate] : votes) {
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = voter;
    ballot.candidate = candidate;
    ballot.ip = "192.0.2.7";
    const std::string device = std::string(voter) + "-phone";
    ballot.device = device;
    const engine::FraudFlags flags =
        std::string_view(voter) == "carol" ? engine::flag_of(engine::FraudReason::no_device) : 0;
    writer.vote(ballot, flags);
  }
  writer.stop();
}

using RawDb = testing::RawLog;

// The record as builds before format version 2 wrote it: every event stored as it is hashed
// (campaign id and user agent inline), no string table.
std::string as_version_one(std::string_view record) {
  std::vector<StoredEvent> events;
  EXPECT_TRUE(decode_batch(record, events).ok());
  const auto put_varint = [](std::string& out, std::uint64_t value) {
    for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>(value | 0x80));
    out.push_back(static_cast<char>(value));
  };
  std::string out(1, '\x01');
  put_varint(out, events.size());
  for (const StoredEvent& event : events) {
    std::string canonical;
    if (event.stored_canonical) {
      canonical = std::string(event.bytes);
    } else {
      canonical.push_back(static_cast<char>(event.kind));
      put_varint(canonical, event.seq);
      encode_vote_payload(event.vote, canonical);
    }
    put_varint(out, canonical.size());
    out += canonical;
    out.append(reinterpret_cast<const char*>(event.chain.data()), event.chain.size());
  }
  return out;
}

class TallyctlTest : public ::testing::Test {
 protected:
  void SetUp() override { write_sample_log(db_dir()); }
  std::string db_dir() const { return dir_.sub("db"); }
  RunResult verify() { return run_tallyctl("verify --data-dir " + db_dir()); }
  // verify --format json: the exit code, and the one line of JSON parsed into `doc`.
  int verify_json(simdjson::dom::element& doc) {
    const RunResult result = run_tallyctl("verify --format json --data-dir " + db_dir());
    json_ = result.output;
    EXPECT_EQ(std::count(json_.begin(), json_.end(), '\n'), 1) << json_;
    EXPECT_EQ(parser_.parse(json_).get(doc), simdjson::SUCCESS) << json_;
    return result.exit_code;
  }

  TempDir dir_;
  std::string json_;
  simdjson::dom::parser parser_;
};

TEST_F(TallyctlTest, VerifyPassesOnASoundLog) {
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("verify: ok, 5 events (4 votes, 1 campaign versions), last seq 5"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("public tree: 5 leaves, root "), std::string::npos) << result.output;
}

// Each record's tree entry holds its events' leaves, then the subtrees each completes: seq 4
// (leaf index 3) completes the subtrees of levels 1 and 2.
TEST_F(TallyctlTest, VerifyRederivesEveryHashOfThePublicTree) {
  {
    RawDb db(db_dir());
    std::string entry = db.get_tree(4);
    ASSERT_EQ(entry.size(), 5u + 3 * 32);
    entry[5 + 2 * 32] ^= 1;  // the level 2 subtree: the root of the first four leaves
    db.put_tree(4, entry);
  }
  RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 4: public tree: a stored subtree hash is wrong"),
            std::string::npos)
      << result.output;
  {
    RawDb db(db_dir());
    std::string entry = db.get_tree(4);
    entry[5 + 2 * 32] ^= 1;
    entry[5] ^= 1;  // the leaf of seq 4
    db.put_tree(4, entry);
  }
  result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find(
                "seq 4: public tree: the stored leaf is not the hash of the event's public form"),
            std::string::npos)
      << result.output;
  // Without the keys the tree cannot be re-derived, and verify says so.
  std::filesystem::rename(db_dir() + "/log-keys", dir_.sub("keys-elsewhere"));
  result = verify();
  EXPECT_NE(result.output.find("public tree: not checked: no log keys in"), std::string::npos)
      << result.output;
  result =
      run_tallyctl("verify --data-dir " + db_dir() + " --log-keys " + dir_.sub("keys-elsewhere"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
}

// A log begun by a build that wrote format version 1 verifies, recovers, and goes on in
// version 2: the chain covers the same canonical bytes in both.
TEST_F(TallyctlTest, ALogWrittenInVersionOneVerifiesAndTakesNewRecords) {
  {
    RawDb db(db_dir());
    for (std::uint64_t seq = 1; seq <= 5; ++seq) {
      const std::string record = db.get(seq);
      ASSERT_EQ(record[0], '\x02') << seq;
      db.put(seq, as_version_one(record));
    }
  }
  RunResult result = verify();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  {
    LogWriter writer;  // recovers the version 1 records, then commits one more vote
    ASSERT_NO_FATAL_FAILURE(writer.open(db_dir()));
    engine::Ballot ballot;
    ballot.campaign = "ordos";
    ballot.voter = "dave";
    ballot.candidate = "c02";
    ballot.ua = "MicroMessenger/8.0.30";
    writer.vote(ballot, 0);
    writer.stop();
  }
  {
    RawDb db(db_dir());
    EXPECT_EQ(db.get(2)[0], '\x01');
    EXPECT_EQ(db.get(6)[0], '\x02');
  }
  result = verify();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("verify: ok, 6 events (5 votes, 1 campaign versions), last seq 6"),
            std::string::npos)
      << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesAChangedByteAndNamesItsSeq) {
  {
    RawDb db(db_dir());
    std::string record = db.get(3);
    const auto at = record.find("bob");
    ASSERT_NE(at, std::string::npos);
    record[at] = 'B';
    db.put(3, record);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 3: chain hash mismatch"), std::string::npos) << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesAChangedStringOfARecordsTable) {
  {
    RawDb db(db_dir());
    std::string record = db.get(3);
    ASSERT_EQ(record[0], '\x02');
    const auto at = record.rfind("ordos");  // the campaign id, in the string table
    ASSERT_NE(at, std::string::npos);
    record[at + 4] = 'a';
    db.put(3, record);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 3: chain hash mismatch"), std::string::npos) << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesAChangedChainByte) {
  {
    RawDb db(db_dir());
    std::string record = db.get(4);
    std::vector<StoredEvent> events;
    ASSERT_TRUE(decode_batch(record, events).ok());
    const std::size_t at = record.find(std::string_view(
        reinterpret_cast<const char*>(events[0].chain.data()), events[0].chain.size()));
    ASSERT_NE(at, std::string::npos);
    record[at] = static_cast<char>(record[at] ^ 1);
    db.put(4, record);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 4: chain hash mismatch"), std::string::npos) << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesARemovedEvent) {
  RawDb(db_dir()).remove(3);
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 4: events 3..3 are missing"), std::string::npos)
      << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesARemovedLastEvent) {
  RawDb(db_dir()).remove(5);
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 4: the log ends here but meta says its last seq is 5"),
            std::string::npos)
      << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesReorderedEvents) {
  {
    RawDb db(db_dir());
    const std::string third = db.get(3);
    const std::string fourth = db.get(4);
    db.put(3, fourth);
    db.put(4, third);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 4: stored under the key of seq 3"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("seq 3: out of order"), std::string::npos) << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesADuplicateVoteWithARecomputedChain) {
  VoteFields vote;
  vote.ballot.campaign = "ordos";
  vote.ballot.candidate = "c01";
  vote.ballot.voter = "alice";
  vote.server_ms = kNoon + 1000;
  vote.period = make_campaign().period_of(vote.server_ms);
  RawDb(db_dir()).append_forged_vote(6, vote);
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 6: accepted vote breaks a rule: duplicate of seq 2"),
            std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("chain hash mismatch"), std::string::npos) << result.output;
}

TEST_F(TallyctlTest, VerifyCatchesAVoteOutsideTheWindowAndOverQuota) {
  {
    RawDb db(db_dir());
    VoteFields late;
    late.ballot.campaign = "ordos";
    late.ballot.candidate = "c01";
    late.ballot.voter = "dave";
    late.server_ms = kCloses + 1;
    late.period = make_campaign().period_of(late.server_ms);
    db.append_forged_vote(6, late);
    VoteFields third_candidate;  // bob already voted for two candidates today
    third_candidate.ballot.campaign = "ordos";
    third_candidate.ballot.candidate = "c04";
    third_candidate.ballot.voter = "bob";
    third_candidate.server_ms = kNoon + 2000;
    third_candidate.period = make_campaign().period_of(third_candidate.server_ms);
    db.append_forged_vote(7, third_candidate);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 6: accepted vote breaks a rule: outside the campaign window"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("seq 7: accepted vote breaks a rule: over the voter's quota"),
            std::string::npos)
      << result.output;
}

// The JSON report gives the text's facts: counts, last seq, chain head, the recount.
TEST_F(TallyctlTest, VerifyJsonReportsASoundLogAsTheTextDoes) {
  const RunResult text = verify();
  ASSERT_EQ(text.exit_code, 0) << text.output;
  simdjson::dom::element doc;
  ASSERT_EQ(verify_json(doc), 0) << json_;
  EXPECT_EQ(doc["ok"].get_bool().value(), true) << json_;
  EXPECT_EQ(doc["events"].get_uint64().value(), 5u) << json_;
  EXPECT_EQ(doc["votes"].get_uint64().value(), 4u) << json_;
  EXPECT_EQ(doc["campaign_versions"].get_uint64().value(), 1u) << json_;
  EXPECT_EQ(doc["epochs"].get_uint64().value(), 0u) << json_;
  EXPECT_EQ(doc["last_seq"].get_uint64().value(), 5u) << json_;
  const std::string head(doc["chain_head"].get_string().value());
  EXPECT_EQ(head.size(), 64u) << json_;
  EXPECT_NE(text.output.find("chain head " + head + "\n"), std::string::npos) << text.output;
  simdjson::dom::array recount = doc["recount"].get_array().value();
  ASSERT_EQ(recount.size(), 1u) << json_;
  EXPECT_EQ(recount.at(0)["campaign"].get_string().value(), "ordos");
  EXPECT_EQ(recount.at(0)["votes"].get_uint64().value(), 4u);
  EXPECT_EQ(recount.at(0)["suspect"].get_uint64().value(), 1u);
  EXPECT_NE(text.output.find("recount ordos: 4 votes, 1 suspect"), std::string::npos);
  EXPECT_EQ(doc["failures"].get_array().value().size(), 0u) << json_;
  EXPECT_TRUE(doc["first_failure"].is_null()) << json_;
  EXPECT_GE(doc["elapsed_s"].get_double().value(), 0.0) << json_;
}

TEST_F(TallyctlTest, VerifyJsonNamesTheFirstFailureOfATamperedLog) {
  {
    RawDb db(db_dir());
    std::string record = db.get(3);
    const auto at = record.find("bob");
    ASSERT_NE(at, std::string::npos);
    record[at] = 'B';
    db.put(3, record);
  }
  simdjson::dom::element doc;
  EXPECT_EQ(verify_json(doc), 1) << json_;
  EXPECT_EQ(doc["ok"].get_bool().value(), false) << json_;
  EXPECT_EQ(doc["events"].get_uint64().value(), 5u) << json_;
  EXPECT_EQ(doc["first_failure"]["seq"].get_uint64().value(), 3u) << json_;
  const std::string_view reason = doc["first_failure"]["reason"].get_string().value();
  EXPECT_EQ(reason.rfind("chain hash mismatch", 0), 0u) << json_;
  EXPECT_EQ(doc["failures"].get_array().value().size(), 1u) << json_;
}

TEST_F(TallyctlTest, VerifyJsonListsEveryFailureFirstFoundFirst) {
  {
    RawDb db(db_dir());
    VoteFields late;
    late.ballot.campaign = "ordos";
    late.ballot.candidate = "c01";
    late.ballot.voter = "dave";
    late.server_ms = kCloses + 1;
    late.period = make_campaign().period_of(late.server_ms);
    db.append_forged_vote(6, late);
    VoteFields again = late;  // alice already voted for c01 today
    again.ballot.voter = "alice";
    again.server_ms = kNoon + 2000;
    again.period = make_campaign().period_of(again.server_ms);
    db.append_forged_vote(7, again);
  }
  const RunResult text = verify();
  simdjson::dom::element doc;
  EXPECT_EQ(verify_json(doc), 1) << json_;
  EXPECT_EQ(doc["ok"].get_bool().value(), false) << json_;
  EXPECT_EQ(doc["first_failure"]["seq"].get_uint64().value(), 6u) << json_;
  simdjson::dom::array failures = doc["failures"].get_array().value();
  ASSERT_EQ(failures.size(), 2u) << json_;
  for (simdjson::dom::element failure : failures) {
    const std::string line = "seq " + std::to_string(failure["seq"].get_uint64().value()) + ": " +
                             std::string(failure["reason"].get_string().value());
    EXPECT_NE(text.output.find(line + "\n"), std::string::npos) << line << "\n" << text.output;
  }
  EXPECT_NE(text.output.find("verify: FAILED, 2 problem(s) in 7 events"), std::string::npos)
      << text.output;
}

TEST_F(TallyctlTest, VerifyCatchesAStoredTallyThatDiffersFromTheRecount) {
  {
    RawDb db(db_dir());
    std::string tally = db.get_meta("tally/ordos");
    EXPECT_NE(tally.find("\"as_of_seq\":5"), std::string::npos) << tally;
    const auto at = tally.find("\"votes\":2");
    ASSERT_NE(at, std::string::npos) << tally;
    tally.replace(at, 9, "\"votes\":3");
    db.put_meta("tally/ordos", tally);
  }
  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("seq 5: stored tally of campaign ordos says candidate c01 has 3 "
                               "votes (0 suspect, 0 void), the recount 2 (0 suspect, 0 void)"),
            std::string::npos)
      << result.output;
}

TEST_F(TallyctlTest, ExportReplaysToTheSameResults) {
  const std::string export_file = dir_.sub("export.ndjson");
  const std::string expect_file = dir_.sub("expect.json");
  ASSERT_EQ(run_tallyctl("export --data-dir " + db_dir() + " > " + export_file).exit_code, 0);
  const RunResult results =
      run_tallyctl("results --data-dir " + db_dir() + " --campaign ordos --format json");
  ASSERT_EQ(results.exit_code, 0) << results.output;
  std::ofstream(expect_file) << results.output;

  const RunResult replay = run_tallyctl("replay " + export_file + " --expect " + expect_file);
  EXPECT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("\"as_of_seq\":5"), std::string::npos) << replay.output;
  EXPECT_NE(replay.output.find("\"id\":\"c01\",\"name\":\"候选人c01\",\"votes\":2"),
            std::string::npos)
      << replay.output;

  std::string changed = results.output;
  const auto at = changed.find("\"votes\":2");
  ASSERT_NE(at, std::string::npos);
  changed.replace(at, 9, "\"votes\":3");
  std::ofstream(expect_file) << changed;
  const RunResult differs = run_tallyctl("replay " + export_file + " --expect " + expect_file);
  EXPECT_EQ(differs.exit_code, 1) << differs.output;
  EXPECT_NE(differs.output.find("candidate c01: replay counts 2, expected 3"), std::string::npos)
      << differs.output;
}

TEST_F(TallyctlTest, ExportPutsVersionsFirstAndRedacts) {
  const RunResult plain = run_tallyctl("export --data-dir " + db_dir() + " --from 4");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.output.rfind("{\"seq\":1,\"kind\":\"campaign\"", 0), 0u) << plain.output;
  EXPECT_EQ(plain.output.find("\"seq\":2,"), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find("\"seq\":4,"), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find("\"flags\":[\"no_device\"]"), std::string::npos);

  const RunResult redacted = run_tallyctl("export --data-dir " + db_dir() + " --redact");
  ASSERT_EQ(redacted.exit_code, 0) << redacted.output;
  for (const char* secret : {"alice", "bob", "carol", "192.0.2.7", "-phone"}) {
    EXPECT_EQ(redacted.output.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(redacted.output.find("\"voter\":\"h:"), std::string::npos) << redacted.output;
}

TEST_F(TallyctlTest, ResultsRankCandidatesWithSuspectVotes) {
  const RunResult csv =
      run_tallyctl("results --data-dir " + db_dir() + " --campaign ordos --format csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output,
            "rank,candidate,name,unit,industry,votes,suspect,void,valid,disqualified\n"
            "1,c01,候选人c01,unit,能源,2,0,0,2,\n"
            "2,c02,候选人c02,unit,能源,1,0,0,1,\n"
            "2,c03,候选人c03,unit,能源,1,1,0,1,\n"
            "4,c04,候选人c04,unit,能源,0,0,0,0,\n");
  EXPECT_EQ(
      run_tallyctl("results --data-dir " + db_dir() + " --campaign nope --format csv").exit_code,
      1);
}

TEST_F(TallyctlTest, BackupIsAVerifiableCopyForItsUserAlone) {
  const std::string copy = dir_.sub("copy");
  const mode_t callers = ::umask(022);  // tallyctl inherits it
  const RunResult backup = run_tallyctl("backup --data-dir " + db_dir() + " --to " + copy);
  ::umask(callers);
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_EQ(testing::mode_of(copy), 0700U);
  const testing::ModeScan scan = testing::scan_modes(copy);
  EXPECT_GT(scan.entries, 3U);
  EXPECT_EQ(scan.open_to_others, std::vector<std::string>{});
  const RunResult result = run_tallyctl("verify --data-dir " + copy);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("last seq 5"), std::string::npos) << result.output;
  EXPECT_EQ(run_tallyctl("backup --data-dir " + db_dir() + " --to " + copy).exit_code, 1);
}

TEST_F(TallyctlTest, VerifyAndBackupWorkBesideARunningWriter) {
  // The log stays open with its writer running (as in tallyd) while tallyctl reads it.
  ManualClock clock(kNoon);
  engine::Engine engine(clock);
  StorageOptions options;
  options.data_dir = db_dir();
  auto log = VoteLog::open(options);
  ASSERT_TRUE(log.ok()) << log.message();
  ASSERT_TRUE((*log)->recover(engine).ok());
  (*log)->start(engine);
  engine::Ballot ballot;
  ballot.campaign = "ordos";
  ballot.voter = "erin";
  ballot.candidate = "c04";
  auto decision = engine.decide(ballot);
  ASSERT_EQ(decision.status, engine::VoteStatus::accepted);
  testing::OutcomeWaiter waiter;
  ASSERT_EQ(testing::submit_vote(**log, ballot, decision.claim, 0, waiter),
            engine::SubmitResult::queued);
  waiter.wait();

  const RunResult result = verify();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("last seq 6"), std::string::npos) << result.output;
  const std::string copy = dir_.sub("live-copy");
  EXPECT_EQ(run_tallyctl("backup --data-dir " + db_dir() + " --to " + copy).exit_code, 0);
  EXPECT_TRUE((*log)->ready());
  (*log)->stop();
  const RunResult copied = run_tallyctl("verify --data-dir " + copy);
  EXPECT_EQ(copied.exit_code, 0) << copied.output;
  EXPECT_NE(copied.output.find("last seq 6"), std::string::npos) << copied.output;
}

TEST_F(TallyctlTest, BadUsageExitsTwo) {
  EXPECT_EQ(run_tallyctl("").exit_code, 2);
  EXPECT_EQ(run_tallyctl("frobnicate").exit_code, 2);
  EXPECT_EQ(run_tallyctl("verify").exit_code, 2);
  EXPECT_EQ(run_tallyctl("verify --data-dir " + dir_.sub("missing")).exit_code, 1);
}

}  // namespace
}  // namespace tally::storage
