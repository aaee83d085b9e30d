// A flag or decision event on its way to the writer (DESIGN.md "Adjudication"), and what it
// changes in the engine's tallies once written: the same call for the writer, recovery and a
// standby. Header-only, so that the commit pipeline needs no more of storage than it has.
#pragma once

#include <memory>
#include <string>

#include "tally/base/status.h"
#include "tally/engine/engine.h"
#include "tally/storage/event_format.h"

namespace tally::storage::internal {

// The event's fields, owning the bytes its views point into. Made once and shared, never
// moved: the views stay valid.
struct Adjudication {
  Adjudication() = default;
  Adjudication(const Adjudication&) = delete;
  Adjudication& operator=(const Adjudication&) = delete;

  static std::shared_ptr<Adjudication> of(const FlagFields& flag) {
    auto own = std::make_shared<Adjudication>();
    own->campaign.assign(flag.campaign);
    own->key.assign(flag.key);
    own->event.kind = EventKind::flag;
    own->event.flag = flag;
    own->event.flag.campaign = own->campaign;
    own->event.flag.key = own->key;
    return own;
  }
  static std::shared_ptr<Adjudication> of(const DecisionFields& decision) {
    auto own = std::make_shared<Adjudication>();
    own->campaign.assign(decision.campaign);
    own->key.assign(decision.key);
    own->author.assign(decision.author);
    own->reason.assign(decision.reason);
    own->candidate.assign(decision.candidate);
    own->event.kind = EventKind::decision;
    own->event.decision = decision;
    DecisionFields& d = own->event.decision;
    d.campaign = own->campaign;
    d.key = own->key;
    d.author = own->author;
    d.reason = own->reason;
    d.candidate = own->candidate;
    return own;
  }

  std::string campaign, key, author, reason, candidate;
  StoredEvent event;  // kind flag or decision; its seq is given when written
};

// Counts a written flag or decision into `engine` (REQUIRES: its commit thread). Any other
// kind: nothing.
inline Status count_adjudication(engine::Engine& engine, const StoredEvent& event) {
  if (event.kind == EventKind::flag) {
    return engine.apply_flag(event.flag.campaign, event.flag.reason, event.flag.votes);
  }
  if (event.kind != EventKind::decision) return {};
  const DecisionFields& d = event.decision;
  switch (d.action) {
    case DecisionAction::void_votes: return engine.apply_void(d.campaign, d.votes, true);
    case DecisionAction::restore: return engine.apply_void(d.campaign, d.votes, false);
    case DecisionAction::disqualify: return engine.set_disqualified(d.campaign, d.candidate, true);
    case DecisionAction::reinstate: return engine.set_disqualified(d.campaign, d.candidate, false);
  }
  return {};
}

}  // namespace tally::storage::internal
