// CompletionInbox: how the storage writer hands finished requests back to an io thread with
// one wake-up per commit batch instead of one per request.
//
// The writer push()es each request whose votes are all committed; only the push that finds
// the inbox empty tells its caller to schedule a drain on the io thread. The drain takes
// everything pushed so far with one exchange, so a batch of 64 answers costs the io thread
// one wake-up, not 64. Pushes after that exchange find the inbox empty again and schedule
// the next drain: nothing is left behind.
//
// A Treiber stack that is only pushed onto and emptied whole: no pop of single nodes, hence
// no ABA problem. Many producers, one consumer (the io thread that owns the inbox).
#pragma once

#include <atomic>

namespace tally::ingest::internal {

struct InboxNode {
  InboxNode* next_in_inbox = nullptr;
};

class CompletionInbox {
 public:
  // Any thread. True when the inbox was empty: the caller must schedule a drain.
  bool push(InboxNode* node) {
    InboxNode* head = head_.load(std::memory_order_relaxed);
    do {
      node->next_in_inbox = head;
      // Release: the consumer that takes this node (acquire in take_all) sees everything
      // the producer wrote to it before the push.
    } while (!head_.compare_exchange_weak(head, node, std::memory_order_release,
                                          std::memory_order_relaxed));
    return head == nullptr;
  }

  // The owning io thread. Empties the inbox; returns its nodes oldest first.
  InboxNode* take_all() {
    // Acquire pairs with push()'s release.
    InboxNode* newest = head_.exchange(nullptr, std::memory_order_acquire);
    InboxNode* oldest = nullptr;
    while (newest != nullptr) {  // reverse: answers go out in commit order
      InboxNode* next = newest->next_in_inbox;
      newest->next_in_inbox = oldest;
      oldest = newest;
      newest = next;
    }
    return oldest;
  }

 private:
  std::atomic<InboxNode*> head_{nullptr};
};

}  // namespace tally::ingest::internal
