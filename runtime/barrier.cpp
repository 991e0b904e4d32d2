// Asymmetric fences for the event counts: membarrier(2) on the waiter side.
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "ringport/detail/wait.hpp"
#include "ringport/wait.hpp"

namespace ringport::detail {

std::atomic<std::uint32_t> notify_fence_due{1};

namespace {

std::atomic<bool> can_issue{false};
std::atomic<bool> may_register{true};

long membarrier(int cmd) noexcept {
  return ::syscall(SYS_membarrier, cmd, 0u, 0);
}

void register_self() noexcept {
  const bool ok = can_issue.load(std::memory_order_relaxed) && may_register.load(std::memory_order_relaxed) &&
                  membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  notify_fence_due.store(ok ? 0 : 1, std::memory_order_relaxed);
}

}  // namespace

void init_barriers() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    // RINGPORT_MEMBARRIER=0: this process's wakers always use seq_cst fences
    // (it does not register). Its waiters still issue membarrier where the
    // kernel has it, because wakers in other processes may be registered.
    const char* env = std::getenv("RINGPORT_MEMBARRIER");
    may_register.store(!(env && env[0] == '0'), std::memory_order_relaxed);
    // RINGPORT_FENCE_SWITCH=always|never|auto: when park_fence() moves event
    // counts to full-fence mode (see detail/wait.hpp); auto by default.
    if (const char* fs = std::getenv("RINGPORT_FENCE_SWITCH"); fs && *fs) {
      const std::string_view v(fs);
      if (v == "always") set_fence_switch(fence_switch::always);
      if (v == "never") set_fence_switch(fence_switch::never);
    }
    const long mask = membarrier(MEMBARRIER_CMD_QUERY);
    const long need = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
    can_issue.store(mask > 0 && (mask & need) == need, std::memory_order_relaxed);
    register_self();
    // A forked child must register its own address space before it may use
    // the light fence.
    ::pthread_atfork(nullptr, nullptr, [] { register_self(); });
  });
}

void heavy_barrier() noexcept {
#if defined(__SANITIZE_THREAD__)
  return;  // TSan builds pair acq_rel RMWs instead (see notify())
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  if (can_issue.load(std::memory_order_relaxed) && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0) return;
  // No membarrier: wakers in every process use the seq_cst fence (they
  // could not register either), so this fence completes the pair.
}

namespace {

std::atomic<fence_switch> switch_rule{fence_switch::automatic};

// This thread's membarrier bill: time spent in it during the current window.
struct barrier_bill {
  clock::time_point window_start{};
  clock::duration spent{};
  bool costly = false;  // the last full window spent more than a tenth in membarrier
};
thread_local barrier_bill bill;

constexpr std::chrono::milliseconds window{10};

// heavy_barrier(), adding its duration to this thread's bill.
void billed_heavy_barrier() noexcept {
  const auto t0 = clock::now();
  heavy_barrier();
  const auto t1 = clock::now();
  if (t1 - bill.window_start >= window) {
    bill.costly = bill.window_start != clock::time_point{} && bill.spent * 10 > t1 - bill.window_start;
    bill.window_start = t1;
    bill.spent = {};
  }
  bill.spent += t1 - t0;
}

}  // namespace

void set_fence_switch(fence_switch s) noexcept {
  switch_rule.store(s, std::memory_order_relaxed);
}

namespace {

static_assert(max_park_counts >= wait_any_max, "a switch covers every count of a wait_any()");

// The library's environment with the two membarriers of wait_fence().
struct barrier_env : shipped_env {
  static void park_barrier() noexcept { billed_heavy_barrier(); }
  static void switch_barrier() noexcept { heavy_barrier(); }
};

}  // namespace

void park_fence(std::span<event_count* const> ecs) noexcept {
  wait_fence<barrier_env>(ecs, [] {
    const fence_switch rule = switch_rule.load(std::memory_order_relaxed);
    return rule == fence_switch::always || (rule == fence_switch::automatic && bill.costly);
  });
}

}  // namespace ringport::detail
