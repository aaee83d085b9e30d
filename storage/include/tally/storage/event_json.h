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
void append_event_json(std::string& out, const StoredEvent& event,
                       const Redactor* redactor = nullptr);

}  // namespace tally::storage
