#include "log_key_setup.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tally/base/quote_input.h"

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
