// Tells the service manager where start-up and shutdown are (systemd's Type=notify, through
// libsystemd's sd_notify(3)): `systemctl start tallyd` returns once tallyd serves, and shows
// what it is doing meanwhile. Each call is a no-op when tallyd was not started by a service
// manager that listens (NOTIFY_SOCKET unset).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace tally::tallyd {

// STATUS=: one line for `systemctl status`.
void notify_status(const std::string& status);
// READY=1 with a STATUS= line: serving.
void notify_ready(const std::string& status);
// STOPPING=1 with a STATUS= line: draining.
void notify_stopping(const std::string& status);

// While it lives (a recovery that may outlast TimeoutStartSec), asks the service manager every
// 10 s for 30 s more to start (EXTEND_TIMEOUT_USEC).
class StartExtender {
 public:
  StartExtender();
  ~StartExtender();
  StartExtender(const StartExtender&) = delete;
  StartExtender& operator=(const StartExtender&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tally::tallyd
