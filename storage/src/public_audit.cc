// The public bundle: written by publish_bundle(), checked by verify_bundle() and
// verify_receipt(). See tally/storage/public_audit.h; bytes and steps: docs/EVENT_FORMAT.md
// "Public log".
#include "tally/storage/public_audit.h"

#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tally/base/read_file.h"
#include "tally/engine/campaign.h"
#include "tally/engine/fraud_flags.h"
#include "tally/publog/checkpoint.h"
#include "tally/publog/log_keys.h"
#include "tally/publog/merkle.h"
#include "tally/publog/public_event.h"
#include "tally/publog/public_log.h"
#include "tally/storage/audit.h"
#include "tally/storage/event_format.h"
#include "db_layout.h"
#include "public_form.h"
#include "rule_checker.h"
#include "tree_store.h"

namespace tally::storage {

namespace {

namespace dom = simdjson::dom;
namespace fs = std::filesystem;

constexpr std::size_t kTagHexDigits = 2 * publog::kTagBytes;

std::string keys_dir_of(const std::string& data_dir, const std::string& log_keys_dir) {
  return log_keys_dir.empty() ? (fs::path(data_dir) / "log-keys").string() : log_keys_dir;
}

Status write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return Status::error(path.string() + ": cannot be written");
  return {};
}

// A bundle's file, its error naming the file as the bundle knows it.
Result<std::string> read_text(const fs::path& path) {
  auto text = read_file(path.string());
  if (!text.ok()) return Status::error(path.filename().string() + ": cannot be read");
  return text;
}

std::string readme(const std::string& campaign, const PublishReport& report) {
  const std::string size = std::to_string(report.size);
  return "本目录是投票活动 " + campaign +
         " 的公开数据包（公示材料）。\n"
         "\n"
         "log.ndjson       全部 " +
         size +
         " 条事件的公开形式，每行一条，第 k 行即序号 k。\n"
         "                 投票人、设备、IP 地址均以带密钥的标签代替，不含个人信息。\n"
         "checkpoint.json  对这些事件的默克尔树根的 Ed25519 签名（检查点）。\n"
         "log-key.pem      签名所用公钥。\n"
         "results.json / results.csv  按这些事件计票得出的结果。\n"
         "事件包括选票、活动版本、事后补充的可疑标记（flag）和评审委员会的决定（decision：\n"
         "作废、恢复、取消资格、恢复资格，附决定人和理由）。结果按有效票（总票数减作废票）排名，\n"
         "被取消资格的候选人列在最后、不计名次。\n"
         "\n"
         "任何人都可以自行核验：签名是否有效、树根是否由这些事件算出、每一票是否符合规则\n"
         "（每人每期每位候选人的票数、可投候选人数、投票时间窗口），以及重新计票是否与公布的\n"
         "结果一致。请先核对 log-key.pem 的日志标识（log_id，见下）与公告或投票期间\n"
         "/v1/log/key 公布的一致，再运行：\n"
         "    tallyctl verify --public 本目录 --key 公钥.pem\n"
         "或者只用 Python 3 和 openssl 命令（无需安装 tally）：\n"
         "    python3 tally_verify.py bundle 本目录 --key 公钥.pem\n"
         "（tally_verify.py 取自 tally 源代码的 verifier/ 目录，不要使用随数据包提供的副本。）\n"
         "投票人可用投票后得到的回执核对自己的票是否在其中：\n"
         "    tallyctl verify-receipt 回执.json --key 公钥.pem --bundle 本目录\n"
         "\n"
         "This directory is the public bundle of the vote " +
         campaign +
         ".\n"
         "\n"
         "log.ndjson       the public form of all " +
         size +
         " events, one per line (line k is\n"
         "                 seq k); voters, devices and addresses are keyed tags, not personal "
         "data.\n"
         "checkpoint.json  an Ed25519 signature (checkpoint) of the Merkle tree root of those "
         "events.\n"
         "log-key.pem      the public key that signed it.\n"
         "results.json / results.csv  the results counted from those events.\n"
         "The events are votes, campaign versions, late fraud flags (flag) and the committee's\n"
         "decisions (decision: void, restore, disqualify, reinstate, with who decided and why).\n"
         "The results rank candidates by valid votes (votes minus void); disqualified ones come\n"
         "last, without a rank.\n"
         "\n"
         "Anyone can check that the signature holds, that the root is computed from these events,\n"
         "that every vote keeps the rules (votes per voter, candidate and period, candidates per\n"
         "voter, the voting window) and that a recount gives the published results. First\n"
         "check that the log id below is the one the notice (or /v1/log/key during the vote)\n"
         "gave, then:\n"
         "    tallyctl verify --public THIS_DIR --key KEY.pem\n"
         "or, with Python 3 and the openssl command only (no tally needed):\n"
         "    python3 tally_verify.py bundle THIS_DIR --key KEY.pem\n"
         "(take tally_verify.py from tally's source, verifier/, never from a copy beside a "
         "bundle)\n"
         "A voter checks that their vote is in it with the receipt they were given:\n"
         "    tallyctl verify-receipt RECEIPT.json --key KEY.pem --bundle THIS_DIR\n"
         "\n"
         "log_id " +
         report.log_id + "\nroot   " + report.root_hex + "\nsize   " + size + "\n";
}

// ---- reading a public line (docs/EVENT_FORMAT.md "Public form") ----

struct Member {
  std::string_view name;
  bool optional;
};
constexpr Member kVoteMembers[] = {{"kind", false},      {"campaign", false}, {"candidate", false},
                                   {"voter", false},     {"device", true},    {"ip", true},
                                   {"ua", true},         {"ts", true},        {"request_id", true},
                                   {"server_ms", false}, {"period", false},   {"flags", false}};
constexpr Member kCampaignMembers[] = {{"kind", false}, {"campaign", false}};
constexpr Member kEpochMembers[] = {
    {"kind", false}, {"node", false}, {"epoch", false}, {"server_ms", false}};
constexpr Member kFlagMembers[] = {{"kind", false},  {"campaign", false}, {"reason", false},
                                   {"scope", false}, {"key", false},      {"server_ms", false},
                                   {"seqs", false}};
constexpr Member kDecisionMembers[] = {
    {"kind", false},   {"campaign", false},  {"action", false},   {"author", false},
    {"reason", false}, {"server_ms", false}, {"candidate", true}, {"scope", true},
    {"key", true},     {"seqs", true}};

// Whether the object's members are exactly `members`, in order, optional ones perhaps absent.
Status check_members(dom::object object, std::span<const Member> members) {
  std::size_t next = 0;
  for (auto field : object) {
    while (next < members.size() && members[next].name != field.key && members[next].optional) {
      ++next;
    }
    if (next == members.size() || members[next].name != field.key) {
      return Status::error("member \"" + std::string(field.key) + "\" is unknown or out of order");
    }
    ++next;
  }
  for (; next < members.size(); ++next) {
    if (!members[next].optional) {
      return Status::error("member \"" + std::string(members[next].name) + "\" is missing");
    }
  }
  return {};
}

bool is_tag(std::string_view text) {
  if (text.size() != kTagHexDigits) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A string member; `tag`: must be a tag. Optional members are present only when not empty.
Status read_string(dom::object object, std::string_view name, bool tag, std::string_view& out) {
  dom::element element;
  if (object.at_key(name).get(element) != simdjson::SUCCESS) return {};  // absent
  if (element.get_string().get(out) != simdjson::SUCCESS) {
    return Status::error(std::string(name) + ": must be a string");
  }
  if (out.empty()) return Status::error(std::string(name) + ": present but empty");
  if (tag && !is_tag(out)) return Status::error(std::string(name) + ": not a tag (32 hex digits)");
  return {};
}

Status read_integer(dom::object object, std::string_view name, std::int64_t& out) {
  if (object.at_key(name).get_int64().get(out) != simdjson::SUCCESS) {
    return Status::error(std::string(name) + ": must be an integer");
  }
  return {};
}

// The bit of a fraud reason's name, or -1. An unnamed reason is "bitN", N in its shortest form.
int reason_bit(std::string_view name) {
  for (int i = 0; i < engine::kFraudReasonCount; ++i) {
    if (engine::to_string(static_cast<engine::FraudReason>(i)) == name) return i;
  }
  for (int i = engine::kFraudReasonCount; i < 32; ++i) {
    if (name == "bit" + std::to_string(i)) return i;
  }
  return -1;
}

Status read_flags(dom::object object, engine::FraudFlags& out) {
  dom::array flags;
  if (object.at_key("flags").get_array().get(flags) != simdjson::SUCCESS) {
    return Status::error("flags: must be an array");
  }
  out = 0;
  for (auto item : flags) {
    std::string_view name;
    if (item.get_string().get(name) != simdjson::SUCCESS) {
      return Status::error("flags: must hold strings");
    }
    const int bit = reason_bit(name);
    if (bit < 0) return Status::error("flags: unknown reason \"" + std::string(name) + "\"");
    const engine::FraudFlags flag = engine::FraudFlags{1} << bit;
    if ((out & flag) != 0 || out >= flag)
      return Status::error("flags: not in bit order, once each");
    out |= flag;
  }
  return {};
}

// A flag's or decision's "seqs": the votes it names, their candidate and prior flags left 0
// (the public form does not show them: RuleChecker::fill_public_votes() finds them).
Status read_seqs(dom::object object, std::vector<engine::MarkedVote>& out) {
  dom::array seqs;
  if (object.at_key("seqs").get_array().get(seqs) != simdjson::SUCCESS) {
    return Status::error("seqs: must be an array");
  }
  out.clear();
  for (auto item : seqs) {
    std::uint64_t seq = 0;
    if (item.get_uint64().get(seq) != simdjson::SUCCESS) {
      return Status::error("seqs: must hold non-negative integers");
    }
    out.push_back({seq, 0, 0});
  }
  return {};
}

// The rest of a flag line, as the stored flag would be (check_flag(): a cluster, 1 to
// kMaxMarkedVotes seqs ascending, each before the flag).
Status read_flag(dom::object object, std::uint64_t seq, FlagFields& flag) {
  if (auto s = check_members(object, kFlagMembers); !s.ok()) return s;
  std::string_view reason, scope;
  if (auto s = read_string(object, "campaign", false, flag.campaign); !s.ok()) return s;
  if (auto s = read_string(object, "reason", false, reason); !s.ok()) return s;
  if (auto s = read_string(object, "scope", false, scope); !s.ok()) return s;
  if (auto s = read_string(object, "key", true, flag.key); !s.ok()) return s;
  if (auto s = read_integer(object, "server_ms", flag.server_ms); !s.ok()) return s;
  if (auto s = read_seqs(object, flag.votes); !s.ok()) return s;
  const int bit = reason_bit(reason);
  if (bit < 0) return Status::error("reason: unknown reason \"" + std::string(reason) + "\"");
  flag.reason = static_cast<engine::FraudReason>(bit);
  const auto cluster = engine::cluster_scope_from_string(scope);
  if (!cluster) return Status::error("scope: not ip, subnet or device");
  flag.scope = *cluster;
  if (auto wrong = check_flag(flag, seq); !wrong.empty()) return Status::error(wrong);
  return {};
}

// The rest of a decision line, as the stored decision would be (check_decision()).
Status read_decision(dom::object object, std::uint64_t seq, DecisionFields& decision) {
  if (auto s = check_members(object, kDecisionMembers); !s.ok()) return s;
  std::string_view action, scope;
  const std::pair<std::string_view, std::string_view*> strings[] = {
      {"campaign", &decision.campaign},   {"action", &action},
      {"author", &decision.author},       {"reason", &decision.reason},
      {"candidate", &decision.candidate}, {"scope", &scope}};
  for (auto [name, target] : strings) {
    if (auto s = read_string(object, name, false, *target); !s.ok()) return s;
  }
  if (auto s = read_string(object, "key", true, decision.key); !s.ok()) return s;
  if (auto s = read_integer(object, "server_ms", decision.server_ms); !s.ok()) return s;
  if (object.at_key("seqs").error() == simdjson::SUCCESS) {
    if (auto s = read_seqs(object, decision.votes); !s.ok()) return s;
    if (decision.votes.empty()) return Status::error("seqs: present but empty");
  }
  const auto known = decision_action_from_string(action);
  if (!known) return Status::error("action: unknown action \"" + std::string(action) + "\"");
  decision.action = *known;
  if (!scope.empty()) {
    const auto cluster = engine::cluster_scope_from_string(scope);
    if (!cluster) return Status::error("scope: not ip, subnet or device");
    decision.scope = *cluster;
  }
  if (auto wrong = check_decision(decision, seq); !wrong.empty()) return Status::error(wrong);
  return {};
}

// Reads `line` into `event` (its views point into `parser` or `line` until the next call).
// `scratch` holds the canonical writing of the line.
Status read_public_line(dom::parser& parser, std::string_view line, std::uint64_t seq,
                        std::string& scratch, StoredEvent& event) {
  scratch.clear();
  if (auto s = publog::canonicalize_json(line, scratch); !s.ok()) return s;
  if (scratch != line) return Status::error("not in canonical form");
  dom::element document;
  dom::object object;
  if (parser.parse(line.data(), line.size()).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return Status::error("not a JSON object");
  }
  std::string_view kind;
  if (object.at_key("kind").get_string().get(kind) != simdjson::SUCCESS) {
    return Status::error("kind: required");
  }
  event = StoredEvent{};
  event.seq = seq;
  if (kind == "vote") {
    if (auto s = check_members(object, kVoteMembers); !s.ok()) return s;
    event.kind = EventKind::vote;
    engine::Ballot& ballot = event.vote.ballot;
    const std::pair<std::string_view, std::string_view*> strings[] = {
        {"campaign", &ballot.campaign}, {"candidate", &ballot.candidate}, {"ua", &ballot.ua}};
    for (auto [name, target] : strings) {
      if (auto s = read_string(object, name, false, *target); !s.ok()) return s;
    }
    const std::pair<std::string_view, std::string_view*> tags[] = {
        {"voter", &ballot.voter},
        {"device", &ballot.device},
        {"ip", &ballot.ip},
        {"request_id", &ballot.request_id}};
    for (auto [name, target] : tags) {
      if (auto s = read_string(object, name, true, *target); !s.ok()) return s;
    }
    std::int64_t ts = 0;
    if (object.at_key("ts").error() == simdjson::SUCCESS) {
      if (auto s = read_integer(object, "ts", ts); !s.ok()) return s;
      ballot.ts_ms = ts;
    }
    if (auto s = read_integer(object, "server_ms", event.vote.server_ms); !s.ok()) return s;
    if (auto s = read_integer(object, "period", event.vote.period); !s.ok()) return s;
    return read_flags(object, event.vote.flags);
  }
  if (kind == "campaign") {
    if (auto s = check_members(object, kCampaignMembers); !s.ok()) return s;
    constexpr std::string_view kHead = R"({"kind":"campaign","campaign":)";
    if (!line.starts_with(kHead) || !object.at_key("campaign").is_object()) {
      return Status::error("campaign: must be an object");
    }
    event.kind = EventKind::campaign;
    event.campaign_json = line.substr(kHead.size(), line.size() - kHead.size() - 1);
    // As tallyd stores a definition: its members in their order, times in their form, defaults
    // written as they are (docs/EVENT_FORMAT.md "Campaign definition").
    auto campaign = engine::parse_campaign(event.campaign_json);
    if (!campaign.ok()) return Status::error("campaign: " + campaign.message());
    if (engine::campaign_to_json(*campaign) != event.campaign_json) {
      return Status::error("campaign: not a definition in its canonical form");
    }
    return {};
  }
  if (kind == "epoch") {
    if (auto s = check_members(object, kEpochMembers); !s.ok()) return s;
    event.kind = EventKind::epoch;
    if (auto s = read_string(object, "node", false, event.epoch.node); !s.ok()) return s;
    if (object.at_key("epoch").get_uint64().get(event.epoch.epoch) != simdjson::SUCCESS) {
      return Status::error("epoch: must be a non-negative integer");
    }
    return read_integer(object, "server_ms", event.epoch.server_ms);
  }
  if (kind == "flag") {
    event.kind = EventKind::flag;
    return read_flag(object, seq, event.flag);
  }
  if (kind == "decision") {
    event.kind = EventKind::decision;
    return read_decision(object, seq, event.decision);
  }
  return Status::error("kind: unknown kind \"" + std::string(kind) + "\"");
}

BundleCheck failed(BundleCheck check, int step, std::uint64_t line, std::string reason) {
  check.ok = false;
  check.step = step;
  check.line = line;
  check.reason = std::move(reason);
  return check;
}

// The published results (results.json) against the recount, member by member.
std::string compare_results(std::string_view json, const engine::TallySnapshot& recount,
                            std::uint64_t size) {
  dom::parser parser;
  dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return "results.json: not a JSON object";
  }
  std::string_view campaign;
  std::uint64_t as_of_seq = 0, total = 0, suspect = 0, voided = 0, valid = 0;
  dom::array candidates;
  if (doc["campaign"].get(campaign) != simdjson::SUCCESS ||
      doc["as_of_seq"].get(as_of_seq) != simdjson::SUCCESS ||
      doc["total"].get(total) != simdjson::SUCCESS ||
      doc["suspect"].get(suspect) != simdjson::SUCCESS ||
      doc["void"].get(voided) != simdjson::SUCCESS ||
      doc["valid"].get(valid) != simdjson::SUCCESS ||
      doc["candidates"].get(candidates) != simdjson::SUCCESS) {
    return "results.json: campaign, as_of_seq, total, suspect, void, valid and candidates: "
           "required";
  }
  if (as_of_seq != size) {
    return "results.json: as_of_seq " + std::to_string(as_of_seq) +
           " is not the checkpoint's size " + std::to_string(size);
  }
  if (total != recount.total || suspect != recount.suspect || voided != recount.voided ||
      valid != recount.valid) {
    return "results.json: total " + std::to_string(total) + " (" + std::to_string(suspect) +
           " suspect, " + std::to_string(voided) + " void, " + std::to_string(valid) +
           " valid), the recount " + std::to_string(recount.total) + " (" +
           std::to_string(recount.suspect) + " suspect, " + std::to_string(recount.voided) +
           " void, " + std::to_string(recount.valid) + " valid)";
  }
  const auto describe = [](std::string_view id, std::uint64_t votes, std::uint64_t suspect_votes,
                           std::uint64_t void_votes, std::uint64_t valid_votes, std::uint64_t rank,
                           bool disqualified) {
    return std::string(id) + " has " + std::to_string(votes) + " votes (" +
           std::to_string(suspect_votes) + " suspect, " + std::to_string(void_votes) + " void, " +
           std::to_string(valid_votes) + " valid), rank " + std::to_string(rank) +
           (disqualified ? ", disqualified" : "");
  };
  std::size_t i = 0;
  for (auto element : candidates) {
    std::string_view id, name;
    std::uint64_t votes = 0, suspect_votes = 0, void_votes = 0, valid_votes = 0, rank = 0;
    bool disqualified = false;
    if (element["id"].get(id) != simdjson::SUCCESS ||
        element["name"].get(name) != simdjson::SUCCESS ||
        element["votes"].get(votes) != simdjson::SUCCESS ||
        element["suspect"].get(suspect_votes) != simdjson::SUCCESS ||
        element["void"].get(void_votes) != simdjson::SUCCESS ||
        element["valid"].get(valid_votes) != simdjson::SUCCESS ||
        element["rank"].get(rank) != simdjson::SUCCESS ||
        element["disqualified"].get(disqualified) != simdjson::SUCCESS) {
      return "results.json: candidates[" + std::to_string(i) +
             "]: id, name, votes, suspect, void, valid, rank and disqualified: required";
    }
    if (i >= recount.candidates.size()) return "results.json: more candidates than the recount";
    const engine::CandidateTally& want = recount.candidates[i];
    if (id != want.id || name != want.name || votes != want.votes ||
        suspect_votes != want.suspect || void_votes != want.voided || valid_votes != want.valid ||
        rank != want.rank || disqualified != want.disqualified) {
      return "results.json: candidates[" + std::to_string(i) + "] says " +
             describe(id, votes, suspect_votes, void_votes, valid_votes, rank, disqualified) +
             "; the recount: " +
             describe(want.id, want.votes, want.suspect, want.voided, want.valid, want.rank,
                      want.disqualified);
    }
    ++i;
  }
  if (i != recount.candidates.size()) return "results.json: fewer candidates than the recount";
  return {};
}

}  // namespace

Result<PublishReport> publish_bundle(const PublishOptions& options) {
  auto keys = publog::read_log_keys(keys_dir_of(options.data_dir, options.log_keys_dir));
  if (!keys.ok()) return keys.status();
  auto opened = open_read_only(options.data_dir);
  if (!opened.ok()) return opened.status();
  ReadOnlyDb& db = **opened;
  const fs::path out_dir(options.out_dir);
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec)) {
    return Status::error(options.out_dir + ": exists and is not empty");
  }
  fs::create_directories(out_dir, ec);
  if (ec) return Status::error(options.out_dir + ": cannot be created: " + ec.message());

  std::ofstream log_out(out_dir / kBundleLog, std::ios::binary | std::ios::trunc);
  const publog::TagKeyring keyring(keys->tags);
  RuleChecker checker;
  std::vector<VerifyProblem> problems;
  publog::Frontier frontier;
  const ChainHasher hasher;
  ChainHash chain = kGenesisChain;
  std::uint64_t expected = 1;
  std::string scratch, line;
  ProgressCounter events_read(options.progress);
  LogScan scan(*db.db, db.events_cf);
  std::vector<StoredEvent> events;
  while (scan.next()) {
    if (auto s = decode_batch(scan.value(), events); !s.ok()) return s;
    for (const StoredEvent& event : events) {
      if (event.seq != expected) {
        return Status::error("seq " + std::to_string(event.seq) + ": expected seq " +
                             std::to_string(expected) + " (tallyctl verify says more)");
      }
      chain = chain_of(hasher, chain, event, scratch);
      if (chain != event.chain) {
        return Status::error("seq " + std::to_string(event.seq) +
                             ": chain hash mismatch (tallyctl verify says more)");
      }
      if (event.kind == EventKind::campaign) checker.campaign(event, problems);
      if (event.kind == EventKind::vote) checker.vote(event, problems);
      if (event.kind == EventKind::flag || event.kind == EventKind::decision) {
        checker.adjudication(event, problems);
      }
      if (!problems.empty()) {
        return Status::error(to_string(problems.front()) + " (tallyctl verify says more)");
      }
      line.clear();
      append_public_form(line, event, keyring);
      frontier.append(publog::leaf_hash(line));
      line.push_back('\n');
      log_out << line;
      ++expected;
      events_read.add();
    }
  }
  if (auto s = scan.status(); !s.ok()) return s;
  log_out.flush();
  if (!log_out) return Status::error(options.out_dir + "/log.ndjson: cannot be written");
  const std::uint64_t size = expected - 1;
  const publog::Hash root = frontier.root();
  if (db.tree_cf != nullptr) {
    // The tree tallyd keeps answers the endpoints' proofs: it must be the tree of these events.
    const StoredTree tree(*db.db, db.tree_cf);
    auto stored_size = tree.size();
    if (stored_size.ok() && *stored_size >= size && size > 0) {
      auto stored_root = publog::root_at(tree, size);
      if (!stored_root.ok() || *stored_root != root) {
        return Status::error("the stored public tree disagrees with the events at size " +
                             std::to_string(size) + " (tallyctl verify says more)");
      }
    }
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto checkpoint = keys->signing.sign(size, root, now_ms);
  if (!checkpoint.ok()) return checkpoint.status();

  auto tallies = checker.tallies(size);
  const engine::TallySnapshot* tally = nullptr;
  for (const auto& t : tallies) {
    if (t.campaign == options.campaign) tally = &t;
  }
  auto campaign = checker.campaign_in_force(options.campaign);
  if (tally == nullptr || campaign == nullptr) {
    return Status::error("campaign " + options.campaign + ": not in the log");
  }
  CampaignResults results{*tally, *campaign};
  results.tally.as_of_seq = size;
  PublishReport report;
  report.size = size;
  report.root_hex = publog::to_hex(root);
  report.log_id = keys->signing.public_key().log_id();
  report.campaign_votes = tally->total;
  const std::pair<const char*, std::string> files[] = {
      {kBundleCheckpoint, publog::checkpoint_json(*checkpoint) + "\n"},
      {kBundleKey, keys->signing.public_key().pem()},
      {kBundleResultsJson, engine::tally_to_json(results.tally) + "\n"},
      {kBundleResultsCsv, results_csv(results)},
      {kBundleReadme, readme(options.campaign, report)},
  };
  for (const auto& [name, text] : files) {
    if (auto s = write_text(out_dir / name, text); !s.ok()) return s;
  }
  return report;
}

std::string to_string(const BundleCheck& check) {
  if (check.ok) {
    return "bundle verifies: " + std::to_string(check.size) + " events, root " + check.root_hex +
           ", campaign " + check.campaign;
  }
  return "FAIL step " + std::to_string(check.step) + " line " + std::to_string(check.line) + ": " +
         check.reason;
}

BundleCheck verify_bundle(const std::string& dir, const ScanProgress& progress,
                          const std::optional<std::string>& expected_key_pem) {
  BundleCheck check;
  const fs::path root_dir(dir);
  // Step 1: the key and the checkpoint's signature.
  auto pem = read_text(root_dir / kBundleKey);
  if (!pem.ok()) return failed(check, 1, 0, pem.message());
  auto key = publog::PublicKey::from_pem(*pem);
  if (!key.ok()) return failed(check, 1, 0, "log-key.pem: " + key.message());
  if (expected_key_pem) {
    auto expected = publog::PublicKey::from_pem(*expected_key_pem);
    if (!expected.ok()) return failed(check, 1, 0, "the expected key: " + expected.message());
    if (expected->log_id() != key->log_id()) {
      return failed(check, 1, 0,
                    "log-key.pem (log id " + key->log_id() + ") is not the expected key (log id " +
                        expected->log_id() + ")");
    }
  }
  auto checkpoint_text = read_text(root_dir / kBundleCheckpoint);
  if (!checkpoint_text.ok()) return failed(check, 1, 0, checkpoint_text.message());
  std::string scratch;
  // A repeated member would be read as its first value here and its last by another parser.
  if (auto s = publog::canonicalize_json(*checkpoint_text, scratch); !s.ok()) {
    return failed(check, 1, 0, "checkpoint.json: " + s.message());
  }
  auto checkpoint = publog::parse_checkpoint(*checkpoint_text);
  if (!checkpoint.ok()) return failed(check, 1, 0, checkpoint.message());
  check.size = checkpoint->size;
  if (checkpoint->log_id != key->log_id()) {
    return failed(
        check, 1, 0,
        "checkpoint: log_id " + checkpoint->log_id + " is not the key's " + key->log_id());
  }
  if (!key->verifies(*checkpoint))
    return failed(check, 1, 0, "checkpoint: the signature does not verify");

  // Steps 2-4 in one pass; the first failure of the lowest step is the one reported.
  std::ifstream in(root_dir / kBundleLog, std::ios::binary);
  if (!in) return failed(check, 2, 0, "log.ndjson: cannot be read");
  dom::parser parser;
  RuleChecker checker;
  std::vector<VerifyProblem> problems;
  publog::Frontier frontier;
  std::string line;
  StoredEvent event;
  std::uint64_t seq = 0;
  std::optional<BundleCheck> rule_failure;
  ProgressCounter lines_read(progress);
  while (std::getline(in, line)) {
    ++seq;
    if (in.eof()) return failed(check, 2, seq, "the last line does not end with a newline");
    if (seq > checkpoint->size) {
      return failed(
          check, 2, seq,
          "more lines than the checkpoint's " + std::to_string(checkpoint->size) + " events");
    }
    if (auto s = read_public_line(parser, line, seq, scratch, event); !s.ok()) {
      return failed(check, 2, seq, s.message());
    }
    frontier.append(publog::leaf_hash(line));
    if (!rule_failure) {
      if (event.kind == EventKind::campaign) checker.campaign(event, problems);
      if (event.kind == EventKind::vote) checker.vote(event, problems);
      if (event.kind == EventKind::flag || event.kind == EventKind::decision) {
        checker.fill_public_votes(event);
        checker.adjudication(event, problems);
      }
      if (!problems.empty()) rule_failure = failed(check, 4, seq, problems.front().reason);
    }
    lines_read.add();
  }
  if (seq != checkpoint->size) {  // named by the first line missing
    return failed(check, 2, seq + 1,
                  "log.ndjson has " + std::to_string(seq) + " lines, the checkpoint " +
                      std::to_string(checkpoint->size));
  }
  // Step 3: the root.
  const publog::Hash root = frontier.root();
  check.root_hex = publog::to_hex(root);
  if (root != checkpoint->root) {
    return failed(check, 3, 0,
                  "the root of the lines is " + check.root_hex + ", the checkpoint's " +
                      publog::to_hex(checkpoint->root));
  }
  if (rule_failure) return *rule_failure;
  // Step 5: the recount against the published results.
  auto results_text = read_text(root_dir / kBundleResultsJson);
  if (!results_text.ok()) return failed(check, 5, 0, results_text.message());
  scratch.clear();
  if (auto s = publog::canonicalize_json(*results_text, scratch); !s.ok()) {
    return failed(check, 5, 0, "results.json: " + s.message());
  }
  std::string_view campaign_id;
  dom::parser results_parser;
  dom::element results_doc;
  if (results_parser.parse(*results_text).get(results_doc) != simdjson::SUCCESS ||
      results_doc["campaign"].get(campaign_id) != simdjson::SUCCESS) {
    return failed(check, 5, 0, "results.json: campaign: required");
  }
  check.campaign = std::string(campaign_id);
  const engine::TallySnapshot* recount = nullptr;
  auto tallies = checker.tallies(seq);
  for (const auto& t : tallies) {
    if (t.campaign == check.campaign) recount = &t;
  }
  if (recount == nullptr) {
    return failed(check, 5, 0, "results.json: campaign " + check.campaign + " is not in the log");
  }
  if (auto why = compare_results(*results_text, *recount, seq); !why.empty()) {
    return failed(check, 5, 0, why);
  }
  // The CSV people open in a spreadsheet says the same, byte for byte.
  std::error_code ec;
  if (fs::exists(root_dir / kBundleResultsCsv, ec)) {
    auto csv = read_text(root_dir / kBundleResultsCsv);
    auto campaign = checker.campaign_in_force(check.campaign);
    CampaignResults results{*recount, campaign ? *campaign : engine::Campaign{}};
    results.tally.as_of_seq = seq;
    if (!csv.ok() || *csv != results_csv(results)) {
      return failed(check, 5, 0, "results.csv: not the CSV of the recount");
    }
  }
  check.ok = true;
  return check;
}

std::string verify_receipt(const std::string& receipt_json, const std::string& key_pem,
                           const std::optional<std::string>& bundle_dir) {
  auto receipt = publog::parse_receipt(receipt_json);
  if (!receipt.ok()) return receipt.message();
  auto key = publog::PublicKey::from_pem(key_pem);
  if (!key.ok()) return key.message();
  if (auto why = publog::check_receipt(*receipt, *key); !why.empty()) return why;
  if (!bundle_dir) return {};
  // Against a bundle: its checkpoint is signed by the same key, its lines have that
  // checkpoint's root, and its first lines (as many as the receipt's tree) have the receipt's
  // root, with the receipt's event at its seq. A bundle that fails is not the log the voter
  // was shown, even if their line is in it (a fork), or is older than the receipt.
  const fs::path dir(*bundle_dir);
  auto bundle_text = read_text(dir / kBundleCheckpoint);
  if (!bundle_text.ok()) return "bundle: " + bundle_text.message();
  std::string scratch;
  if (auto s = publog::canonicalize_json(*bundle_text, scratch); !s.ok()) {
    return "bundle: checkpoint.json: " + s.message();
  }
  auto bundle_checkpoint = publog::parse_checkpoint(*bundle_text);
  if (!bundle_checkpoint.ok()) return "bundle: " + bundle_checkpoint.message();
  if (!key->verifies(*bundle_checkpoint)) {
    return "bundle: its checkpoint is not signed by the receipt's log key";
  }
  const std::uint64_t receipt_size = receipt->checkpoint.size;
  if (receipt_size > bundle_checkpoint->size) {
    return "bundle: holds " + std::to_string(bundle_checkpoint->size) +
           " events, older than the receipt's " + std::to_string(receipt_size) +
           ": check against a later bundle";
  }
  std::ifstream in(dir / kBundleLog, std::ios::binary);
  std::string line;
  publog::Frontier lines;
  std::optional<publog::Hash> prefix_root;
  bool event_found = false;
  while (std::getline(in, line)) {
    lines.append(publog::leaf_hash(line));
    if (lines.size() == receipt->seq) event_found = line == receipt->event;
    if (lines.size() == receipt_size) prefix_root = lines.root();
  }
  if (lines.size() != bundle_checkpoint->size || lines.root() != bundle_checkpoint->root) {
    return "bundle: log.ndjson does not have its checkpoint's root";
  }
  if (!event_found) {
    return "bundle: line " + std::to_string(receipt->seq) +
           " is not the receipt's event: the vote is not in the published log as it was "
           "acknowledged";
  }
  if (!prefix_root || *prefix_root != receipt->checkpoint.root) {
    return "bundle: its first " + std::to_string(receipt_size) +
           " lines do not have the receipt's root: the bundle's log does not extend the one the "
           "receipt was given from";
  }
  return {};
}

std::optional<std::string> recorded_log_id(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(data_dir) / "CURRENT", ec)) return std::nullopt;
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return std::nullopt;
  std::string recorded;
  if (!(*opened)
           ->db->Get(rocksdb::ReadOptions(), (*opened)->meta_cf, kMetaPublicLogKeys, &recorded)
           .ok()) {
    return std::nullopt;
  }
  return recorded.substr(0, recorded.find(':'));
}

Result<std::string> campaign_tag_key(const std::string& data_dir, const std::string& log_keys_dir,
                                     const std::string& campaign) {
  auto keys = publog::read_log_keys(keys_dir_of(data_dir, log_keys_dir));
  if (!keys.ok()) return keys.status();
  return keys->tags.campaign_key(campaign).hex();
}

}  // namespace tally::storage
