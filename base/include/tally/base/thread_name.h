// Names the calling thread for `top -H`, perf, gdb and /proc/PID/task/*/comm, so that an
// operator can tell the io threads from the writer. Linux keeps 15 bytes of a name.
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

namespace tally {

inline void name_this_thread(const std::string& name) {
  // Best effort: a name longer than 15 bytes is cut rather than refused.
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// Names `thread` from the thread that started it: the name is in place when the starter
// goes on (say, to log that the server is ready), not whenever the new thread first runs.
inline void name_thread(std::thread& thread, const std::string& name) {
  pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
}

}  // namespace tally
