// Published<T>: a value that readers load without a lock while a writer replaces it whole
// (read-copy-update). A reader gets a pointer it may keep using: every version stays alive
// until the Published dies. That is the reclamation, and it is affordable because versions are
// few (one per campaign install, per tokens reload).
//
// Thread safety: current() is safe for concurrent use and lock-free; publish() needs the
// caller's own lock when several threads may publish (one writer at a time).
#pragma once

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace tally {

template <typename T>
class Published {
 public:
  explicit Published(std::unique_ptr<const T> first) { publish(std::move(first)); }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Acquire pairs with publish()'s release: the reader sees the version fully built.
  const T* current() const { return current_.load(std::memory_order_acquire); }

  // Makes `next` the current version. REQUIRES: one writer at a time.
  void publish(std::unique_ptr<const T> next) {
    const T* version = next.get();
    versions_.push_back(std::move(next));
    current_.store(version, std::memory_order_release);
  }

 private:
  std::atomic<const T*> current_{nullptr};
  std::vector<std::unique_ptr<const T>> versions_;  // every version so far; writers only
};

}  // namespace tally
