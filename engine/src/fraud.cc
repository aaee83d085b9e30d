// FraudMonitor: the fraud signals per campaign. See tally/engine/fraud.h and docs/FRAUD.md.
//
// Thread safety: sketches that are not lock-free are split into shards by key hash, each
// shard a cache line apart with its own mutex (ShardLock) held for O(1) work (a bucket of
// four slots, or a scan of at most 64 Space-Saving counters): threads observing different
// keys rarely meet, and no lock covers every vote. Counters are relaxed atomics (statistics:
// no other memory is published through them). Alerts take a mutex only when a threshold is
// crossed.
#include "tally/engine/fraud.h"

#include <arpa/inet.h>
// Inlined (same hashes as the library's): observe() hashes five short fields per vote.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <deque>

#include "tally/base/json_writer.h"
#include "tally/engine/fraud_sketch.h"
#include "hazard.h"

namespace tally::engine {
namespace {

using internal::kCacheLine;

constexpr std::size_t kTopShards = 64;       // per heavy-hitter list
constexpr std::size_t kClusterShards = 16;   // per look-alike table
constexpr std::size_t kDeviceShards = 64;    // distinct voters per device
constexpr std::size_t kCandidateShards = 4;  // per candidate top-source list
static_assert(std::has_single_bit(kTopShards) && std::has_single_bit(kClusterShards) &&
              std::has_single_bit(kDeviceShards) && std::has_single_bit(kCandidateShards));
constexpr std::size_t kMaxAlerts = 50;
constexpr std::size_t kConcentrationTop = 10;  // "top sources" of a candidate
// A burst needs this many minutes of the candidate's history to compare with.
constexpr std::int64_t kBurstWarmupMinutes = 5;
// ip_flood by timing: gaps measured and their coefficient of variation.
constexpr std::uint32_t kRegularMinGaps = 10;
constexpr double kRegularMaxCv = 0.1;
constexpr std::size_t kSubnetBytes = FraudKeys::kSubnetBytes;  // one subnet label

enum Seed : std::uint64_t { kIpSeed = 1, kUaSeed, kSubnetSeed, kDeviceSeed, kVoterSeed };

std::uint64_t hash_of(std::string_view text, Seed seed) {
  return XXH3_64bits_withSeed(text.data(), text.size(), seed);
}

// splitmix64's finalizer: combines hashes without correlating them.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t combine(std::uint64_t a, std::uint64_t b) {
  return mix(a ^ mix(b + 0x9e3779b97f4a7c15ULL));
}

// The /24 of an IPv4 address in the form inet_pton() accepts (four decimal octets of 0..255
// without leading zeros): its text up to the third dot, then "0/24", as inet_pton() and
// printing the first three octets would give. Returns its length, or 0 when `ip` is not in
// that form.
std::size_t write_ipv4_subnet(std::string_view ip, char (&out)[kSubnetBytes]) {
  constexpr std::string_view kSuffix = "0/24";
  std::size_t dots = 0;
  std::size_t digits = 0;  // of the current octet
  unsigned value = 0;
  std::size_t prefix = 0;  // bytes up to and including the third dot
  for (std::size_t i = 0; i < ip.size(); ++i) {
    const char c = ip[i];
    if (c >= '0' && c <= '9') {
      if (digits > 0 && value == 0) return 0;  // a leading zero
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 255) return 0;
      ++digits;
    } else if (c == '.' && digits > 0 && dots < 3) {
      if (++dots == 3) prefix = i + 1;
      digits = 0;
      value = 0;
    } else {
      return 0;
    }
  }
  if (dots != 3 || digits == 0) return 0;
  std::memcpy(out, ip.data(), prefix);
  std::memcpy(out + prefix, kSuffix.data(), kSuffix.size());
  return prefix + kSuffix.size();
}

// The address in `ip` as frontends and proxies write it: without brackets (`[2001:db8::1]`,
// RFC 3986's form) or a zone (`fe80::1%eth0`, RFC 4007).
std::string_view bare_address(std::string_view ip) {
  if (ip.size() > 2 && ip.front() == '[') {
    const std::size_t close = ip.find(']');
    if (close != std::string_view::npos) ip = ip.substr(1, close - 1);
  }
  return ip.substr(0, ip.find('%'));
}

// Writes the subnet of `ip` into `out`; returns its length.
std::size_t write_subnet(std::string_view ip, char (&out)[kSubnetBytes]) {
  if (const std::size_t n = write_ipv4_subnet(ip, out); n > 0) return n;
  const std::string_view address = bare_address(ip);
  char text[INET6_ADDRSTRLEN + 1] = {};
  if (address.size() < sizeof(text)) {
    std::copy(address.begin(), address.end(), text);
    unsigned char bytes[16] = {};
    if (inet_pton(AF_INET, text, bytes) == 1) {
      const int n = std::snprintf(out, kSubnetBytes, "%u.%u.%u.0/24", bytes[0], bytes[1], bytes[2]);
      return static_cast<std::size_t>(n);
    }
    // An IPv4-mapped address (::ffff:a.b.c.d, RFC 4291 2.5.5.2, how a dual-stack listener sees
    // an IPv4 client) is an IPv4 voter: its /24, not the one /64 every such address shares.
    constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET6, text, bytes) == 1) {
      if (std::equal(std::begin(kMappedPrefix), std::end(kMappedPrefix), bytes)) {
        const int n =
            std::snprintf(out, kSubnetBytes, "%u.%u.%u.0/24", bytes[12], bytes[13], bytes[14]);
        return static_cast<std::size_t>(n);
      }
      const int n = std::snprintf(out, kSubnetBytes, "%x:%x:%x:%x::/64", (bytes[0] << 8) | bytes[1],
                                  (bytes[2] << 8) | bytes[3], (bytes[4] << 8) | bytes[5],
                                  (bytes[6] << 8) | bytes[7]);
      return static_cast<std::size_t>(n);
    }
  }
  const std::size_t n = std::min(ip.size(), kSubnetBytes);
  std::copy(ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(n), out);
  return n;
}

// The lock of one shard: a futex mutex (Drepper, "Futexes Are Tricky", mutex 3) whose
// uncontended lock and unlock are one inline atomic operation each, where std::mutex calls
// into libc for both. A thread that finds it held sleeps (std::atomic::wait), as with
// std::mutex: its holder may be preempted on a busy machine, and spinning would not help it.
//
// Invariants: state_ is 0 (free), 1 (held, no thread asleep on it) or 2 (held, a thread may be
// asleep on it). Only the holder stores 0; a thread that will sleep first stores 2, so the
// holder's unlock sees 2 and wakes one sleeper, which takes the lock with 2 again (it cannot
// tell whether others sleep).
class ShardLock {
 public:
  void lock() {
    std::uint32_t expected = 0;
    // Acquire pairs with the release exchange in unlock(): the previous holder's writes to
    // the shard happen before ours. Relaxed on failure: lock_contended() retries.
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_contended();
    }
  }
  void unlock() {
    // Release pairs with the acquire of the next lock(). 2: a thread may sleep on it.
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  void lock_contended() {
    // Acquire: as in lock(). The exchange marks the lock as having sleepers before this thread
    // sleeps; it returns 0 only when the lock was free, and then this thread holds it.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      // Relaxed: wait() only returns to the exchange above, which decides.
      state_.wait(2, std::memory_order_relaxed);
    }
  }
  std::atomic<std::uint32_t> state_{0};
};

template <typename Sketch>
struct alignas(kCacheLine) Guarded {
  template <typename... Args>
  explicit Guarded(Args&&... args) : sketch(std::forward<Args>(args)...) {}
  ShardLock lock;
  Sketch sketch;
};

template <typename Sketch>
class Sharded {
 public:
  // REQUIRES: `shards` is a power of two (a shard is picked without a division).
  Sharded(std::size_t shards, std::size_t per_shard) {
    shards_.reserve(shards);
    for (std::size_t i = 0; i < shards; ++i)
      shards_.push_back(std::make_unique<Guarded<Sketch>>(per_shard));
  }
  // Runs `fn(sketch)` under the shard of `hash` (its top bits; sketches use the low bits).
  template <typename Fn>
  auto with(std::uint64_t hash, Fn&& fn) {
    Guarded<Sketch>& shard = shard_of(hash);
    std::lock_guard held(shard.lock);
    return fn(shard.sketch);
  }
  // Starts loading what with(hash, ...) will touch in the sketch (Sketch::prefetch, which
  // needs no lock).
  void prefetch(std::uint64_t hash) const { shard_of(hash).sketch.prefetch(hash); }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& shard : shards_) {
      std::lock_guard held(shard->lock);
      fn(shard->sketch);
    }
  }
  std::size_t bytes() const {
    std::size_t total = sizeof(*this) + shards_.capacity() * sizeof(void*);
    for_each([&total](const Sketch& sketch) {
      total += sizeof(Guarded<Sketch>) - sizeof(Sketch) + sketch.bytes();
    });
    return total;
  }

 private:
  Guarded<Sketch>& shard_of(std::uint64_t hash) const {
    return *shards_[(hash >> 40) & (shards_.size() - 1)];
  }

  std::vector<std::unique_ptr<Guarded<Sketch>>> shards_;
};

struct TopSources {
  std::vector<HeavyHitter> top;
  std::uint64_t total = 0;
};

TopSources top_of(const Sharded<SpaceSaving>& sketch, std::size_t n) {
  TopSources out;
  sketch.for_each([&](const SpaceSaving& shard) {
    auto part = shard.top(n);
    out.top.insert(out.top.end(), part.begin(), part.end());
    out.total += shard.total();
  });
  std::sort(out.top.begin(), out.top.end(), [](const HeavyHitter& a, const HeavyHitter& b) {
    return a.votes != b.votes ? a.votes > b.votes : a.key < b.key;
  });
  if (out.top.size() > n) out.top.resize(n);
  return out;
}

std::size_t per_shard(std::size_t total, std::size_t shards) {
  return std::max<std::size_t>(1, (total + shards - 1) / shards);
}

struct CandidateFraud {
  explicit CandidateFraud(const FraudOptions& options)
      : ips(kCandidateShards, per_shard(options.candidate_sources, kCandidateShards)),
        devices(kCandidateShards, per_shard(options.candidate_sources, kCandidateShards)) {}
  std::size_t bytes() const {
    return sizeof(*this) - sizeof(ips) - sizeof(devices) + ips.bytes() + devices.bytes();
  }

  // Relaxed: statistics, read by reports only.
  void count_vote() { vote_stripes[vote_stripe()].votes.fetch_add(1, std::memory_order_relaxed); }
  // The calling thread's stripe, handed out in turn at its first vote.
  static std::size_t vote_stripe() {
    static std::atomic<std::size_t> next{0};
    // Relaxed: only hands out numbers.
    thread_local const std::size_t stripe =
        next.fetch_add(1, std::memory_order_relaxed) % kVoteStripes;
    return stripe;
  }
  std::uint64_t votes() const {
    std::uint64_t total = 0;
    for (const VoteStripe& stripe : vote_stripes) {
      total += stripe.votes.load(std::memory_order_relaxed);
    }
    return total;
  }

  MinuteCounts rate;
  std::atomic<std::int64_t> first_minute{-1};
  std::atomic<std::int64_t> last_alert_minute{-1};
  // The candidate's votes, one counter per thread stripe and cache line: with one shared
  // counter, every vote for a popular candidate passed its line between the deciding threads.
  struct alignas(kCacheLine) VoteStripe {
    std::atomic<std::uint64_t> votes{0};
  };
  static constexpr std::size_t kVoteStripes = 4;
  std::array<VoteStripe, kVoteStripes> vote_stripes{};
  Sharded<SpaceSaving> ips;
  Sharded<SpaceSaving> devices;
};

struct Alert {
  FraudReason reason;
  std::string key;
  std::uint32_t candidate;
  std::uint64_t votes;
  std::int64_t at_ms;
};

}  // namespace

struct FraudMonitor::CampaignFraud {
  explicit CampaignFraud(const FraudOptions& opts)
      : options(opts),
        top_ips(kTopShards, per_shard(opts.top_sources, kTopShards)),
        top_subnets(kTopShards, per_shard(opts.top_sources, kTopShards)),
        top_devices(kTopShards, per_shard(opts.top_sources, kTopShards)),
        ip_clusters(kClusterShards, per_shard(opts.cluster_slots, kClusterShards)),
        subnet_clusters(kClusterShards, per_shard(opts.cluster_slots, kClusterShards)),
        ip_timing(kClusterShards, per_shard(opts.cluster_slots, kClusterShards)),
        devices(kDeviceShards, per_shard(opts.device_slots, kDeviceShards)) {}
  ~CampaignFraud() {
    // Relaxed: the monitor's destructor runs after every observer has finished.
    for (auto& slot : candidates) delete slot.load(std::memory_order_relaxed);
  }

  // The candidate's state, created on its first vote. REQUIRES: index < kMaxCandidates.
  CandidateFraud& candidate(std::uint32_t index) {
    std::atomic<CandidateFraud*>& slot = candidates[index];
    // Acquire pairs with the release of the CAS below: a state seen is fully constructed.
    CandidateFraud* state = slot.load(std::memory_order_acquire);
    if (state != nullptr) return *state;
    auto fresh = std::make_unique<CandidateFraud>(options);
    // Release publishes the constructed state; on failure, acquire as for the load above.
    if (slot.compare_exchange_strong(state, fresh.get(), std::memory_order_release,
                                     std::memory_order_acquire)) {
      return *fresh.release();
    }
    return *state;
  }
  const CandidateFraud* find_candidate(std::uint32_t index) const {
    // Acquire: as in candidate().
    return candidates[index].load(std::memory_order_acquire);
  }

  void alert(FraudReason reason, std::string_view key, std::uint32_t candidate_index,
             std::uint64_t votes, std::int64_t at_ms) {
    std::lock_guard lock(alerts_mutex);
    for (Alert& seen : alerts) {
      if (seen.reason == reason && seen.key == key.substr(0, kMaxLabelBytes) &&
          seen.candidate == candidate_index) {
        seen.votes = std::max(seen.votes, votes);
        seen.at_ms = at_ms;
        return;
      }
    }
    if (alerts.size() == kMaxAlerts) alerts.pop_front();
    alerts.push_back(
        {reason, std::string(key.substr(0, kMaxLabelBytes)), candidate_index, votes, at_ms});
  }

  std::size_t bytes() const {
    std::size_t total = sizeof(*this) - sizeof(top_ips) - sizeof(top_subnets) -
                        sizeof(top_devices) - sizeof(ip_clusters) - sizeof(subnet_clusters) -
                        sizeof(ip_timing) - sizeof(devices);
    total += top_ips.bytes() + top_subnets.bytes() + top_devices.bytes() + ip_clusters.bytes() +
             subnet_clusters.bytes() + ip_timing.bytes() + devices.bytes();
    for (std::uint32_t i = 0; i < kMaxCandidates; ++i) {
      if (const CandidateFraud* state = find_candidate(i)) total += state->bytes();
    }
    std::lock_guard lock(alerts_mutex);
    total += alerts.size() * (sizeof(Alert) + kMaxLabelBytes);
    return total;
  }

  const FraudOptions options;
  // The version in force (thresholds, candidates); the map entries that own it live as long
  // as the monitor. Release in set_campaign(), acquire in observe() and prefetch(): a vote
  // sees the whole version.
  std::atomic<const Campaign*> version{nullptr};
  Sharded<SpaceSaving> top_ips;
  Sharded<SpaceSaving> top_subnets;
  Sharded<SpaceSaving> top_devices;
  Sharded<WindowCounts> ip_clusters;      // (IP, user agent, candidate)
  Sharded<WindowCounts> subnet_clusters;  // (subnet, user agent, candidate)
  Sharded<WindowCounts> ip_timing;        // (IP, candidate): counts and gap regularity
  Sharded<DeviceVoters> devices;
  std::array<std::atomic<CandidateFraud*>, kMaxCandidates> candidates{};
  // Relaxed counters: statistics read by reports.
  std::array<std::atomic<std::uint64_t>, kFraudReasonCount> flag_counts{};
  std::atomic<std::uint64_t> rejected{0};
  mutable std::mutex alerts_mutex;
  std::deque<Alert> alerts;  // newest last, at most kMaxAlerts
};

struct FraudMonitor::Map {
  struct Entry {
    std::string id;
    CampaignFraud* state;
    std::shared_ptr<const Campaign> campaign;
  };
  std::vector<Entry> entries;
  const Entry* find(std::string_view id) const {
    for (const Entry& entry : entries) {
      if (entry.id == id) return &entry;
    }
    return nullptr;
  }
};

std::string subnet_of(std::string_view ip) {
  char out[kSubnetBytes];
  return std::string(out, write_subnet(ip, out));
}

std::size_t FraudMonitor::bytes_bound(const FraudOptions& options) {
  // Every structure is sized at construction and never grows: a state with every candidate
  // allocated and the alert list full is the most one campaign holds.
  CampaignFraud state(options);
  for (std::uint32_t i = 0; i < kMaxCandidates; ++i) state.candidate(i);
  return state.bytes() + kMaxAlerts * (sizeof(Alert) + kMaxLabelBytes);
}

FraudMonitor::FraudMonitor(FraudOptions options)
    : options_(options), maps_(std::make_unique<const Map>()) {}

FraudMonitor::~FraudMonitor() = default;

FraudMonitor::CampaignFraud& FraudMonitor::set_campaign(const Campaign& campaign) {
  std::lock_guard lock(install_mutex_);
  auto next = std::make_unique<Map>(*maps_.current());
  auto version = std::make_shared<const Campaign>(campaign);
  CampaignFraud* state = nullptr;
  for (Map::Entry& entry : next->entries) {
    if (entry.id == campaign.id) {
      entry.campaign = version;
      state = entry.state;
    }
  }
  if (state == nullptr) {
    states_.push_back(std::make_unique<CampaignFraud>(options_));
    state = states_.back().get();
    next->entries.push_back({campaign.id, state, version});
  }
  state->version.store(version.get(), std::memory_order_release);
  maps_.publish(std::move(next));
  return *state;
}

FraudMonitor::CampaignFraud* FraudMonitor::find(std::string_view campaign_id) const {
  const Map::Entry* entry = maps_.current()->find(campaign_id);
  return entry == nullptr ? nullptr : entry->state;
}

FraudKeys FraudMonitor::keys_of(const Ballot& ballot, std::uint32_t candidate_index) {
  FraudKeys keys;
  keys.valid = true;
  keys.subnet_size = write_subnet(ballot.ip, keys.subnet_text);
  keys.ip_hash = hash_of(ballot.ip, kIpSeed);
  keys.subnet_hash = hash_of(keys.subnet(), kSubnetSeed);
  keys.device_hash = hash_of(ballot.device, kDeviceSeed);
  const std::uint64_t ua_hash = hash_of(ballot.ua, kUaSeed);
  const std::uint64_t candidate_hash = mix(std::uint64_t{candidate_index} + 1);
  keys.ip_key = combine(combine(keys.ip_hash, ua_hash), candidate_hash);
  keys.subnet_key = combine(combine(keys.subnet_hash, ua_hash), candidate_hash);
  keys.timing_key = combine(keys.ip_hash, candidate_hash);
  return keys;
}

void FraudMonitor::prefetch_rows(const CampaignFraud& state, const Ballot& ballot,
                                 const FraudKeys& keys) {
  if (!ballot.ip.empty()) {
    state.ip_clusters.prefetch(keys.ip_key);
    state.subnet_clusters.prefetch(keys.subnet_key);
    state.ip_timing.prefetch(keys.timing_key);
  }
  if (!ballot.device.empty()) state.devices.prefetch(keys.device_hash);
}

FraudKeys FraudMonitor::prefetch(const CampaignFraud& campaign, const Ballot& ballot,
                                 std::uint32_t candidate_index) const {
  if (candidate_index >= campaign.version.load(std::memory_order_acquire)->candidates.size()) {
    return {};
  }
  const FraudKeys keys = keys_of(ballot, candidate_index);
  prefetch_rows(campaign, ballot, keys);
  return keys;
}

namespace {

using CampaignFraud = FraudMonitor::CampaignFraud;

// A look-alike count that just passed its limit: the vote that crosses it raises the alert.
bool crossed(double estimate, std::uint32_t limit) {
  return estimate > limit && estimate - 1 <= limit;
}

// Heavy hitters: address and device concentration is evidence for /fraud, never a flag by
// itself.
[[gnu::always_inline]] inline void count_sources(CampaignFraud& state, const Ballot& ballot,
                                                 const FraudKeys& keys) {
  if (!ballot.ip.empty()) {
    state.top_ips.with(keys.ip_hash,
                       [&](SpaceSaving& s) { return s.add(keys.ip_hash, ballot.ip); });
    state.top_subnets.with(keys.subnet_hash,
                           [&](SpaceSaving& s) { return s.add(keys.subnet_hash, keys.subnet()); });
  }
  if (!ballot.device.empty()) {
    state.top_devices.with(keys.device_hash,
                           [&](SpaceSaving& s) { return s.add(keys.device_hash, ballot.device); });
  }
}

// Tells `listener`, if any, that a cluster of `campaign` crossed its threshold at this vote.
void tell_crossing(CrossingListener* listener, const Campaign& campaign, FraudReason reason,
                   ClusterScope scope, std::string_view key, std::string_view ua, bool any_ua,
                   std::uint32_t candidate_index, std::int64_t server_ms, std::int64_t period,
                   const FraudThresholds& limits) {
  if (listener == nullptr) return;
  ClusterCrossing crossing;
  crossing.campaign = campaign.id;
  crossing.reason = reason;
  crossing.scope = scope;
  crossing.key = std::string(key);
  crossing.ua = any_ua ? std::string() : std::string(ua);
  crossing.any_ua = any_ua;
  crossing.any_candidate = scope == ClusterScope::device;
  crossing.candidate = candidate_index;
  crossing.period = period;
  crossing.at_ms = server_ms;
  crossing.window_ms = std::int64_t{limits.window_s} * 1000;
  listener->crossed(std::move(crossing));
}

// ip_flood: look-alike votes (same address, same user agent, same candidate) in the window, or
// votes for one candidate from one address at machine-regular intervals.
[[gnu::always_inline]] inline FraudFlags look_for_ip_flood(
    CampaignFraud& state, const Campaign& campaign, const Ballot& ballot, const FraudKeys& keys,
    std::uint32_t candidate_index, std::int64_t server_ms, std::int64_t period,
    const FraudThresholds& limits, CrossingListener* listener) {
  if (ballot.ip.empty()) return 0;
  const std::int64_t window_ms = std::int64_t{limits.window_s} * 1000;
  const WindowCounts::Hit by_ip = state.ip_clusters.with(
      keys.ip_key, [&](WindowCounts& w) { return w.add(keys.ip_key, server_ms, window_ms); });
  const WindowCounts::Hit by_subnet = state.subnet_clusters.with(
      keys.subnet_key,
      [&](WindowCounts& w) { return w.add(keys.subnet_key, server_ms, window_ms); });
  const WindowCounts::Hit timing = state.ip_timing.with(keys.timing_key, [&](WindowCounts& w) {
    return w.add(keys.timing_key, server_ms, window_ms);
  });
  const bool regular = timing.gaps >= kRegularMinGaps && timing.gap_cv < kRegularMaxCv &&
                       timing.estimate > limits.regular_votes;
  if (crossed(by_ip.estimate, limits.ip_lookalike_votes)) {
    state.alert(FraudReason::ip_flood, ballot.ip, candidate_index,
                static_cast<std::uint64_t>(by_ip.estimate), server_ms);
    tell_crossing(listener, campaign, FraudReason::ip_flood, ClusterScope::ip, ballot.ip, ballot.ua,
                  false, candidate_index, server_ms, period, limits);
  }
  if (crossed(by_subnet.estimate, limits.subnet_lookalike_votes)) {
    state.alert(FraudReason::ip_flood, keys.subnet(), candidate_index,
                static_cast<std::uint64_t>(by_subnet.estimate), server_ms);
    tell_crossing(listener, campaign, FraudReason::ip_flood, ClusterScope::subnet, keys.subnet(),
                  ballot.ua, false, candidate_index, server_ms, period, limits);
  }
  if (regular && crossed(timing.estimate, limits.regular_votes)) {
    state.alert(FraudReason::ip_flood, ballot.ip, candidate_index,
                static_cast<std::uint64_t>(timing.estimate), server_ms);
    tell_crossing(listener, campaign, FraudReason::ip_flood, ClusterScope::ip, ballot.ip, {}, true,
                  candidate_index, server_ms, period, limits);
  }
  const bool flood = by_ip.estimate > limits.ip_lookalike_votes ||
                     by_subnet.estimate > limits.subnet_lookalike_votes || regular;
  return flood ? flag_of(FraudReason::ip_flood) : 0;
}

// device_multi_account: distinct voters of the device this period.
[[gnu::always_inline]] inline FraudFlags look_for_shared_device(
    CampaignFraud& state, const Campaign& campaign, const Ballot& ballot, const FraudKeys& keys,
    std::uint32_t candidate_index, std::int64_t server_ms, std::int64_t period,
    const FraudThresholds& limits, CrossingListener* listener) {
  if (ballot.device.empty()) return 0;
  const std::uint64_t voter_hash = hash_of(ballot.voter, kVoterSeed);
  const std::uint32_t voters = state.devices.with(keys.device_hash, [&](DeviceVoters& d) {
    return d.add(keys.device_hash, voter_hash, period);
  });
  if (voters <= limits.device_max_voters) return 0;
  if (voters == limits.device_max_voters + 1) {
    state.alert(FraudReason::device_multi_account, ballot.device, candidate_index, voters,
                server_ms);
    tell_crossing(listener, campaign, FraudReason::device_multi_account, ClusterScope::device,
                  ballot.device, {}, true, candidate_index, server_ms, period, limits);
  }
  return flag_of(FraudReason::device_multi_account);
}

// Per candidate: where its votes come from, and burst: its rate this minute against its own
// baseline.
[[gnu::always_inline]] inline FraudFlags look_for_burst(
    CampaignFraud& state, const Campaign& campaign, const Ballot& ballot, const FraudKeys& keys,
    std::uint32_t candidate_index, std::int64_t server_ms, const FraudThresholds& limits) {
  CandidateFraud& candidate = state.candidate(candidate_index);
  candidate.count_vote();
  if (!ballot.ip.empty()) {
    candidate.ips.with(keys.ip_hash,
                       [&](SpaceSaving& s) { return s.add(keys.ip_hash, ballot.ip); });
  }
  if (!ballot.device.empty()) {
    candidate.devices.with(keys.device_hash,
                           [&](SpaceSaving& s) { return s.add(keys.device_hash, ballot.device); });
  }
  const std::int64_t minute = server_ms / 60'000;
  // Relaxed: a lone word, set once; a thread that loses the race sees the winner's value.
  // Loaded before the CAS: a CAS takes the line exclusive even when it fails, and every vote
  // for a popular candidate would pass it between the threads.
  std::int64_t first = candidate.first_minute.load(std::memory_order_relaxed);
  if (first < 0 && candidate.first_minute.compare_exchange_strong(
                       first, minute, std::memory_order_relaxed, std::memory_order_relaxed)) {
    first = minute;
  }
  const std::uint32_t this_minute = candidate.rate.add(server_ms);
  if (this_minute <= limits.burst_min_per_minute) return 0;
  const std::int64_t minutes = std::min<std::int64_t>(limits.baseline_minutes, minute - first);
  if (minutes < kBurstWarmupMinutes) return 0;
  std::uint64_t sum = 0;
  for (std::int64_t m = minute - minutes; m < minute; ++m) sum += candidate.rate.count(m);
  const double baseline = static_cast<double>(sum) / static_cast<double>(minutes);
  if (this_minute <= limits.burst_factor * baseline) return 0;
  // Relaxed: one alert per candidate and minute; the exchange alone decides who.
  if (candidate.last_alert_minute.exchange(minute, std::memory_order_relaxed) != minute) {
    state.alert(FraudReason::burst, campaign.candidates[candidate_index].id, candidate_index,
                this_minute, server_ms);
  }
  return flag_of(FraudReason::burst);
}

}  // namespace

Observation FraudMonitor::observe(CampaignFraud& state, const Ballot& ballot,
                                  std::uint32_t candidate_index, std::int64_t server_ms,
                                  std::int64_t period, const FraudKeys* worked_out) {
  // Acquire pairs with the release in set_crossing_listener().
  return judge(state, ballot, candidate_index, server_ms, period, worked_out,
               listener_.load(std::memory_order_acquire));
}

Observation FraudMonitor::judge(CampaignFraud& state, const Ballot& ballot,
                                std::uint32_t candidate_index, std::int64_t server_ms,
                                std::int64_t period, const FraudKeys* worked_out,
                                CrossingListener* listener) {
  const Campaign& campaign = *state.version.load(std::memory_order_acquire);
  if (candidate_index >= campaign.candidates.size()) return {};
  const FraudThresholds& limits = campaign.fraud;
  std::optional<FraudKeys> own;  // built only when prefetch() did not work them out
  if (worked_out == nullptr || !worked_out->valid) own.emplace(keys_of(ballot, candidate_index));
  const FraudKeys& keys = own ? *own : *worked_out;
  // The look-alike and device tables are megabytes: their rows for this vote load while the
  // user agent is read and the heavy hitters are counted (and earlier, when the caller
  // prefetched this ballot).
  prefetch_rows(state, ballot, keys);

  FraudFlags flags = 0;
  if (ballot.device.empty()) flags |= flag_of(FraudReason::no_device);
  if (is_bot_user_agent(ballot.ua)) flags |= flag_of(FraudReason::bot_ua);
  count_sources(state, ballot, keys);
  flags |= look_for_ip_flood(state, campaign, ballot, keys, candidate_index, server_ms, period,
                             limits, listener);
  flags |= look_for_shared_device(state, campaign, ballot, keys, candidate_index, server_ms, period,
                                  limits, listener);
  flags |= look_for_burst(state, campaign, ballot, keys, candidate_index, server_ms, limits);

  Observation observation;
  observation.flags = flags;
  observation.reject = (flags & limits.reject) != 0;
  if (observation.reject) {
    // Relaxed: statistics.
    state.rejected.fetch_add(1, std::memory_order_relaxed);
  } else {
    for (int i = 0; i < kFraudReasonCount; ++i) {
      if ((flags & flag_of(static_cast<FraudReason>(i))) != 0) {
        state.flag_counts[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  return observation;
}

void FraudMonitor::replay(const Ballot& ballot, std::int64_t server_ms, std::int64_t period,
                          FraudFlags flags) {
  const Map::Entry* entry = maps_.current()->find(ballot.campaign);
  if (entry == nullptr) return;
  const std::optional<std::uint32_t> index = entry->campaign->candidate_index(ballot.candidate);
  if (!index) return;
  // The sketches learn the vote as observe() would; the counts take the stored flags (the
  // event is the record of what was decided), not the ones recomputed now.
  CampaignFraud& state = *entry->state;
  const Observation recomputed = judge(state, ballot, *index, server_ms, period, nullptr, nullptr);
  for (int i = 0; i < kFraudReasonCount; ++i) {
    const FraudFlags bit = flag_of(static_cast<FraudReason>(i));
    const auto at = static_cast<std::size_t>(i);
    // Relaxed: statistics; recovery runs before serving.
    if (!recomputed.reject && (recomputed.flags & bit) != 0) {
      state.flag_counts[at].fetch_sub(1, std::memory_order_relaxed);
    }
    if ((flags & bit) != 0) state.flag_counts[at].fetch_add(1, std::memory_order_relaxed);
  }
  if (recomputed.reject) state.rejected.fetch_sub(1, std::memory_order_relaxed);
}

void FraudMonitor::count_late_flags(std::string_view campaign_id, FraudReason reason,
                                    std::uint64_t votes) {
  if (static_cast<int>(reason) >= kFraudReasonCount) return;  // no count of its own here
  if (CampaignFraud* state = find(campaign_id)) {
    // Relaxed: statistics.
    state->flag_counts[static_cast<std::size_t>(reason)].fetch_add(votes,
                                                                   std::memory_order_relaxed);
  }
}

std::string_view to_string(ClusterScope scope) {
  switch (scope) {
    case ClusterScope::none: return "";
    case ClusterScope::ip: return "ip";
    case ClusterScope::subnet: return "subnet";
    case ClusterScope::device: return "device";
  }
  return "";
}

std::optional<ClusterScope> cluster_scope_from_string(std::string_view text) {
  for (ClusterScope scope : {ClusterScope::ip, ClusterScope::subnet, ClusterScope::device}) {
    if (to_string(scope) == text) return scope;
  }
  return std::nullopt;
}

bool ClusterCrossing::covers(const Ballot& ballot, std::uint32_t candidate_index,
                             std::int64_t server_ms, std::int64_t vote_period) const {
  if (server_ms > at_ms || server_ms < at_ms - window_ms) return false;
  if (!any_candidate && candidate_index != candidate) return false;
  if (!any_ua && ballot.ua != ua) return false;
  switch (scope) {
    case ClusterScope::ip: return ballot.ip == key;
    case ClusterScope::subnet: return !ballot.ip.empty() && subnet_of(ballot.ip) == key;
    case ClusterScope::device: return vote_period == period && ballot.device == key;
    case ClusterScope::none: return false;
  }
  return false;
}

std::array<std::uint64_t, kFraudReasonCount> FraudMonitor::flag_counts(
    std::string_view campaign_id) const {
  std::array<std::uint64_t, kFraudReasonCount> counts{};
  if (const CampaignFraud* state = find(campaign_id)) {
    for (std::size_t i = 0; i < counts.size(); ++i) {
      // Relaxed: statistics.
      counts[i] = state->flag_counts[i].load(std::memory_order_relaxed);
    }
  }
  return counts;
}

std::size_t FraudMonitor::bytes(std::string_view campaign_id) const {
  const CampaignFraud* state = find(campaign_id);
  return state == nullptr ? 0 : state->bytes();
}

namespace {

void append_sources(JsonWriter& json, std::string_view name,
                    const std::vector<SourceVotes>& sources) {
  json.key(name).begin_array();
  for (const SourceVotes& source : sources) {
    json.begin_object();
    json.key("key").string(source.key);
    json.key("votes").integer(source.votes);
    json.end_object();
  }
  json.end_array();
}

std::vector<SourceVotes> source_votes(const TopSources& sources) {
  std::vector<SourceVotes> out;
  out.reserve(sources.top.size());
  for (const HeavyHitter& hitter : sources.top) out.push_back({hitter.key, hitter.votes});
  return out;
}

// Share of `votes` from the top sources (their guaranteed counts, so never overstated).
double share_of(const TopSources& sources, std::uint64_t votes) {
  if (votes == 0) return 0;
  std::uint64_t sum = 0;
  for (const HeavyHitter& hitter : sources.top) sum += hitter.votes - hitter.error;
  return std::min(1.0, static_cast<double>(sum) / static_cast<double>(votes));
}

std::string format_share(double share) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f", share);
  return text;
}

}  // namespace

std::optional<FraudSummary> FraudMonitor::summary(std::string_view campaign_id,
                                                  std::size_t top_n) const {
  const Map::Entry* entry = maps_.current()->find(campaign_id);
  if (entry == nullptr) return std::nullopt;
  const Campaign& campaign = *entry->campaign;
  const CampaignFraud& state = *entry->state;
  FraudSummary summary;
  for (std::size_t i = 0; i < summary.flags.size(); ++i) {
    // Relaxed: statistics.
    summary.flags[i] = state.flag_counts[i].load(std::memory_order_relaxed);
  }
  summary.rejected = state.rejected.load(std::memory_order_relaxed);
  summary.top_ips = source_votes(top_of(state.top_ips, top_n));
  summary.top_subnets = source_votes(top_of(state.top_subnets, top_n));
  summary.top_devices = source_votes(top_of(state.top_devices, top_n));
  std::vector<std::pair<std::uint32_t, CandidateConcentration>> rows;
  for (std::uint32_t i = 0; i < campaign.candidates.size(); ++i) {
    const CandidateFraud* candidate = state.find_candidate(i);
    if (candidate == nullptr) continue;
    const std::uint64_t votes = candidate->votes();
    const TopSources ips = top_of(candidate->ips, kConcentrationTop);
    const TopSources devices = top_of(candidate->devices, kConcentrationTop);
    rows.push_back(
        {i,
         {campaign.candidates[i].id, votes, share_of(ips, votes), share_of(devices, votes),
          ips.top.empty() ? std::string() : ips.top.front().key}});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.votes != b.second.votes ? a.second.votes > b.second.votes : a.first < b.first;
  });
  for (auto& row : rows) summary.concentration.push_back(std::move(row.second));
  return summary;
}

std::optional<std::string> FraudMonitor::report_json(std::string_view campaign_id,
                                                     std::size_t top_n) const {
  const std::optional<FraudSummary> summary = this->summary(campaign_id, top_n);
  if (!summary) return std::nullopt;
  const Map::Entry* entry = maps_.current()->find(campaign_id);
  if (entry == nullptr) return std::nullopt;  // replaced meanwhile
  const Campaign& campaign = *entry->campaign;
  const CampaignFraud& state = *entry->state;

  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string(campaign.id);
  json.key("flags").begin_object();
  for (int i = 0; i < kFraudReasonCount; ++i) {
    json.key(to_string(static_cast<FraudReason>(i)));
    json.integer(summary->flags[static_cast<std::size_t>(i)]);
  }
  json.end_object();
  json.key("rejected").integer(summary->rejected);
  append_sources(json, "top_ips", summary->top_ips);
  append_sources(json, "top_subnets", summary->top_subnets);
  append_sources(json, "top_devices", summary->top_devices);

  json.key("alerts").begin_array();
  {
    std::lock_guard lock(state.alerts_mutex);
    for (auto it = state.alerts.rbegin(); it != state.alerts.rend(); ++it) {
      json.begin_object();
      json.key("reason").string(to_string(it->reason));
      json.key("key").string(it->key);
      json.key("candidate")
          .string(it->candidate < campaign.candidates.size()
                      ? std::string_view(campaign.candidates[it->candidate].id)
                      : std::string_view());
      json.key("votes").integer(it->votes);
      json.key("at_ms").integer(it->at_ms);
      json.end_object();
    }
  }
  json.end_array();
  json.key("concentration").begin_array();
  for (const CandidateConcentration& row : summary->concentration) {
    json.begin_object();
    json.key("candidate").string(row.candidate);
    json.key("votes").integer(row.votes);
    json.key("top_ips_share").raw(format_share(row.top_ips_share));
    json.key("top_devices_share").raw(format_share(row.top_devices_share));
    json.key("top_ip").string(row.top_ip);
    json.end_object();
  }
  json.end_array();
  json.end_object();
  return out;
}

}  // namespace tally::engine
