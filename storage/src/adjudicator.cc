#include "adjudicator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "tally/base/json_writer.h"
#include "tally/base/quote_input.h"
#include "tally/base/thread_name.h"
#include "db_layout.h"
#include "public_form.h"
#include "vote_marks.h"

namespace tally::storage {

using engine::ClusterCrossing;
using engine::ClusterScope;
using engine::DecisionAnswer;
using engine::DecisionRequest;
using engine::DecisionStatus;
using engine::MarkedVote;

namespace {

// Hears one event's commit, for the adjudicator's thread that waits on it.
class CommitWait final : public engine::CommitWaiter {
 public:
  void committed(const engine::CommitOutcome& outcome) override {
    std::lock_guard lock(mutex_);
    outcome_ = outcome;
    done_ = true;
    done_cv_.notify_one();
  }
  engine::CommitOutcome wait() {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return done_; });
    return outcome_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  engine::CommitOutcome outcome_;
};

DecisionAnswer refused(DecisionStatus status, std::string error) {
  DecisionAnswer answer;
  answer.status = status;
  answer.error = std::move(error);
  return answer;
}

// Whether a vote comes from the cluster `scope`/`key` of the fraud view.
bool from_cluster(const engine::Ballot& ballot, ClusterScope scope, std::string_view key) {
  switch (scope) {
    case ClusterScope::ip: return ballot.ip == key;
    case ClusterScope::subnet: return !ballot.ip.empty() && engine::subnet_of(ballot.ip) == key;
    case ClusterScope::device: return ballot.device == key;
    case ClusterScope::none: return false;
  }
  return false;
}

}  // namespace

Adjudicator::Adjudicator(Ports ports, Options options)
    : ports_(std::move(ports)), options_(options) {
  thread_ = std::thread([this] {
    name_this_thread("tally-adjudic");
    run();
  });
}

Adjudicator::~Adjudicator() { stop(); }

void Adjudicator::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<QueuedDecision> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(decisions_);
  }
  for (QueuedDecision& queued : left) {
    queued.waiter->decided(refused(DecisionStatus::unavailable, "the log is stopping"));
  }
}

void Adjudicator::crossed(ClusterCrossing crossing) {
  crossings_heard_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || crossings_.size() >= kMaxCrossings) {
      crossings_dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    crossings_.push_back(std::move(crossing));
  }
  wake_.notify_one();
}

bool Adjudicator::submit_decision(DecisionRequest request, engine::DecisionWaiter& waiter,
                                  DecisionStatus& refusal) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refusal = DecisionStatus::unavailable;
      return false;
    }
    if (decisions_.size() >= kMaxDecisions) {
      refusal = DecisionStatus::overloaded;
      return false;
    }
    decisions_.push_back({std::move(request), &waiter});
  }
  wake_.notify_one();
  return true;
}

std::string Adjudicator::decisions_json(std::string_view campaign) const {
  return ports_.decisions_json(campaign);
}

AdjudicationFigures Adjudicator::figures() const {
  AdjudicationFigures figures;
  figures.crossings = crossings_heard_.load(std::memory_order_relaxed);
  figures.crossings_dropped = crossings_dropped_.load(std::memory_order_relaxed);
  figures.crossings_lost = crossings_lost_.load(std::memory_order_relaxed);
  figures.flag_events = flag_events_.load(std::memory_order_relaxed);
  figures.votes_flagged = votes_flagged_.load(std::memory_order_relaxed);
  figures.decision_events = decision_events_.load(std::memory_order_relaxed);
  figures.scans = scans_.load(std::memory_order_relaxed);
  figures.scanned_events = scanned_events_.load(std::memory_order_relaxed);
  return figures;
}

void Adjudicator::run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_scan = Clock::now();
  for (;;) {
    std::vector<ClusterCrossing> crossings;
    std::optional<QueuedDecision> decision;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stopping_) return;
        if (!decisions_.empty()) {
          decision.emplace(std::move(decisions_.front()));
          decisions_.pop_front();
          break;
        }
        if (!crossings_.empty()) {
          // Server time is the engine's clock: a crossing is ready once `settle` has passed
          // since its vote, and the pacing of passes allows one.
          const std::int64_t now_ms = ports_.engine->clock().now_ms();
          const std::int64_t ready_in_ms =
              crossings_.front().at_ms + options_.settle.count() - now_ms;
          if (ready_in_ms <= 0 && Clock::now() >= next_scan) {
            // Only the settled ones: a crossing heard a moment ago waits for the votes judged
            // before it to commit, or the pass would miss them for good (it fires once).
            while (!crossings_.empty() &&
                   crossings_.front().at_ms + options_.settle.count() <= now_ms) {
              crossings.push_back(std::move(crossings_.front()));
              crossings_.pop_front();
            }
            break;
          }
          const auto wait = std::max<Clock::duration>(std::chrono::milliseconds(ready_in_ms),
                                                      next_scan - Clock::now());
          wake_.wait_for(lock, std::max<Clock::duration>(wait, std::chrono::milliseconds(10)));
          continue;
        }
        wake_.wait(lock);
      }
    }
    if (decision) {
      decision->waiter->decided(decide(decision->request));
      continue;
    }
    const Clock::time_point started = Clock::now();
    flag(crossings);
    // Paced by its own cost: the next pass waits nine times as long as this one took (at least
    // between_scans), so that late flags take at most about a tenth of a core however long the
    // window and the attack.
    const Clock::time_point ended = Clock::now();
    next_scan = ended + std::max<Clock::duration>(options_.between_scans, 9 * (ended - started));
  }
}

Status Adjudicator::scan(std::uint64_t from_seq,
                         const std::function<bool(const StoredEvent&)>& each) const {
  scans_.fetch_add(1, std::memory_order_relaxed);
  // A RocksDB iterator pins the memtables it started on until it is destroyed: one held for a
  // whole pass under load kept tens of megabytes of flushed memtables alive. It is opened again
  // after every kRecordsPerIterator records, from the next seq.
  constexpr int kRecordsPerIterator = 64;
  std::vector<StoredEvent> events;
  std::uint64_t read = 0;
  std::uint64_t next_seq = from_seq;
  const auto done = [&](Status status) {
    scanned_events_.fetch_add(read, std::memory_order_relaxed);
    return status;
  };
  for (;;) {
    LogScan records(*ports_.db, ports_.events_cf, next_seq);
    int records_read = 0;
    bool more = false;
    while (records.next()) {
      if (auto status = decode_batch(records.value(), events); !status.ok()) return done(status);
      if (stopping()) return done(Status::error("the log is stopping"));
      for (const StoredEvent& event : events) {
        ++read;
        if (event.seq < next_seq) continue;
        if (!each(event)) return done({});
        next_seq = event.seq + 1;
      }
      if (++records_read == kRecordsPerIterator) {
        more = true;
        break;
      }
    }
    if (!more) return done(records.status());
  }
}

std::uint64_t Adjudicator::write(const StoredEvent& event) {
  // A replica group's node writes only while it is the primary with a fresh lease: what
  // ingest checks before a vote (the writer itself runs until the node halts it).
  if (ports_.writable && !ports_.writable()) return 0;
  internal::PendingEvent pending;
  pending.kind = event.kind;
  if (event.kind == EventKind::flag) {
    encode_flag_payload(event.flag, pending.payload);
    pending.adjudication = internal::Adjudication::of(event.flag);
  } else {
    encode_decision_payload(event.decision, pending.payload);
    pending.adjudication = internal::Adjudication::of(event.decision);
  }
  if (ports_.keyring != nullptr) {
    std::string scratch;
    pending.leaf = public_leaf(event, *ports_.keyring, scratch);
    pending.has_leaf = true;
  }
  CommitWait wait;
  pending.waiter = &wait;
  if (ports_.submit(pending) != engine::SubmitResult::queued) return 0;
  const engine::CommitOutcome outcome = wait.wait();
  return outcome.status == engine::VoteStatus::accepted ? outcome.seq : 0;
}

namespace {

// The candidates of a campaign version by id, for the marked votes' indexes.
struct CandidateIndexes {
  std::shared_ptr<const engine::Campaign> campaign;
  std::optional<std::uint32_t> of(std::string_view id) const {
    return campaign ? campaign->candidate_index(id) : std::nullopt;
  }
};

}  // namespace

void Adjudicator::flag(std::vector<ClusterCrossing>& crossings) {
  // The window the pass reads: from the earliest crossing's window start to the last crossing
  // (a cluster's earlier votes are judged no later than its crossing vote).
  std::int64_t from_ms = INT64_MAX;
  std::int64_t to_ms = INT64_MIN;
  // The crossings by their source, so that each vote of the window meets only its own: a pass
  // reads every vote of the window, and few of them are any cluster's.
  std::unordered_multimap<std::string_view, std::size_t> by_ip;
  std::unordered_multimap<std::string_view, std::size_t> by_subnet;
  std::unordered_multimap<std::string_view, std::size_t> by_device;
  for (std::size_t i = 0; i < crossings.size(); ++i) {
    const ClusterCrossing& crossing = crossings[i];
    from_ms = std::min(from_ms, crossing.at_ms - crossing.window_ms);
    to_ms = std::max(to_ms, crossing.at_ms);
    switch (crossing.scope) {
      case ClusterScope::ip: by_ip.emplace(crossing.key, i); break;
      case ClusterScope::subnet: by_subnet.emplace(crossing.key, i); break;
      case ClusterScope::device: by_device.emplace(crossing.key, i); break;
      case ClusterScope::none: break;
    }
  }
  // Per crossing, the votes it flags; a vote that two crossings of one reason cover goes to the
  // first only.
  std::vector<std::vector<MarkedVote>> flagged(crossings.size());
  std::unordered_set<std::uint64_t> taken[engine::kFraudReasonCount];
  // The reasons this pass gives each vote so far: a vote two clusters of different reasons
  // cover gets two flags, the second with the first's reason among its prior flags (the
  // events are written in crossing order, and each vote's crossings are met in that order).
  std::unordered_map<std::uint64_t, engine::FraudFlags> given;
  std::map<std::string, CandidateIndexes, std::less<>> campaigns;
  std::vector<std::size_t> matched;
  const auto match = [&](const auto& index, std::string_view source) {
    const auto [begin, end] = index.equal_range(source);
    for (auto it = begin; it != end; ++it) matched.push_back(it->second);
  };
  // Votes are committed in about the order they were judged: past the last crossing by this
  // much, none of the pass's is left.
  constexpr std::int64_t kOrderSlackMs = 2000;
  const Status scanned = scan(ports_.seq_before(from_ms), [&](const StoredEvent& event) {
    if (event.kind != EventKind::vote) return true;
    const VoteFields& v = event.vote;
    if (v.server_ms > to_ms + kOrderSlackMs) return false;
    matched.clear();
    if (!v.ballot.ip.empty()) {
      match(by_ip, v.ballot.ip);
      // (A subnet's addresses have many spellings: its key is derived from each.)
      if (!by_subnet.empty()) match(by_subnet, engine::subnet_of(v.ballot.ip));
    }
    if (!v.ballot.device.empty()) match(by_device, v.ballot.device);
    if (matched.empty()) return true;
    std::sort(matched.begin(), matched.end());
    for (std::size_t i : matched) {
      const ClusterCrossing& crossing = crossings[i];
      if (v.ballot.campaign != crossing.campaign) continue;
      auto [it, added] = campaigns.try_emplace(crossing.campaign);
      if (added) it->second.campaign = ports_.engine->campaign(crossing.campaign);
      const std::optional<std::uint32_t> candidate = it->second.of(v.ballot.candidate);
      if (!candidate || !crossing.covers(v.ballot, *candidate, v.server_ms, v.period)) continue;
      const engine::FraudFlags bit = engine::flag_of(crossing.reason);
      if ((v.flags & bit) != 0) continue;
      auto marks = read_marks(*ports_.db, ports_.marks_cf, event.seq);
      if (!marks.ok()) {
        spdlog::error("late flags: {}", marks.message());
        continue;
      }
      if ((marks->late_flags & bit) != 0) continue;
      if (static_cast<int>(crossing.reason) < engine::kFraudReasonCount &&
          !taken[static_cast<std::size_t>(crossing.reason)].insert(event.seq).second) {
        continue;
      }
      engine::FraudFlags& so_far = given[event.seq];
      flagged[i].push_back({event.seq, *candidate, v.flags | marks->late_flags | so_far});
      so_far |= bit;
    }
    return true;
  });
  if (!scanned.ok()) {
    spdlog::error("late flags: scan of the log: {}", scanned.message());
    crossings_lost_.fetch_add(crossings.size(), std::memory_order_relaxed);
    return;
  }
  for (std::size_t i = 0; i < crossings.size(); ++i) {
    const ClusterCrossing& crossing = crossings[i];
    std::vector<MarkedVote>& votes = flagged[i];
    for (std::size_t begin = 0; begin < votes.size(); begin += kMaxMarkedVotes) {
      StoredEvent event;
      event.kind = EventKind::flag;
      FlagFields& flag = event.flag;
      flag.campaign = crossing.campaign;
      flag.reason = crossing.reason;
      flag.scope = crossing.scope;
      flag.key = crossing.key;
      flag.server_ms = ports_.engine->clock().now_ms();
      const std::size_t end = std::min(votes.size(), begin + kMaxMarkedVotes);
      flag.votes.assign(votes.begin() + static_cast<std::ptrdiff_t>(begin),
                        votes.begin() + static_cast<std::ptrdiff_t>(end));
      const std::uint64_t seq = write(event);
      if (seq == 0) {
        // Not the primary any more, or storage failed: this pass's crossings go unflagged.
        spdlog::warn("late flags: the log refused a flag of {} votes ({} {} in campaign {})",
                     flag.votes.size(), engine::to_string(crossing.scope), log_value(crossing.key),
                     log_value(crossing.campaign));
        crossings_lost_.fetch_add(crossings.size() - i, std::memory_order_relaxed);
        return;
      }
      flag_events_.fetch_add(1, std::memory_order_relaxed);
      votes_flagged_.fetch_add(flag.votes.size(), std::memory_order_relaxed);
      spdlog::info("late flag seq={} campaign={} reason={} {}={} votes={}", seq,
                   log_value(crossing.campaign), engine::to_string(crossing.reason),
                   engine::to_string(crossing.scope), log_value(crossing.key), flag.votes.size());
    }
  }
}

DecisionAnswer Adjudicator::decide(const DecisionRequest& request) {
  const std::shared_ptr<const engine::Campaign> campaign =
      ports_.engine->campaign(request.campaign);
  if (!campaign) {
    return refused(DecisionStatus::unknown_campaign, "unknown campaign: " + request.campaign);
  }
  const std::optional<DecisionAction> action = decision_action_from_string(request.action);
  if (!action) {
    return refused(DecisionStatus::invalid,
                   "action: must be void, restore, disqualify or reinstate");
  }
  if (request.author.empty() || request.author.size() > kMaxAuthorBytes) {
    return refused(DecisionStatus::invalid,
                   "author: required, at most " + std::to_string(kMaxAuthorBytes) + " bytes");
  }
  if (request.reason.empty() || request.reason.size() > kMaxReasonBytes) {
    return refused(DecisionStatus::invalid,
                   "reason: required, at most " + std::to_string(kMaxReasonBytes) + " bytes");
  }
  StoredEvent event;
  event.kind = EventKind::decision;
  DecisionFields& decision = event.decision;
  decision.campaign = campaign->id;
  decision.action = *action;
  decision.author = request.author;
  decision.reason = request.reason;
  decision.server_ms = ports_.engine->clock().now_ms();
  std::vector<MarkedVote> votes;
  Status unreadable;  // the first marks that could not be read
  if (!names_votes(*action)) {
    if (!request.seqs.empty() || !request.scope.empty() || !request.key.empty()) {
      return refused(DecisionStatus::invalid, "disqualify and reinstate name a candidate only");
    }
    if (request.candidate.empty()) return refused(DecisionStatus::invalid, "candidate: required");
    if (!campaign->candidate_index(request.candidate)) {
      return refused(DecisionStatus::unknown_candidate, "unknown candidate: " + request.candidate);
    }
    const std::optional<engine::TallySnapshot> tally = ports_.engine->tally(campaign->id);
    const bool wanted = *action == DecisionAction::disqualify;
    bool now = false;
    if (tally) {
      for (const engine::CandidateTally& candidate : tally->candidates) {
        if (candidate.id == request.candidate) now = candidate.disqualified;
      }
    }
    decision.candidate = request.candidate;
    if (now == wanted) {
      DecisionAnswer answer;
      answer.status = DecisionStatus::unchanged;
      JsonWriter json(answer.body);
      json.begin_object();
      json.key("campaign").string(campaign->id);
      json.key("action").string(request.action);
      json.key("changed").integer(0);
      json.key("events").begin_array().end_array();
      json.end_object();
      return answer;
    }
  } else {
    if (!request.candidate.empty()) {
      return refused(DecisionStatus::invalid, "void and restore name votes, not a candidate");
    }
    const bool by_seq = !request.seqs.empty();
    const bool by_cluster = !request.scope.empty() || !request.key.empty();
    if (by_seq == by_cluster) {
      return refused(DecisionStatus::invalid,
                     "give either seqs or a cluster (scope and key), not both");
    }
    const auto keep = [&](const StoredEvent& vote) {
      auto marks = read_marks(*ports_.db, ports_.marks_cf, vote.seq);
      if (!marks.ok() && unreadable.ok()) unreadable = marks.status();
      const bool voided = marks.ok() && marks->voided_by != 0;
      if (voided == (*action == DecisionAction::void_votes)) return;  // already so
      const auto candidate = campaign->candidate_index(vote.vote.ballot.candidate);
      if (candidate) votes.push_back({vote.seq, *candidate, 0});
    };
    if (by_seq) {
      std::vector<std::uint64_t> seqs = request.seqs;
      std::sort(seqs.begin(), seqs.end());
      seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
      for (std::uint64_t seq : seqs) {
        auto record = find_event_record(*ports_.db, ports_.events_cf, seq);
        StoredEvent vote;
        if (seq == 0 || !record || !decode_event(*record, seq, vote).ok() ||
            vote.kind != EventKind::vote || vote.vote.ballot.campaign != campaign->id) {
          return refused(DecisionStatus::not_found,
                         "seq " + std::to_string(seq) + " is not a vote of " + campaign->id);
        }
        keep(vote);
      }
    } else {
      const auto scope = engine::cluster_scope_from_string(request.scope);
      if (!scope || request.key.empty()) {
        return refused(DecisionStatus::invalid, "scope: must be ip, subnet or device, with a key");
      }
      decision.scope = *scope;
      decision.key = request.key;
      std::uint64_t found = 0;
      const Status scanned = scan(1, [&](const StoredEvent& stored) {
        if (stored.kind == EventKind::vote && stored.vote.ballot.campaign == campaign->id &&
            from_cluster(stored.vote.ballot, *scope, request.key)) {
          ++found;
          keep(stored);
        }
        return votes.size() <= kMaxClusterVotes;
      });
      if (!scanned.ok()) return refused(DecisionStatus::unavailable, scanned.message());
      if (votes.size() > kMaxClusterVotes) {
        return refused(DecisionStatus::invalid,
                       "the cluster has more than " + std::to_string(kMaxClusterVotes) +
                           " votes to change: decide on narrower clusters");
      }
      if (found == 0) {
        return refused(DecisionStatus::not_found,
                       "no vote of " + campaign->id + " from " + request.scope + " " + request.key);
      }
    }
  }
  if (!unreadable.ok()) return refused(DecisionStatus::unavailable, unreadable.message());
  std::vector<std::uint64_t> written;
  // A set of votes longer than one event takes several: when the log refuses one half way,
  // the answer says which were written, and the same decision again writes the rest (the
  // votes already changed are left out then).
  const auto refused_after = [&](std::string_view what) {
    std::string why(what);
    if (!written.empty()) {
      why += " after writing events";
      for (std::uint64_t seq : written) why += " " + std::to_string(seq);
      why += "; make the same decision again to finish it";
    }
    decision_events_.fetch_add(written.size(), std::memory_order_relaxed);
    return refused(DecisionStatus::unavailable, why);
  };
  const auto log_event = [&](std::uint64_t seq, std::size_t votes_named) {
    spdlog::info("decision seq={} campaign={} action={} author={} votes={} candidate={}", seq,
                 log_value(campaign->id), request.action, log_value(request.author), votes_named,
                 log_value(request.candidate));
  };
  if (!names_votes(*action)) {
    const std::uint64_t seq = write(event);
    if (seq == 0) return refused_after("the log refused the decision");
    written.push_back(seq);
    log_event(seq, 0);
  }
  for (std::size_t begin = 0; begin < votes.size(); begin += kMaxMarkedVotes) {
    const std::size_t end = std::min(votes.size(), begin + kMaxMarkedVotes);
    decision.votes.assign(votes.begin() + static_cast<std::ptrdiff_t>(begin),
                          votes.begin() + static_cast<std::ptrdiff_t>(end));
    const std::uint64_t seq = write(event);
    if (seq == 0) return refused_after("the log refused the decision");
    written.push_back(seq);
    log_event(seq, decision.votes.size());
  }
  decision_events_.fetch_add(written.size(), std::memory_order_relaxed);
  DecisionAnswer answer;
  answer.status = written.empty() ? DecisionStatus::unchanged : DecisionStatus::recorded;
  JsonWriter json(answer.body);
  json.begin_object();
  json.key("campaign").string(campaign->id);
  json.key("action").string(request.action);
  json.key("changed").integer(names_votes(*action) ? votes.size() : written.size());
  json.key("events").begin_array();
  for (std::uint64_t seq : written) json.integer(seq);
  json.end_array();
  json.end_object();
  return answer;
}

}  // namespace tally::storage
