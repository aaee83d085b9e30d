// sd_notify(3) calls. See service_notify.h.
#include "service_notify.h"

#include <chrono>
#include <systemd/sd-daemon.h>

namespace tally::tallyd {

namespace {

void notify(const std::string& message) {
  // 0: no service manager listens; < 0: it could not be told. Neither stops tallyd.
  sd_notify(0, message.c_str());
}

}  // namespace

void notify_status(const std::string& status) { notify("STATUS=" + status); }

void notify_ready(const std::string& status) { notify("READY=1\nSTATUS=" + status); }

void notify_stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + status); }

StartExtender::StartExtender() {
  thread_ = std::thread([this] {
    constexpr auto kEvery = std::chrono::seconds(10);
    constexpr long long kExtendUs = 30'000'000;
    std::unique_lock lock(mutex_);
    while (!done_.wait_for(lock, kEvery, [this] { return stopping_; })) {
      notify("EXTEND_TIMEOUT_USEC=" + std::to_string(kExtendUs));
    }
  });
}

StartExtender::~StartExtender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  done_.notify_one();
  thread_.join();
}

}  // namespace tally::tallyd
