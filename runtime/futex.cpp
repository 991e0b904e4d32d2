// Futex system calls for the event counts (detail/wait.hpp).
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport::detail {

static timespec to_timespec(clock::time_point t) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

bool futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                      clock::time_point deadline) noexcept {
  // steady_clock is CLOCK_MONOTONIC on Linux; FUTEX_WAIT_BITSET takes an
  // absolute time on that clock (no FUTEX_CLOCK_REALTIME). No
  // FUTEX_PRIVATE_FLAG: the word may be shared between processes.
  const timespec ts = to_timespec(deadline);
  const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET, expected,
                            &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
  // EAGAIN: the word changed before we slept; EINTR: a signal; both mean
  // "re-check"; ETIMEDOUT: the deadline passed.
  return !(rc != 0 && errno == ETIMEDOUT);
}

bool futex_waitv_until(const void* entries, unsigned n, clock::time_point deadline) noexcept {
  const timespec ts = to_timespec(deadline);
  const long rc = ::syscall(SYS_futex_waitv, entries, n, 0u, &ts, CLOCK_MONOTONIC);
  return !(rc < 0 && errno == ENOSYS);
}

namespace {
std::atomic<std::uint64_t> wake_calls{0};
std::atomic<std::uint64_t> wake_woken{0};

void wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  const long rc =
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, n, nullptr, nullptr, 0);
  wake_calls.fetch_add(1, std::memory_order_relaxed);
  if (rc > 0) wake_woken.fetch_add(static_cast<std::uint64_t>(rc), std::memory_order_relaxed);
}
}  // namespace

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  wake(word, INT_MAX);
}

void futex_wake(std::atomic<std::uint32_t>* word, std::uint32_t n) noexcept {
  wake(word, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

wake_tally wake_tally_now() noexcept {
  return {wake_calls.load(std::memory_order_relaxed), wake_woken.load(std::memory_order_relaxed)};
}

void notify_slow(event_count& ec, doorbell_site* site, std::uint32_t k) noexcept {
  // Take the registrations, change seq, FUTEX_WAKE (detail/event_count.hpp).
  wake_waiters<shipped_env>(ec, k);
  // A-BELLS: pairs with R-BELLS in wait_any(); a waker that takes a bit
  // rings after that waiter read its doorbell key.
  if (ec.bells.load(std::memory_order_relaxed) != 0)
    if (const std::uint64_t m = ec.bells.exchange(0, std::memory_order_acquire)) ring_doorbells(site, m);
}

void yield_cpu() noexcept {
  ::sched_yield();
}

}  // namespace ringport::detail
