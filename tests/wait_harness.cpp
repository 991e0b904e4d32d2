#include "wait_harness.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <stdexcept>

#include "test_util.hpp"

namespace wait_test {

pid_t this_tid() noexcept {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

namespace {

// /proc/<tid>/syscall: "<nr> <arg0> ..." while blocked, "running" or
// "-1 ..." otherwise. /proc/<tid> also resolves threads of this process.
bool read_syscall_entry(pid_t tid, long& nr, std::uintptr_t& arg0) {
  const std::string path = "/proc/" + std::to_string(tid) + "/syscall";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  char* end = nullptr;
  nr = std::strtol(buf, &end, 10);
  if (end == buf) return false;
  char* end2 = nullptr;
  arg0 = std::strtoull(end, &end2, 16);  // "0x..." (the 0x prefix is accepted)
  return end2 != end;
}

// How /proc/<tid>/syscall shows this process's futex calls. Natively:
// SYS_futex and the word's address. Under qemu-user the threads are the
// host's, so it shows the host's system call number and the host address
// of the word (the guest address plus qemu's guest base). Learnt once, by
// parking a thread of our own on a word and reading its entry until it is
// the same three times in a row.
struct futex_view {
  long nr = SYS_futex;
  std::uintptr_t offset = 0;  // host address - our address
};

futex_view learn_futex_view() {
  std::atomic<std::uint32_t> word{0};
  std::atomic<pid_t> tid{0};
  std::thread t([&] {
    tid = this_tid();
    const timespec limit{1, 0};
    while (word.load() == 0) ::syscall(SYS_futex, &word, FUTEX_WAIT, 0u, &limit, nullptr, 0);
  });
  while (tid.load() == 0) std::this_thread::yield();
  futex_view v;
  long last_nr = -1;
  std::uintptr_t last_arg = 0;
  int same = 0;
  for (const auto until = clock::now() + 10s; same < 3 && clock::now() < until;) {
    long nr = -1;
    std::uintptr_t a = 0;
    if (read_syscall_entry(tid.load(), nr, a) && nr >= 0) {
      same = nr == last_nr && a == last_arg ? same + 1 : 1;
      last_nr = nr;
      last_arg = a;
    } else {
      same = 0;
    }
    std::this_thread::sleep_for(1ms);
  }
  if (same >= 3) v = {last_nr, last_arg - reinterpret_cast<std::uintptr_t>(&word)};
  word = 1;
  ::syscall(SYS_futex, &word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  t.join();
  return v;
}

}  // namespace

bool in_syscall(pid_t tid, long nr, std::uintptr_t arg0) {
  static const futex_view futex = learn_futex_view();
  long got = -1;
  std::uintptr_t a = 0;
  if (!read_syscall_entry(tid, got, a)) return false;
  if (nr == SYS_futex) {
    nr = futex.nr;
    if (arg0 != 0) arg0 += futex.offset;
  }
  return got == nr && (arg0 == 0 || a == arg0);
}

bool kernel_has_futex_waitv() {
  // No entries: EINVAL where the system call exists, ENOSYS where it does
  // not (kernels before 5.16, qemu-user).
  static const bool has = ::syscall(SYS_futex_waitv, nullptr, 0u, 0u, nullptr, 0) == 0 || errno != ENOSYS;
  return has;
}

bool wait_until_in_syscall(pid_t tid, long nr, clock::duration limit, std::uintptr_t arg0) {
  const auto until = clock::now() + limit;
  while (!in_syscall(tid, nr, arg0)) {
    if (clock::now() >= until) return false;
    std::this_thread::sleep_for(200us);
  }
  return true;
}

void* map_shared_bytes(std::size_t bytes) {
  void* p =
      ::mmap(nullptr, bytes == 0 ? 1 : bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap of a shared test area failed");
  return p;
}

void unmap_shared_bytes(void* p, std::size_t bytes) noexcept {
  ::munmap(p, bytes == 0 ? 1 : bytes);
}

void fail(failure_log& log, const char* fmt, ...) noexcept {
  if (log.count.fetch_add(1) != 0) return;  // keep the first; later ones are mostly its echoes
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(log.first, sizeof log.first, fmt, ap);
  va_end(ap);
}

const char* to_string(mode m) noexcept {
  return m == mode::threads ? "threads" : "processes";
}

// ---- workers --------------------------------------------------------------

std::size_t workers::start(std::function<int()> fn) {
  if (count_ == max_workers) throw std::length_error("too many workers");
  const std::size_t i = count_;
  if (mode_ == mode::threads) {
    auto slot = std::make_unique<thread_slot>();
    thread_slot* s = slot.get();
    s->t = std::thread([s, f = std::move(fn)] {
      s->tid.store(this_tid(), std::memory_order_release);
      s->code = f();
    });
    threads_.push_back(std::move(slot));
  } else {
    std::fflush(nullptr);  // or the child would print the parent's buffered output again
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Die with the parent: an orphan would hang on to the test's output pipe.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::_exit(fn());  // _exit: no doctest or static teardown in the child
    }
    pids_[i].store(pid, std::memory_order_relaxed);
    codes_[i] = -1;
  }
  ++count_;
  return i;
}

int workers::join(std::size_t i) {
  if (mode_ == mode::threads) {
    thread_slot& s = *threads_.at(i);
    if (s.t.joinable()) s.t.join();
    return s.code;
  }
  const pid_t pid = pids_.at(i).load(std::memory_order_relaxed);
  if (pid == 0) return codes_[i];
  // Wait without reaping, so kill_all() can never hit a recycled pid.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  pids_[i].store(0, std::memory_order_relaxed);
  codes_[i] = ringport_test::wait_child(pid);
  return codes_[i];
}

pid_t workers::id(std::size_t i) const {
  if (mode_ == mode::processes) return pids_.at(i).load(std::memory_order_relaxed);
  const thread_slot& s = *threads_.at(i);
  pid_t tid = 0;
  while ((tid = s.tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
  return tid;
}

void workers::kill_all() const noexcept {
  for (std::size_t i = 0; i < count_ && i < max_workers; ++i)
    if (const pid_t pid = pids_[i].load(std::memory_order_relaxed); pid > 0) ::kill(pid, SIGKILL);
}

workers::~workers() {
  if (mode_ == mode::processes) kill_all();
  for (std::size_t i = 0; i < count_; ++i) join(i);
}

// ---- watchdog -------------------------------------------------------------

watchdog::watchdog(std::string what, const std::atomic<std::uint64_t>& progress,
                   std::function<std::string()> describe, std::function<void()> on_stall,
                   clock::duration stall)
    : what_(std::move(what)),
      progress_(progress),
      describe_(std::move(describe)),
      on_stall_(std::move(on_stall)),
      stall_(stall),
      thread_([this] { run(); }) {}

watchdog::~watchdog() {
  stop_.store(true);
  thread_.join();
}

void watchdog::run() {
  std::uint64_t last = progress_.load(std::memory_order_relaxed);
  auto last_change = clock::now();
  while (!stop_.load()) {
    std::this_thread::sleep_for(50ms);  // short, so that the destructor returns promptly
    const std::uint64_t now_value = progress_.load(std::memory_order_relaxed);
    const auto now = clock::now();
    if (now_value != last) {
      last = now_value;
      last_change = now;
      continue;
    }
    if (now - last_change < stall_ || stop_.load()) continue;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(stall_).count();
    std::fprintf(stderr, "\nWATCHDOG: %s: no progress for %llds (progress counter %llu); failing the test\n",
                 what_.c_str(), static_cast<long long>(secs), static_cast<unsigned long long>(now_value));
    if (describe_) std::fprintf(stderr, "%s\n", describe_().c_str());
    if (on_stall_) on_stall_();
    ringport_test::remove_private_domain();
    std::fflush(nullptr);
    std::_Exit(1);
  }
}

std::string unique_name(const char* stem) {
  static std::atomic<unsigned> next{0};
  return std::string(stem) + "-" + std::to_string(next.fetch_add(1));
}

}  // namespace wait_test
