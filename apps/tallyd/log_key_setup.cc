#include "log_key_setup.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tally/base/quote_input.h"
#include "tally/storage/public_audit.h"

namespace tally::tallyd {

std::string log_keys_dir(const Options& options) {
  return options.log_keys_dir.empty()
             ? (std::filesystem::path(options.data_dir) / "log-keys").string()
             : options.log_keys_dir;
}

Result<std::shared_ptr<const publog::LogKeys>> open_log_keys(const Options& options,
                                                             bool clustered) {
  const std::string dir = log_keys_dir(options);
  if (publog::log_keys_exist(dir)) {
    auto keys = publog::read_log_keys(dir);
    if (!keys.ok()) return Status::error("log keys: " + keys.message());
    spdlog::info("log keys loaded dir={} log_id={}", log_value(dir),
                 keys->signing.public_key().log_id());
    return std::make_shared<const publog::LogKeys>(std::move(*keys));
  }
  // A log whose tree was made under keys that are not here has lost them: new keys would
  // make another log of it. The operator restores them (tallyctl backup copies them).
  if (auto recorded = storage::recorded_log_id(options.data_dir)) {
    return Status::error("log keys: " + dir +
                         " holds none, but this log's public tree was made "
                         "under log id " +
                         *recorded + ": restore its keys into " + dir +
                         " (a backup of the data dir holds them), or name them with --log-keys");
  }
  if (clustered) {
    return Status::error("log keys: " + dir +
                         " holds none; a replica group's nodes share the shard's keys: make "
                         "them once with `tallyctl log-keys new --out DIR`, install DIR on "
                         "every node and pass --log-keys DIR (docs/CLUSTER.md \"Log keys\")");
  }
  auto keys = publog::create_log_keys(dir);
  if (!keys.ok()) return Status::error("log keys: " + keys.message());
  spdlog::info("log keys created dir={} log_id={} (the public key is {}/public-key.pem)",
               log_value(dir), keys->signing.public_key().log_id(), dir);
  return std::make_shared<const publog::LogKeys>(std::move(*keys));
}

}  // namespace tally::tallyd
