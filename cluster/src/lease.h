// The lease that names a shard's primary: a key of the `tally_leases` KV bucket whose value
// says who holds it and where it serves. For liveness and discovery only: whoever holds it
// still has to get its epoch event into the stream, and the stream's expected-last-sequence
// check (not the lease) keeps two primaries from both writing (DESIGN.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::cluster::internal {

struct LeaseHolder {
  std::string node;
  std::string address;  // host:port of its HTTP server
  std::uint64_t epoch = 0;
};

// "node address epoch": node names and addresses hold no spaces (checked by the caller).
std::string encode_lease(const LeaseHolder& holder);
// Nullopt when `value` is not a lease. An epoch of 0 (a lease just created, before its holder
// wrote its epoch in) is the entry's `revision`.
std::optional<LeaseHolder> decode_lease(std::string_view value, std::uint64_t revision);

}  // namespace tally::cluster::internal
