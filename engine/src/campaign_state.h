// CampaignState: the live state of one campaign version's counting — its table generations,
// window and tallies. Private to the engine.
//
// Thread safety: the vote path (decide, release) runs on any thread without locks; creating a
// generation when a period starts takes gen_mutex_ once per period. commit, publish and
// replay run on the commit thread only. Immutable after construction: id, rules, candidates.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/engine/fingerprint.h"
#include "tally/engine/fraud.h"
#include "tally/engine/fraud_flags.h"
#include "candidate_index.h"
#include "hazard.h"
#include "key_table.h"

namespace tally::engine::internal {

// Dedupe and request-id table values (KeyTable::kValueMask wide). A committed key holds its
// seq as an offset from the generation's base_seq, so 40 bits cover 2^40 events per period.
inline constexpr std::uint64_t kReleased = KeyTable::kValueMask;
inline constexpr std::uint64_t kPending = KeyTable::kValueMask - 1;
inline constexpr std::uint64_t kMaxSeqOffset = KeyTable::kValueMask - 2;

// One period's dedupe and quota tables (or one day's request-id table).
class Generation {
 public:
  // `live` counts the generations that exist (GenerationCounts::live); `growths` the growths
  // of their tables (GenerationCounts::growths). Both outlive the generation.
  Generation(std::int64_t id, std::uint64_t base_seq, std::uint64_t expected_keys, bool with_quota,
             std::atomic<std::uint64_t>& live, std::atomic<std::uint64_t>& growths,
             BackgroundWork* background);
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  const std::int64_t id;            // period id, or UTC day for request-id generations
  const std::uint64_t base_seq;     // every seq committed here is above it
  KeyTable keys;                    // dedupe keys (or request ids)
  std::unique_ptr<KeyTable> quota;  // distinct candidates per voter; null for request ids
  // Claims that still point here. Incremented while the generation is protected by a hazard
  // slot, decremented by commit/release; the generation is freed once unlinked, unprotected
  // and at zero (in that order of checks: see CampaignState::reclaim).
  std::atomic<std::int64_t> claims{0};

  std::uint64_t seq_of(std::uint64_t value) const { return base_seq + value; }
  // Maps the tables' memory now (KeyTable::fault_in); safe beside any operation.
  void fault_in() const {
    keys.fault_in();
    if (quota) quota->fault_in();
  }
  // KeyTable::grow_into_made_array() for its tables; safe beside any operation.
  void grow_into_made_arrays() {
    keys.grow_into_made_array();
    if (quota) quota->grow_into_made_array();
  }

 private:
  std::atomic<std::uint64_t>& live_;
};

// Table generations made, counted across all of an engine's campaign states (relaxed:
// statistics): ahead of their period, or once it had begun.
struct GenerationCounts {
  std::atomic<std::uint64_t> ahead{0};
  std::atomic<std::uint64_t> late{0};
  std::atomic<std::uint64_t> live{0};     // made and not freed yet, retired ones included
  std::atomic<std::uint64_t> growths{0};  // of any of their tables: more keys than expected
};

// Counts of committed votes as of one publish().
struct TallyCounts {
  std::uint64_t as_of_seq = 0;
  std::vector<std::uint64_t> votes;
  std::vector<std::uint64_t> suspect;
  std::vector<std::uint64_t> suspect_by_reason;  // [candidate * kFraudReasonCount + reason]
  std::vector<std::uint64_t> voided;
  std::vector<std::uint8_t> disqualified;  // 1 = disqualified
};

class CampaignState {
 public:
  // Live request-id generations: days d-2..d, so that a request id answers for >= 48 h.
  static constexpr int kRequestDays = 3;

  // `background`: where large tables' next arrays are made (null: in line); see KeyTable.
  // `fraud`: the campaign's fraud state, when the engine has a fraud monitor (else null).
  CampaignState(const Campaign& definition, std::uint64_t default_expected_voters,
                GenerationCounts& generation_counts, BackgroundWork* background,
                FraudMonitor::CampaignFraud* fraud);
  ~CampaignState();

  const std::string& id() const { return id_; }
  const Rules& rules() const { return rules_; }
  const std::vector<Candidate>& candidates() const { return candidates_; }
  std::optional<std::uint32_t> candidate_index(std::string_view candidate_id) const;
  std::int64_t period_of(std::int64_t server_ms) const;
  bool is_open_at(std::int64_t server_ms) const;

  std::shared_ptr<const Campaign> definition() const;
  // A new definition that only changes title, window or sizing (not counting).
  void set_definition(const Campaign& definition);

  // The generation for `period`, protected in kSlotGeneration while the guard lives, creating
  // it (base `base_seq`) if the state has none yet or an older one; if a newer period's
  // generation is already live, that one (the caller takes its id as the period). With
  // create == false returns the live generation only if it is `period`'s, else null.
  Protected<Generation> period_generation(std::int64_t period, std::uint64_t base_seq, bool create);
  // The request-id generation of a UTC day (live ones cover the last three days), protected
  // in kSlotRequestGen while the guard lives.
  Protected<Generation> request_generation(std::int64_t day, std::uint64_t base_seq, bool create);
  // Makes the generation of a period (or UTC day) that has not begun yet, so that its first
  // ballots find the tables made and mapped (Engine::prepare_tables). Null when it exists
  // already or the live one is not older. Returned with a claim held, which keeps it alive
  // while the caller maps its memory; the caller then drops it with release_prepared().
  Generation* prepare_period(std::int64_t period, std::uint64_t base_seq);
  Generation* prepare_request_day(std::int64_t day, std::uint64_t base_seq);
  static void release_prepared(Generation* generation);
  // Retires tables made ahead for a period, or a UTC day, that has begun without a ballot
  // taking them (frontends that send no request ids, a campaign voted in no more), for
  // reclaim() to free; a later ballot makes its own.
  void retire_unused_prepared(std::int64_t current_period, std::int64_t today);
  // Whether frontends send request ids to this campaign: a live request-id table holds keys.
  bool has_request_ids() const;
  // Frees retired generations nobody uses any more.
  void reclaim();
  // For a state replaced before its first claim (Engine::install_campaign): its live and
  // prepared generations are retired, for reclaim() to free, and none is made here again
  // (period_generation and request_generation give null, prepare_* nothing). True when
  // reclaim() has nothing left to free.
  void give_up_tables();
  bool all_reclaimed() const { return !has_retired_.load(std::memory_order_acquire); }

  // Commit-thread tallies. `dirty`: counted since the last publish (the engine's list).
  bool dirty = false;
  void count(std::uint32_t candidate_index, FraudFlags flags);
  // A committed vote of the candidate gets `reason` from a late flag; `prior`: its flags before.
  void count_late_flag(std::uint32_t candidate_index, FraudReason reason, FraudFlags prior);
  void count_void(std::uint32_t candidate_index, bool voided);
  void set_disqualified(std::uint32_t candidate_index, bool disqualified);
  bool disqualified(std::uint32_t candidate_index) const {
    return disqualified_[candidate_index] != 0;
  }
  void publish(std::uint64_t as_of_seq);
  std::shared_ptr<const TallyCounts> counts() const {
    return counts_.load(std::memory_order_acquire);
  }

  // Bytes and keys of the dedupe, quota and request-id tables, live and made ahead, added
  // into `figures` (indexed by TableKind).
  void add_table_figures(std::array<TableFigures, kTableKinds>& figures) const;
  // Generation::grow_into_made_arrays() for every live generation (made-ahead ones have no
  // inserts yet, hence no order).
  void grow_into_made_arrays();

  // PUT conflict detection. The vote path marks has_claims before it relies on its claims;
  // an install that would replace this state marks replaced and then checks has_claims. Both
  // sides store and then load with seq_cst, so at least one sees the other (Dekker): either the
  // install sees a claim and refuses, or the vote sees `replaced` and retries on the new state.
  // A vote that finds has_claims already true (a seq_cst load of another vote's seq_cst store)
  // skips its store: that load, in the single total order before its load of `replaced`, plays
  // the store's part (Engine::check_not_replaced).
  std::atomic<bool> has_claims{false};
  std::atomic<bool> replaced{false};
  // The campaign's fraud sketches (FraudMonitor::set_campaign()), or null without a monitor.
  FraudMonitor::CampaignFraud* const fraud;

 private:
  Generation* make_generation(std::int64_t id, std::uint64_t base_seq, bool with_quota) const;
  // prepare_period() and prepare_request_day(), given the prepared and live slots.
  Generation* prepare(Generation*& prepared, const std::atomic<Generation*>& live, std::int64_t id,
                      std::uint64_t base_seq, bool with_quota);
  // The generation that becomes live for `id`: the prepared one, else a new one.
  Generation* next_generation(Generation*& prepared, std::int64_t id, std::uint64_t base_seq,
                              bool with_quota);  // REQUIRES: gen_mutex_ held
  void retire(Generation* generation);           // REQUIRES: gen_mutex_ held

  const std::string id_;
  const Rules rules_;
  const std::vector<Candidate> candidates_;
  const std::int32_t utc_offset_s_;
  // Tables are sized by the definition in force when they are made (a PUT may raise
  // expected_voters without a new state); this when it names none.
  const std::uint64_t default_expected_voters_;
  const CandidateIndex candidate_index_;  // refers to candidates_: declared after it

  // The window changes without a new state (closing a vote early): relaxed atomics, since a
  // ballot racing with the change may be judged by either window.
  std::atomic<std::int64_t> opens_at_ms_;
  std::atomic<std::int64_t> closes_at_ms_;

  mutable std::mutex definition_mutex_;  // definition_ only: read off the vote path
  std::shared_ptr<const Campaign> definition_;

  std::atomic<Generation*> period_gen_{nullptr};
  std::atomic<Generation*> request_gens_[kRequestDays] = {};
  std::mutex gen_mutex_;  // creating and retiring generations: once per period
  // Made ahead, not live yet: only ever touched under gen_mutex_.
  Generation* prepared_period_ = nullptr;
  Generation* prepared_request_day_ = nullptr;
  bool tables_given_up_ = false;  // under gen_mutex_
  GenerationCounts& made_;
  BackgroundWork* const background_;
  std::vector<Generation*> retired_;
  std::atomic<bool> has_retired_{false};

  std::vector<std::uint64_t> votes_;              // commit thread only
  std::vector<std::uint64_t> suspect_;            // commit thread only
  std::vector<std::uint64_t> suspect_by_reason_;  // commit thread only, as in TallyCounts
  std::vector<std::uint64_t> voided_;             // commit thread only
  std::vector<std::uint8_t> disqualified_;        // commit thread only
  std::atomic<std::shared_ptr<const TallyCounts>> counts_;
};

}  // namespace tally::engine::internal
