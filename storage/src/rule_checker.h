// What verify, results and the public bundle's check share: a per-campaign vote counter and
// a re-judge of stored (or public) votes by a fresh engine at their stored server time.
// Private to storage/. Neither is thread-safe: one per scan.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/clock.h"
#include "tally/engine/campaign.h"
#include "tally/engine/engine.h"
#include "tally/storage/audit.h"
#include "tally/storage/event_format.h"

namespace tally::storage {

inline std::string at_seq(std::uint64_t seq) { return "seq " + std::to_string(seq) + ": "; }

// Counts votes per candidate of one or more campaigns, names from their latest versions.
class Counter {
 public:
  void add_version(const engine::Campaign& campaign, std::uint64_t seq) {
    latest_[campaign.id] = campaign;
    note(seq);
  }
  void add_vote(std::string_view campaign, std::string_view candidate, bool suspect,
                std::uint64_t seq) {
    auto& counts = counts_[std::string(campaign)][std::string(candidate)];
    ++counts.first;
    if (suspect) ++counts.second;
    note(seq);
  }
  // A flag or decision, counted from what the event says (verify checks that it is true): a
  // flagged vote whose prior flags were empty turns suspect; void and restore move votes in
  // and out of `voided`; disqualify and reinstate set a candidate apart or back.
  void add_adjudication(const StoredEvent& event) {
    note(event.seq);
    const bool is_flag = event.kind == EventKind::flag;
    const std::string campaign(is_flag ? event.flag.campaign : event.decision.campaign);
    const engine::Campaign* version = latest(campaign);
    if (version == nullptr) return;
    if (!is_flag && !names_votes(event.decision.action)) {
      disqualified_[campaign][std::string(event.decision.candidate)] =
          event.decision.action == DecisionAction::disqualify;
      return;
    }
    for (const engine::MarkedVote& vote : is_flag ? event.flag.votes : event.decision.votes) {
      if (vote.candidate >= version->candidates.size()) continue;
      const std::string& candidate = version->candidates[vote.candidate].id;
      if (is_flag) {
        if (vote.prior == 0) ++counts_[campaign][candidate].second;
      } else if (event.decision.action == DecisionAction::void_votes) {
        ++voided_[campaign][candidate];
      } else if (auto& voided = voided_[campaign][candidate]; voided > 0) {
        --voided;
      }
    }
  }
  std::uint64_t as_of_seq() const { return as_of_seq_; }
  const engine::Campaign* latest(const std::string& id) const {
    auto it = latest_.find(id);
    return it == latest_.end() ? nullptr : &it->second;
  }

  std::vector<engine::TallySnapshot> tallies() const {
    std::map<std::string, engine::TallySnapshot> out;
    for (const auto& [id, campaign] : latest_) {
      auto& tally = out[id];
      for (const auto& candidate : campaign.candidates) {
        engine::CandidateTally c;
        c.id = candidate.id;
        c.name = candidate.name;
        tally.candidates.push_back(std::move(c));
      }
    }
    for (const auto& [id, candidates] : counts_) {
      auto& tally = out[id];
      for (const auto& [candidate, counts] : candidates) {
        auto it = std::find_if(tally.candidates.begin(), tally.candidates.end(),
                               [&wanted = candidate](const auto& c) { return c.id == wanted; });
        if (it == tally.candidates.end()) {
          engine::CandidateTally c;
          c.id = candidate;
          c.name = candidate;
          tally.candidates.push_back(std::move(c));
          it = tally.candidates.end() - 1;
        }
        it->votes = counts.first;
        it->suspect = counts.second;
      }
    }
    for (auto& [id, tally] : out) {
      for (auto& c : tally.candidates) {
        if (auto v = voided_.find(id); v != voided_.end()) {
          if (auto n = v->second.find(c.id); n != v->second.end()) c.voided = n->second;
        }
        if (auto d = disqualified_.find(id); d != disqualified_.end()) {
          if (auto n = d->second.find(c.id); n != d->second.end()) c.disqualified = n->second;
        }
      }
    }
    std::vector<engine::TallySnapshot> result;
    for (auto& [id, tally] : out) {
      tally.campaign = id;
      tally.as_of_seq = as_of_seq_;
      rank(tally);
      result.push_back(std::move(tally));
    }
    return result;
  }

 private:
  void note(std::uint64_t seq) { as_of_seq_ = std::max(as_of_seq_, seq); }

  std::map<std::string, engine::Campaign> latest_;
  std::map<std::string, std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>> counts_;
  std::map<std::string, std::map<std::string, std::uint64_t>> voided_;
  std::map<std::string, std::map<std::string, bool>> disqualified_;
  std::uint64_t as_of_seq_ = 0;
};

// Re-judges the log's votes with a fresh engine, as the server judged them at commit.
class RuleChecker {
 public:
  RuleChecker() : clock_(0), engine_(clock_) {}

  void campaign(const StoredEvent& event, std::vector<VerifyProblem>& problems) {
    auto campaign = engine::parse_campaign(event.campaign_json);
    if (!campaign.ok()) {
      problems.push_back({event.seq, "stored campaign is invalid: " + campaign.message()});
      return;
    }
    if (engine_.install_campaign(*campaign, event.seq) == engine::PutOutcome::conflict) {
      problems.push_back({event.seq, "campaign version alters candidates or rules after votes"});
    }
  }

  // A flag or decision: every vote it names must be an earlier vote of its campaign, with the
  // candidate and (a flag) the prior flags the log gives it, and change state (a new reason; a
  // vote voided, or restored, that was not); a candidate it names must exist and change state.
  // Counted into the tallies as tallyd counts it.
  void adjudication(const StoredEvent& event, std::vector<VerifyProblem>& problems) {
    const bool is_flag = event.kind == EventKind::flag;
    const std::string_view campaign_id = is_flag ? event.flag.campaign : event.decision.campaign;
    const auto campaign = engine_.campaign(campaign_id);
    const std::string what = is_flag ? "flag" : "decision";
    if (campaign == nullptr) {
      problems.push_back(
          {event.seq, what + " for unknown campaign \"" + std::string(campaign_id) + "\""});
      return;
    }
    const std::uint32_t ordinal = campaign_ordinal(campaign_id);
    if (!is_flag && !names_votes(event.decision.action)) {
      const DecisionFields& d = event.decision;
      const auto index = campaign->candidate_index(d.candidate);
      if (!index) {
        problems.push_back(
            {event.seq, what + " names unknown candidate \"" + std::string(d.candidate) + "\""});
        return;
      }
      engine_.publish(event.seq);
      bool now = false;
      const std::optional<engine::TallySnapshot> tally = engine_.tally(campaign_id);
      if (tally) {
        for (const auto& c : tally->candidates) {
          if (c.id == d.candidate) now = c.disqualified;
        }
      }
      if (now == (d.action == DecisionAction::disqualify)) {
        problems.push_back({event.seq, what + " changes nothing: candidate " +
                                           std::string(d.candidate) + " is already so"});
      }
      (void)engine_.set_disqualified(campaign_id, d.candidate,
                                     d.action == DecisionAction::disqualify);
      return;
    }
    const auto& votes = is_flag ? event.flag.votes : event.decision.votes;
    for (const engine::MarkedVote& vote : votes) {
      BookEntry* entry = vote.seq < book_.size() ? &book_[vote.seq] : nullptr;
      if (entry == nullptr || entry->campaign != ordinal) {
        problems.push_back({event.seq, what + " names seq " + std::to_string(vote.seq) +
                                           ", which is not a vote of " + std::string(campaign_id)});
        return;
      }
      if (entry->candidate != vote.candidate) {
        problems.push_back({event.seq, what + " gives seq " + std::to_string(vote.seq) +
                                           " another candidate than its vote's"});
        return;
      }
      if (is_flag) {
        const engine::FraudFlags bit = engine::flag_of(event.flag.reason);
        if (vote.prior != entry->flags || (entry->flags & bit) != 0) {
          problems.push_back({event.seq, what + " gives seq " + std::to_string(vote.seq) +
                                             " prior flags it did not have, or a reason it had"});
          return;
        }
      } else if (entry->voided == (event.decision.action == DecisionAction::void_votes)) {
        problems.push_back({event.seq, what + " changes nothing for seq " +
                                           std::to_string(vote.seq) + ": already so"});
        return;
      }
    }
    for (const engine::MarkedVote& vote : votes) {
      BookEntry& entry = book_[vote.seq];
      if (is_flag) {
        entry.flags |= engine::flag_of(event.flag.reason);
      } else {
        entry.voided = event.decision.action == DecisionAction::void_votes;
      }
    }
    if (is_flag) {
      (void)engine_.apply_flag(campaign_id, event.flag.reason, votes);
    } else {
      (void)engine_.apply_void(campaign_id, votes,
                               event.decision.action == DecisionAction::void_votes);
    }
  }

  // A public flag or decision names its votes by seq alone (docs/EVENT_FORMAT.md "Public
  // form"): fills in each one's candidate and, in a flag, its flags before it, from the votes
  // judged so far, so that adjudication() counts it as tallyd did. A seq that is no vote is
  // left as it is, for adjudication() to report.
  void fill_public_votes(StoredEvent& event) const {
    const bool is_flag = event.kind == EventKind::flag;
    auto& votes = is_flag ? event.flag.votes : event.decision.votes;
    for (engine::MarkedVote& vote : votes) {
      if (vote.seq >= book_.size() || book_[vote.seq].campaign == 0) continue;
      vote.candidate = book_[vote.seq].candidate;
      if (is_flag) vote.prior = book_[vote.seq].flags;
    }
  }

  void vote(const StoredEvent& event, std::vector<VerifyProblem>& problems) {
    const VoteFields& v = event.vote;
    auto campaign = engine_.campaign(v.ballot.campaign);
    if (campaign == nullptr) {
      problems.push_back(
          {event.seq, "vote for unknown campaign \"" + std::string(v.ballot.campaign) + "\""});
      return;
    }
    if (campaign->period_of(v.server_ms) != v.period) {
      problems.push_back({event.seq, "period " + std::to_string(v.period) +
                                         " does not match server time " +
                                         std::to_string(v.server_ms) + " (period " +
                                         std::to_string(campaign->period_of(v.server_ms)) + ")"});
    }
    clock_.set_ms(v.server_ms);
    engine::Ballot ballot;
    ballot.campaign = v.ballot.campaign;
    ballot.candidate = v.ballot.candidate;
    ballot.voter = v.ballot.voter;
    ballot.device = v.ballot.device;
    ballot.ip = v.ballot.ip;
    ballot.ua = v.ballot.ua;
    ballot.request_id = v.ballot.request_id;
    ballot.ts_ms = v.ballot.ts_ms;
    engine::Decision decision = engine_.decide(ballot);
    if (decision.status == engine::VoteStatus::accepted) {
      const std::uint32_t candidate = decision.claim.candidate_index();
      engine_.commit(std::move(decision.claim), event.seq, v.flags);
      if (book_.size() <= event.seq) book_.resize(event.seq + 1);
      book_[event.seq] = {campaign_ordinal(v.ballot.campaign), candidate, 0, v.flags};
      return;
    }
    std::string why;
    switch (decision.status) {
      case engine::VoteStatus::duplicate:
        why = "duplicate of seq " + std::to_string(decision.seq);
        break;
      case engine::VoteStatus::quota_exceeded:
        why = "over the voter's quota (max_candidates or max_votes_per_candidate)";
        break;
      case engine::VoteStatus::closed: why = "outside the campaign window"; break;
      case engine::VoteStatus::unknown_candidate:
        why = "unknown candidate \"" + std::string(v.ballot.candidate) + "\"";
        break;
      case engine::VoteStatus::invalid: why = "invalid: " + std::string(decision.error); break;
      default: why = std::string(engine::to_string(decision.status)); break;
    }
    problems.push_back({event.seq, "accepted vote breaks a rule: " + why});
  }

  // Compares a persisted tally with the recount. REQUIRES: every event up to its as_of_seq,
  // and none after it, has been judged.
  void check_tally(const engine::TallySnapshot& stored, std::vector<VerifyProblem>& problems) {
    engine_.publish(stored.as_of_seq);
    const auto recount = engine_.tally(stored.campaign);
    const std::string what = "stored tally of campaign " + stored.campaign + " ";
    if (!recount) {
      problems.push_back({stored.as_of_seq, what + "names a campaign the log does not have"});
      return;
    }
    std::map<std::string, std::pair<const engine::CandidateTally*, const engine::CandidateTally*>>
        both;
    for (const auto& c : stored.candidates) both[c.id].first = &c;
    for (const auto& c : recount->candidates) both[c.id].second = &c;
    const engine::CandidateTally zero;
    for (const auto& [id, pair] : both) {
      const auto& have = pair.first != nullptr ? *pair.first : zero;
      const auto& want = pair.second != nullptr ? *pair.second : zero;
      if (have.votes == want.votes && have.suspect == want.suspect && have.voided == want.voided &&
          have.disqualified == want.disqualified) {
        continue;
      }
      problems.push_back(
          {stored.as_of_seq, what + "says candidate " + id + " has " + std::to_string(have.votes) +
                                 " votes (" + std::to_string(have.suspect) + " suspect, " +
                                 std::to_string(have.voided) + " void" +
                                 (have.disqualified ? ", disqualified" : "") + "), the recount " +
                                 std::to_string(want.votes) + " (" + std::to_string(want.suspect) +
                                 " suspect, " + std::to_string(want.voided) + " void" +
                                 (want.disqualified ? ", disqualified" : "") + ")"});
    }
  }

  // The version in force of campaign `id`, or null.
  std::shared_ptr<const engine::Campaign> campaign_in_force(std::string_view id) const {
    return engine_.campaign(id);
  }

  std::vector<engine::TallySnapshot> tallies(std::uint64_t last_seq) {
    engine_.publish(last_seq);
    std::vector<engine::TallySnapshot> out;
    for (const auto& campaign : engine_.campaigns()) {
      if (auto tally = engine_.tally(campaign->id)) out.push_back(std::move(*tally));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.campaign < b.campaign; });
    return out;
  }

 private:
  // What a flag or decision may say of a vote, by seq (12 bytes each: 120 MB at 10M votes).
  struct BookEntry {
    std::uint32_t campaign = 0;  // campaign_ordinal(); 0: not a vote
    std::uint32_t candidate : 31 = 0;
    std::uint32_t voided : 1 = 0;
    engine::FraudFlags flags = 0;  // stored and late
  };
  std::uint32_t campaign_ordinal(std::string_view id) {
    auto it = ordinals_.find(id);
    if (it == ordinals_.end()) {
      it = ordinals_.emplace(std::string(id), static_cast<std::uint32_t>(ordinals_.size() + 1))
               .first;
    }
    return it->second;
  }

  ManualClock clock_;
  engine::Engine engine_;
  std::vector<BookEntry> book_;
  std::map<std::string, std::uint32_t, std::less<>> ordinals_;
};

}  // namespace tally::storage
