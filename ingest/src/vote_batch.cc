// The vote path of one request. See vote_batch.h for the contract.
#include "vote_batch.h"

#include <algorithm>
#include <utility>

#include "tally/ingest/batch.h"
#include "kept_buffer.h"

namespace tally::ingest::internal {

using engine::VoteStatus;

bool VoteBatch::start(std::string_view body, bool batch, std::size_t max_lines) {
  body_ = body;
  single_ = !batch;
  retries_ = 0;
  if (single_) {
    add_line(0, body.size(), 1);
  } else {
    // Sized up front from the body: a batch's lines are not kept between requests, and
    // doubling from nothing reallocates ten times for a thousand lines. A ballot line is usually
    // 100 bytes or more (counting the newlines costs more than a doubling or two).
    lines_.reserve(std::min(body.size() / 100 + 1, max_lines));
    const bool within_limit = for_each_batch_line(body, [&](const BatchLine& line) {
      if (lines_.size() >= max_lines) return false;
      add_line(line.begin, line.size, line.number);
      return true;
    });
    if (!within_limit) {
      lines_.clear();
      return false;
    }
  }
  // One count for the passes, dropped by the last one (see unfinished_).
  unfinished_.store(static_cast<std::uint32_t>(lines_.size()) + 1, std::memory_order_relaxed);
  return true;
}

void VoteBatch::add_line(std::size_t begin, std::size_t size, std::uint32_t number) {
  Line& line = lines_.emplace_back();
  line.batch = this;
  line.begin = static_cast<std::uint32_t>(begin);
  line.size = static_cast<std::uint32_t>(size);
  line.number = number;
}

VoteBatch::Progress VoteBatch::decide_all(const Tools& tools) {
  // prefetch()'s work for a parser's ballot, and the line it was done for: ballot views cannot
  // tell, since a parser reuses its buffers and its next ballot's views look the same.
  engine::BallotKeys keys[2];
  constexpr std::size_t kNoLine = ~std::size_t{0};
  std::size_t keys_line[2] = {kNoLine, kNoLine};
  const auto parse = [&](std::size_t index, unsigned parser) {
    return tools.parsers[parser].parse(text_of(lines_[index]), tools.peer_ip);
  };
  bool any_pending = false;
  pass_payloads_ = nullptr;
  if (retries_ > 0 && !tools.log.ready()) {
    // The log stopped taking writes while these lines waited (a replica group's primary
    // stepped down): deciding them now would run beside a standby's apply. They are refused as
    // a write that arrived now would be.
    for (Line& line : lines_) {
      if (!line.pending) continue;
      line.pending = false;
      finish_line(line, VoteStatus::unavailable, {});
    }
  }
  unsigned turn = 0;
  std::size_t index = next_to_decide(0);
  ParsedBallot parsed;
  if (index < lines_.size()) parsed = parse(index, turn);
  while (index < lines_.size()) {
    const std::size_t next = next_to_decide(index + 1);
    ParsedBallot ahead;
    if (next < lines_.size()) {
      ahead = parse(next, turn ^ 1);
      keys_line[turn ^ 1] = kNoLine;
      if (ahead.ok()) {
        tools.engine.prefetch(ahead.ballot, keys[turn ^ 1]);
        keys_line[turn ^ 1] = next;
      }
    }
    const engine::BallotKeys* known = keys_line[turn] == index ? &keys[turn] : nullptr;
    decide_line(tools, lines_[index], parsed, known, any_pending);
    index = next;
    parsed = ahead;
    turn ^= 1;
  }
  if (!to_commit_.empty()) submit_pass(tools);
  if (any_pending) {
    ++retries_;
    return Progress::retry;  // the passes' count stays for the next pass
  }
  // acq_rel: seeing 0 here, this thread reads the lines the writer finished.
  if (unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1) return Progress::answered;
  return Progress::committing;
}

std::size_t VoteBatch::next_to_decide(std::size_t index) const {
  const bool first_pass = retries_ == 0;
  while (index < lines_.size() && !first_pass && !lines_[index].pending) ++index;
  return index;
}

void VoteBatch::decide_line(const Tools& tools, Line& line, const ParsedBallot& parsed,
                            const engine::BallotKeys* keys, bool& any_pending) {
  if (!parsed.ok()) return finish_line(line, VoteStatus::invalid, parsed.error);
  // The parser ran check_ballot() on the fields: an ok() ballot passed it.
  engine::Decision decision =
      tools.engine.decide(parsed.ballot, engine::Engine::FieldCheck::done_by_caller, keys);
  if (decision.pending) {
    if (retries_ >= tools.max_pending_retries) {
      line.pending = false;
      return finish_line(line, VoteStatus::overloaded,
                         "server: the identical ballot is still being committed, retry later");
    }
    line.pending = true;
    any_pending = true;
    return;
  }
  line.pending = false;
  if (decision.status != VoteStatus::accepted) {
    line.seq = decision.seq;
    return finish_line(line, decision.status, decision.error);
  }
  // Encoded now: the parsed fields live in the parser's buffers only until its next parse.
  std::string& payloads = pass_payloads();
  const std::size_t begin = payloads.size();
  tools.log.append_vote_payload(parsed.ballot, decision.claim, decision.flags, payloads);
  to_commit_.push_back({begin, payloads.size(), std::move(decision.claim), decision.flags, &line});
}

std::string& VoteBatch::pass_payloads() {
  if (pass_payloads_ != nullptr) return *pass_payloads_;
  if (retries_ > 0) {
    pass_payloads_ = &payloads_.emplace_back();  // a few pending lines
  } else {
    if (payloads_.empty()) payloads_.emplace_back();
    pass_payloads_ = &payloads_.front();
    // An encoded vote is usually no longer than its JSON line: one allocation for a batch's
    // votes instead of one per doubling.
    pass_payloads_->reserve(body_.size());
  }
  return *pass_payloads_;
}

void VoteBatch::submit_pass(const Tools& tools) {
  engine::SubmitResult refusal = engine::SubmitResult::queued;
  const std::size_t queued = tools.log.submit_votes(to_commit_, *pass_payloads_, refusal);
  // The queued lines are finished by their committed().
  for (std::size_t i = queued; i < to_commit_.size(); ++i) {
    tools.engine.release(std::move(to_commit_[i].claim));
    Line& line = *static_cast<Line*>(to_commit_[i].waiter);
    finish_line(line,
                refusal == engine::SubmitResult::overloaded ? VoteStatus::overloaded
                                                            : VoteStatus::unavailable,
                {});
  }
  to_commit_.clear();
}

void VoteBatch::finish_line(Line& line, VoteStatus status, std::string_view error) {
  line.status = status;
  line.error = error;
  // Never the last count: the passes hold one. acq_rel as the writer's, so that every count
  // down is ordered the same way whichever thread makes it.
  unfinished_.fetch_sub(1, std::memory_order_acq_rel);
}

void VoteBatch::Line::committed(const engine::CommitOutcome& outcome) {
  status = outcome.status;
  seq = outcome.seq;
  durable = outcome.durable;
  leaf = outcome.leaf;
  has_leaf = outcome.has_leaf;
  error = {};
  // acq_rel: publishes this line's fields to whoever sees the count reach 0.
  if (batch->unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    batch->owner_.votes_committed();
  }
}

std::chrono::milliseconds VoteBatch::retry_delay() const {
  // 1 ms for the first ten retries, then 10 ms.
  return std::chrono::milliseconds(retries_ <= 10 ? 1 : 10);
}

Answer VoteBatch::answer(std::string buffer) const {
  if (single_) {
    const Line& line = lines_.front();
    return vote_answer(line.status, line.seq, line.durable, line.error, std::move(buffer),
                       line.has_leaf ? &line.leaf : nullptr);
  }
  Answer answer;
  answer.content_type = "application/x-ndjson";
  answer.body = std::move(buffer);
  answer.body.clear();
  // {"status":"accepted","seq":N,"leaf":"<64 hex digits>","line":N}\n
  answer.body.reserve(lines_.size() * 132);
  for (const Line& line : lines_) {
    append_vote_json(answer.body, line.status, line.seq, line.durable, line.error, line.number,
                     line.has_leaf ? &line.leaf : nullptr);
    answer.body += '\n';
  }
  return answer;
}

BallotCounts VoteBatch::counts() const {
  BallotCounts ballots{};
  for (const Line& line : lines_) ++ballots[static_cast<std::size_t>(line.status)];
  return ballots;
}

void VoteBatch::clear_keeping(std::size_t kept_lines, std::size_t kept_payload_bytes) {
  body_ = {};
  if (lines_.capacity() > kept_lines) {
    std::vector<Line>().swap(lines_);
    std::vector<engine::VoteToCommit>().swap(to_commit_);
  } else {
    lines_.clear();
  }
  if (!payloads_.empty()) {
    payloads_.resize(1);  // the first buffer is reused by the next request
    internal::clear_keeping(payloads_.front(), kept_payload_bytes);
  }
}

}  // namespace tally::ingest::internal
