// ringport/detail/wait.hpp — spin, then yield, then park on an event count.
//
// Protocol (an event count, detail::event_count, in shared memory):
//   waker   : publish its change of k items (release); F-NOTIFY fence
//             (seq_cst); if waiters counts someone: take k registrations
//             (all of them where that leaves none, or a waiter asked for
//             every wake-up), seq += 1 and FUTEX_WAKE(seq, k or all),
//             then ring the doorbells in `bells` (detail/doorbell.hpp).
//   waiter  : key = seq (acquire); waiters += 1; F-WAIT fence (seq_cst);
//             retry the operation; if it still cannot proceed,
//             FUTEX_WAIT(seq, key, deadline); loop (registering again only
//             once seq moved on).
// F-NOTIFY and F-WAIT form a Dekker pair: either the waker's load of
// `waiters` sees the waiter's increment (and wakes it), or the waiter's retry
// sees the waker's change. A wake between the waiter's key load and its
// FUTEX_WAIT changes seq, so the kernel returns EAGAIN at once: no lost
// wake-up. A ring's waiters take what woke them (an item, a slot), so a
// publish of k items wakes at most k of its parked consumers (and a
// release of k slots at most k producers): wake_waiters() in
// detail/event_count.hpp says why no wake-up is lost. Waiters that may not
// take it (wait_any, topic subscribers, every mailbox wait: receivers may
// filter) register with the herd bit, and every wake-up of that count wakes all;
// so does close(). A woken ring waiter whose wait ends without taking
// anything (a deadline at that moment, a dead peer) can leave an item with
// sleeping waiters for one slice (below).
//
// The waker, not the waiter, takes registrations from `waiters`, and the
// last waker of a round clears the rest: a waiter that dies while parked
// (SIGKILL) therefore leaves its registration behind until the count next
// falls to what one wake-up serves, one needless FUTEX_WAKE at most; if
// waiters deregistered themselves, it would stay forever and every later
// publish would make a FUTEX_WAKE system call. The price: a waiter that
// stops waiting without a wake-up (success on the retry, deadline) costs a
// later waker one needless FUTEX_WAKE.
//
// The cost on the fast path is a compiler fence (a seq_cst fence where
// membarrier is missing) and loads of one line nobody writes while nobody
// waits; no system call. The waiter pays instead: one membarrier system
// call per park (asymmetric Dekker; liburcu and folly use the same idea).
// A thread for which those membarriers are a large share of its time
// switches the event counts it parks on to full-fence mode once
// (park_fence()): wakers that read that mode (it shares the `waiters`
// word: one load on the fast path) fence themselves, and later
// parks on those counts need only a seq_cst fence.
//
// The steps above are templates in detail/event_count.hpp, instantiated here
// with shipped_env; tests/model/ runs the same templates under the Relacy
// model checker (with models of futex and membarrier), in light mode, full-
// fence mode, across a switch and in the TSan protocol, and checks that
// mutants of them (a fence removed, the key read late, no clear, ...) fail.
// ThreadSanitizer builds pair acq_rel RMWs on `waiters` instead of the
// fences (TSan cannot model fences): a different protocol, checked too.
//
// Parked waits are sliced (at most peer_poll each), so that a waiter can
// notice a dead peer (status::peer_gone) or a deadline without any wake-up.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "ringport/detail/cpu.hpp"
#include "ringport/detail/event_count.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/status.hpp"

namespace ringport::detail {

class doorbell_site;
using clock = std::chrono::steady_clock;

/// How often a parked or spinning waiter re-checks its peers' liveness.
inline constexpr std::chrono::milliseconds peer_poll{50};

/// FUTEX_WAIT (shared, not private) until *word != expected, a wake-up, or
/// the absolute CLOCK_MONOTONIC deadline. Returns false on time-out.
bool futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                      clock::time_point deadline) noexcept;
/// futex_waitv (Linux >= 5.16) over n entries laid out as the kernel's
/// struct futex_waitv, until a word differs from its value, a wake-up, or
/// the absolute CLOCK_MONOTONIC deadline. False only when the kernel lacks it.
bool futex_waitv_until(const void* entries, unsigned n, clock::time_point deadline) noexcept;
/// FUTEX_WAKE every waiter on word.
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept;
/// FUTEX_WAKE at most n waiters on word.
void futex_wake(std::atomic<std::uint32_t>* word, std::uint32_t n) noexcept;

/// What this process's FUTEX_WAKE calls (futex_wake, futex_wake_all) did, counted by
/// relaxed increments on the slow path only: calls made and waiters the
/// kernel reported woken. For tests (the wake-count test) and diagnostics.
struct wake_tally {
  std::uint64_t calls = 0;
  std::uint64_t woken = 0;
};
wake_tally wake_tally_now() noexcept;

/// The slow half of notify(): wakes ec's waiters for a change that k of
/// them can take (wake_waiters()), and rings the doorbells of `site` that
/// ec.bells names.
[[gnu::cold]] [[gnu::noinline]] void notify_slow(event_count& ec, doorbell_site* site,
                                                 std::uint32_t k = wake_every) noexcept;

/// 0 in a process registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED: its
/// wakers may use a compiler-only fence, because every waiter issues
/// heavy_barrier(), which runs a full barrier on every CPU that is running
/// a registered process; 1 otherwise (a word, not a bool, so that the
/// wakers' fast path folds it into its one branch: must_wake()). Set once
/// by init_barriers() (and in forked children).
extern std::atomic<std::uint32_t> notify_fence_due;
/// Registers this process (once; again after fork). Called when a ring is
/// attached.
void init_barriers() noexcept;
/// The waiter's side of F-NOTIFY/F-WAIT: membarrier(GLOBAL_EXPEDITED) where
/// the kernel has it, else a seq_cst fence.
void heavy_barrier() noexcept;
/// F-WAIT for a waiter about to park on the event counts in ecs. Where every
/// count is in full-fence mode, wakers fence themselves and a seq_cst fence
/// completes the pair; otherwise membarrier. A thread whose membarriers take
/// more than a tenth of its time (measured over 10 ms windows: it parks
/// often, and each membarrier is slow, as when it must interrupt other
/// vCPUs of a virtual machine) switches the counts it parks on to full-fence
/// mode instead: one last membarrier, then wakers on those counts pay a
/// seq_cst fence per notify and its parks need none. Rings that move many
/// messages per park keep the light fence.
void park_fence(std::span<event_count* const> ecs) noexcept;

/// When park_fence() switches counts to full-fence mode: automatic (as
/// above), always (at the first park), never. For tests and experiments.
enum class fence_switch : std::uint8_t { automatic, always, never };
void set_fence_switch(fence_switch s) noexcept;

/// The library's environment for the protocol steps (detail/event_count.hpp).
struct shipped_env {
  static constexpr bool rmw_pairing = tsan_build;
  static constexpr ec_mutation mutation = ec_mutation::none;
  static std::uint32_t fence_due() noexcept { return notify_fence_due.load(std::memory_order_relaxed); }
  static bool light_notify() noexcept { return fence_due() == 0; }
  static void compiler_fence() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }
  static void full_fence() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }
  static void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept { detail::futex_wake_all(&word); }
  static void futex_wake(std::atomic<std::uint32_t>& word, std::uint32_t n) noexcept {
    detail::futex_wake(&word, n);
  }
  static void park_fence(std::span<event_count* const> ecs) noexcept { detail::park_fence(ecs); }
};

/// Called by the side that made progress (after its release store) of k
/// items or slots (wake_every: a change every waiter must see). `site`:
/// the doorbells of ec's domain (null: none to ring); taken by reference so
/// that the fast path does not even load it.
inline void notify(event_count& ec, doorbell_site* const& site, std::uint32_t k = wake_every) noexcept {
  if (must_wake<shipped_env>(ec)) [[unlikely]]
    notify_slow(ec, site, k);
}

/// Wait tuning: how many spins and yields before parking.
struct wait_budget {
  std::uint32_t spins;
  std::uint32_t yields;
};

constexpr wait_budget budget_for(wait_policy p) noexcept {
  switch (p) {
    case wait_policy::busy_spin:
      return {0, 0};  // spins until done: see wait_loop
    case wait_policy::adaptive:
      return {2000, 64};
    case wait_policy::block:
      return {0, 0};
  }
  return {0, 0};
}

void yield_cpu() noexcept;

/// Whether wait_any() may use futex_waitv (default: yes unless
/// RINGPORT_FUTEX_WAITV=0 or the kernel lacks it). Tests use it to exercise
/// the doorbell fallback.
void set_futex_waitv(bool enabled) noexcept;
bool futex_waitv_enabled() noexcept;
/// The longest single sleep inside wait_any() (default peer_poll). A wake-up
/// that never comes costs a waiter at most one slice; tests make it long, so
/// that a lost wake-up hangs (and trips their watchdog) instead of hiding.
void set_wait_any_slice(std::chrono::nanoseconds slice) noexcept;

/// Runs `attempt` (a non-blocking operation returning status) until it
/// returns anything but would_block, the deadline passes (timed_out), or
/// `peer_alive` reports that every peer died (peer_gone). Waits on `ec`;
/// `share`: counted only where a success of attempt() takes what woke it
/// (wake_share in detail/event_count.hpp).
template <class Attempt, class PeerAlive>
status wait_loop(event_count& ec, wait_policy policy, clock::time_point deadline, Attempt&& attempt,
                 PeerAlive&& peer_alive, wake_share share = wake_share::herd) noexcept {
  const wait_budget b = budget_for(policy);
  auto next_peer_check = clock::time_point::min();
  bool peers_checked = false;
  auto time_checks = [&]() noexcept -> status {
    const auto now = clock::now();
    // A wait shorter than peer_poll checks its peers once, at its deadline:
    // dead peers are reported as such, never as a time-out.
    if (now >= deadline) return !peers_checked && !peer_alive() ? status::peer_gone : status::timed_out;
    if (now >= next_peer_check) {
      if (next_peer_check != clock::time_point::min()) {
        peers_checked = true;
        if (!peer_alive()) return status::peer_gone;
      }
      next_peer_check = now + peer_poll;
    }
    return status::would_block;
  };
  const bool forever = policy == wait_policy::busy_spin;
  for (std::uint64_t i = 0; forever || i < b.spins; ++i) {
    cpu_relax();
    if (status s = attempt(); s != status::would_block) return s;
    if ((i & 1023) == 1023)
      if (status s = time_checks(); s != status::would_block) return s;
  }
  for (std::uint32_t i = 0; i < b.yields; ++i) {
    yield_cpu();
    if (status s = attempt(); s != status::would_block) return s;
  }
  park_state parked;
  for (;;) {
    if (status s = time_checks(); s != status::would_block) return attempt() == status::ok ? status::ok : s;
    const auto sleep = [&](std::atomic<std::uint32_t>& word, std::uint32_t key) noexcept {
      const auto slice = clock::now() + peer_poll;
      futex_wait_until(&word, key, deadline < slice ? deadline : slice);
    };
    if (status s = park_round<shipped_env>(ec, parked, share, attempt, sleep); s != status::would_block)
      return s;
  }
}

}  // namespace ringport::detail
