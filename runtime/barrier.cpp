// Asymmetric fences for the event counts: membarrier(2) on the waiter side.
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "ringport/detail/wait.hpp"

namespace ringport::detail {

std::atomic<bool> light_notify{false};

namespace {

std::atomic<bool> can_issue{false};

long membarrier(int cmd) noexcept {
  return ::syscall(SYS_membarrier, cmd, 0u, 0);
}

void register_self() noexcept {
  const bool ok =
      can_issue.load(std::memory_order_relaxed) && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  light_notify.store(ok, std::memory_order_relaxed);
}

}  // namespace

void init_barriers() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    // RINGPORT_MEMBARRIER=0 turns the asymmetric fence off (seq_cst fences on
    // both sides), e.g. where membarrier's IPIs cost more than the fences.
    const char* env = std::getenv("RINGPORT_MEMBARRIER");
    const bool allowed = !(env && env[0] == '0');
    const long mask = allowed ? membarrier(MEMBARRIER_CMD_QUERY) : 0;
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

}  // namespace ringport::detail
