// put_campaign(). See event_log.h.
#include "tally/engine/event_log.h"

namespace tally::engine {

CampaignPut put_campaign(const Engine& engine, EventLog& log, const Campaign& campaign,
                         CommitWaiter& waiter) {
  CampaignPut put;
  put.checked = engine.check_campaign(campaign);
  if (put.checked == PutOutcome::created || put.checked == PutOutcome::updated) {
    put.submitted = log.submit_campaign(campaign, waiter);
  }
  return put;
}

}  // namespace tally::engine
