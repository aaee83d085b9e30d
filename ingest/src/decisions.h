// POST and GET /v1/campaigns/{id}/decisions (DESIGN.md "Adjudication"): the request a body
// makes, and the answers. The adjudicator (engine/adjudication.h) records the decision; the
// connection hands the request over and answers when it hears back.
#pragma once

#include <string_view>
#include <variant>

#include "tally/engine/adjudication.h"
#include "tally/ingest/answer.h"

namespace tally::ingest::internal {

// {"action","author","reason","seqs":[…],"scope","key","candidate"}: the decision the body
// asks for, or a 400 invalid that names what is wrong. Which members an action needs is the
// adjudicator's check (it answers with the same statuses).
std::variant<engine::DecisionRequest, Answer> decision_request(std::string_view body,
                                                               std::string_view campaign_id);
// The answer to a decision once the adjudicator has decided it (or refused to queue it).
Answer decision_answer(const engine::DecisionAnswer& answer);
Answer decision_refusal(engine::DecisionStatus refusal);
// GET: the decisions of a campaign; 404 unknown_campaign when the engine has none, 501 without
// an adjudicator.
Answer decisions_list(const engine::Adjudication* adjudication, bool known_campaign,
                      std::string_view campaign_id);

}  // namespace tally::ingest::internal
