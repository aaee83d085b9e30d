// Engine::decide and the commit-side bookkeeping. The table protocol: docs/DEDUPE_TABLE.md.
#include "tally/engine/engine.h"

#include <algorithm>
#include <string>
#include <thread>
#include <unordered_map>

#include "tally/base/json_writer.h"
#include "tally/base/time.h"
#include "tally/engine/fraud.h"
#include "campaign_state.h"

namespace tally::engine {

using internal::CampaignState;
using internal::Generation;
using internal::kMaxSeqOffset;
using internal::kPending;
using internal::kReleased;

struct Engine::CampaignMap {
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, std::shared_ptr<CampaignState>, Hash, std::equal_to<>> states;
};

namespace {

constexpr int kMaxAttempts = 8;
// Starts loading the slot of `request` in each live request-id table: a ballot with a request
// id probes all of them before anything else.
void prefetch_request_days(CampaignState& state, Key128 request, std::int64_t today,
                           std::uint64_t base_seq) {
  for (std::int64_t day = today; day > today - CampaignState::kRequestDays; --day) {
    if (const auto requests = state.request_generation(day, base_seq, false)) {
      requests->keys.prefetch(request);
    }
  }
}

bool is_committed(std::uint64_t value) { return value != kPending && value != kReleased; }

// Set-mode claim: an absent or released key becomes pending; anything else stays.
std::optional<std::uint64_t> claim_step(std::optional<std::uint64_t> current) {
  if (!current || *current == kReleased) return kPending;
  return std::nullopt;
}

std::optional<std::uint64_t> release_step(std::optional<std::uint64_t> current) {
  if (current && *current == kPending) return kReleased;
  return std::nullopt;
}

// decide()'s answers, written into the one it returns.
void set_rejected(Decision& answer, VoteStatus status, std::string_view error = {}) {
  answer.status = status;
  answer.error = error;
}

void set_duplicate(Decision& answer, std::uint64_t value, const Generation& generation) {
  answer.status = VoteStatus::duplicate;
  if (value == kPending) {
    answer.pending = true;
  } else {
    answer.seq = generation.seq_of(value);
  }
}

std::int64_t utc_day(std::int64_t server_ms) { return local_day(server_ms, 0); }

constexpr std::uint64_t kNoLimit = ~std::uint64_t{0};

// Counter mode and quotas: one more, unless the count is at `limit` (then the update changes
// nothing and says so).
auto count_up_to(std::uint64_t limit) {
  return [limit](std::optional<std::uint64_t> count) -> std::optional<std::uint64_t> {
    const std::uint64_t now = count.value_or(0);
    if (now >= limit) return std::nullopt;
    return now + 1;
  };
}

// A committed ballot's key holds its seq, as an offset from its generation's base.
std::uint64_t seq_offset(const Generation& generation, std::uint64_t seq) {
  // seq > base_seq: every claim in a generation was made after the generation's base was read,
  // and seqs are given in commit order after the claim (replay: base_seq is seq - 1 or less).
  return std::min(seq - generation.base_seq, kMaxSeqOffset);
}

// Commit: the claim's pending key takes its seq.
void record_committed_seq(Generation& generation, Key128 key, std::uint64_t seq) {
  const std::uint64_t offset = seq_offset(generation, seq);
  generation.keys.update(
      key, [offset](std::optional<std::uint64_t> value) -> std::optional<std::uint64_t> {
        if (value && *value == kPending) return offset;
        return std::nullopt;
      });
}

// Replay: the key takes the seq unless an earlier vote of the log holds it. True when it did.
bool record_replayed_seq(Generation& generation, Key128 key, std::uint64_t seq) {
  const std::uint64_t offset = seq_offset(generation, seq);
  return generation.keys
      .update(key,
              [offset](std::optional<std::uint64_t> value) -> std::optional<std::uint64_t> {
                if (value && is_committed(*value)) return std::nullopt;
                return offset;
              })
      .changed;
}

}  // namespace

std::optional<std::string_view> check_ballot(const Ballot& ballot, Utf8 utf8) {
  if (ballot.campaign.empty()) return "campaign: required";
  if (ballot.candidate.empty()) return "candidate: required";
  if (ballot.voter.empty()) return "voter: required";
  struct Field {
    std::string_view value;
    std::size_t max_bytes;
    std::string_view too_long;
    std::string_view not_utf8;
  };
  const Field fields[] = {
      {ballot.campaign, kMaxFieldBytes, "campaign: longer than 256 bytes",
       "campaign: not valid UTF-8"},
      {ballot.candidate, kMaxFieldBytes, "candidate: longer than 256 bytes",
       "candidate: not valid UTF-8"},
      {ballot.voter, kMaxFieldBytes, "voter: longer than 256 bytes", "voter: not valid UTF-8"},
      {ballot.device, kMaxFieldBytes, "device: longer than 256 bytes", "device: not valid UTF-8"},
      {ballot.ip, kMaxFieldBytes, "ip: longer than 256 bytes", "ip: not valid UTF-8"},
      {ballot.ua, kMaxUaBytes, "ua: longer than 1024 bytes", "ua: not valid UTF-8"},
      {ballot.request_id, kMaxRequestIdBytes, "request_id: longer than 128 bytes",
       "request_id: not valid UTF-8"},
  };
  // Sizes first, for every field, then encodings: an oversized field is reported as such
  // even when another one is also malformed.
  for (const Field& field : fields) {
    if (field.value.size() > field.max_bytes) return field.too_long;
  }
  if (utf8 == Utf8::known_valid) return std::nullopt;
  for (const Field& field : fields) {
    if (!is_valid_utf8(field.value)) return field.not_utf8;
  }
  return std::nullopt;
}

// ---- Claim ----

Claim::Claim(Claim&& other) noexcept { *this = std::move(other); }

Claim& Claim::operator=(Claim&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::exchange(other.state_, nullptr);
    generation_ = std::exchange(other.generation_, nullptr);
    request_generation_ = std::exchange(other.request_generation_, nullptr);
    holds_keys_ = std::exchange(other.holds_keys_, false);
    dedupe_key_ = other.dedupe_key_;
    quota_key_ = other.quota_key_;
    request_key_ = other.request_key_;
    candidate_index_ = other.candidate_index_;
    server_ms_ = other.server_ms_;
    period_ = other.period_;
  }
  return *this;
}

Claim::~Claim() { reset(); }

namespace {

std::optional<std::uint64_t> decrement_step(std::optional<std::uint64_t> count) {
  if (count && *count > 0) return *count - 1;
  return std::nullopt;
}

// Gives back a dedupe claim; true when the voter no longer holds the candidate this period
// (so the quota slot it took must be given back too).
bool release_dedupe(const Rules& rules, Generation& generation, Key128 dedupe_key) {
  if (rules.max_votes_per_candidate == 1) {
    return generation.keys.update(dedupe_key, release_step).changed;
  }
  const TableUpdate update = generation.keys.update(dedupe_key, decrement_step);
  return update.changed && update.before == 1;
}

}  // namespace

void Claim::reset() {
  if (state_ == nullptr) return;
  if (holds_keys_ && release_dedupe(state_->rules(), *generation_, dedupe_key_)) {
    generation_->quota->update(quota_key_, decrement_step);
  }
  if (request_generation_ != nullptr) request_generation_->keys.update(request_key_, release_step);
  // Release: the table writes above happen before a reclaimer that acquires a zero count.
  if (generation_ != nullptr) generation_->claims.fetch_sub(1, std::memory_order_release);
  if (request_generation_ != nullptr) {
    request_generation_->claims.fetch_sub(1, std::memory_order_release);
  }
  state_ = nullptr;
  generation_ = nullptr;
  request_generation_ = nullptr;
  holds_keys_ = false;
}

// ---- Engine ----

Engine::Engine(const Clock& clock, EngineOptions options)
    : clock_(clock),
      options_(options),
      generation_counts_(std::make_unique<internal::GenerationCounts>()),
      maps_(std::make_unique<const CampaignMap>()) {}

// The maps share the states; dropping the maps frees them.
Engine::~Engine() = default;

const Engine::CampaignMap* Engine::load_map() const { return maps_.current(); }

void Engine::wait_for_install(const CampaignState& state, std::string_view id) const {
  // The installer marks a state replaced, then publishes the new map (or, on a conflict, takes
  // the mark back) without waiting on anything: the wait is short, and afterwards the next
  // attempt judges on the new version instead of spending decide()'s attempts on this one.
  while (state.replaced.load(std::memory_order_seq_cst) && find_state(id) == &state) {
    std::this_thread::yield();
  }
}

CampaignState* Engine::find_state(std::string_view id) const {
  const CampaignMap* map = load_map();
  const auto it = map->states.find(id);
  return it == map->states.end() ? nullptr : it->second.get();
}

PutOutcome Engine::check_campaign(const Campaign& next) const {
  CampaignState* state = find_state(next.id);
  if (state == nullptr) return PutOutcome::created;
  const std::shared_ptr<const Campaign> current = state->definition();
  if (*current == next) return PutOutcome::unchanged;
  if (changes_counting(*current, next) && state->has_claims.load(std::memory_order_seq_cst)) {
    return PutOutcome::conflict;
  }
  return PutOutcome::updated;
}

PutOutcome Engine::install_campaign(const Campaign& next, std::uint64_t seq) {
  std::lock_guard lock(install_mutex_);
  const CampaignMap* map = load_map();
  const auto it = map->states.find(next.id);
  PutOutcome outcome = PutOutcome::created;
  std::shared_ptr<CampaignState> replaced;
  if (it != map->states.end()) {
    CampaignState& state = *it->second;
    const std::shared_ptr<const Campaign> current = state.definition();
    if (*current == next) return PutOutcome::unchanged;
    if (!changes_counting(*current, next)) {
      state.set_definition(next);
      if (options_.fraud != nullptr) options_.fraud->set_campaign(next);
      return PutOutcome::updated;
    }
    // Dekker with decide(): see CampaignState::has_claims.
    state.replaced.store(true, std::memory_order_seq_cst);
    if (state.has_claims.load(std::memory_order_seq_cst)) {
      state.replaced.store(false, std::memory_order_seq_cst);
      return PutOutcome::conflict;
    }
    outcome = PutOutcome::updated;
    replaced = it->second;
  }
  auto next_map = std::make_unique<CampaignMap>(*map);
  // Before the state is published: its votes reach the fraud state through it.
  FraudMonitor::CampaignFraud* fraud =
      options_.fraud != nullptr ? &options_.fraud->set_campaign(next) : nullptr;
  auto state = std::make_shared<CampaignState>(next, options_.default_expected_voters,
                                               *generation_counts_, options_.background, fraud);
  if (replaced != nullptr) {
    // A campaign without votes may change its candidates: a committee's disqualification of
    // one that stays holds (the log's decision is still there; replay counts it so).
    for (std::uint32_t i = 0; i < replaced->candidates().size(); ++i) {
      if (!replaced->disqualified(i)) continue;
      if (auto index = state->candidate_index(replaced->candidates()[i].id)) {
        state->set_disqualified(*index, true);
      }
    }
  }
  state->publish(seq);
  next_map->states[next.id] = std::move(state);
  // The old map stays alive: a reader may still be using it.
  maps_.publish(std::move(next_map));
  if (replaced != nullptr) {
    // The state object stays (retired maps hold it, so its address is never reused); its
    // tables go, once the threads still on it have moved to the new state.
    replaced->give_up_tables();
    replaced_states_.push_back(std::move(replaced));
  }
  return outcome;
}

std::shared_ptr<const Campaign> Engine::campaign(std::string_view id) const {
  CampaignState* state = find_state(id);
  return state == nullptr ? nullptr : state->definition();
}

std::vector<std::shared_ptr<const Campaign>> Engine::campaigns() const {
  std::vector<std::shared_ptr<const Campaign>> out;
  for (const auto& [id, state] : load_map()->states) out.push_back(state->definition());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  return out;
}

void Engine::prepare_tables(std::int64_t lead_ms) {
  const std::int64_t now_ms = clock_.now_ms();
  const std::int64_t later_ms = now_ms + std::max<std::int64_t>(lead_ms, 0);
  const std::uint64_t base_seq = as_of_seq();
  for (const auto& [id, state] : load_map()->states) {
    CampaignState& campaign = *state;
    // Request-id tables only where frontends send request ids (replayed ones count): others
    // would hold three days of mapped tables for nothing. A first request id makes its day's
    // table on the vote path; the next call maps it.
    const bool request_ids = campaign.has_request_ids();
    const bool open_now = campaign.is_open_at(now_ms);
    // Tables made ahead whose period or UTC day began with no ballot to take them: the
    // opening's request-id table where frontends send no request ids, or the next period's
    // of a campaign nobody votes in any more.
    campaign.retire_unused_prepared(campaign.period_of(now_ms), utc_day(now_ms));
    // A large table whose ballots stopped (its window closed, or a quiet hour) short of the
    // load at which an insert takes its made next array holds both; the move frees the old.
    campaign.grow_into_made_arrays();
    if (open_now) {
      // The live tables, made if missing (a campaign installed while running), and mapped.
      if (const auto period =
              campaign.period_generation(campaign.period_of(now_ms), base_seq, true)) {
        period->fault_in();
      }
      if (request_ids) {
        if (const auto day = campaign.request_generation(utc_day(now_ms), base_seq, true)) {
          day->fault_in();
        }
      }
    }
    // Tables of a period or UTC day that begins within the lead (the campaign's first period
    // when its window opens within it; a daily quota's reset at midnight, when its voters come
    // back at once): made ahead, not live until their period's first ballot takes them.
    if (!campaign.is_open_at(later_ms)) continue;
    if (!open_now || campaign.period_of(later_ms) > campaign.period_of(now_ms)) {
      if (Generation* next = campaign.prepare_period(campaign.period_of(later_ms), base_seq)) {
        next->fault_in();
        CampaignState::release_prepared(next);
      }
    }
    // An opening campaign's first request-id table too: whether its frontends send request
    // ids is not known yet, and one table left unused is a bounded cost.
    if ((request_ids && utc_day(later_ms) > utc_day(now_ms)) || !open_now) {
      if (Generation* next = campaign.prepare_request_day(utc_day(later_ms), base_seq)) {
        next->fault_in();
        CampaignState::release_prepared(next);
      }
    }
  }
  // Generations retired by a period turning without ballots are freed here: publish(), the
  // other caller, runs only for campaigns with commits.
  for (const auto& [id, state] : load_map()->states) state->reclaim();
  std::lock_guard lock(install_mutex_);
  std::erase_if(replaced_states_, [](const std::shared_ptr<CampaignState>& state) {
    state->reclaim();
    return state->all_reclaimed();
  });
}

bool BallotKeys::same_ballot(const Ballot& ballot) const {
  const auto same = [](std::string_view a, std::string_view b) {
    return a.data() == b.data() && a.size() == b.size();
  };
  return same(ballot_.campaign, ballot.campaign) && same(ballot_.candidate, ballot.candidate) &&
         same(ballot_.voter, ballot.voter) && same(ballot_.device, ballot.device) &&
         same(ballot_.ip, ballot.ip) && same(ballot_.ua, ballot.ua) &&
         same(ballot_.request_id, ballot.request_id);
}

// What one attempt of decide() has worked out so far, step by step.
struct Engine::Attempt {
  Attempt(const Ballot& judged, int attempt) : ballot(judged), number(attempt) {}

  const Ballot& ballot;
  const int number;                   // 0 for the first attempt
  CampaignState* state = nullptr;     // the ballot's campaign version
  const BallotKeys* known = nullptr;  // prefetch()'s work, when it was for this ballot
  std::int64_t now_ms = 0;            // the ballot's server time
  std::uint64_t base_seq = 0;         // as_of_seq() when the attempt began
  Key128 request = {};                // the request id's key, when there is one
  std::uint32_t candidate = 0;
  Key128 fingerprint = {};                     // the voter's, in this campaign: the quota key
  Key128 dedupe = {};                          // voter and candidate
  bool counter_mode = false;                   // max_votes_per_candidate > 1
  bool open = false;                           // the window is open at now_ms
  internal::Protected<Generation> generation;  // the period's tables, until the claim holds them
  std::int64_t period = 0;
  Claim claim;  // undoes what it holds if the attempt ends unused
};

// The ballot's campaign version, its time, and prefetch()'s work if it was for this ballot.
[[gnu::always_inline]] inline Engine::Next Engine::begin_attempt(Attempt& at,
                                                                 const BallotKeys* keys,
                                                                 Decision& answer) const {
  at.state = find_state(at.ballot.campaign);
  if (at.state == nullptr) {
    set_rejected(answer, VoteStatus::unknown_campaign);
    return Next::answered;
  }
  // prefetch() worked out the keys, and loaded the request-id slots, for this state. (A state
  // lives as long as the engine, in retired maps, so its address is never reused.)
  if (keys != nullptr && keys->state_ == at.state && keys->same_ballot(at.ballot)) at.known = keys;
  // A second attempt reads the clock: the first was judged on a version or a day since gone.
  at.now_ms = at.known != nullptr && at.number == 0 ? at.known->now_ms_ : clock_.now_ms();
  at.base_seq = as_of_seq();
  return Next::go_on;
}

// A known request_id answers before anything else about the ballot.
[[gnu::always_inline]] inline Engine::Next Engine::answer_known_request_id(Attempt& at,
                                                                           Decision& answer) const {
  if (at.ballot.request_id.empty()) return Next::go_on;
  const std::int64_t today = utc_day(at.now_ms);
  if (at.known != nullptr) {
    at.request = at.known->request_;
  } else {
    at.request = request_key(at.ballot.request_id);
    prefetch_request_days(*at.state, at.request, today, at.base_seq);  // misses overlap
  }
  for (std::int64_t day = today; day > today - CampaignState::kRequestDays; --day) {
    const internal::Protected<Generation> requests =
        at.state->request_generation(day, at.base_seq, false);
    if (!requests) continue;
    const std::optional<std::uint64_t> value = requests->keys.find(at.request);
    if (value && *value != kReleased) {
      set_duplicate(answer, *value, *requests);
      answer.server_ms = at.now_ms;
      return Next::answered;
    }
  }
  return Next::go_on;
}

// The candidate's index and the voter's keys in this campaign.
[[gnu::always_inline]] inline Engine::Next Engine::find_keys(Attempt& at, Decision& answer) const {
  const std::optional<std::uint32_t> candidate =
      at.known != nullptr ? at.known->candidate_ : at.state->candidate_index(at.ballot.candidate);
  if (!candidate) {
    set_rejected(answer, VoteStatus::unknown_candidate);
    return Next::answered;
  }
  at.candidate = *candidate;
  at.counter_mode = at.state->rules().max_votes_per_candidate > 1;
  at.fingerprint = at.known != nullptr ? at.known->fingerprint_
                                       : voter_fingerprint(at.state->id(), at.ballot.voter);
  at.dedupe = at.known != nullptr ? at.known->dedupe_ : dedupe_key(at.fingerprint, at.candidate);
  return Next::go_on;
}

// The tables of the ballot's period: made if the window is open and they are not yet.
[[gnu::always_inline]] inline Engine::Next Engine::enter_generation(Attempt& at,
                                                                    Decision& answer) const {
  // A counted ballot is a duplicate even after the window closed.
  at.open = at.state->is_open_at(at.now_ms);
  const std::int64_t period = at.state->period_of(at.now_ms);
  at.generation = at.state->period_generation(period, at.base_seq, at.open);
  if (!at.generation) {
    // A replaced state has given up its tables: judge on the new one.
    if (at.state->replaced.load(std::memory_order_seq_cst)) {
      wait_for_install(*at.state, at.ballot.campaign);
      return Next::again;
    }
    set_rejected(answer, VoteStatus::closed);
    return Next::answered;
  }
  if (at.generation->id != period && at.number == 0) {
    // A newer period began after this ballot's time was read (another thread, or the batch's
    // next line, read the clock later and made its tables): judge it again at a fresh time, so
    // that its server time falls in the period it counts in (verify checks). SystemClock never
    // reads earlier than a time another thread acted on; a clock that does is not asked
    // again, and the ballot counts in the newest period.
    return Next::again;
  }
  at.period = at.generation->id;
  // The dedupe and quota slots are two independent cache misses: start both now.
  at.generation->keys.prefetch(at.dedupe);
  at.generation->quota->prefetch(at.fingerprint);
  return Next::go_on;
}

// One vote per candidate: a counted (or in-flight) one answers duplicate; then a closed
// window answers closed.
[[gnu::always_inline]] inline Engine::Next Engine::answer_counted_duplicate(
    Attempt& at, Decision& answer) const {
  if (!at.counter_mode) {
    const std::optional<std::uint64_t> value = at.generation->keys.find(at.dedupe);
    if (value && *value != kReleased) {
      set_duplicate(answer, *value, *at.generation);
      answer.server_ms = at.now_ms;
      answer.period = at.period;
      return Next::answered;
    }
  }
  if (!at.open) {
    set_rejected(answer, VoteStatus::closed);
    return Next::answered;
  }
  return Next::go_on;
}

// Takes the ballot's keys: its period's tables, the request id, the dedupe key (or a count
// under the candidate's limit) and, for a new candidate, a quota slot. From here on the claim
// undoes what it holds when the attempt ends unused.
[[gnu::always_inline]] inline Engine::Next Engine::claim_keys(Attempt& at, Decision& answer) const {
  Claim& claim = at.claim;
  claim.state_ = at.state;
  claim.dedupe_key_ = at.dedupe;
  claim.quota_key_ = at.fingerprint;
  claim.candidate_index_ = at.candidate;
  claim.server_ms_ = at.now_ms;
  claim.period_ = at.period;
  // Relaxed: the hazard keeps the generation alive until the reset below, whose release
  // publishes this increment to the reclaimer (see CampaignState::reclaim).
  at.generation->claims.fetch_add(1, std::memory_order_relaxed);
  claim.generation_ = at.generation.get();
  at.generation.reset();  // the claim's count keeps it alive now
  Generation& generation = *claim.generation_;

  if (!at.ballot.request_id.empty()) {
    const internal::Protected<Generation> requests =
        at.state->request_generation(utc_day(at.now_ms), at.base_seq, true);
    if (!requests) return Next::again;  // a newer UTC day began: judge again
    const TableUpdate update = requests->keys.update(at.request, claim_step);
    if (!update.changed) {
      set_duplicate(answer, *update.before, *requests);
      answer.server_ms = at.now_ms;
      return Next::answered;
    }
    requests->claims.fetch_add(1, std::memory_order_relaxed);  // as above
    claim.request_generation_ = requests.get();
    claim.request_key_ = at.request;
  }

  const Rules& rules = at.state->rules();
  bool new_candidate = false;
  if (!at.counter_mode) {
    const TableUpdate update = generation.keys.update(at.dedupe, claim_step);
    if (!update.changed) {  // counted or in flight since our lookup
      set_duplicate(answer, *update.before, generation);
      answer.server_ms = at.now_ms;
      answer.period = at.period;
      return Next::answered;
    }
    new_candidate = true;
  } else {
    const TableUpdate update =
        generation.keys.update(at.dedupe, count_up_to(rules.max_votes_per_candidate));
    if (!update.changed) {
      set_rejected(answer, VoteStatus::quota_exceeded);
      return Next::answered;
    }
    new_candidate = update.before.value_or(0) == 0;
  }
  if (new_candidate &&
      !generation.quota->update(at.fingerprint, count_up_to(rules.max_candidates)).changed) {
    release_dedupe(rules, generation, at.dedupe);  // the quota slot was not taken
    set_rejected(answer, VoteStatus::quota_exceeded);
    return Next::answered;
  }
  claim.holds_keys_ = true;
  return Next::go_on;
}

// Dekker with install_campaign() (see CampaignState::has_claims): either the installer sees
// this ballot's claim and refuses the new version, or this ballot sees the replacement and is
// judged again on it.
[[gnu::always_inline]] inline Engine::Next Engine::check_not_replaced(Attempt& at) const {
  // The pre-load spares the store (a locked instruction on x86) once any ballot has claimed.
  // It is seq_cst, not relaxed: a relaxed load of another thread's `true` would not order this
  // thread's load of `replaced` below after the installer's store of it, and the two sides
  // could miss each other. On x86 a seq_cst load is a plain load.
  if (!at.state->has_claims.load(std::memory_order_seq_cst)) {
    at.state->has_claims.store(true, std::memory_order_seq_cst);
  }
  if (at.state->replaced.load(std::memory_order_seq_cst)) {
    wait_for_install(*at.state, at.ballot.campaign);
    return Next::again;  // the claim releases itself
  }
  return Next::go_on;
}

// The fraud monitor's word, then the accepted decision that carries the claim.
[[gnu::always_inline]] inline Engine::Next Engine::accept(Attempt& at, Decision& answer) const {
  FraudFlags flags = 0;
  if (options_.fraud != nullptr) {
    const Observation observation =
        options_.fraud->observe(*at.state->fraud, at.ballot, at.candidate, at.now_ms, at.period,
                                at.known != nullptr ? &at.known->fraud_ : nullptr);
    if (observation.reject) {
      set_rejected(answer, VoteStatus::rate_limited);  // the claim releases itself
      return Next::answered;
    }
    flags = observation.flags;
  }
  answer.status = VoteStatus::accepted;
  answer.flags = flags;
  answer.server_ms = at.now_ms;
  answer.period = at.period;
  answer.claim = std::move(at.claim);
  return Next::answered;
}

Decision Engine::decide(const Ballot& ballot, FieldCheck fields, const BallotKeys* keys) {
  // One answer for every return, so that it is built in place (no Claim moved on the way out).
  Decision answer;
  if (fields == FieldCheck::run) {
    if (auto error = check_ballot(ballot)) {
      answer.status = VoteStatus::invalid;
      answer.error = *error;
      return answer;
    }
  }
  // Judging again happens when a campaign version or a UTC day changes under the ballot;
  // twice in a row is already rare, so a bound only guards against a clock that steps back.
  for (int number = 0; number < kMaxAttempts; ++number) {
    Attempt at(ballot, number);
    Next next = begin_attempt(at, keys, answer);
    if (next == Next::go_on) next = answer_known_request_id(at, answer);
    if (next == Next::go_on) next = find_keys(at, answer);
    if (next == Next::go_on) next = enter_generation(at, answer);
    if (next == Next::go_on) next = answer_counted_duplicate(at, answer);
    if (next == Next::go_on) next = claim_keys(at, answer);
    if (next == Next::go_on) next = check_not_replaced(at);
    if (next == Next::go_on) next = accept(at, answer);
    if (next == Next::answered) return answer;
  }
  answer.status = VoteStatus::overloaded;
  return answer;
}

void Engine::prefetch(const Ballot& ballot, BallotKeys& keys) const {
  keys = BallotKeys();
  CampaignState* state = find_state(ballot.campaign);
  if (state == nullptr) return;
  keys.state_ = state;
  keys.ballot_ = ballot;
  const std::int64_t now_ms = clock_.now_ms();
  keys.now_ms_ = now_ms;
  const std::uint64_t base_seq = as_of_seq();
  // Only live generations: making one is decide()'s job, with its rules about periods.
  if (!ballot.request_id.empty()) {
    keys.request_ = request_key(ballot.request_id);
    prefetch_request_days(*state, keys.request_, utc_day(now_ms), base_seq);
  }
  keys.candidate_ = state->candidate_index(ballot.candidate);
  if (!keys.candidate_) return;
  keys.fingerprint_ = voter_fingerprint(state->id(), ballot.voter);
  keys.dedupe_ = dedupe_key(keys.fingerprint_, *keys.candidate_);
  if (options_.fraud != nullptr) {
    keys.fraud_ = options_.fraud->prefetch(*state->fraud, ballot, *keys.candidate_);
  }
  const auto generation = state->period_generation(state->period_of(now_ms), base_seq, false);
  if (!generation) return;
  generation->keys.prefetch(keys.dedupe_);
  generation->quota->prefetch(keys.fingerprint_);
}

void Engine::prefetch_commit(const Claim& claim) {
  // The claim counts in its generations, so they stay alive without a hazard.
  if (claim.state_ == nullptr) return;
  if (claim.state_->rules().max_votes_per_candidate == 1)
    claim.generation_->keys.prefetch(claim.dedupe_key_);
  if (claim.request_generation_ != nullptr)
    claim.request_generation_->keys.prefetch(claim.request_key_);
}

void Engine::commit(Claim claim, std::uint64_t seq, FraudFlags flags) {
  CampaignState* state = claim.state_;
  if (state == nullptr) return;
  last_commit_seq_ = seq;
  if (state->rules().max_votes_per_candidate == 1) {
    record_committed_seq(*claim.generation_, claim.dedupe_key_, seq);
  }
  if (claim.request_generation_ != nullptr) {
    record_committed_seq(*claim.request_generation_, claim.request_key_, seq);
    claim.request_generation_->claims.fetch_sub(1, std::memory_order_release);
    claim.request_generation_ = nullptr;
  }
  claim.generation_->claims.fetch_sub(1, std::memory_order_release);
  claim.generation_ = nullptr;
  claim.state_ = nullptr;  // committed: nothing to undo
  state->count(claim.candidate_index_, flags);
  mark_dirty(state);
}

void Engine::release(Claim claim) { claim.reset(); }

void Engine::mark_dirty(CampaignState* state) {
  if (state->dirty) return;
  state->dirty = true;
  dirty_.push_back(state);
}

void Engine::publish(std::uint64_t as_of_seq) {
  for (CampaignState* state : dirty_) {
    state->dirty = false;
    state->publish(as_of_seq);
    state->reclaim();
  }
  dirty_.clear();
  as_of_seq_.store(std::max(as_of_seq, as_of_seq_.load(std::memory_order_relaxed)),
                   std::memory_order_release);
}

Status Engine::replay_vote(const Ballot& ballot, std::int64_t server_ms, std::int64_t period,
                           FraudFlags flags, std::uint64_t seq) {
  const std::string_view campaign_id = ballot.campaign;
  const std::string_view candidate_id = ballot.candidate;
  const std::string_view voter = ballot.voter;
  const std::string_view request_id = ballot.request_id;
  CampaignState* state = find_state(campaign_id);
  if (state == nullptr) {
    return Status::error("seq " + std::to_string(seq) + ": unknown campaign \"" +
                         std::string(campaign_id) + "\"");
  }
  const std::optional<std::uint32_t> candidate = state->candidate_index(candidate_id);
  if (!candidate) {
    return Status::error("seq " + std::to_string(seq) + ": unknown candidate \"" +
                         std::string(candidate_id) + "\"");
  }
  // Only the current period needs its keys: older periods can no longer be voted in.
  const auto generation = period < state->period_of(clock_.now_ms())
                              ? internal::Protected<Generation>()
                              : state->period_generation(period, seq - 1, true);
  if (generation && generation->id == period) {  // else out of order: tallies only
    const Key128 fingerprint = voter_fingerprint(state->id(), voter);
    const Key128 dedupe = dedupe_key(fingerprint, *candidate);
    const bool new_candidate =
        state->rules().max_votes_per_candidate == 1
            ? record_replayed_seq(*generation, dedupe, seq)
            : generation->keys.update(dedupe, count_up_to(kNoLimit)).before.value_or(0) == 0;
    if (new_candidate) generation->quota->update(fingerprint, count_up_to(kNoLimit));
  }
  // Request ids of the days that still answer duplicate.
  if (!request_id.empty() &&
      utc_day(server_ms) > utc_day(clock_.now_ms()) - CampaignState::kRequestDays) {
    if (const auto requests = state->request_generation(utc_day(server_ms), seq - 1, true)) {
      record_replayed_seq(*requests, request_key(request_id), seq);
    }
  }
  state->has_claims.store(true, std::memory_order_seq_cst);
  state->count(*candidate, flags);
  mark_dirty(state);
  last_commit_seq_ = seq;
  return Status();
}

Status Engine::apply_flag(std::string_view campaign_id, FraudReason reason,
                          std::span<const MarkedVote> votes) {
  CampaignState* state = find_state(campaign_id);
  if (state == nullptr) return Status::error("flag: unknown campaign");
  for (const MarkedVote& vote : votes) {
    if (vote.candidate >= state->candidates().size()) {
      return Status::error("flag: seq " + std::to_string(vote.seq) + ": unknown candidate index");
    }
  }
  for (const MarkedVote& vote : votes) state->count_late_flag(vote.candidate, reason, vote.prior);
  if (options_.fraud != nullptr) {
    options_.fraud->count_late_flags(campaign_id, reason, votes.size());
  }
  mark_dirty(state);
  return {};
}

Status Engine::apply_void(std::string_view campaign_id, std::span<const MarkedVote> votes,
                          bool voided) {
  CampaignState* state = find_state(campaign_id);
  if (state == nullptr) return Status::error("decision: unknown campaign");
  for (const MarkedVote& vote : votes) {
    if (vote.candidate >= state->candidates().size()) {
      return Status::error("decision: seq " + std::to_string(vote.seq) +
                           ": unknown candidate index");
    }
  }
  for (const MarkedVote& vote : votes) state->count_void(vote.candidate, voided);
  mark_dirty(state);
  return {};
}

Status Engine::set_disqualified(std::string_view campaign_id, std::string_view candidate_id,
                                bool disqualified) {
  CampaignState* state = find_state(campaign_id);
  if (state == nullptr) return Status::error("decision: unknown campaign");
  const std::optional<std::uint32_t> index = state->candidate_index(candidate_id);
  if (!index) return Status::error("decision: unknown candidate");
  state->set_disqualified(*index, disqualified);
  mark_dirty(state);
  return {};
}

void Engine::replay_fraud(const Ballot& ballot, std::int64_t server_ms, std::int64_t period,
                          FraudFlags flags) {
  if (options_.fraud != nullptr) options_.fraud->replay(ballot, server_ms, period, flags);
}

std::optional<TallySnapshot> Engine::tally(std::string_view campaign_id) const {
  const std::uint64_t global_as_of = as_of_seq();
  CampaignState* state = find_state(campaign_id);
  if (state == nullptr) return std::nullopt;
  const std::shared_ptr<const internal::TallyCounts> counts = state->counts();
  TallySnapshot snapshot;
  snapshot.campaign = state->id();
  // Counts untouched since an earlier publish are still exact at the newer global seq.
  snapshot.as_of_seq = std::max(global_as_of, counts->as_of_seq);
  const auto& candidates = state->candidates();
  snapshot.candidates.reserve(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    CandidateTally& tally = snapshot.candidates.emplace_back();
    tally.id = candidates[i].id;
    tally.name = candidates[i].name;
    tally.votes = counts->votes[i];
    tally.suspect = counts->suspect[i];
    tally.voided = counts->voided[i];
    tally.disqualified = counts->disqualified[i] != 0;
    std::copy_n(counts->suspect_by_reason.begin() + i * kFraudReasonCount, kFraudReasonCount,
                tally.suspect_by_reason.begin());
  }
  rank(snapshot);
  return snapshot;
}

void rank(TallySnapshot& tally) {
  for (CandidateTally& candidate : tally.candidates) {
    candidate.valid = candidate.votes - std::min(candidate.voided, candidate.votes);
  }
  std::sort(tally.candidates.begin(), tally.candidates.end(),
            [](const CandidateTally& a, const CandidateTally& b) {
              if (a.disqualified != b.disqualified) return b.disqualified;
              return a.valid != b.valid ? a.valid > b.valid : a.id < b.id;
            });
  tally.total = 0;
  tally.suspect = 0;
  tally.voided = 0;
  tally.valid = 0;
  for (std::size_t i = 0; i < tally.candidates.size(); ++i) {
    CandidateTally& candidate = tally.candidates[i];
    if (candidate.disqualified) {
      candidate.rank = 0;
    } else {
      const bool tied = i > 0 && candidate.valid == tally.candidates[i - 1].valid;
      candidate.rank = tied ? tally.candidates[i - 1].rank : static_cast<std::uint32_t>(i + 1);
    }
    tally.total += candidate.votes;
    tally.suspect += candidate.suspect;
    tally.voided += candidate.voided;
    tally.valid += candidate.valid;
  }
}

std::string tally_to_json(const TallySnapshot& tally) {
  std::string out;
  out.reserve(64 + tally.candidates.size() * 64);
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string(tally.campaign);
  json.key("as_of_seq").integer(tally.as_of_seq);
  json.key("total").integer(tally.total);
  json.key("suspect").integer(tally.suspect);
  json.key("void").integer(tally.voided);
  json.key("valid").integer(tally.valid);
  json.key("candidates").begin_array();
  for (const CandidateTally& candidate : tally.candidates) {
    json.begin_object();
    json.key("id").string(candidate.id);
    json.key("name").string(candidate.name);
    json.key("votes").integer(candidate.votes);
    json.key("suspect").integer(candidate.suspect);
    json.key("void").integer(candidate.voided);
    json.key("valid").integer(candidate.valid);
    json.key("rank").integer(candidate.rank);
    json.key("disqualified").boolean(candidate.disqualified);
    json.end_object();
  }
  json.end_array();
  json.end_object();
  return out;
}

std::string_view table_kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::dedupe: return "dedupe";
    case TableKind::quota: return "quota";
    case TableKind::request_id: return "request_id";
  }
  return "unknown";
}

Engine::TableStats Engine::table_stats() const {
  TableStats stats;
  for (const auto& [id, state] : load_map()->states) state->add_table_figures(stats.by_kind);
  for (const TableFigures& table : stats.by_kind) {
    stats.bytes += table.bytes;
    stats.keys += table.keys;
  }
  stats.generations_made_ahead = generation_counts_->ahead.load(std::memory_order_relaxed);
  stats.generations_made_late = generation_counts_->late.load(std::memory_order_relaxed);
  stats.generations_live = generation_counts_->live.load(std::memory_order_relaxed);
  stats.table_growths = generation_counts_->growths.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace tally::engine
