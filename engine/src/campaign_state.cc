#include "campaign_state.h"

#include <algorithm>
#include <utility>

#include "tally/base/time.h"

namespace tally::engine::internal {

Generation::Generation(std::int64_t generation_id, std::uint64_t base, std::uint64_t expected_keys,
                       bool with_quota, std::atomic<std::uint64_t>& live,
                       std::atomic<std::uint64_t>& growths, BackgroundWork* background)
    : id(generation_id),
      base_seq(base),
      keys(expected_keys, &growths, background),
      quota(with_quota ? std::make_unique<KeyTable>(expected_keys, &growths, background) : nullptr),
      live_(live) {
  live_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
}

Generation::~Generation() { live_.fetch_sub(1, std::memory_order_relaxed); }

CampaignState::CampaignState(const Campaign& definition, std::uint64_t default_expected_voters,
                             GenerationCounts& generation_counts, BackgroundWork* background,
                             FraudMonitor::CampaignFraud* fraud_state)
    : fraud(fraud_state),
      id_(definition.id),
      rules_(definition.rules),
      candidates_(definition.candidates),
      utc_offset_s_(definition.utc_offset_s),
      default_expected_voters_(default_expected_voters),
      candidate_index_(candidates_),
      opens_at_ms_(definition.opens_at_ms),
      closes_at_ms_(definition.closes_at_ms),
      definition_(std::make_shared<const Campaign>(definition)),
      made_(generation_counts),
      background_(background),
      votes_(definition.candidates.size(), 0),
      suspect_(definition.candidates.size(), 0),
      suspect_by_reason_(definition.candidates.size() * kFraudReasonCount, 0),
      voided_(definition.candidates.size(), 0),
      disqualified_(definition.candidates.size(), 0) {
  auto zero = std::make_shared<TallyCounts>();
  zero->votes = votes_;
  zero->suspect = suspect_;
  zero->suspect_by_reason = suspect_by_reason_;
  zero->voided = voided_;
  zero->disqualified = disqualified_;
  counts_.store(std::move(zero), std::memory_order_release);
}

CampaignState::~CampaignState() {
  // REQUIRES (of the engine): no claim or operation is alive.
  delete period_gen_.load(std::memory_order_acquire);
  for (auto& slot : request_gens_) delete slot.load(std::memory_order_acquire);
  for (Generation* generation : retired_) delete generation;
  delete prepared_period_;
  delete prepared_request_day_;
}

std::optional<std::uint32_t> CampaignState::candidate_index(std::string_view candidate_id) const {
  return candidate_index_.find(candidate_id);
}

std::int64_t CampaignState::period_of(std::int64_t server_ms) const {
  return rules_.period == PeriodKind::day ? local_day(server_ms, utc_offset_s_) : 0;
}

bool CampaignState::is_open_at(std::int64_t server_ms) const {
  return server_ms >= opens_at_ms_.load(std::memory_order_relaxed) &&
         server_ms < closes_at_ms_.load(std::memory_order_relaxed);
}

std::shared_ptr<const Campaign> CampaignState::definition() const {
  std::lock_guard lock(definition_mutex_);
  return definition_;
}

void CampaignState::set_definition(const Campaign& definition) {
  opens_at_ms_.store(definition.opens_at_ms, std::memory_order_relaxed);
  closes_at_ms_.store(definition.closes_at_ms, std::memory_order_relaxed);
  auto copy = std::make_shared<const Campaign>(definition);
  std::lock_guard lock(definition_mutex_);
  definition_ = std::move(copy);
}

Generation* CampaignState::make_generation(std::int64_t id, std::uint64_t base_seq,
                                           bool with_quota) const {
  // A request-id table is sized like the dedupe table: frontends that send request ids send
  // one with every ballot, and a table that starts small stalls its users at each doubling.
  // One that is never used costs address space only, unless made ahead for a campaign's
  // opening (Engine::prepare_tables): then one mapped table.
  const std::uint64_t expected = definition()->expected_voters;
  return new Generation(id, base_seq, expected != 0 ? expected : default_expected_voters_,
                        with_quota, made_.live, made_.growths, background_);
}

Protected<Generation> CampaignState::period_generation(std::int64_t period, std::uint64_t base_seq,
                                                       bool create) {
  Protected<Generation> live = protect_guarded(period_gen_, kSlotGeneration);
  if (live && live->id == period) return live;
  if (live && live->id > period) {
    // A newer period already began (another thread read the clock later than the caller).
    if (create) return live;  // periods never go back: the ballot counts in the newest one
    return {};
  }
  live.reset();  // before the slot protects the new generation
  if (!create) return {};
  {
    std::lock_guard lock(gen_mutex_);
    if (tables_given_up_) return {};
    Generation* current = period_gen_.load(std::memory_order_acquire);
    if (current == nullptr || current->id < period) {
      // seq_cst: the unlink that hazard scans are ordered against (see hazard.h).
      period_gen_.store(next_generation(prepared_period_, period, base_seq, true),
                        std::memory_order_seq_cst);
      if (current != nullptr) retire(current);
    }
  }
  return period_generation(period, base_seq, false);
}

Protected<Generation> CampaignState::request_generation(std::int64_t day, std::uint64_t base_seq,
                                                        bool create) {
  std::atomic<Generation*>& slot =
      request_gens_[((day % kRequestDays) + kRequestDays) % kRequestDays];
  // A day without a table (most of the three, until request ids have been sent for days):
  // nothing to protect. As if this call ran before a concurrent install.
  if (!create && slot.load(std::memory_order_relaxed) == nullptr) return {};
  Protected<Generation> live = protect_guarded(slot, kSlotRequestGen);
  if (live && live->id == day) return live;
  const bool newer_day = live && live->id > day;
  live.reset();  // before the slot protects the new generation
  if (!create || newer_day) return {};
  {
    std::lock_guard lock(gen_mutex_);
    if (tables_given_up_) return {};
    Generation* current = slot.load(std::memory_order_acquire);
    if (current == nullptr || current->id < day) {
      slot.store(next_generation(prepared_request_day_, day, base_seq, false),
                 std::memory_order_seq_cst);
      if (current != nullptr) retire(current);
    }
  }
  return request_generation(day, base_seq, false);
}

Generation* CampaignState::next_generation(Generation*& prepared, std::int64_t id,
                                           std::uint64_t base_seq, bool with_quota) {
  if (prepared != nullptr && prepared->id <= id) {
    Generation* taken = std::exchange(prepared, nullptr);
    if (taken->id == id) return taken;
    retire(taken);  // its period passed without a ballot; never linked, freed by reclaim()
  }
  made_.late.fetch_add(1, std::memory_order_relaxed);
  return make_generation(id, base_seq, with_quota);
}

Generation* CampaignState::prepare(Generation*& prepared, const std::atomic<Generation*>& live,
                                   std::int64_t id, std::uint64_t base_seq, bool with_quota) {
  std::lock_guard lock(gen_mutex_);
  if (tables_given_up_) return nullptr;
  const Generation* current = live.load(std::memory_order_acquire);
  if (current != nullptr && current->id >= id) return nullptr;
  if (prepared != nullptr && prepared->id >= id) return nullptr;
  if (prepared != nullptr) retire(std::exchange(prepared, nullptr));
  prepared = make_generation(id, base_seq, with_quota);
  made_.ahead.fetch_add(1, std::memory_order_relaxed);
  // Relaxed: not reachable by any other thread but under gen_mutex_ until taken, and a
  // retired one is freed only after release_prepared()'s release decrement (see reclaim).
  prepared->claims.fetch_add(1, std::memory_order_relaxed);
  return prepared;
}

Generation* CampaignState::prepare_period(std::int64_t period, std::uint64_t base_seq) {
  return prepare(prepared_period_, period_gen_, period, base_seq, true);
}

Generation* CampaignState::prepare_request_day(std::int64_t day, std::uint64_t base_seq) {
  return prepare(prepared_request_day_,
                 request_gens_[((day % kRequestDays) + kRequestDays) % kRequestDays], day, base_seq,
                 false);
}

void CampaignState::release_prepared(Generation* generation) {
  // Release pairs with reclaim()'s acquire load of the count.
  generation->claims.fetch_sub(1, std::memory_order_release);
}

void CampaignState::retire(Generation* generation) {
  retired_.push_back(generation);
  has_retired_.store(true, std::memory_order_release);
}

void CampaignState::retire_unused_prepared(std::int64_t current_period, std::int64_t today) {
  std::lock_guard lock(gen_mutex_);
  if (prepared_period_ != nullptr && prepared_period_->id < current_period) {
    retire(std::exchange(prepared_period_, nullptr));
  }
  if (prepared_request_day_ != nullptr && prepared_request_day_->id < today) {
    retire(std::exchange(prepared_request_day_, nullptr));
  }
}

void CampaignState::give_up_tables() {
  std::lock_guard lock(gen_mutex_);
  tables_given_up_ = true;
  // seq_cst: the unlinks that hazard scans are ordered against (see hazard.h). A thread
  // still deciding on this state holds its generation by hazard or claim until it moves on to
  // the new state; reclaim() waits for both.
  if (Generation* live = period_gen_.exchange(nullptr, std::memory_order_seq_cst)) retire(live);
  for (auto& slot : request_gens_) {
    if (Generation* live = slot.exchange(nullptr, std::memory_order_seq_cst)) retire(live);
  }
  if (prepared_period_ != nullptr) retire(std::exchange(prepared_period_, nullptr));
  if (prepared_request_day_ != nullptr) retire(std::exchange(prepared_request_day_, nullptr));
}

void CampaignState::reclaim() {
  if (!has_retired_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(gen_mutex_);
  heavy_barrier();  // every retired generation was unlinked before this call
  std::erase_if(retired_, [](Generation* generation) {
    // Hazards first: once no thread protects the unlinked generation, no new claim can
    // start on it, so a zero count read afterwards stays zero. The acquire pairs with the
    // release decrement of the last claim, so its table writes are done before the delete.
    if (is_hazardous(generation)) return false;
    if (generation->claims.load(std::memory_order_acquire) != 0) return false;
    delete generation;
    return true;
  });
  has_retired_.store(!retired_.empty(), std::memory_order_release);
}

void CampaignState::count(std::uint32_t candidate_index, FraudFlags flags) {
  ++votes_[candidate_index];
  if (flags == 0) return;
  ++suspect_[candidate_index];
  for (int reason = 0; reason < kFraudReasonCount; ++reason) {
    if (flags & flag_of(static_cast<FraudReason>(reason))) {
      ++suspect_by_reason_[candidate_index * kFraudReasonCount + reason];
    }
  }
}

void CampaignState::count_late_flag(std::uint32_t candidate_index, FraudReason reason,
                                    FraudFlags prior) {
  if (prior == 0) ++suspect_[candidate_index];
  // A reason this build does not know (a later build's, in a log it reads) makes a vote
  // suspect but has no count of its own here.
  if (static_cast<int>(reason) < kFraudReasonCount && (prior & flag_of(reason)) == 0) {
    ++suspect_by_reason_[candidate_index * kFraudReasonCount + static_cast<std::size_t>(reason)];
  }
}

void CampaignState::count_void(std::uint32_t candidate_index, bool voided) {
  if (voided) {
    ++voided_[candidate_index];
  } else if (voided_[candidate_index] > 0) {
    --voided_[candidate_index];
  }
}

void CampaignState::set_disqualified(std::uint32_t candidate_index, bool disqualified) {
  disqualified_[candidate_index] = disqualified ? 1 : 0;
}

void CampaignState::publish(std::uint64_t as_of_seq) {
  auto counts = std::make_shared<TallyCounts>();
  counts->as_of_seq = as_of_seq;
  counts->votes = votes_;
  counts->suspect = suspect_;
  counts->suspect_by_reason = suspect_by_reason_;
  counts->voided = voided_;
  counts->disqualified = disqualified_;
  // Release pairs with counts()' acquire: a reader sees the whole snapshot.
  counts_.store(std::move(counts), std::memory_order_release);
}

void CampaignState::add_table_figures(std::array<TableFigures, kTableKinds>& figures) const {
  auto add_table = [&figures](TableKind kind, const KeyTable& table) {
    TableFigures& into = figures[static_cast<std::size_t>(kind)];
    into.bytes += table.bytes();
    into.keys += table.size();
  };
  auto add = [&](const Generation& generation) {
    if (generation.quota) {
      add_table(TableKind::dedupe, generation.keys);
      add_table(TableKind::quota, *generation.quota);
    } else {
      add_table(TableKind::request_id, generation.keys);
    }
  };
  auto& self = const_cast<CampaignState&>(*this);  // protect() publishes into our own record
  auto add_live = [&](std::atomic<Generation*>& source, HazardSlot hazard) {
    if (const Protected<Generation> generation = protect_guarded(source, hazard)) add(*generation);
  };
  add_live(self.period_gen_, kSlotGeneration);
  for (auto& slot : self.request_gens_) add_live(slot, kSlotRequestGen);
  std::lock_guard lock(self.gen_mutex_);
  for (const Generation* prepared : {prepared_period_, prepared_request_day_}) {
    if (prepared != nullptr) add(*prepared);
  }
}

void CampaignState::grow_into_made_arrays() {
  auto grow_live = [](std::atomic<Generation*>& source, HazardSlot hazard) {
    if (const Protected<Generation> generation = protect_guarded(source, hazard)) {
      generation->grow_into_made_arrays();
    }
  };
  grow_live(period_gen_, kSlotGeneration);
  for (auto& slot : request_gens_) grow_live(slot, kSlotRequestGen);
}

bool CampaignState::has_request_ids() const {
  auto& self = const_cast<CampaignState&>(*this);  // as in add_table_figures()
  bool found = false;
  for (auto& slot : self.request_gens_) {
    if (const Protected<Generation> generation = protect_guarded(slot, kSlotRequestGen)) {
      found = found || generation->keys.size() > 0;
    }
  }
  return found;
}

}  // namespace tally::engine::internal
