// Runs a shell command on a pseudo-terminal, as a person at a terminal would: its stdin,
// stdout and stderr are the terminal unless the command redirects them. For the tests of what
// a binary draws only on a terminal (tallyctl's progress line). Header-only; forkpty is in
// glibc.
#pragma once

#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace tally::testing {

struct TerminalRun {
  int exit_code = -1;
  std::string screen;  // every byte written to the terminal (its "\n" arrive as "\r\n")
};

inline TerminalRun run_on_terminal(const std::string& command) {
  TerminalRun run;
  int terminal = -1;
  const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) return run;
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(terminal, buffer, sizeof(buffer));
    if (n > 0) {
      run.screen.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO once the child and every process holding the terminal have gone
    }
  }
  ::close(terminal);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace tally::testing
