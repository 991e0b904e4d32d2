// Shared by the examples: a private domain, forking a role, waiting for it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace example {

/// Uses a domain of our own (unless RINGPORT_DOMAIN is set), so runs never
/// meet each other's segments; returns its name.
inline std::string private_domain() {
  if (const char* d = std::getenv("RINGPORT_DOMAIN")) return d;
  const std::string d = "example-" + std::to_string(::getpid());
  ::setenv("RINGPORT_DOMAIN", d.c_str(), 1);
  return d;
}

/// Removes the private domain's files (tmpfs backing).
inline void remove_domain(const std::string& domain) {
  std::error_code ec;
  std::filesystem::remove_all("/dev/shm/ringport." + domain, ec);
}

/// Runs role() in a child process; returns its pid.
template <class Role>
pid_t spawn(Role role) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int rc = role();
    std::fflush(nullptr);  // _exit does not flush stdio
    ::_exit(rc);
  }
  return pid;
}

/// Waits for a child; true when it exited with 0.
inline bool succeeded(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

}  // namespace example
