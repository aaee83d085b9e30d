// CompletionInbox (ingest/src/completion_inbox.h): the storage writer's hand-back of finished
// requests to an io thread. Header-only and free of Beast, so the TSan build runs it too.
//
// Property under test: a push that finds the inbox empty asks for a drain, and the drains so
// asked for take every node exactly once, oldest first per producer; no node is left behind
// once the producers stop and the asked-for drains have run.
#include "completion_inbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tally::ingest::internal {
namespace {

struct Node : InboxNode {
  int producer = 0;
  int number = 0;
};

std::vector<Node*> take(CompletionInbox& inbox) {
  std::vector<Node*> out;
  for (InboxNode* n = inbox.take_all(); n != nullptr; n = n->next_in_inbox) {
    out.push_back(static_cast<Node*>(n));
  }
  return out;
}

TEST(CompletionInbox, OnlyThePushOntoAnEmptyInboxAsksForADrain) {
  CompletionInbox inbox;
  Node a, b, c;
  EXPECT_TRUE(inbox.push(&a));
  EXPECT_FALSE(inbox.push(&b));
  EXPECT_FALSE(inbox.push(&c));
  EXPECT_EQ(take(inbox), (std::vector<Node*>{&a, &b, &c}));  // oldest first
  EXPECT_TRUE(take(inbox).empty());
  EXPECT_TRUE(inbox.push(&b));  // empty again: the next push asks again
  EXPECT_EQ(take(inbox), (std::vector<Node*>{&b}));
}

// Producers push while one consumer drains whenever a push asked it to, as a posted handler
// would run on the io thread.
TEST(CompletionInbox, DrainsAskedForTakeEveryNodeOnceInOrderPerProducer) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  CompletionInbox inbox;
  std::vector<std::vector<Node>> nodes(kProducers, std::vector<Node>(kPerProducer));
  std::mutex mutex;
  std::condition_variable asked;
  int drains_owed = 0;  // guarded by mutex
  bool producers_done = false;

  std::vector<int> next_expected(kProducers, 0);
  int taken = 0;
  bool in_order = true;
  std::thread consumer([&] {
    for (;;) {
      {
        std::unique_lock lock(mutex);
        asked.wait(lock, [&] { return drains_owed > 0 || producers_done; });
        if (drains_owed == 0) return;  // done, and every drain asked for has run
        --drains_owed;
      }
      for (Node* node : take(inbox)) {
        in_order = in_order && node->number == next_expected[node->producer];
        next_expected[node->producer] = node->number + 1;
        ++taken;
      }
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        Node& node = nodes[p][i];
        node.producer = p;
        node.number = i;
        if (inbox.push(&node)) {
          std::lock_guard lock(mutex);
          ++drains_owed;
          asked.notify_one();
        }
      }
    });
  }
  for (auto& producer : producers) producer.join();
  {
    std::lock_guard lock(mutex);
    producers_done = true;
    asked.notify_one();
  }
  consumer.join();

  EXPECT_EQ(taken, kProducers * kPerProducer);  // none lost, none twice (counts and order)
  EXPECT_TRUE(in_order);
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next_expected[p], kPerProducer);
  EXPECT_TRUE(take(inbox).empty());
}

}  // namespace
}  // namespace tally::ingest::internal
