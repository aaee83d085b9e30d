// Adjudication: the committee's decisions as the HTTP API submits and lists them (DESIGN.md
// "Adjudication"). The port between ingest and whatever records decisions in the log:
// storage's adjudicator implements it. Callers depend on this header, never on storage.
//
// Data flow: POST /v1/campaigns/{id}/decisions -> submit_decision() -> the adjudicator's thread
// resolves the votes (by seq, or from a cluster by a scan of the log), keeps those whose state
// changes, writes one decision event (or several, for a very large set) through the log's
// writer -> DecisionWaiter::decided() once, on that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::engine {

// Limits of a decision, checked before it is queued: its author and reason as text, and the
// seqs one request names (one decision event's worth; a cluster may name more, in several).
inline constexpr std::size_t kMaxDecisionAuthorBytes = 256;
inline constexpr std::size_t kMaxDecisionReasonBytes = 2048;
inline constexpr std::size_t kMaxDecisionSeqs = 16384;
// A cluster's key or a candidate id: a field of a ballot (engine.h kMaxFieldBytes).
inline constexpr std::size_t kMaxDecisionKeyBytes = 256;

struct DecisionRequest {
  std::string campaign;
  std::string action;  // void, restore, disqualify, reinstate
  std::string author;
  std::string reason;
  // void, restore: the votes, by seq or as a cluster of the fraud view (scope ip, subnet or
  // device, and its key), one or the other.
  std::vector<std::uint64_t> seqs;
  std::string scope;
  std::string key;
  std::string candidate;  // disqualify, reinstate
};

enum class DecisionStatus : std::uint8_t {
  recorded,           // a decision event was written
  unchanged,          // nothing to change (a repeated decision): nothing written
  invalid,            // a malformed request (the error says which field)
  not_found,          // a seq that is not a vote of the campaign, a cluster with no votes
  unknown_campaign,   //
  unknown_candidate,  //
  overloaded,         // too many decisions waiting
  unavailable,        // the log cannot be written (stopping, failed, a standby)
};

struct DecisionAnswer {
  DecisionStatus status = DecisionStatus::unavailable;
  std::string error;  // not recorded or unchanged: why
  // recorded or unchanged: {"campaign","action","changed":N,"events":[seq…]}.
  std::string body;
};

// Hears how a decision ended, once, on the adjudicator's thread; must not block.
class DecisionWaiter {
 public:
  virtual void decided(const DecisionAnswer& answer) = 0;

 protected:
  ~DecisionWaiter() = default;
};

class Adjudication {
 public:
  // Queues the decision; the waiter hears once when the answer is `true`. False: not queued
  // (too many waiting, or stopping), and `refusal` says which.
  virtual bool submit_decision(DecisionRequest request, DecisionWaiter& waiter,
                               DecisionStatus& refusal) = 0;
  // {"campaign","decisions":[{"seq","action","author","reason","server_ms","candidate",
  // "scope","key","votes":N,"sample_seqs":[…]}…]}, oldest first (candidate, scope and key when
  // the decision has them).
  virtual std::string decisions_json(std::string_view campaign) const = 0;

 protected:
  ~Adjudication() = default;
};

}  // namespace tally::engine
