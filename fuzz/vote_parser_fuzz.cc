// libFuzzer target: arbitrary bytes as one ballot (a POST /v1/votes body or one batch line).
//
// The vote path without sockets or storage: VoteParser::parse -> engine::check_ballot ->
// Engine::decide on a small in-memory campaign set (fuzz_world.h) -> commit or release of
// the claim -> the vote answer. Besides crashes, leaks and hangs it checks the contract:
// a parsed ballot passes check_ballot, a rejection names its field, and a committed ballot
// decided again is a duplicate carrying the first seq (or, where several votes per candidate
// are allowed, is accepted until its quota); and the input as a user agent gets the same
// answer from both bot-marker searches. Run: scripts/fuzz.sh; docs/INGEST.md "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tally/engine/engine.h"
#include "tally/ingest/answer.h"
#include "tally/ingest/vote_parser.h"
#include "bot_scan.h"
#include "fuzz_world.h"

namespace tally::fuzz {
namespace {

using engine::VoteStatus;

// The source address the parser falls back to when the ballot has no `ip`.
constexpr std::string_view kPeerIp = "192.0.2.1";

void check_answer(const engine::Decision& decision) {
  const ingest::Answer answer =
      ingest::vote_answer(decision.status, decision.seq, true, decision.error);
  if (answer.body.empty() || answer.body.front() != '{' || answer.body.back() != '}') {
    fail("vote_answer: body is not a JSON object");
  }
  std::string wire;
  ingest::serialize_answer(answer, {}, wire);
  if (wire.size() < answer.body.size()) fail("serialize_answer: shorter than its body");
}

// The bot-marker searches answer alike for any bytes (the input itself as a user agent).
void check_bot_scans(std::string_view ua) {
  using engine::internal::BotScan;
  if (!engine::internal::bot_scan_available(BotScan::avx2)) return;
  if (engine::internal::is_bot_user_agent_by(BotScan::avx2, ua) !=
      engine::internal::is_bot_user_agent_by(BotScan::pairs, ua)) {
    fail("is_bot_user_agent: the AVX2 and pair searches disagree");
  }
}

void run(std::string_view input) {
  check_bot_scans(input);
  // One parser for every input, like the io thread's: its buffers are reused across parses.
  static ingest::VoteParser parser;
  const ingest::ParsedBallot parsed = parser.parse(input, kPeerIp);
  if (!parsed.ok()) return;
  const engine::Ballot& ballot = parsed.ballot;
  if (engine::check_ballot(ballot)) fail("parse: ok, but check_ballot rejects the ballot");
  if (ballot.campaign.empty() || ballot.candidate.empty() || ballot.voter.empty() ||
      ballot.ip.empty()) {
    fail("parse: ok with a required field empty");
  }

  FuzzWorld world;
  const engine::Decision first = world.decide_and_settle(ballot, /*release=*/false);
  check_answer(first);
  if (first.status != VoteStatus::accepted) {
    // Nothing was counted: deciding again gives the same answer (the clock has not moved).
    const engine::Decision again = world.decide_and_settle(ballot, false);
    if (again.status != first.status) fail("decide: a rejection changed on its own");
    return;
  }

  // Where a voter may vote for a candidate again, a released claim leaves no trace: the
  // ballot is accepted again (a repeated request_id is a duplicate of the first, whatever).
  const auto campaign = world.engine.campaign(ballot.campaign);
  if (!campaign) fail("decide: accepted for an unknown campaign");
  const bool counter = campaign->rules.max_votes_per_candidate > 1;
  if (counter) {
    const engine::Decision released = world.decide_and_settle(ballot, /*release=*/true);
    const VoteStatus expected =
        ballot.request_id.empty() ? VoteStatus::accepted : VoteStatus::duplicate;
    if (released.status != expected) fail("decide: wrong answer below the counter's quota");
  }
  const engine::Decision second = world.decide_and_settle(ballot, false);
  check_answer(second);
  if (!counter) {
    if (second.status != VoteStatus::duplicate) fail("decide: a counted ballot is not a duplicate");
    if (second.seq != first.seq) fail("decide: a duplicate without the original seq");
  } else if (second.status != VoteStatus::accepted && second.status != VoteStatus::duplicate) {
    // duplicate: the ballot's request_id was counted already.
    fail("decide: a counter below its quota refused a vote");
  }
  if (!ballot.request_id.empty() && second.status != VoteStatus::duplicate) {
    fail("decide: a repeated request_id is not a duplicate");
  }

  // The tally counts what was committed.
  const auto tally = world.engine.tally(ballot.campaign);
  if (!tally) fail("tally: missing for a campaign with votes");
  const std::uint64_t committed = second.status == VoteStatus::accepted ? 2 : 1;
  if (tally->total != committed) fail("tally: total differs from the committed votes");
  if (engine::tally_to_json(*tally).empty()) fail("tally_to_json: empty");
}

}  // namespace
}  // namespace tally::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tally::fuzz::run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
