// ringport/detail/event_count.hpp — the event count: its shared words and
// the steps of its wait/wake protocol (detail/wait.hpp describes it).
//
// Each step is a template over an environment `Env` that supplies what is
// not plain C++ atomics: fences, membarrier, the futex calls. The library
// instantiates the steps with std::atomic, std::atomic_thread_fence and the
// real system calls (detail::shipped_env in detail/wait.hpp); the model
// checker (tests/model/) instantiates the same templates with relacy's
// atomics and fences and models of futex and membarrier. So the checked
// code is the shipped code.
//
// An `EC` is event_count or a type with the same members (the model's has
// relacy atomics with std::atomic's interface). Env provides:
//   rmw_pairing        true in ThreadSanitizer builds: acq_rel RMWs on
//                      `waiters` replace the fences (TSan cannot model
//                      fences); a second protocol, checked as well
//   mutation           ec_mutation::none in the library (see below)
//   light_notify()     whether this waker's process registered for
//                      membarrier, so that its F-NOTIFY may be a compiler fence
//   fence_due()        0 when light_notify(), else non-zero (a word)
//   compiler_fence(), full_fence()
//   futex_wake_all(word), futex_wake(word, n)
//   park_fence(span of EC*)  F-WAIT of one park (detail::park_fence)
//   park_barrier(), switch_barrier()  membarrier for a plain park and for
//                      a switch to full fences (wait_fence() below)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ringport/status.hpp"

namespace ringport::detail {

/// An event count: waiters read `seq`, register in `waiters`, re-check their
/// condition and sleep on `seq` (a futex word); wakers bump `seq` and call
/// FUTEX_WAKE only when `waiters` counts someone. `bells`: the domain
/// doorbells (detail/doorbell.hpp) that wait_any() sleepers without
/// futex_waitv want rung as well; any bit pattern is valid.
///
/// `waiters` packs three things, so that a waker's no-waiter check is one
/// load and one branch on one word: the registrations (bits 0..28, see
/// waiter_count()), the herd bit (29: a registered waiter may not take
/// what wakes it, so every wake-up wakes all: herd_bit) and the fence mode
/// (bits 30..31, fence_mode_of()): how wakers fence (detail/wait.hpp):
/// light, switching or full; it only grows (registrations saturate below
/// the herd bit: add_registration(); the switch never lowers it). The word
/// is 0 exactly when the mode is light and nobody is registered, the
/// common case. Any bit pattern is valid (a hostile peer's "mode 3" only
/// makes wakers fence; a peer that lowers the mode or the count can cost
/// waiters a slice of their wait, as one that rewrites `seq` can).
/// `reserved` was the mode's own word (layout 4).
struct event_count {
  std::atomic<std::uint32_t> seq;
  std::atomic<std::uint32_t> waiters;
  std::atomic<std::uint64_t> bells;
  std::atomic<std::uint32_t> reserved;
};

inline constexpr std::uint32_t fences_light = 0;      // wakers in registered processes: compiler fence
inline constexpr std::uint32_t fences_switching = 1;  // a waiter is switching it to full
inline constexpr std::uint32_t fences_full = 2;       // every waker uses a seq_cst fence

inline constexpr unsigned fence_mode_shift = 30;
/// Set by a registration whose waiter may not take what wakes it (wait_any,
/// a topic's subscribers, every mailbox wait: receivers may filter): wakers
/// of the count then wake every waiter, as if asked to (wake_every).
inline constexpr std::uint32_t herd_bit = std::uint32_t{1} << (fence_mode_shift - 1);
inline constexpr std::uint32_t waiter_mask = herd_bit - 1;
/// wake_waiters()'s "every waiter": for a change that every waiter must
/// see (close, a topic's publish), or whose waiters may not consume it.
inline constexpr std::uint32_t wake_every = ~std::uint32_t{0};
/// The `waiters` word of a count in mode m with nobody registered.
constexpr std::uint32_t mode_word(std::uint32_t m) noexcept {
  return m << fence_mode_shift;
}
/// The registrations a `waiters` word counts.
constexpr std::uint32_t waiter_count(std::uint32_t w) noexcept {
  return w & waiter_mask;
}
/// The fence mode a `waiters` word holds.
constexpr std::uint32_t fence_mode_of(std::uint32_t w) noexcept {
  return w >> fence_mode_shift;
}

/// Deliberate bugs, for the model checker's mutation test only (each must
/// make a check fail). The library's Env has none.
enum class ec_mutation : std::uint8_t {
  none,
  relaxed_clear,           // the waker clears `waiters` with a relaxed exchange
  no_clear,                // wakers never clear `waiters`
  key_after_registration,  // A-KEY is read after the waiters increment
  ignore_switching,        // wakers fence only in fences_full, not while switching
  switching_is_full,       // a waiter takes fences_switching for fences_full
  stale_count,             // after its fence, a waker trusts the count it read before it
  ignore_herd,             // a counted wake-up ignores the herd bit
  clear_counted,           // a counted wake-up of k clears every registration
  keep_unchecked,          // a parked waiter keeps its registration without checking seq
};

/// The most counts one park covers (wait_any_max).
inline constexpr std::size_t max_park_counts = 128;

/// The waker's fast half, after its release publish: F-NOTIFY, then whether
/// a waiter may be registered (the waker must then call wake_waiters()).
/// must_wake()'s slow half: `w` (the word as first read) is not 0 or this
/// process is not registered. Where a seq_cst fence is due (unregistered,
/// or the mode is not light), the word is read again after it: the first
/// read came before the fence.
template <class Env, class EC>
[[gnu::noinline]] bool must_wake_fenced(EC& ec, std::uint32_t w) noexcept {
  const std::uint32_t mode = fence_mode_of(w);
  constexpr bool mutant = Env::mutation == ec_mutation::ignore_switching;
  const bool fence = !Env::light_notify() || (mutant ? mode == fences_full : mode != fences_light);
  if (!fence) return waiter_count(w) != 0;
  Env::full_fence();
  if constexpr (Env::mutation == ec_mutation::stale_count) return waiter_count(w) != 0;
  // relaxed: the fence supplies the ordering.
  return waiter_count(ec.waiters.load(std::memory_order_relaxed)) != 0;
}

template <class Env, class EC>
[[gnu::always_inline]] inline bool must_wake(EC& ec) noexcept {
  if constexpr (Env::rmw_pairing) {
    // Either this RMW reads the waiter's increment (and wakes it), or it
    // precedes that increment in the modification order of `waiters` and
    // synchronizes with it, so the waiter's retry sees our publish.
    return waiter_count(ec.waiters.fetch_add(0, std::memory_order_acq_rel)) != 0;
  } else {
    // F-NOTIFY: orders our earlier publish before the load of `waiters`;
    // pairs with F-WAIT (wait_fence). A store->load (Dekker) ordering that
    // acquire/release cannot give. In registered processes the waiter's
    // membarrier supplies the hardware half, so while the mode is light
    // only the compiler must keep the order here; otherwise a seq_cst
    // fence, after which the word is read again (must_wake_fenced).
    Env::compiler_fence();
    // relaxed: a stale light mode is covered by the switcher's membarrier
    // (switch_to_full_fences).
    const std::uint32_t w = ec.waiters.load(std::memory_order_relaxed);
    // One branch: light, nobody registered, and this process registered.
    if ((w | Env::fence_due()) == 0) [[likely]]
      return false;
    return must_wake_fenced<Env>(ec, w);
  }
}

/// The waker's slow half, for a change that k waiters can take (k items
/// published, k slots freed; wake_every: every waiter must see it): takes
/// the registrations this wake-up serves, changes seq and wakes their
/// sleepers. Where the count is at most k (or the herd bit is set, or k is
/// wake_every) it clears them all and wakes every sleeper; otherwise it
/// takes k registrations and wakes k sleepers, so that one published item
/// wakes one of many parked consumers, not the herd.
///
/// Why no wake-up is lost: registrations are counted, not named, so the
/// waiters whose registrations a waker takes need not be the ones it wakes;
/// what holds is that the count is never below the number of sleepers
/// (waiters between FUTEX_WAIT's check and its wake-up): a waiter
/// registers before it sleeps, and a waker that takes k wakes k sleepers
/// (or every one, where fewer are asleep). A waiter that the seq change
/// meets before it sleeps returns at once (EAGAIN) and looks again. One
/// woken whose registration another waker took registers again: the count
/// is then one too high, which costs one needless wake-up later, never a
/// lost one. A waiter that reads the new seq (A-KEY) also sees this
/// update before its own increment, so a later registration is never
/// cleared. Every write to `waiters` stays a read-modify-write, so this
/// acquire synchronizes with the release increment of any wait_any()
/// waiter at or before it (its bells bit is then visible:
/// detail/doorbell.hpp).
template <class Env, class EC>
void wake_waiters(EC& ec, std::uint32_t k = wake_every) noexcept {
  constexpr auto clear =
      Env::mutation == ec_mutation::relaxed_clear ? std::memory_order_relaxed : std::memory_order_acquire;
  constexpr std::uint32_t herd = Env::mutation == ec_mutation::ignore_herd ? 0 : herd_bit;
  bool all = true;
  if constexpr (Env::mutation != ec_mutation::no_clear) {
    // Take k by CAS; where the count is at most k, the herd bit is set, or
    // the word keeps changing under the CAS (a bounded number of tries),
    // clear them all and wake every sleeper, which is always safe.
    constexpr bool clear_counted = Env::mutation == ec_mutation::clear_counted;
    std::uint32_t w = ec.waiters.load(std::memory_order_relaxed);
    for (int tries = 0; all && tries < 16 && (w & herd) == 0 && waiter_count(w) > k; ++tries)
      all = !ec.waiters.compare_exchange_weak(w, clear_counted ? w & ~(waiter_mask | herd_bit) : w - k, clear,
                                              std::memory_order_relaxed);
    if (all) (void)ec.waiters.fetch_and(~(waiter_mask | herd_bit), clear);
  }
  // R-SEQ: pairs with A-KEY in register_waiter(); changing seq makes any
  // waiter between its key load and FUTEX_WAIT return at once.
  ec.seq.fetch_add(1, std::memory_order_release);
  if (all)
    Env::futex_wake_all(ec.seq);
  else
    Env::futex_wake(ec.seq, k);
}

/// One registration in a `waiters` word: +1 unless the count is full
/// (2^29 - 1 registrations without a wake-up: they carry over into the herd
/// and mode bits otherwise), and `also` (0 or herd_bit) set; wakers only
/// compare the count with what they wake. An RMW either way (a CAS), so
/// release sequences through the word stay unbroken.
template <class Word>
void add_registration(Word& waiters, std::memory_order mo, std::uint32_t also) noexcept {
  std::uint32_t w = waiters.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint32_t next = (waiter_count(w) < waiter_mask ? w + 1 : w) | also;
    if (next == w || waiters.compare_exchange_strong(w, next, mo, std::memory_order_relaxed)) return;
  }
}

/// How a waiter registers: counted (it takes what wakes it, so a wake-up
/// of k items may wake only k waiters: a ring's consumers and producers)
/// or herd (it may not: every wake-up must reach it).
enum class wake_share : std::uint8_t { counted, herd };

/// A waiter's registration before it re-checks and parks; returns the key
/// to sleep on.
template <class Env, class EC>
std::uint32_t register_waiter(EC& ec, wake_share share = wake_share::herd) noexcept {
  // relaxed: F-WAIT orders it (acq_rel with rmw_pairing: see must_wake()).
  constexpr auto reg = Env::rmw_pairing ? std::memory_order_acq_rel : std::memory_order_relaxed;
  const std::uint32_t also = share == wake_share::herd ? herd_bit : 0;
  if constexpr (Env::mutation == ec_mutation::key_after_registration) {
    add_registration(ec.waiters, reg, also);
    return ec.seq.load(std::memory_order_acquire);
  } else {
    // A-KEY: pairs with R-SEQ in wake_waiters().
    const std::uint32_t key = ec.seq.load(std::memory_order_acquire);
    add_registration(ec.waiters, reg, also);
    return key;
  }
}

/// Moves every count in ecs that is still light to fences_full: claims them,
/// runs the switch barrier (membarrier; also the caller's F-WAIT),
/// publishes fences_full.
template <class Env, class EC>
[[gnu::cold]] void switch_to_full_fences(std::span<EC* const> ecs) noexcept {
  // Claim the switch of every count still light (relaxed: the barrier below
  // orders it for the wakers; a claim that loses found someone switching).
  bool mine[max_park_counts] = {};
  for (std::size_t i = 0; i < ecs.size() && i < max_park_counts; ++i) {
    // The registrations in the same word change meanwhile: retry while the
    // mode is still light, a bounded number of times (a peer that keeps
    // writing the word only keeps this count light; the barrier below
    // still serves as this park's F-WAIT).
    std::uint32_t w = ecs[i]->waiters.load(std::memory_order_relaxed);
    for (int tries = 0; tries < 64 && fence_mode_of(w) == fences_light && !mine[i]; ++tries)
      mine[i] = ecs[i]->waiters.compare_exchange_strong(w, w | mode_word(fences_switching),
                                                        std::memory_order_relaxed);
  }
  // Every CPU running a waker now runs a full barrier: a waker either
  // finished its notify before it (its publish is visible to our retry), or
  // reads the mode bits after it and uses the seq_cst fence from then on.
  Env::switch_barrier();
  for (std::size_t i = 0; i < ecs.size() && i < max_park_counts; ++i) {
    if (!mine[i]) continue;
    // R-MODE: pairs with A-MODE in wait_fence(): a waiter that reads
    // fences_full knows every waker will fence. Set full, then clear
    // switching: never through light, whatever else wrote the bits (the
    // passing value 3 makes wakers fence as well).
    ecs[i]->waiters.fetch_or(mode_word(fences_full), std::memory_order_release);
    ecs[i]->waiters.fetch_and(~mode_word(fences_switching), std::memory_order_release);
  }
}

/// F-WAIT for a waiter about to park on the counts in ecs. Where every
/// count is in full-fence mode, wakers fence themselves and a seq_cst fence
/// completes the pair; otherwise membarrier, or, when should_switch() says
/// so, the switch of the light counts to full-fence mode.
template <class Env, class EC, class ShouldSwitch>
void wait_fence(std::span<EC* const> ecs, ShouldSwitch&& should_switch) noexcept {
  if constexpr (Env::rmw_pairing) return;  // the RMWs pair instead (see must_wake())
  bool all_full = true, any_light = false;
  for (EC* ec : ecs) {
    // A-MODE: pairs with R-MODE in switch_to_full_fences().
    const std::uint32_t m = fence_mode_of(ec->waiters.load(std::memory_order_acquire));
    constexpr bool mutant = Env::mutation == ec_mutation::switching_is_full;
    all_full = all_full && (m == fences_full || (mutant && m == fences_switching));
    any_light = any_light || m == fences_light;
  }
  if (all_full) {
    Env::full_fence();
    return;
  }
  if (any_light && should_switch())
    switch_to_full_fences<Env>(ecs);
  else
    Env::park_barrier();
}

/// A parked wait's registration, across its rounds.
struct park_state {
  std::uint32_t key = 0;
  bool registered = false;
};

/// One round of a parked wait (detail::wait_loop): register, F-WAIT, retry;
/// unless the retry got through, sleep(seq, key) (FUTEX_WAIT) and retry once
/// more. No deregistration: wakers take registrations (wake_waiters()).
/// While seq is still at the key, no waker has run since this waiter
/// registered, so its registration still stands: a round after a slice
/// that ran out sleeps again without registering (one registration per
/// slice would pile up: counted wakers take one per waiter they wake). A
/// stale seq here is caught by FUTEX_WAIT's own check (EAGAIN).
template <class Env, class EC, class Attempt, class Sleep>
status park_round(EC& ec, park_state& ps, wake_share share, Attempt& attempt, Sleep&& sleep) noexcept {
  constexpr bool unchecked = Env::mutation == ec_mutation::keep_unchecked;
  // relaxed: see above.
  if (!ps.registered || (!unchecked && ec.seq.load(std::memory_order_relaxed) != ps.key)) {
    ps.key = register_waiter<Env>(ec, share);
    ps.registered = true;
    EC* const one[1] = {&ec};
    // F-WAIT: orders the waiters increment before the retry's loads, on this
    // CPU and (membarrier or full-fence mode) on every CPU running a waker;
    // pairs with F-NOTIFY in must_wake().
    Env::park_fence(std::span<EC* const>(one));
  } else if constexpr (unchecked) {
    ps.key = ec.seq.load(std::memory_order_acquire);
  }
  const status s = attempt();
  if (s != status::would_block) return s;
  sleep(ec.seq, ps.key);
  return attempt();
}

}  // namespace ringport::detail
