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

std::atomic<bool> light_notify{false};

namespace {

std::atomic<bool> can_issue{false};
std::atomic<bool> may_register{true};

long membarrier(int cmd) noexcept {
  return ::syscall(SYS_membarrier, cmd, 0u, 0);
}

void register_self() noexcept {
  const bool ok = can_issue.load(std::memory_order_relaxed) && may_register.load(std::memory_order_relaxed) &&
                  membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  light_notify.store(ok, std::memory_order_relaxed);
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

// Moves every count in ecs that is still light to fences_full: claims them,
// runs heavy_barrier() (also the caller's F-WAIT), publishes fences_full.
[[gnu::cold]] void switch_to_full_fences(std::span<event_count* const> ecs) noexcept {
  // Claim the switch of every count still light (relaxed: the barrier below
  // orders it for the wakers; a claim that loses found someone switching).
  bool mine[wait_any_max] = {};
  for (std::size_t i = 0; i < ecs.size() && i < wait_any_max; ++i) {
    std::uint32_t light = fences_light;
    mine[i] = ecs[i]->fence_mode.compare_exchange_strong(light, fences_switching, std::memory_order_relaxed);
  }
  // Every CPU running a waker now runs a full barrier: a waker either
  // finished its notify before it (its publish is visible to our retry), or
  // reads fence_mode after it and uses the seq_cst fence from then on.
  heavy_barrier();
  for (std::size_t i = 0; i < ecs.size() && i < wait_any_max; ++i)
    // R-MODE: pairs with A-MODE in park_fence(): a waiter that reads
    // fences_full knows every waker will fence.
    if (mine[i]) ecs[i]->fence_mode.store(fences_full, std::memory_order_release);
}

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

void park_fence(std::span<event_count* const> ecs) noexcept {
  if constexpr (tsan_build) return;  // TSan builds pair acq_rel RMWs instead (see notify())
  bool all_full = true, any_light = false;
  for (event_count* ec : ecs) {
    // A-MODE: pairs with R-MODE in switch_to_full_fences().
    const std::uint32_t m = ec->fence_mode.load(std::memory_order_acquire);
    all_full = all_full && m == fences_full;
    any_light = any_light || m == fences_light;
  }
  if (all_full) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return;
  }
  const fence_switch rule = switch_rule.load(std::memory_order_relaxed);
  if (any_light && (rule == fence_switch::always || (rule == fence_switch::automatic && bill.costly)))
    switch_to_full_fences(ecs);
  else
    billed_heavy_barrier();
}

}  // namespace ringport::detail
