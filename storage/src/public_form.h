// The public form and leaf of a stored event (docs/EVENT_FORMAT.md "Public form"): what
// recovery, a standby, tallyctl publish and verify compute from the log, and what the ingest
// threads compute from a ballot before it is queued (the same bytes: both go through
// publog::append_public_vote). Private to storage/.
#pragma once

#include <string>

#include "tally/publog/merkle.h"
#include "tally/publog/public_event.h"
#include "tally/storage/event_format.h"

namespace tally::storage {

// Appends the public form of `event` to `out`.
void append_public_form(std::string& out, const StoredEvent& event,
                        const publog::TagKeyring& keyring);
// The leaf of `event`; `scratch` holds its public form afterwards (reuse it across calls).
publog::Hash public_leaf(const StoredEvent& event, const publog::TagKeyring& keyring,
                         std::string& scratch);

}  // namespace tally::storage
