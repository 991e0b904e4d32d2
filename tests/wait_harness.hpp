// Infrastructure for the waiting tests (test_wait_threads, test_wait_processes):
// workers that are either threads or forked processes, memory both can see,
// a watchdog that turns a hang into a failure, and a probe that tells when a
// thread or process is parked in a given system call.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace wait_test {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Sanitizers slow every step down: their builds run 1/work_divisor of the
/// release build's item counts (the same code paths, fewer rounds). So does
/// emulation: builds run under qemu-user (make test-arm64) define
/// RINGPORT_TEST_EMULATED.
#if defined(RINGPORT_TEST_EMULATED)
inline constexpr std::uint64_t work_divisor = 20;
#elif defined(__SANITIZE_THREAD__)
inline constexpr std::uint64_t work_divisor = 40;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr std::uint64_t work_divisor = 2;
#else
inline constexpr std::uint64_t work_divisor = 1;
#endif

/// The bound every "returns soon after X" assertion uses: documented delays
/// are ~50 ms; the rest is slack for a shared, loaded machine (and for
/// qemu-user, which runs system calls and /proc reads many times slower).
#if defined(RINGPORT_TEST_EMULATED)
inline constexpr auto generous = 10s;
#else
inline constexpr auto generous = 2s;
#endif

pid_t this_tid() noexcept;

/// Whether thread (or process) `tid` is blocked in system call `nr`, per
/// /proc/<tid>/syscall, and (if arg0 is not 0) with that first argument.
bool in_syscall(pid_t tid, long nr, std::uintptr_t arg0 = 0);
/// Polls until `tid` is blocked in `nr` (with first argument arg0 unless 0);
/// false if that does not happen within `limit` (the caller fails the test).
bool wait_until_in_syscall(pid_t tid, long nr, clock::duration limit = 20s, std::uintptr_t arg0 = 0);
/// Whether futex_waitv exists here (Linux >= 5.16, not under qemu-user):
/// where it does not, wait_any() must fall back to the doorbells.
bool kernel_has_futex_waitv();

void* map_shared_bytes(std::size_t bytes);
void unmap_shared_bytes(void* p, std::size_t bytes) noexcept;

/// An anonymous MAP_SHARED mapping of n value-initialised Ts: written by a
/// forked child, read by the parent. T must be usable across processes
/// (trivially copyable data, always-lock-free atomics).
template <class T>
class shared_array {
  static_assert(std::is_trivially_destructible_v<T>, "the mapping is unmapped, not destroyed");

 public:
  explicit shared_array(std::size_t n = 1) : n_(n), p_(static_cast<T*>(map_shared_bytes(n * sizeof(T)))) {
    for (std::size_t i = 0; i < n; ++i) new (p_ + i) T{};
  }
  ~shared_array() { unmap_shared_bytes(p_, n_ * sizeof(T)); }
  shared_array(const shared_array&) = delete;
  shared_array& operator=(const shared_array&) = delete;
  T& operator[](std::size_t i) const noexcept { return p_[i]; }
  T* operator->() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  std::size_t n_;
  T* p_;
};

/// The first failure a worker saw, in memory the parent can read (put it in
/// a shared_array). Workers record with fail() and return a non-zero code.
struct failure_log {
  std::atomic<std::uint64_t> count;
  char first[256];
};
[[gnu::format(printf, 2, 3)]] void fail(failure_log& log, const char* fmt, ...) noexcept;

enum class mode { threads, processes };
const char* to_string(mode m) noexcept;

/// Runs functions concurrently as threads or as forked processes. Each
/// function returns an int (a forked child's exit code: 0..255). Children
/// must not use doctest assertions: they report through the code and
/// through shared_array memory.
class workers {
 public:
  explicit workers(mode m) : mode_(m) {}
  ~workers();  // kills children still running; joins threads
  workers(const workers&) = delete;
  workers& operator=(const workers&) = delete;

  std::size_t start(std::function<int()> fn);
  /// Waits for worker i; returns its code (128+signal for a killed child).
  int join(std::size_t i);
  /// Thread id or process id of worker i, for in_syscall().
  pid_t id(std::size_t i) const;
  std::size_t size() const noexcept { return count_; }
  mode kind() const noexcept { return mode_; }
  /// SIGKILL every child still running (process mode); safe from another
  /// thread, e.g. the watchdog.
  void kill_all() const noexcept;

 private:
  static constexpr std::size_t max_workers = 64;
  struct thread_slot {
    std::thread t;
    std::atomic<pid_t> tid{0};
    int code = -1;
  };
  mode mode_;
  std::size_t count_ = 0;
  std::array<std::atomic<pid_t>, max_workers> pids_{};  // process mode; 0 once reaped
  std::vector<std::unique_ptr<thread_slot>> threads_;
  std::array<int, max_workers> codes_{};
};

/// Fails the test instead of hanging: if *progress does not change for
/// `stall`, prints what and the diagnostic from `describe`, runs on_stall
/// (kill children), and exits the test binary with status 1.
class watchdog {
 public:
  watchdog(std::string what, const std::atomic<std::uint64_t>& progress,
           std::function<std::string()> describe = {}, std::function<void()> on_stall = {},
           clock::duration stall = 20s);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  void run();
  std::string what_;
  const std::atomic<std::uint64_t>& progress_;
  std::function<std::string()> describe_;
  std::function<void()> on_stall_;
  clock::duration stall_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// A ring name unique within this test process's private domain.
std::string unique_name(const char* stem);

}  // namespace wait_test
