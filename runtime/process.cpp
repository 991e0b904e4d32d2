// Process identity: owner words (pid + start time), read from /proc.
#include "ringport/detail/process.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringport::detail {
namespace {

// Opens /proc/<pid>/stat as "<pid>/stat" relative to /proc. qemu-user
// answers an absolute "/proc/self/stat" or "/proc/<own pid>/stat" with a
// made-up line whose start time is its own guess; every other process reads
// the kernel's, so a process would record an identity that others judge
// dead. The relative path is passed to the kernel as it is, here and in
// every other process, so all agree on every pid.
int open_proc_stat(std::uint32_t pid) noexcept {
  const int proc = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return -1;
  char rel[32];
  std::snprintf(rel, sizeof rel, "%u/stat", pid);
  const int fd = ::openat(proc, rel, O_RDONLY | O_CLOEXEC);
  ::close(proc);
  return fd;
}

// Reads /proc/<pid>/stat: state letter and start time (field 22).
bool read_proc_stat(std::uint32_t pid, char& state, std::uint64_t& start) noexcept {
  const int fd = open_proc_stat(pid);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces and ')'
  if (!p || p[1] != ' ') return false;
  p += 2;
  state = *p;
  // After ')' come fields 3.. ; start time is field 22, i.e. 19 more fields after state.
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return false;
    ++p;
  }
  start = std::strtoull(p, nullptr, 10);
  return true;
}

}  // namespace

static std::uint64_t owner_word_of(std::uint32_t pid) noexcept {
  char state = 0;
  std::uint64_t start = 0;
  read_proc_stat(pid, state, start);
  return (start << owner_pid_bits) | (pid & owner_pid_mask);
}

std::uint64_t self_owner() noexcept {
  static const std::uint64_t cached = owner_word_of(static_cast<std::uint32_t>(::getpid()));
  // A forked child inherits the static: recompute when the pid changed.
  const auto pid = static_cast<std::uint32_t>(::getpid());
  return (cached & owner_pid_mask) == (pid & owner_pid_mask) ? cached : owner_word_of(pid);
}

bool process_start_time(std::uint32_t pid, std::uint64_t& start) noexcept {
  char state = 0;
  if (!read_proc_stat(pid, state, start)) return false;
  return state != 'Z' && state != 'X';  // exited, not yet reaped
}

bool owner_alive(std::uint64_t owner) noexcept {
  std::uint64_t start = 0;
  return process_start_time(static_cast<std::uint32_t>(owner & owner_pid_mask), start) &&
         start == (owner >> owner_pid_bits);
}

}  // namespace ringport::detail
