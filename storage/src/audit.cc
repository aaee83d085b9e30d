// tallyctl's commands as library calls. See tally/storage/audit.h.
#include "tally/storage/audit.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <unordered_map>

#include "tally/base/clock.h"
#include "tally/base/json.h"
#include "tally/base/json_writer.h"
#include "tally/publog/log_keys.h"
#include "tally/publog/merkle.h"
#include "tally/publog/public_event.h"
#include "tally/storage/event_format.h"
#include "tally/storage/event_json.h"
#include "db_layout.h"
#include "public_form.h"
#include "rocksdb_logger.h"
#include "rule_checker.h"
#include "tree_store.h"
#include "vote_marks.h"

namespace tally::storage {
namespace {

// Visits every decoded event of the log in seq order, counting them in `events_read`. A record
// that does not decode is reported through `bad` and skipped.
template <typename OnEvent, typename OnBad>
Status for_each_event(ReadOnlyDb& db, std::uint64_t from_seq, ProgressCounter& events_read,
                      OnEvent&& on_event, OnBad&& on_bad) {
  LogScan scan(*db.db, db.events_cf, from_seq);
  std::vector<StoredEvent> events;
  while (scan.next()) {
    const auto key_seq = parse_seq_key(scan.key());
    if (auto status = decode_batch(scan.value(), events); !status.ok()) {
      on_bad(key_seq.value_or(0), status.message());
      continue;
    }
    for (const StoredEvent& event : events) {
      on_event(key_seq.value_or(0), event);
      events_read.add();
    }
  }
  return scan.status();
}

// A persisted tally (the /tally JSON) as verify needs it: campaign, as_of_seq, and votes and
// suspect per candidate.
Result<engine::TallySnapshot> parse_tally(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  engine::TallySnapshot tally;
  std::string_view campaign;
  simdjson::dom::array candidates;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      doc["campaign"].get(campaign) != simdjson::SUCCESS ||
      doc["as_of_seq"].get(tally.as_of_seq) != simdjson::SUCCESS ||
      doc["candidates"].get(candidates) != simdjson::SUCCESS) {
    return Status::error("stored tally: not the /tally shape");
  }
  tally.campaign = std::string(campaign);
  for (auto element : candidates) {
    engine::CandidateTally c;
    std::string_view id;
    if (element["id"].get(id) != simdjson::SUCCESS ||
        element["votes"].get(c.votes) != simdjson::SUCCESS ||
        element["suspect"].get(c.suspect) != simdjson::SUCCESS) {
      return Status::error("stored tally of " + tally.campaign +
                           ": candidates[].id, votes and suspect: required");
    }
    c.id = std::string(id);
    // Tallies stored before adjudication have neither: nothing voided, nobody disqualified.
    if (element["void"].get(c.voided) != simdjson::SUCCESS) c.voided = 0;
    if (element["disqualified"].get(c.disqualified) != simdjson::SUCCESS) c.disqualified = false;
    tally.candidates.push_back(std::move(c));
  }
  return tally;
}

class HmacRedactor final : public Redactor {
 public:
  explicit HmacRedactor(std::string key) : key_(std::move(key)) {}

  std::string redact(std::string_view /*field*/, std::string_view value) const override {
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t n = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_.data(), key_.size(),
                  reinterpret_cast<const unsigned char*>(value.data()), value.size(), mac,
                  sizeof(mac), &n) == nullptr) {
      return "redacted";  // never the value itself
    }
    ChainHash digest{};
    std::copy_n(mac, std::min(n, digest.size()), digest.begin());
    // 128 bits: unique across any campaign's voters, short enough to read.
    return "h:" + to_hex(digest).substr(0, 32);
  }

 private:
  std::string key_;
};

}  // namespace

std::string to_string(const VerifyProblem& problem) { return at_seq(problem.seq) + problem.reason; }

Result<VerifyReport> verify_log(const std::string& data_dir, const ScanProgress& progress,
                                const std::string& log_keys_dir) {
  const auto started = std::chrono::steady_clock::now();
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  ReadOnlyDb& db = **opened;
  VerifyReport report;
  auto& problems = report.problems;
  ChainHasher hasher;
  std::string canonical;  // chain_of() scratch
  RuleChecker rules;
  ChainHash chain = kGenesisChain;
  std::uint64_t last_seq = 0;
  std::uint64_t record_first = 0;

  // The public tree, re-derived event by event and held to what is stored.
  const std::string keys_dir =
      log_keys_dir.empty() ? (std::filesystem::path(data_dir) / "log-keys").string() : log_keys_dir;
  std::optional<publog::TagKeyring> keyring;
  std::optional<StoredTree> stored_tree;
  std::uint64_t stored_tree_size = 0;
  if (!publog::log_keys_exist(keys_dir)) {
    report.public_tree = "not checked: no log keys in " + keys_dir;
  } else if (auto keys = publog::read_log_keys(keys_dir); !keys.ok()) {
    problems.push_back({0, "public tree: " + keys.message()});
  } else if (db.tree_cf == nullptr) {
    report.public_tree = "not built yet (tallyd builds it at its next start)";
  } else {
    keyring.emplace(keys->tags);
    stored_tree.emplace(*db.db, db.tree_cf);
    auto size = stored_tree->size();
    if (!size.ok()) problems.push_back({0, "public tree: " + size.message()});
    stored_tree_size = size.ok() ? *size : 0;
  }
  publog::Frontier frontier;
  std::vector<publog::Hash> derived, stored;
  std::string public_form;
  bool tree_broken = false;  // report the first wrong hash only: the rest follow from it
  // `chain_ok`: a changed event is the chain's finding; its leaf then differs too, and the
  // tree is not checked further.
  const auto check_tree = [&](const StoredEvent& event, bool chain_ok) {
    if (!chain_ok) tree_broken = true;
    if (!keyring || tree_broken || event.seq != frontier.size() + 1) return;
    derived.clear();
    frontier.append(public_leaf(event, *keyring, public_form), &derived);
    if (event.seq > stored_tree_size) return;
    if (auto s = stored_tree->leaf_and_completed(event.seq - 1, stored); !s.ok()) {
      problems.push_back({event.seq, "public tree: " + s.message()});
      tree_broken = true;
    } else if (stored != derived) {
      problems.push_back({event.seq, stored[0] != derived[0]
                                         ? "public tree: the stored leaf is not the hash of the "
                                           "event's public form"
                                         : "public tree: a stored subtree hash is wrong"});
      tree_broken = true;
    }
  };

  // Persisted tallies, checked once the log has been judged up to their as_of_seq.
  std::multimap<std::uint64_t, engine::TallySnapshot> stored_tallies;
  for (const std::string& json : read_persisted_tallies(*db.db, db.meta_cf)) {
    auto tally = parse_tally(json);
    if (!tally.ok()) {
      problems.push_back({0, tally.message()});
      continue;
    }
    stored_tallies.emplace(tally->as_of_seq, std::move(*tally));
  }
  auto check_tallies_before = [&](std::uint64_t seq) {
    while (!stored_tallies.empty() && stored_tallies.begin()->first < seq) {
      rules.check_tally(stored_tallies.begin()->second, problems);
      stored_tallies.erase(stored_tallies.begin());
    }
  };

  auto on_event = [&](std::uint64_t key_seq, const StoredEvent& event) {
    ++report.events;
    check_tallies_before(event.seq);
    if (key_seq != record_first) {
      record_first = key_seq;
      if (event.seq != key_seq) {
        problems.push_back({event.seq, "stored under the key of seq " + std::to_string(key_seq) +
                                           " (a record was moved)"});
      }
    }
    if (event.seq != last_seq + 1) {
      if (event.seq > last_seq + 1) {
        problems.push_back({event.seq, "events " + std::to_string(last_seq + 1) + ".." +
                                           std::to_string(event.seq - 1) +
                                           " are missing (removed) before it"});
      } else {
        problems.push_back({event.seq, "out of order: follows seq " + std::to_string(last_seq) +
                                           " (reordered or repeated)"});
      }
    }
    const ChainHash expected = chain_of(hasher, chain, event, canonical);
    if (expected != event.chain) {
      problems.push_back({event.seq,
                          "chain hash mismatch: the event, or the link to the event before "
                          "it, was changed"});
    }
    check_tree(event, expected == event.chain);
    // Continue from the stored value so that one changed event is reported once.
    chain = event.chain;
    last_seq = std::max(last_seq, event.seq);
    switch (event.kind) {
      case EventKind::campaign:
        ++report.campaign_versions;
        rules.campaign(event, problems);
        break;
      case EventKind::vote:
        ++report.votes;
        rules.vote(event, problems);
        break;
      case EventKind::epoch: ++report.epochs; break;
      case EventKind::flag:
        ++report.flags;
        rules.adjudication(event, problems);
        break;
      case EventKind::decision:
        ++report.decisions;
        rules.adjudication(event, problems);
        break;
    }
  };
  auto on_bad = [&](std::uint64_t key_seq, const std::string& message) {
    problems.push_back({key_seq, "record does not decode: " + message});
  };
  ProgressCounter events_read(progress);
  if (auto status = for_each_event(db, 0, events_read, on_event, on_bad); !status.ok())
    return status;
  for (auto& [as_of_seq, tally] : stored_tallies) {
    if (as_of_seq > last_seq) {
      problems.push_back({as_of_seq, "stored tally of campaign " + tally.campaign +
                                         " is as of a seq the log does not reach"});
    } else {
      rules.check_tally(tally, problems);
    }
  }

  const MetaState meta = read_meta(*db.db, db.meta_cf);
  if (!meta.status.ok()) {
    problems.push_back({last_seq, meta.status.message()});
  } else if (meta.last_seq != last_seq) {
    problems.push_back(
        {last_seq, "the log ends here but meta says its last seq is " +
                       std::to_string(meta.last_seq) +
                       (meta.last_seq > last_seq ? " (events removed at the end)" : "")});
  } else if (last_seq != 0 && meta.chain_head != chain) {
    problems.push_back({last_seq, "chain head in meta differs from the last event's"});
  }
  if (keyring) {
    if (stored_tree_size < last_seq) {
      // Events written by a build without log keys: the next start builds the rest.
      report.public_tree = "covers " + std::to_string(stored_tree_size) + " of " +
                           std::to_string(last_seq) +
                           " events (tallyd builds the rest at its next start)";
    } else if (stored_tree_size != last_seq) {
      problems.push_back({last_seq, "public tree: holds " + std::to_string(stored_tree_size) +
                                        " leaves, the log " + std::to_string(last_seq) +
                                        " events"});
    } else if (!tree_broken) {
      report.public_tree = "checked";
      report.public_root_hex = publog::to_hex(frontier.root());
    }
  }
  report.last_seq = last_seq;
  report.chain_head_hex = to_hex(chain);
  report.tallies = rules.tallies(last_seq);
  report.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string verify_report_json(const VerifyReport& report) {
  std::string out;
  JsonWriter json(out);
  const auto problem = [&json](const VerifyProblem& p) {
    json.begin_object().key("seq").integer(p.seq).key("reason").string(p.reason).end_object();
  };
  json.begin_object()
      .key("ok")
      .boolean(report.ok())
      .key("events")
      .integer(report.events)
      .key("votes")
      .integer(report.votes)
      .key("campaign_versions")
      .integer(report.campaign_versions)
      .key("epochs")
      .integer(report.epochs)
      .key("flags")
      .integer(report.flags)
      .key("decisions")
      .integer(report.decisions)
      .key("last_seq")
      .integer(report.last_seq)
      .key("chain_head")
      .string(report.chain_head_hex)
      .key("public_root")
      .string(report.public_root_hex)
      .key("public_tree")
      .string(report.public_tree);
  json.key("recount").begin_array();
  for (const auto& tally : report.tallies) {
    json.begin_object()
        .key("campaign")
        .string(tally.campaign)
        .key("votes")
        .integer(tally.total)
        .key("suspect")
        .integer(tally.suspect)
        .key("void")
        .integer(tally.voided)
        .key("valid")
        .integer(tally.valid)
        .end_object();
  }
  json.end_array().key("failures").begin_array();
  for (const auto& p : report.problems) problem(p);
  json.end_array().key("first_failure");
  if (report.problems.empty()) {
    json.null();
  } else {
    problem(report.problems.front());
  }
  char elapsed[32];  // milliseconds are all a person or a monitor reads of it
  std::snprintf(elapsed, sizeof(elapsed), "%.3f", report.elapsed_s);
  json.key("elapsed_s").raw(elapsed);
  json.end_object();
  return out;
}

Status for_each_record(const std::string& data_dir,
                       const std::function<bool(std::uint64_t, std::string_view)>& on_record) {
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  ReadOnlyDb& db = **opened;
  LogScan scan(*db.db, db.events_cf);
  while (scan.next()) {
    const auto key_seq = parse_seq_key(scan.key());
    if (!key_seq) return Status::error("a record under a key that is not a seq");
    if (!on_record(*key_seq, scan.value())) break;
  }
  return scan.status();
}

Status export_log(const ExportOptions& options, std::ostream& out) {
  auto opened = open_read_only(options.data_dir);
  if (!opened.ok()) return opened.status();
  ReadOnlyDb& db = **opened;
  std::unique_ptr<HmacRedactor> redactor;
  if (options.redact) {
    std::string key = options.redact_key;
    if (key.empty()) {
      key.resize(32);
      if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
        return Status::error("export --redact: no random key available");
      }
    }
    redactor = std::make_unique<HmacRedactor>(std::move(key));
  }
  std::string bad;
  auto on_bad = [&](std::uint64_t key_seq, const std::string& message) {
    if (bad.empty()) bad = at_seq(key_seq) + "record does not decode: " + message;
  };
  std::string line;
  ProgressCounter events_read(options.progress);
  // Pass 1: campaign versions (rare), pass 2: votes.
  auto on_campaign = [&](std::uint64_t, const StoredEvent& event) {
    if (event.kind != EventKind::campaign) return;
    if (!options.campaign.empty()) {
      auto campaign = engine::parse_campaign(event.campaign_json);
      if (!campaign.ok() || campaign->id != options.campaign) return;
    }
    line.clear();
    append_event_json(line, event);
    line.push_back('\n');
    out << line;
  };
  if (auto status = for_each_event(db, 0, events_read, on_campaign, on_bad); !status.ok()) {
    return status;
  }
  // Votes with what later flags and decisions say of them (their marks, read alongside: both
  // families are in seq order), and the flags and decisions themselves.
  std::unique_ptr<rocksdb::Iterator> marks_it;
  if (db.marks_cf != nullptr) {
    marks_it.reset(db.db->NewIterator(rocksdb::ReadOptions(), db.marks_cf));
    marks_it->Seek(seq_key(options.from_seq));
  }
  const auto marks_of = [&](std::uint64_t seq) {
    VoteMarks marks;
    if (!marks_it) return marks;
    const std::string key = seq_key(seq);
    while (marks_it->Valid() && marks_it->key().compare(key) < 0) marks_it->Next();
    if (marks_it->Valid() && marks_it->key().compare(key) == 0) {
      if (auto decoded = decode_marks(marks_it->value().ToStringView())) marks = *decoded;
    }
    return marks;
  };
  auto on_vote = [&](std::uint64_t, const StoredEvent& event) {
    if (event.seq < options.from_seq) return;
    std::string_view campaign;
    switch (event.kind) {
      case EventKind::vote: campaign = event.vote.ballot.campaign; break;
      case EventKind::flag: campaign = event.flag.campaign; break;
      case EventKind::decision: campaign = event.decision.campaign; break;
      default: return;
    }
    if (!options.campaign.empty() && campaign != options.campaign) return;
    line.clear();
    if (event.kind == EventKind::vote) {
      const VoteMarks marks = marks_of(event.seq);
      append_event_json(line, event, redactor.get(), &marks);
    } else {
      append_event_json(line, event, redactor.get());
    }
    line.push_back('\n');
    out << line;
  };
  if (auto status = for_each_event(db, options.from_seq, events_read, on_vote, on_bad);
      !status.ok()) {
    return status;
  }
  out.flush();
  if (!bad.empty()) return Status::error(bad);
  if (!out) return Status::error("export: write to stdout failed");
  return {};
}

namespace {

// A flag or decision line of an export, as the event it shows (views into `doc`): what a
// replay counts of it.
Result<StoredEvent> adjudication_from_json(simdjson::dom::element doc, std::uint64_t seq) {
  StoredEvent event;
  event.seq = seq;
  std::string_view kind;
  std::string_view campaign;
  if (doc["kind"].get(kind) != simdjson::SUCCESS ||
      doc["campaign"].get(campaign) != simdjson::SUCCESS) {
    return Status::error("campaign: required");
  }
  std::vector<engine::MarkedVote> votes;
  simdjson::dom::array listed;
  if (doc["votes"].get(listed) == simdjson::SUCCESS) {
    for (simdjson::dom::element vote : listed) {
      engine::MarkedVote marked;
      std::uint64_t candidate = 0;
      if (vote["seq"].get(marked.seq) != simdjson::SUCCESS ||
          vote["candidate"].get(candidate) != simdjson::SUCCESS) {
        return Status::error("votes: each needs seq and candidate");
      }
      marked.candidate = static_cast<std::uint32_t>(candidate);
      simdjson::dom::array prior;
      if (vote["prior"].get(prior) == simdjson::SUCCESS && prior.size() > 0) {
        marked.prior = 1;  // the count needs only whether it was suspect already
      }
      votes.push_back(marked);
    }
  }
  if (kind == "flag") {
    event.kind = EventKind::flag;
    event.flag.campaign = campaign;
    event.flag.votes = std::move(votes);
    return event;
  }
  std::string_view action_name;
  if (doc["action"].get(action_name) != simdjson::SUCCESS) return Status::error("action: required");
  const auto action = decision_action_from_string(action_name);
  if (!action) return Status::error("action: unknown");
  event.kind = EventKind::decision;
  event.decision.campaign = campaign;
  event.decision.action = *action;
  std::string_view candidate;
  if (doc["candidate"].get(candidate) == simdjson::SUCCESS) event.decision.candidate = candidate;
  event.decision.votes = std::move(votes);
  return event;
}

}  // namespace

Result<std::vector<engine::TallySnapshot>> replay_export(std::istream& in) {
  simdjson::dom::parser parser;
  Counter counter;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) {
      return Status::error(where + "not JSON");
    }
    std::string_view kind;
    std::uint64_t seq = 0;
    if (doc["kind"].get(kind) != simdjson::SUCCESS || doc["seq"].get(seq) != simdjson::SUCCESS) {
      return Status::error(where + "kind and seq: required");
    }
    if (kind == "campaign") {
      simdjson::dom::element definition;
      if (doc["campaign"].get(definition) != simdjson::SUCCESS) {
        return Status::error(where + "campaign: required");
      }
      auto campaign = engine::parse_campaign(simdjson::minify(definition));
      if (!campaign.ok()) return Status::error(where + campaign.message());
      counter.add_version(*campaign, seq);
    } else if (kind == "vote") {
      std::string_view campaign;
      std::string_view candidate;
      simdjson::dom::array flags;
      if (doc["campaign"].get(campaign) != simdjson::SUCCESS ||
          doc["candidate"].get(candidate) != simdjson::SUCCESS) {
        return Status::error(where + "campaign and candidate: required");
      }
      const bool suspect = doc["flags"].get(flags) == simdjson::SUCCESS && flags.size() > 0;
      counter.add_vote(campaign, candidate, suspect, seq);
    } else if (kind == "flag" || kind == "decision") {
      auto event = adjudication_from_json(doc, seq);
      if (!event.ok()) return Status::error(where + event.message());
      counter.add_adjudication(*event);
    } else {
      return Status::error(where + "kind: must be vote, campaign, flag or decision");
    }
  }
  return counter.tallies();
}

Result<std::vector<std::string>> compare_tallies(const std::vector<engine::TallySnapshot>& got,
                                                 std::istream& expected) {
  std::string text((std::istreambuf_iterator<char>(expected)), std::istreambuf_iterator<char>());
  simdjson::dom::parser parser;
  simdjson::dom::document_stream stream;
  if (parser.parse_many(text).get(stream) != simdjson::SUCCESS) {
    return Status::error("expect: not JSON");
  }
  std::vector<std::string> differences;
  for (auto result : stream) {
    simdjson::dom::element doc;
    if (result.get(doc) != simdjson::SUCCESS) return Status::error("expect: not JSON");
    std::string_view campaign;
    simdjson::dom::array candidates;
    if (doc["campaign"].get(campaign) != simdjson::SUCCESS ||
        doc["candidates"].get(candidates) != simdjson::SUCCESS) {
      return Status::error("expect: campaign and candidates: required");
    }
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> want;
    for (auto candidate : candidates) {
      std::string_view id;
      std::uint64_t votes = 0;
      if (candidate["id"].get(id) != simdjson::SUCCESS ||
          candidate["votes"].get(votes) != simdjson::SUCCESS) {
        return Status::error("expect: candidates[].id and votes: required");
      }
      // A tally from before adjudication has no void: nothing was voided.
      std::uint64_t voided = 0;
      if (candidate["void"].get(voided) != simdjson::SUCCESS) voided = 0;
      want[std::string(id)] = {votes, voided};
    }
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> have;
    for (const auto& tally : got) {
      if (tally.campaign != campaign) continue;
      for (const auto& c : tally.candidates) have[c.id] = {c.votes, c.voided};
    }
    using Counts = std::pair<std::uint64_t, std::uint64_t>;  // votes, void
    std::map<std::string, std::pair<Counts, Counts>> both;
    for (const auto& [id, counts] : want) both[id].second = counts;
    for (const auto& [id, counts] : have) both[id].first = counts;
    const auto shown = [](const Counts& counts) {
      return std::to_string(counts.first) +
             (counts.second > 0 ? " (" + std::to_string(counts.second) + " void)" : "");
    };
    for (const auto& [id, counts] : both) {
      if (counts.first == counts.second) continue;
      differences.push_back("campaign " + std::string(campaign) + " candidate " + id +
                            ": replay counts " + shown(counts.first) + ", expected " +
                            shown(counts.second));
    }
  }
  return differences;
}

Result<CampaignResults> campaign_results(const std::string& data_dir, std::string_view campaign_id,
                                         const ScanProgress& progress) {
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  Counter counter;
  std::string bad;
  std::uint64_t last_seq = 0;
  auto on_event = [&](std::uint64_t, const StoredEvent& event) {
    last_seq = std::max(last_seq, event.seq);
    if (event.kind == EventKind::campaign) {
      auto campaign = engine::parse_campaign(event.campaign_json);
      if (campaign.ok() && campaign->id == campaign_id) counter.add_version(*campaign, event.seq);
    } else if (event.kind == EventKind::vote && event.vote.ballot.campaign == campaign_id) {
      counter.add_vote(event.vote.ballot.campaign, event.vote.ballot.candidate,
                       event.vote.flags != 0, event.seq);
    } else if ((event.kind == EventKind::flag && event.flag.campaign == campaign_id) ||
               (event.kind == EventKind::decision && event.decision.campaign == campaign_id)) {
      counter.add_adjudication(event);
    }
  };
  auto on_bad = [&](std::uint64_t key_seq, const std::string& message) {
    if (bad.empty()) bad = at_seq(key_seq) + "record does not decode: " + message;
  };
  ProgressCounter events_read(progress);
  if (auto status = for_each_event(**opened, 0, events_read, on_event, on_bad); !status.ok()) {
    return status;
  }
  if (!bad.empty()) return Status::error(bad + " (run tallyctl verify)");
  const engine::Campaign* latest = counter.latest(std::string(campaign_id));
  if (latest == nullptr) {
    return Status::error("campaign " + std::string(campaign_id) + ": not in the log");
  }
  CampaignResults results;
  results.campaign = *latest;
  for (auto& tally : counter.tallies()) {
    if (tally.campaign == campaign_id) results.tally = std::move(tally);
  }
  results.tally.as_of_seq = last_seq;
  return results;
}

namespace {

void append_csv_field(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(text);
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string results_csv(const CampaignResults& results, bool bom) {
  std::string out = bom ? "\xEF\xBB\xBF" : "";
  out += "rank,candidate,name,unit,industry,votes,suspect,void,valid,disqualified\n";
  for (const auto& c : results.tally.candidates) {
    const engine::Candidate* info = nullptr;
    for (const auto& candidate : results.campaign.candidates) {
      if (candidate.id == c.id) info = &candidate;
    }
    if (!c.disqualified) out += std::to_string(c.rank);  // a disqualified one has no rank
    out.push_back(',');
    append_csv_field(out, c.id);
    out.push_back(',');
    append_csv_field(out, c.name);
    out.push_back(',');
    append_csv_field(out, info != nullptr ? std::string_view(info->unit) : "");
    out.push_back(',');
    append_csv_field(out, info != nullptr ? std::string_view(info->industry) : "");
    out += "," + std::to_string(c.votes) + "," + std::to_string(c.suspect) + "," +
           std::to_string(c.voided) + "," + std::to_string(c.valid) + "," +
           (c.disqualified ? "yes" : "") + "\n";
  }
  return out;
}

Status backup_log(const std::string& data_dir, const std::string& to_dir,
                  const ScanProgress& progress) {
  std::error_code ec;
  if (std::filesystem::exists(to_dir, ec) && !std::filesystem::is_empty(to_dir, ec)) {
    return Status::error("backup --to " + to_dir + ": exists and is not empty");
  }
  auto opened = open_read_only(data_dir);
  if (!opened.ok()) return opened.status();
  ReadOnlyDb& source = **opened;

  std::filesystem::create_directories(to_dir, ec);  // see VoteLog::open; the open reports errors
  rocksdb::DBOptions options = write_db_options(to_dir, stderr_info_log());
  // A backup is written once and closed: a paced deleter would leave its last obsolete WAL
  // behind as trash when the process exits.
  options.sst_file_manager.reset();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, to_dir, column_families(), &handles, &raw);
  if (!s.ok()) return Status::error("backup: create " + to_dir + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> target(raw);

  // One read snapshot of the source, copied family by family: events and meta were written
  // together, so the copy is as consistent as the moment the source was opened.
  const rocksdb::Snapshot* snapshot = source.db->GetSnapshot();
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  read.fill_cache = false;
  constexpr std::size_t kCopyBatchBytes = 8u << 20;
  ProgressCounter records_copied(progress);
  const std::pair<rocksdb::ColumnFamilyHandle*, std::size_t> families[] = {
      {source.events_cf, kEventsIndex},
      {source.meta_cf, kMetaIndex},
      {source.tree_cf, kTreeIndex},
      {source.marks_cf, kMarksIndex}};
  for (const auto& [from, family] : families) {
    if (from == nullptr) continue;  // no tree or marks yet: tallyd builds them
    std::unique_ptr<rocksdb::Iterator> it(source.db->NewIterator(read, from));
    rocksdb::WriteBatch batch;
    for (it->SeekToFirst(); s.ok() && it->Valid(); it->Next()) {
      s = batch.Put(handles[family], it->key(), it->value());
      records_copied.add();
      if (s.ok() && batch.GetDataSize() >= kCopyBatchBytes) {
        s = target->Write(rocksdb::WriteOptions(), &batch);
        batch.Clear();
      }
    }
    if (s.ok()) s = it->status();
    if (s.ok() && batch.Count() > 0) s = target->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) break;
  }
  source.db->ReleaseSnapshot(snapshot);
  if (s.ok()) s = target->FlushWAL(/*sync=*/true);
  if (s.ok()) {
    rocksdb::FlushOptions flush;
    s = target->Flush(flush, handles);
  }
  for (auto* handle : handles) target->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  rocksdb::Status closed = target->Close();
  if (s.ok()) s = closed;
  if (!s.ok()) return Status::error("backup to " + to_dir + ": " + s.ToString());
  return {};
}

}  // namespace tally::storage
