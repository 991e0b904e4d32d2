// wait_any(): one sleep over many rings' "not empty" event counts.
#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/wait.hpp"
#include "ringport/wait.hpp"

namespace ringport {

namespace detail {

// 0: not decided yet; 1: use futex_waitv; 2: do not (the kernel lacks it,
// RINGPORT_FUTEX_WAITV=0, or set_futex_waitv(false)).
static std::atomic<int> waitv_mode{0};

void set_futex_waitv(bool enabled) noexcept {
  waitv_mode.store(enabled ? 1 : 2, std::memory_order_relaxed);
}

static std::atomic<std::int64_t> slice_ns{std::chrono::nanoseconds(peer_poll).count()};

void set_wait_any_slice(std::chrono::nanoseconds slice) noexcept {
  slice_ns.store(slice.count() > 0 ? slice.count() : 1, std::memory_order_relaxed);
}

}  // namespace detail

namespace {

// The kernel's struct futex_waitv (include/uapi/linux/futex.h, 5.16+).
struct waitv_entry {
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};
constexpr std::uint32_t futex2_size_u32 = 0x02;

bool use_waitv() noexcept {
  int m = detail::waitv_mode.load(std::memory_order_relaxed);
  if (m == 0) {
    const char* env = std::getenv("RINGPORT_FUTEX_WAITV");
    int expected = 0;
    detail::waitv_mode.compare_exchange_strong(expected, env && env[0] == '0' ? 2 : 1,
                                               std::memory_order_relaxed);
    m = detail::waitv_mode.load(std::memory_order_relaxed);
  }
  return m == 1;
}

}  // namespace

bool detail::futex_waitv_enabled() noexcept {
  return use_waitv();
}

namespace {

int first_ready(std::span<const waitable> t) noexcept {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (t[i].ready(t[i].ctx)) return static_cast<int>(i);
  return -1;
}

// How one round sleeps: on every event count at once (futex_waitv), on this
// thread's doorbell in the targets' common table, or, when they have none in
// common, on the first target in 1 ms slices.
struct sleeper {
  detail::doorbell_table* table = nullptr;  // doorbell mode when set
  std::size_t bell = 0;
  std::uint32_t bell_key = 0;
  bool waitv = false;
  std::uint32_t keys[wait_any_max];
  detail::event_count* events[wait_any_max];
};

detail::doorbell_table* common_table(std::span<const waitable> t) noexcept {
  for (const waitable& w : t)
    if (w.bells != t[0].bells) return nullptr;
  return detail::doorbell_table_of(t[0].bells);
}

// Registers as a waiter on every target and records what to sleep on.
void register_all(std::span<const waitable> t, sleeper& s) noexcept {
  s.waitv = use_waitv();
  s.table = s.waitv ? nullptr : common_table(t);
  if (s.table) {
    s.bell = detail::own_doorbell();
    // A-BELL: pairs with R-BELL in ring_doorbells(); read before our bit is
    // set anywhere, so every ring that takes the bit changes seq after it.
    s.bell_key = s.table->bells[s.bell].seq.load(std::memory_order_acquire);
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    s.events[i] = t[i].event;
    // A-KEY: as in detail::wait_loop().
    s.keys[i] = t[i].event->seq.load(std::memory_order_acquire);
    // R-BELLS: pairs with A-BELLS in notify_slow(); orders the key load
    // above before any waker's ring for this bit.
    if (s.table) t[i].event->bells.fetch_or(std::uint64_t{1} << s.bell, std::memory_order_release);
    // release: a waker that reads this (or a later) count sees our bit
    // (acq_rel in TSan builds: see detail::notify()). The herd bit: this
    // waiter may take from another ring what woke it here, so a wake-up of
    // this count must reach every waiter.
    detail::add_registration(t[i].event->waiters,
                             detail::tsan_build ? std::memory_order_acq_rel : std::memory_order_release,
                             detail::herd_bit);
  }
}

// Sleeps until a word changes, a wake-up, or `until`.
void sleep_on(std::span<const waitable> t, const sleeper& s,
              std::chrono::steady_clock::time_point until) noexcept {
  if (s.waitv) {
    waitv_entry v[wait_any_max];
    for (std::size_t i = 0; i < t.size(); ++i)
      v[i] = {s.keys[i], reinterpret_cast<std::uint64_t>(&t[i].event->seq), futex2_size_u32, 0};
    // False: a kernel before 5.16. Return at once; the next round
    // registers on the doorbells instead.
    if (!detail::futex_waitv_until(v, static_cast<unsigned>(t.size()), until)) detail::set_futex_waitv(false);
    return;
  }
  if (s.table) {
    detail::futex_wait_until(&s.table->bells[s.bell].seq, s.bell_key, until);
    return;
  }
  const auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  detail::futex_wait_until(&t[0].event->seq, s.keys[0], until < slice ? until : slice);
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
  sleeper s;
  for (;;) {
    if (int r = first_ready(targets); r >= 0) return r;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    for (const waitable& w : targets)
      if (w.idle) w.idle(w.ctx);
    register_all(targets, s);
    // F-WAIT: pairs with F-NOTIFY in detail::notify().
    detail::park_fence(std::span<detail::event_count* const>(s.events, targets.size()));
    if (int r = first_ready(targets); r >= 0) return r;  // no deregistration: wakers clear it
    const auto now = std::chrono::steady_clock::now();
    const auto slice = std::chrono::nanoseconds(detail::slice_ns.load(std::memory_order_relaxed));
    sleep_on(targets, s, deadline - now < slice ? deadline : now + slice);
  }
}

}  // namespace ringport
