// BackgroundWork: where a library sends work that must not hold up its caller (the engine:
// making a large table's next array, which maps tens of MiB of pages). Libraries start no
// thread of their own; whoever owns the process's threads gives them one. BackgroundThread is
// the one tallyd's main owns; tests run the work when they choose.
//
// Thread safety: submit() is safe for concurrent use.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace tally {

class BackgroundWork {
 public:
  // Runs `work` later, on another thread. Every submitted job runs exactly once, at the latest
  // before the BackgroundWork is destroyed.
  virtual void submit(std::function<void()> work) = 0;

 protected:
  ~BackgroundWork() = default;
};

// One thread that runs submitted work in order. Started by the constructor; the destructor
// runs what is still queued, then joins it.
class BackgroundThread final : public BackgroundWork {
 public:
  // `name`: the thread's name (thread_name.h), for top -H and gdb.
  explicit BackgroundThread(const std::string& name);
  ~BackgroundThread();
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  void submit(std::function<void()> work) override;

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;                       // last: started once the members above exist
};

}  // namespace tally
