// The background thread. See background.h.
#include "tally/base/background.h"

#include <utility>

#include "tally/base/thread_name.h"

namespace tally {

BackgroundThread::BackgroundThread(const std::string& name) : thread_([this] { run(); }) {
  name_thread(thread_, name);
}

BackgroundThread::~BackgroundThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BackgroundThread::submit(std::function<void()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
  }
  wake_.notify_one();
}

void BackgroundThread::run() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace tally
