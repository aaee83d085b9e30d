// VoteBatch: the ballots of one vote request (the body of POST /v1/votes, or each line of POST
// /v1/votes:batch), from the body's bytes to the answer. The vote path as one unit:
// decide_all() reads top to bottom (parse a line ahead, prefetch its table slots, decide,
// encode, one submit per pass), and answer() writes what the client reads.
//
// Threads: the connection's io thread runs every member but Line::committed(), which the
// log's writer runs once for each line it queued; the writer that finishes the last line tells
// the batch's Owner. Nothing here touches a socket, so unit tests drive it with a real engine
// and log.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/engine/engine.h"
#include "tally/engine/event_log.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/observer.h"
#include "tally/ingest/vote_parser.h"

namespace tally::ingest::internal {

class VoteBatch {
 public:
  // Hears, on the log's writer thread, that the writer finished the batch's last line; the
  // batch is then final and answer() may run on the io thread. Must not block.
  class Owner {
   public:
    virtual void votes_committed() = 0;

   protected:
    ~Owner() = default;
  };

  // What decide_all() leaves to do.
  enum class Progress : std::uint8_t {
    answered,    // every line is final: answer() now
    committing,  // lines wait for the log: Owner::votes_committed() says when they are final
    retry,       // lines wait for an identical ballot's commit: decide_all() after retry_delay()
  };

  // What a pass works with: the connection's engine, log and parsers, and the peer.
  struct Tools {
    engine::Engine& engine;
    engine::EventLog& log;
    // Two, in turn: a ballot's views live in its parser until that parser's next parse, so
    // the next line can be parsed, and its slots prefetched, while this one is decided.
    std::span<VoteParser, 2> parsers;
    std::string_view peer_ip;
    // Passes a line may wait for an identical ballot's commit; after them it is answered
    // overloaded (Limits::max_pending_retries).
    std::size_t max_pending_retries;
  };

  explicit VoteBatch(Owner& owner) : owner_(owner) {}
  VoteBatch(const VoteBatch&) = delete;
  VoteBatch& operator=(const VoteBatch&) = delete;

  // Takes the request's body (which must stay alive and unchanged until the batch is
  // answered) as one ballot, or as a batch of NDJSON lines. False when a batch has more than
  // `max_lines` lines: nothing is counted, the request is answered too_large.
  bool start(std::string_view body, bool batch, std::size_t max_lines);
  // Decides every line that is not final and does not wait for the log: each is answered
  // here (refused, a duplicate) or accepted, encoded and queued with the others of the pass.
  Progress decide_all(const Tools& tools);
  // How long to wait before the next decide_all() of a batch that answered `retry`.
  std::chrono::milliseconds retry_delay() const;

  // Once final: the single vote's answer, or the batch's NDJSON lines, written into `buffer`
  // (an earlier answer's body handed back, so that most answers allocate nothing).
  Answer answer(std::string buffer) const;
  // Once final: the ballots by status, for the observer.
  BallotCounts counts() const;
  bool empty() const { return lines_.empty(); }

  // Empties the batch for the next request, keeping at most `kept_lines` lines' and
  // `kept_payload_bytes` of payload capacity.
  void clear_keeping(std::size_t kept_lines, std::size_t kept_payload_bytes);

 private:
  // One ballot: written on the io thread, then (once queued) by the writer's committed().
  struct Line final : engine::CommitWaiter {
    void committed(const engine::CommitOutcome& outcome) override;

    VoteBatch* batch = nullptr;
    std::uint32_t begin = 0;  // byte range in the body
    std::uint32_t size = 0;
    std::uint32_t number = 0;  // 1-based input line, for batch answers
    engine::VoteStatus status = engine::VoteStatus::invalid;
    bool pending = false;  // decided again on the next pass
    bool durable = true;
    bool has_leaf = false;
    std::uint64_t seq = 0;
    engine::LeafHash leaf{};  // accepted: the public log's leaf, when has_leaf
    std::string_view error;   // static storage
  };

  void add_line(std::size_t begin, std::size_t size, std::uint32_t number);
  std::string_view text_of(const Line& line) const { return body_.substr(line.begin, line.size); }
  // The first line from `index` on that this pass decides.
  std::size_t next_to_decide(std::size_t index) const;
  // One line of a pass: answered here, marked pending, or accepted and queued in to_commit_.
  void decide_line(const Tools& tools, Line& line, const ParsedBallot& parsed,
                   const engine::BallotKeys* keys, bool& any_pending);
  // The buffer a pass encodes into: the first pass reuses the first one (the writer is done
  // with it once the batch is answered); a retry pass takes a new one, since the writer may
  // still be reading the earlier ones.
  std::string& pass_payloads();
  // Queues the pass's accepted lines in one submit; answers those the log refuses.
  void submit_pass(const Tools& tools);
  // Marks `line` final (io thread).
  void finish_line(Line& line, engine::VoteStatus status, std::string_view error);

  Owner& owner_;
  std::string_view body_;
  bool single_ = true;
  std::vector<Line> lines_;
  // The encoded payloads of the lines queued so far, one buffer per pass: the writer reads
  // them until each line completes, so a buffer never grows once queued from (a deque keeps
  // the earlier ones in place).
  std::deque<std::string> payloads_;
  std::string* pass_payloads_ = nullptr;  // this pass's, taken at its first accepted line
  std::vector<engine::VoteToCommit> to_commit_;
  // Lines that are not final, plus one while a pass runs or lines are pending. The writer
  // counts down with acq_rel after writing its line, so that whoever sees 0 (acquire) reads
  // every line's final fields.
  std::atomic<std::uint32_t> unfinished_{0};
  std::size_t retries_ = 0;  // passes after the first
};

}  // namespace tally::ingest::internal
