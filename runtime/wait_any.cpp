// wait_any(): one sleep over many rings' "not empty" event counts.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>

#include "ringport/detail/wait.hpp"
#include "ringport/wait.hpp"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

namespace ringport {
namespace {

// The kernel's struct futex_waitv (include/uapi/linux/futex.h, 5.16+).
struct waitv_entry {
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};
constexpr std::uint32_t futex2_size_u32 = 0x02;

std::atomic<bool> waitv_missing{false};

int first_ready(std::span<const waitable> t) noexcept {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (t[i].ready(t[i].ctx)) return static_cast<int>(i);
  return -1;
}

// Sleeps until a key changes, a wake-up, or `until`. Returns false when the
// kernel has no futex_waitv.
bool sleep_on(std::span<const waitable> t, const std::uint32_t* keys,
              std::chrono::steady_clock::time_point until) noexcept {
  if (!waitv_missing.load(std::memory_order_relaxed)) {
    waitv_entry v[wait_any_max];
    for (std::size_t i = 0; i < t.size(); ++i)
      v[i] = {keys[i], reinterpret_cast<std::uint64_t>(&t[i].event->seq), futex2_size_u32, 0};
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    const long rc = ::syscall(SYS_futex_waitv, v, static_cast<unsigned>(t.size()), 0u, &ts, CLOCK_MONOTONIC);
    if (rc >= 0 || errno != ENOSYS) return true;
    waitv_missing.store(true, std::memory_order_relaxed);
  }
  // Fallback: poll every millisecond, sleeping on the first ring's word.
  const auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  detail::futex_wait_until(&t[0].event->seq, keys[0], until < slice ? until : slice);
  return true;
}

}  // namespace

int wait_any(std::span<const waitable> targets, std::chrono::steady_clock::time_point deadline,
             wait_policy policy) noexcept {
  if (targets.size() > wait_any_max) targets = targets.first(wait_any_max);
  if (targets.empty()) return -1;
  const detail::wait_budget b = detail::budget_for(policy);
  for (std::uint32_t i = 0; i < b.spins + b.yields; ++i) {
    if (int r = first_ready(targets); r >= 0) return r;
    if (i < b.spins)
      detail::cpu_relax();
    else
      detail::yield_cpu();
  }
  std::uint32_t keys[wait_any_max];
  for (;;) {
    if (int r = first_ready(targets); r >= 0) return r;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      // A-KEY: as in detail::wait_loop().
      keys[i] = targets[i].event->seq.load(std::memory_order_acquire);
      targets[i].event->waiters.fetch_add(
          1, detail::tsan_build ? std::memory_order_acq_rel : std::memory_order_relaxed);
    }
    // F-WAIT: pairs with F-NOTIFY in detail::notify().
    detail::heavy_barrier();
    int r = first_ready(targets);
    if (r < 0) {
      const auto slice = std::chrono::steady_clock::now() + detail::peer_poll;
      sleep_on(targets, keys, deadline < slice ? deadline : slice);
    }
    // No deregistration: wakers clear `waiters` (detail/wait.hpp).
    if (r >= 0) return r;
  }
}

}  // namespace ringport
