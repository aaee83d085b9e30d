#include "public_form.h"

namespace tally::storage {

void append_public_form(std::string& out, const StoredEvent& event,
                        const publog::TagKeyring& keyring) {
  switch (event.kind) {
    case EventKind::vote: {
      const VoteFields& v = event.vote;
      publog::append_public_vote(out, keyring.key(v.ballot.campaign), v.ballot, v.server_ms,
                                 v.period, v.flags);
      return;
    }
    case EventKind::campaign: publog::append_public_campaign(out, event.campaign_json); return;
    case EventKind::epoch:
      publog::append_public_epoch(out, event.epoch.node, event.epoch.epoch, event.epoch.server_ms);
      return;
    case EventKind::flag: {
      const FlagFields& f = event.flag;
      publog::append_public_flag(out, keyring.key(f.campaign), f.campaign, f.reason, f.scope, f.key,
                                 f.server_ms, f.votes);
      return;
    }
    case EventKind::decision: {
      const DecisionFields& d = event.decision;
      publog::PublicDecision shown;
      shown.campaign = d.campaign;
      shown.action = to_string(d.action);
      shown.author = d.author;
      shown.reason = d.reason;
      shown.server_ms = d.server_ms;
      shown.candidate = d.candidate;
      shown.scope = d.scope;
      shown.cluster_key = d.key;
      shown.votes = d.votes;
      publog::append_public_decision(out, keyring.key(d.campaign), shown);
      return;
    }
  }
}

publog::Hash public_leaf(const StoredEvent& event, const publog::TagKeyring& keyring,
                         std::string& scratch) {
  scratch.clear();
  append_public_form(scratch, event, keyring);
  return publog::leaf_hash(scratch);
}

}  // namespace tally::storage
