// Engine: decides every ballot against its campaign's rules and keeps the live tallies.
//
// Data flow: ingest parses a ballot -> decide() -> (accepted) storage commits it and calls
// commit() with its seq, or release() if the commit failed -> publish() after each batch ->
// tally() readers. No I/O here. decide(), tally(), campaign lookups and release() are safe
// for concurrent use and lock-free on the vote path; commit(), publish(), install_campaign()
// and replay_vote() are called by one thread at a time (the storage writer, or recovery).
// Contract: DESIGN.md "Engine"; the tables: docs/DEDUPE_TABLE.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/background.h"
#include "tally/base/clock.h"
#include "tally/base/published.h"
#include "tally/base/status.h"
#include "tally/engine/campaign.h"
#include "tally/engine/fingerprint.h"
#include "tally/engine/fraud_flags.h"
#include "tally/engine/fraud_keys.h"
#include "tally/engine/vote_status.h"

namespace tally::engine {

// The key tables of a campaign (docs/DEDUPE_TABLE.md): one period's dedupe keys and quota
// counts, one UTC day's request ids.
enum class TableKind : std::uint8_t { dedupe, quota, request_id };
inline constexpr std::size_t kTableKinds = 3;
static_assert(kTableKinds == static_cast<std::size_t>(TableKind::request_id) + 1);
// "dedupe", "quota", "request_id": the metrics' `table` label.
std::string_view table_kind_name(TableKind kind);

// Bytes held by tables (slot arrays, a growth's second array, bookkeeping) and their keys.
struct TableFigures {
  std::uint64_t bytes = 0;
  std::uint64_t keys = 0;
};

// One ballot as posted; views into the request buffer, valid during decide().
struct Ballot {
  std::string_view campaign;
  std::string_view candidate;
  std::string_view voter;
  std::string_view device;      // empty = absent
  std::string_view ip;          // the source address (the `ip` field, else the TCP peer)
  std::string_view ua;          // empty = absent
  std::string_view request_id;  // empty = absent
  std::optional<std::int64_t> ts_ms;
};

// Field limits of DESIGN.md, checked by check_ballot() (ingest may check earlier). The user
// agent's is the real agents' with room to spare: WeChat on Android sends 280-330 bytes
// (docs/INGEST.md "Limits" lists what each limit was checked against).
inline constexpr std::size_t kMaxFieldBytes = 256;
inline constexpr std::size_t kMaxUaBytes = 1024;
inline constexpr std::size_t kMaxRequestIdBytes = 128;
// How long a request_id answers `duplicate`: at least 48 hours of server time.
inline constexpr std::int64_t kRequestIdRetentionMs = 48LL * 3600 * 1000;

// Field checks that need no campaign: nullopt when fine, else an error naming the field and
// rule ("voter: longer than 256 bytes"). Static strings: the hot path does not allocate.
// Utf8::known_valid skips the encoding scan, for callers whose fields cannot be anything else
// (the ingest parser: its JSON parser validates the whole input and refuses escapes that
// would decode to invalid UTF-8).
enum class Utf8 { check, known_valid };
std::optional<std::string_view> check_ballot(const Ballot& ballot, Utf8 utf8 = Utf8::check);

namespace internal {
class CampaignState;
class Generation;
struct GenerationCounts;
}  // namespace internal

// An accepted ballot's hold on its keys until storage says how its commit ended. Move-only;
// pass it to exactly one of Engine::commit() or Engine::release(). A Claim that is destroyed
// unused releases itself, so a dropped ballot never blocks its voter.
class Claim {
 public:
  Claim() = default;
  Claim(Claim&& other) noexcept;
  Claim& operator=(Claim&& other) noexcept;
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  ~Claim();

  explicit operator bool() const { return state_ != nullptr; }
  std::uint32_t candidate_index() const { return candidate_index_; }
  std::int64_t server_ms() const { return server_ms_; }
  std::int64_t period() const { return period_; }

 private:
  friend class Engine;
  void reset();

  // The engine outlives every claim; the generations count this claim until it ends.
  internal::CampaignState* state_ = nullptr;
  internal::Generation* generation_ = nullptr;
  internal::Generation* request_generation_ = nullptr;  // set when request_id was claimed
  bool holds_keys_ = false;  // the dedupe key (and, if new, the quota slot) are claimed
  Key128 dedupe_key_;
  Key128 quota_key_;
  Key128 request_key_;
  std::uint32_t candidate_index_ = 0;
  std::int64_t server_ms_ = 0;
  std::int64_t period_ = 0;
};

// What Engine::prefetch() works out for a ballot, handed to Engine::decide() so that it is not
// worked out twice: the campaign state, the candidate, the table keys and the fraud sketch
// keys (about 7 % of a batch vote's instructions, SHA-256 aside). decide() uses them only for the
// same campaign state and ballot views; otherwise it works them out. Views cannot tell a reused
// buffer: REQUIRES that the caller hands decide() keys that prefetch() filled in for this very
// ballot, its bytes unchanged since.
class BallotKeys {
 private:
  friend class Engine;
  bool same_ballot(const Ballot& ballot) const;

  const internal::CampaignState* state_ = nullptr;  // null: nothing worked out
  Ballot ballot_;                                   // the views prefetch() saw
  std::optional<std::uint32_t> candidate_;
  Key128 fingerprint_;  // set with candidate_
  Key128 dedupe_;       // set with candidate_
  Key128 request_;      // set when ballot_.request_id is not empty
  FraudKeys fraud_;
  // The server time prefetch() read: decide() judges at it rather than read the clock again
  // (a batch's next line is prefetched while the current one is decided: microseconds before).
  std::int64_t now_ms_ = 0;
};

struct Decision {
  VoteStatus status = VoteStatus::invalid;
  // duplicate: the seq of the counted ballot.
  std::uint64_t seq = 0;
  // duplicate of a ballot whose commit is still in flight: its seq is not known yet. Ask
  // decide() again shortly (after the next commit batch); the answer is then final.
  bool pending = false;
  // invalid: names the field and the rule. Static storage.
  std::string_view error;
  // accepted: the keys held for this ballot; hand to commit() or release().
  Claim claim;
  // The server time and period the ballot was judged at (accepted and duplicate).
  std::int64_t server_ms = 0;
  std::int64_t period = 0;
  // accepted: the fraud reasons that make it suspect, to store in its event.
  FraudFlags flags = 0;
};

struct CandidateTally {
  std::string id;
  std::string name;
  std::uint64_t votes = 0;
  std::uint64_t suspect = 0;
  // Competition ranking by valid votes: 1 + the candidates still in the running with more
  // valid votes; 0 for a disqualified candidate, which is ranked apart.
  std::uint32_t rank = 0;
  // Suspect votes per FraudReason (a vote with several reasons counts under each).
  std::array<std::uint64_t, kFraudReasonCount> suspect_by_reason = {};
  // Votes the committee voided (DESIGN.md "Adjudication"); valid = votes - voided.
  std::uint64_t voided = 0;
  std::uint64_t valid = 0;
  bool disqualified = false;
};

// A consistent view of one campaign's committed votes.
struct TallySnapshot {
  std::string campaign;
  std::uint64_t as_of_seq = 0;
  std::uint64_t total = 0;
  std::uint64_t suspect = 0;
  std::uint64_t voided = 0;
  std::uint64_t valid = 0;
  // Candidates in the running by valid desc, then id; then the disqualified ones, the same way.
  std::vector<CandidateTally> candidates;
};
// Sets each candidate's valid count, sorts the candidates in the running by valid votes
// (descending), then id, and gives them competition ranks (equal counts share a rank, the next
// skips: 1, 2, 2, 4); disqualified candidates follow, sorted the same way, with rank 0. Sums
// total, suspect, voided and valid over every candidate.
void rank(TallySnapshot& tally);

// A committed vote that a later event changes (a late flag, a committee decision): its seq,
// its candidate's index in its campaign, and the fraud reasons it carried before a flag (its
// stored flags and earlier flag events'; 0 in a decision).
struct MarkedVote {
  std::uint64_t seq = 0;
  std::uint32_t candidate = 0;
  FraudFlags prior = 0;
};
std::string tally_to_json(const TallySnapshot& tally);

enum class PutOutcome : std::uint8_t { created, updated, unchanged, conflict };

class FraudMonitor;

struct EngineOptions {
  // Slots reserved per table generation when a campaign has no expected_voters.
  // Default: kDefaultExpectedVoters.
  std::uint64_t default_expected_voters = kDefaultExpectedVoters;
  // Fraud signals: when set, every installed campaign version is given to it, every ballot
  // that passes the rules is observed (its flags go into the decision, or it is answered
  // rate_limited when the campaign turns that signal into a rejection), and recovery replays
  // stored votes into it. Must outlive the engine. Default: none (no flags).
  FraudMonitor* fraud = nullptr;
  // Where large tables' next arrays are made ahead of their growth (mapping an array's pages
  // is most of a growth's cost). The engine starts no thread: tallyd's main gives it one. Must
  // outlive the engine's tables' use of it (it runs every job before it is destroyed).
  // Default: none (tables grow in line).
  BackgroundWork* background = nullptr;
};

class Engine {
 public:
  explicit Engine(const Clock& clock, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // What installing `next` would do: created, updated (a new version), unchanged (identical
  // definition, no new version), or conflict (it has votes and `next` changes candidates or
  // rules). Safe for concurrent use; install_campaign() decides again under its lock.
  PutOutcome check_campaign(const Campaign& next) const;

  // Makes `next` the version in force from `seq` on (the seq of its campaign event).
  // Returns conflict and changes nothing if votes exist and `next` alters counting.
  // REQUIRES: called by the commit thread, seqs increasing.
  PutOutcome install_campaign(const Campaign& next, std::uint64_t seq);

  std::shared_ptr<const Campaign> campaign(std::string_view id) const;
  std::vector<std::shared_ptr<const Campaign>> campaigns() const;

  // Creates the tables of every open campaign's current period (and UTC day, where request
  // ids are sent), and maps their memory, so that the first ballots of a rush do not each
  // wait for the pages they touch. With a lead, also those of campaigns that open within it,
  // and of periods and UTC days that begin within it (made ahead, live from their first
  // ballot). Ends with a reclaim pass. Call it before serving
  // (tallyd does, after recovery) and then now and then with a lead (tallyd: every few
  // seconds); decide() would otherwise create them on first use. Safe for concurrent use.
  void prepare_tables(std::int64_t lead_ms = 0);

  // Whether decide() runs check_ballot() or its caller already did. The ingest parser checks
  // the fields as it reads them; checking again would scan every field twice per vote.
  enum class FieldCheck { run, done_by_caller };

  // Judges a ballot at the current server time, in DESIGN.md's precedence order. An
  // `accepted` decision holds claims on its keys (see Claim).
  // `keys`: what prefetch() filled in for this ballot, if it ran.
  Decision decide(const Ballot& ballot, FieldCheck fields = FieldCheck::run,
                  const BallotKeys* keys = nullptr);
  // Starts loading the table slots decide(ballot) will probe, changing nothing. Each probe is
  // a cache miss into tables of tens of megabytes; a caller holding several ballots (a batch)
  // prefetches the next one before deciding this one, so that the misses overlap the work.
  // Fills in `keys` for decide(). Safe for concurrent use.
  void prefetch(const Ballot& ballot, BallotKeys& keys) const;

  // The ballot behind `claim` is durable as `seq` with `flags`: records its seq for later
  // duplicates and counts it. REQUIRES: commit thread; seq above every earlier commit.
  void commit(Claim claim, std::uint64_t seq, FraudFlags flags);
  // As prefetch(), for the slots commit(claim) writes: the writer prefetches a few claims
  // ahead of the one it commits. REQUIRES: commit thread (the claim is not committed yet).
  static void prefetch_commit(const Claim& claim);
  // The commit failed: frees the keys so the voter may vote again. Safe from any thread.
  void release(Claim claim);
  // Makes every commit up to `as_of_seq` visible to tally(). REQUIRES: commit thread.
  void publish(std::uint64_t as_of_seq);

  // Adjudication (DESIGN.md): what a committed `flag` or `decision` event changes in the
  // tallies, live and at recovery. REQUIRES: commit thread; publish() follows. An error (an
  // unknown campaign, a candidate index out of range) changes nothing.
  // A late flag: `reason` now applies to `votes`. A vote whose prior flags were empty becomes
  // suspect; one whose prior flags lacked `reason` counts under it.
  Status apply_flag(std::string_view campaign_id, FraudReason reason,
                    std::span<const MarkedVote> votes);
  // A decision voids `votes` (or restores them, `voided` false). Each must change state: the
  // writer lists only those that do.
  Status apply_void(std::string_view campaign_id, std::span<const MarkedVote> votes, bool voided);
  // A decision disqualifies a candidate, or reinstates one.
  Status set_disqualified(std::string_view campaign_id, std::string_view candidate_id,
                          bool disqualified);

  // Recovery: counts a stored vote (in seq order) as if it had been decided and committed,
  // restoring dedupe keys of the current period, quotas, request ids and tallies. Call
  // publish() when done. REQUIRES: commit thread, before serving.
  Status replay_vote(const Ballot& ballot, std::int64_t server_ms, std::int64_t period,
                     FraudFlags flags, std::uint64_t seq);
  // Recovery's other half: feeds the same stored vote to the fraud monitor, if any. Kept apart
  // so that recovery can run it on a second thread (the monitor is safe for concurrent use);
  // calls must come in seq order among themselves, after the vote's campaign was installed.
  void replay_fraud(const Ballot& ballot, std::int64_t server_ms, std::int64_t period,
                    FraudFlags flags);
  bool has_fraud_monitor() const { return options_.fraud != nullptr; }

  // The committed tally as of the last publish(); nullopt for an unknown campaign. Names and
  // per-reason counts are filled in; tally_to_json() shows the DESIGN.md fields only.
  std::optional<TallySnapshot> tally(std::string_view campaign_id) const;
  // Highest seq made visible by publish().
  std::uint64_t as_of_seq() const { return as_of_seq_.load(std::memory_order_acquire); }

  // Memory held by the dedupe, quota and request tables of every campaign, and their keys.
  struct TableStats {
    std::uint64_t bytes = 0;                          // all tables
    std::uint64_t keys = 0;                           // all tables
    std::array<TableFigures, kTableKinds> by_kind{};  // indexed by TableKind
    // Table generations (a period's dedupe and quota tables, a UTC day's request ids) made
    // ahead of their period by prepare_tables(), and made once their period had begun: by
    // its first ballot, whose users then wait for the memory, by replay or at start-up.
    std::uint64_t generations_made_ahead = 0;
    std::uint64_t generations_made_late = 0;
    // Generations that exist: live, made ahead, or retired and not freed yet (a passed
    // period's, or a replaced campaign version's, until no thread uses them).
    std::uint64_t generations_live = 0;
    // Doublings of any of those tables since start: a campaign drew more voters (or request
    // ids) than its expected_voters.
    std::uint64_t table_growths = 0;
  };
  TableStats table_stats() const;

  const Clock& clock() const { return clock_; }

 private:
  // decide()'s steps, in order (engine.cc). Each goes on to the next, has the ballot judged
  // again from the start (a campaign version or a period changed under it), or gives the
  // answer in `answer`.
  struct Attempt;
  enum class Next : std::uint8_t { go_on, again, answered };
  Next begin_attempt(Attempt& at, const BallotKeys* keys, Decision& answer) const;
  Next answer_known_request_id(Attempt& at, Decision& answer) const;
  Next find_keys(Attempt& at, Decision& answer) const;
  Next enter_generation(Attempt& at, Decision& answer) const;
  Next answer_counted_duplicate(Attempt& at, Decision& answer) const;
  Next claim_keys(Attempt& at, Decision& answer) const;
  Next check_not_replaced(Attempt& at) const;
  Next accept(Attempt& at, Decision& answer) const;

  struct CampaignMap;
  const CampaignMap* load_map() const;
  internal::CampaignState* find_state(std::string_view id) const;
  // decide() found `state` replaced: returns once the map holds its successor, or the mark
  // was taken back.
  void wait_for_install(const internal::CampaignState& state, std::string_view id) const;
  void mark_dirty(internal::CampaignState* state);  // commit thread: publish it next time

  const Clock& clock_;
  EngineOptions options_;
  // Shared by every campaign state, replaced ones included: counters never go back. Declared
  // before the states' owners, so that it outlives the generations they free.
  std::unique_ptr<internal::GenerationCounts> generation_counts_;
  // The campaign map, read lock-free on the vote path, replaced whole by install_campaign()
  // (under install_mutex_). Earlier maps stay until the engine dies: they are few (one per
  // campaign version) and a reader may still hold one.
  Published<CampaignMap> maps_;
  mutable std::mutex install_mutex_;  // campaign installs only, never on the vote path
  // Replaced states whose tables prepare_tables() has not freed yet (under install_mutex_).
  std::vector<std::shared_ptr<internal::CampaignState>> replaced_states_;
  std::atomic<std::uint64_t> as_of_seq_{0};
  std::uint64_t last_commit_seq_ = 0;            // commit thread only
  std::vector<internal::CampaignState*> dirty_;  // commit thread only: to publish, each once
};

}  // namespace tally::engine
