// A stored event as JSON: what GET /v1/votes/{seq} answers and tallyctl export writes (DESIGN.md
// "Stored event"), with the identifying fields rewritten for publishing when asked. Pure
// functions.
#pragma once

#include <string>
#include <string_view>

#include "tally/storage/event_format.h"

namespace tally::storage {

// Rewrites identifying fields for publishing (tallyctl export --redact). Returns the text to
// show in place of `value`; `field` is "voter", "device" or "ip".
class Redactor {
 public:
  virtual ~Redactor() = default;
  virtual std::string redact(std::string_view field, std::string_view value) const = 0;
};

// Appends the event as the JSON of DESIGN.md "Stored event" (absent optional fields omitted).
// A vote's `marks`, when given and not empty, add "late_flags" (the reasons later flag events
// gave it) and "voided_by" (the seq of the decision that voided it).
void append_event_json(std::string& out, const StoredEvent& event,
                       const Redactor* redactor = nullptr, const VoteMarks* marks = nullptr);

// A decision as GET /v1/campaigns/{id}/decisions lists it: {"seq","action","author","reason",
// "server_ms","candidate","scope","key","votes":N,"sample_seqs":[…]} (candidate, scope and key
// when it has them; sample_seqs: its first ten votes).
std::string decision_summary_json(const StoredEvent& decision);

}  // namespace tally::storage
