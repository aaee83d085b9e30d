// The tally history and its sampler. See history.h.
#include "history.h"

#include <utility>

#include "tally/base/json_writer.h"
#include "conditional.h"

namespace tally::ingest::internal {

static_assert(sizeof(HistorySample) == 24, "the memory bound in history.h counts 24 bytes");

void TallyHistory::record(std::string_view campaign, const HistorySample& sample) {
  std::lock_guard lock(mutex_);
  auto it = rings_.find(campaign);
  if (it == rings_.end()) {
    it = rings_.emplace(std::string(campaign), Ring{}).first;
    it->second.slots.resize(kHistoryCapacity);
  }
  Ring& ring = it->second;
  ring.slots[ring.next] = sample;
  ring.next = (ring.next + 1) % kHistoryCapacity;
  if (ring.count < kHistoryCapacity) ++ring.count;
}

void TallyHistory::sample(const engine::Engine& engine) {
  const std::int64_t now_ms = engine.clock().now_ms();
  for (const auto& campaign : engine.campaigns()) {
    const auto tally = engine.tally(campaign->id);
    if (!tally) continue;  // replaced meanwhile
    record(campaign->id, {.t_ms = now_ms, .total = tally->total, .valid = tally->valid});
  }
}

std::vector<HistorySample> TallyHistory::samples(std::string_view campaign) const {
  std::vector<HistorySample> out;
  std::lock_guard lock(mutex_);
  const auto it = rings_.find(campaign);
  if (it == rings_.end()) return out;
  const Ring& ring = it->second;
  out.reserve(ring.count);
  // The oldest sample is `count` slots behind the next one.
  const std::size_t first = (ring.next + kHistoryCapacity - ring.count) % kHistoryCapacity;
  for (std::size_t i = 0; i < ring.count; ++i) {
    out.push_back(ring.slots[(first + i) % kHistoryCapacity]);
  }
  return out;
}

std::string TallyHistory::json(std::string_view campaign) const {
  const std::vector<HistorySample> held = samples(campaign);
  std::string out;
  out.reserve(64 + held.size() * 48);
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string(campaign);
  json.key("interval_ms").integer(kHistoryInterval.count());
  json.key("samples").begin_array();
  for (const HistorySample& sample : held) {
    json.begin_object();
    json.key("t_ms").integer(sample.t_ms);
    json.key("total").integer(sample.total);
    json.key("valid").integer(sample.valid);
    json.end_object();
  }
  json.end_array().end_object();
  return out;
}

void HistorySampler::start() {
  next_ = std::chrono::steady_clock::now();
  tick();
}

void HistorySampler::tick() {
  history_.sample(engine_);
  // A fixed cadence: the next sample is due one interval after this one was, unless the thread
  // fell behind by more than that (then one interval from now).
  const auto now = std::chrono::steady_clock::now();
  next_ += kHistoryInterval;
  if (next_ <= now) next_ = now + kHistoryInterval;
  timer_.expires_at(next_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

Answer history_answer(const TallyHistory& history, const engine::Engine& engine,
                      std::string_view campaign_id, const Request& request) {
  if (!engine.campaign(campaign_id)) return error_answer(engine::VoteStatus::unknown_campaign, {});
  Answer answer = json_answer(history.json(campaign_id));
  answer.etag = body_etag(answer.body);
  revalidate(answer, request.if_none_match);
  return answer;
}

}  // namespace tally::ingest::internal
