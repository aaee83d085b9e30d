// The lease's value. See lease.h.
#include "lease.h"

#include <charconv>

namespace tally::cluster::internal {

std::string encode_lease(const LeaseHolder& holder) {
  return holder.node + " " + holder.address + " " + std::to_string(holder.epoch);
}

std::optional<LeaseHolder> decode_lease(std::string_view value, std::uint64_t revision) {
  const auto first = value.find(' ');
  const auto second = first == std::string_view::npos ? first : value.find(' ', first + 1);
  if (second == std::string_view::npos || first == 0) return std::nullopt;
  LeaseHolder holder;
  holder.node = std::string(value.substr(0, first));
  holder.address = std::string(value.substr(first + 1, second - first - 1));
  const std::string_view epoch = value.substr(second + 1);
  const auto [end, error] =
      std::from_chars(epoch.data(), epoch.data() + epoch.size(), holder.epoch);
  if (error != std::errc() || end != epoch.data() + epoch.size()) return std::nullopt;
  if (holder.epoch == 0) holder.epoch = revision;
  return holder;
}

}  // namespace tally::cluster::internal
