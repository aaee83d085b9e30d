// Status and Result<T>: how tally reports real failures (bad config, I/O, corruption).
//
// A vote's outcome is not an error and never travels in a Status: see vote_status.h.
// A failed Status carries one message that names the field or operation and the rule broken,
// e.g. "rules.max_candidates: must be 1..1000, got 0". Values are safe to copy across threads.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tally {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

// Either a value or a failed Status. REQUIRES: the Status passed in is not ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const { return std::get<Status>(state_); }
  const std::string& message() const { return status().message(); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace tally
