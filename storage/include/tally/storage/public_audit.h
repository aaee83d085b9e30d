// The public log as auditors, the public and voters check it (DESIGN.md "Public
// verification"): the bundle tallyctl publish writes for the notice, its check with nothing
// else (verify --public), a receipt's check (verify-receipt), and a campaign's tag key for the
// auditors who receive the full export. Bytes and steps: docs/EVENT_FORMAT.md "Public log".
//
// Functions are independent and safe to call from any thread; those that take a data dir open
// it read-only, beside a running tallyd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tally/base/status.h"
#include "tally/storage/scan_progress.h"

namespace tally::storage {

// The files of a bundle.
inline constexpr char kBundleLog[] = "log.ndjson";
inline constexpr char kBundleCheckpoint[] = "checkpoint.json";
inline constexpr char kBundleKey[] = "log-key.pem";
inline constexpr char kBundleResultsJson[] = "results.json";
inline constexpr char kBundleResultsCsv[] = "results.csv";
inline constexpr char kBundleReadme[] = "README.txt";

struct PublishOptions {
  std::string data_dir;
  std::string campaign;  // the campaign whose results the bundle publishes
  std::string out_dir;   // created; must not exist or be empty
  // The log's keys. Default (empty): DATA_DIR/log-keys.
  std::string log_keys_dir;
  ScanProgress progress;
};

struct PublishReport {
  std::uint64_t size = 0;  // events in the bundle (the log's last seq)
  std::string root_hex;
  std::string log_id;
  std::uint64_t campaign_votes = 0;
};

// Writes the bundle of the log as it is now: every event's public form, a checkpoint signed
// for them, the public key, the campaign's results (JSON and CSV) and a README in Chinese and
// English. Refuses a log whose chain or rules do not hold (tallyctl verify says more), or whose
// stored public tree disagrees with the events (the endpoints' proofs would not match it).
Result<PublishReport> publish_bundle(const PublishOptions& options);

// What checking a bundle found. Steps as docs/EVENT_FORMAT.md "Bundle" numbers them.
struct BundleCheck {
  bool ok = false;
  int step = 0;            // the first step that failed
  std::uint64_t line = 0;  // its line of log.ndjson (= seq), 0 when it concerns none
  std::string reason;
  std::uint64_t size = 0;  // the checkpoint's
  std::string root_hex;
  std::string campaign;  // the campaign of results.json
};
// "bundle verifies: N events, root HEX, campaign ID", or "FAIL step S line L: reason".
std::string to_string(const BundleCheck& check);

// Checks the bundle in `dir` (steps 1-5). Unreadable files fail their step. A bundle proves
// only that its files agree with its own key: `expected_key_pem`, the log's public key as
// obtained elsewhere (GET /v1/log/key while the vote ran, the notice), pins it; without it
// step 1 cannot tell the log's key from one a forger made.
BundleCheck verify_bundle(const std::string& dir, const ScanProgress& progress = {},
                          const std::optional<std::string>& expected_key_pem = std::nullopt);

// Checks the receipt (JSON text) against the log's public key (PEM) and, when `bundle_dir` is
// given, against that bundle: its line at the receipt's seq must be the receipt's event, and
// the bundle must verify. Empty when it holds; else the first thing that fails.
std::string verify_receipt(const std::string& receipt_json, const std::string& key_pem,
                           const std::optional<std::string>& bundle_dir = std::nullopt);

// The log id a data dir's public tree was made under, when it has one (tallyd refuses to
// make new keys for it: docs/EVENT_FORMAT.md "Keys, replicas and upgrades"). nullopt for a
// data dir without a database or without a tree.
std::optional<std::string> recorded_log_id(const std::string& data_dir);

// A campaign's tag key (64 hex digits) from the log's keys (default DATA_DIR/log-keys).
Result<std::string> campaign_tag_key(const std::string& data_dir, const std::string& log_keys_dir,
                                     const std::string& campaign);

}  // namespace tally::storage
