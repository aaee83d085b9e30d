// Audit: what tallyctl does (verify, export, replay, results, backup), as library calls.
//
// Every call that takes a data directory opens the database read-only, so it may run beside
// a tallyd that holds it without harming it; it sees the log as of the moment it opened.
// apps/tallyctl/main.cc only parses arguments and prints. Functions are independent and safe
// to call from any thread. Contract: DESIGN.md "tallyctl".
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/status.h"
#include "tally/engine/engine.h"
#include "tally/storage/scan_progress.h"

namespace tally::storage {

// One thing verify found wrong: the seq it concerns and what is wrong there.
struct VerifyProblem {
  std::uint64_t seq = 0;  // 0 when it concerns no event (a stored tally that does not parse)
  std::string reason;     // "chain hash mismatch: ..."
};
// "seq 42: chain hash mismatch: ...".
std::string to_string(const VerifyProblem& problem);

struct VerifyReport {
  // Each broken chain link, missing or misplaced event and broken rule, in the order the scan
  // found them. Empty when the log is sound.
  std::vector<VerifyProblem> problems;
  std::uint64_t events = 0;
  std::uint64_t votes = 0;
  std::uint64_t campaign_versions = 0;
  std::uint64_t epochs = 0;     // primaries' takeovers (a replicated log)
  std::uint64_t flags = 0;      // late flag events
  std::uint64_t decisions = 0;  // committee decision events
  std::uint64_t last_seq = 0;
  std::string chain_head_hex;
  // The public tree (docs/EVENT_FORMAT.md "Public log"): every stored hash re-derived from the
  // events' public forms. Empty root when it was not checked, and `public_tree` says why.
  std::string public_root_hex;
  std::string public_tree;  // "checked", or why not ("no log keys in DIR", "not built yet")
  // The recount: one tally per campaign, from a fresh engine that re-judged every vote.
  std::vector<engine::TallySnapshot> tallies;
  double elapsed_s = 0;  // from the open to the report
  bool ok() const { return problems.empty(); }
};

// Checks the chain (every event's hash, seqs contiguous from 1, keys, meta's last seq and
// chain head), re-judges every accepted vote with a fresh engine at its stored server time
// (known campaign and candidate, window, period, no duplicate key or request id, quotas), and
// compares every tally tallyd persisted at shutdown with the recount at its as_of_seq; with the
// log's keys (`log_keys_dir`, default DATA_DIR/log-keys), also every hash of the stored public
// tree. An error only when the database cannot be read at all. `progress` hears the events
// read.
Result<VerifyReport> verify_log(const std::string& data_dir, const ScanProgress& progress = {},
                                const std::string& log_keys_dir = {});

// The report as one JSON document:
// {"ok","events","votes","campaign_versions","epochs","flags","decisions",
// "last_seq","chain_head","recount":[{"campaign","votes","suspect"}],"failures":[{"seq",
// "reason"}],"first_failure":{"seq","reason"} or null,"elapsed_s"}.
std::string verify_report_json(const VerifyReport& report);

struct ExportOptions {
  std::string data_dir;
  // Only this campaign's events. Default: every campaign.
  std::string campaign;
  // Votes from this seq on (campaign versions are always all included, so that the export
  // replays on its own). Default: 0 (everything).
  std::uint64_t from_seq = 0;
  // Replace voter, device and ip by keyed hashes (HMAC-SHA-256). Default: false.
  bool redact = false;
  // The key of those hashes; when empty, a random key used for this export only (hashes then
  // link a voter's ballots within the export, never across exports). Default: empty.
  std::string redact_key;
  // Hears the events read, over both passes (campaign versions, then votes). Default: none.
  ScanProgress progress;
};

// Calls `on_record(first_seq, record)` for every stored commit batch record in seq order, with
// its bytes as stored (docs/EVENT_FORMAT.md), until it returns false. A replicated log's
// records are its stream's messages, byte for byte.
Status for_each_record(const std::string& data_dir,
                       const std::function<bool(std::uint64_t, std::string_view)>& on_record);

// Writes NDJSON to `out`: the campaign versions first (in seq order), then the votes.
Status export_log(const ExportOptions& options, std::ostream& out);

// Recomputes tallies from an export (NDJSON): one per campaign seen, sorted by campaign id,
// names and zero-vote candidates from the latest campaign version in the export, as_of_seq
// the highest seq in the input. An error names the line.
Result<std::vector<engine::TallySnapshot>> replay_export(std::istream& in);

// Compares votes per candidate with expected tallies (the /tally shape, one JSON document per
// line or a single document). Returns the differences, each naming campaign and candidate;
// empty when they agree.
Result<std::vector<std::string>> compare_tallies(const std::vector<engine::TallySnapshot>& got,
                                                 std::istream& expected);

// The committee's ranking of one campaign from the log: votes and suspect votes per candidate,
// every candidate of its latest version included.
struct CampaignResults {
  engine::TallySnapshot tally;
  engine::Campaign campaign;  // the latest version
};
Result<CampaignResults> campaign_results(const std::string& data_dir, std::string_view campaign_id,
                                         const ScanProgress& progress = {});
// "rank,candidate,name,unit,industry,votes,suspect,void,valid,disqualified" and one line per
// candidate (RFC 4180) in the tally's order: those in the running by valid votes, then the
// disqualified ones, whose rank is empty and `disqualified` "yes" (empty for the others).
// UTF-8; with `bom`, after the byte order mark EF BB BF, without which Excel on Windows reads
// the names in the local code page and shows Chinese as mojibake.
std::string results_csv(const CampaignResults& results, bool bom = false);

// A consistent copy of the log into `to_dir` (which must not exist or be empty), taken from a
// read-only view so that a running tallyd is not disturbed. The copy is a database that
// tallyd and tallyctl open as they would the original. `progress` hears the records copied.
Status backup_log(const std::string& data_dir, const std::string& to_dir,
                  const ScanProgress& progress = {});

}  // namespace tally::storage
