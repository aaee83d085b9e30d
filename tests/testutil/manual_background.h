// Background work that runs when a test says so: what tallyd's background thread would do, at
// the moment the test chooses (run_all()), so that a test sees the state before it and after
// it without waiting or sleeping. Whatever is still queued runs when it goes.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

#include "tally/base/background.h"

namespace tally::testing {

class ManualBackground final : public BackgroundWork {
 public:
  ManualBackground() = default;
  ~ManualBackground() { run_all(); }
  ManualBackground(const ManualBackground&) = delete;
  ManualBackground& operator=(const ManualBackground&) = delete;

  void submit(std::function<void()> work) override {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
  }

  // Runs every job submitted so far on the calling thread; returns how many ran.
  std::size_t run_all() {
    std::deque<std::function<void()>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(queue_);
    }
    for (auto& job : jobs) job();
    return jobs.size();
  }

  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace tally::testing
