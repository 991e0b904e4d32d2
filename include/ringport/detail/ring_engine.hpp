// ringport/detail/ring_engine.hpp — the lock-free algorithms, on bytes.
//
// One engine, ring_engine<Side, MultiOwn, MultiOther>, serves both sides of
// every kind (side_traits says what differs: which cursor a side advances,
// which it watches, which event count it wakes, its two turns). Every public
// operation is built from its two steps:
//   reserve(n) -> span   take up to n contiguous slots (count 0: full / empty)
//   ...copy into / out of the span's slots...
//   publish()            hand them to the other side
// try_push and try_pop are transfer_one(copy): the same three steps for one
// slot in one call, so that the position stays in a register across the
// copy; push_n/pop_n take reserve_run(n), a run that may go on across the
// end of the buffer (only the copy is split there: view().copy_in /
// copy_out), so a batch is one claim and one publication; the zero-copy
// claim/commit and peek/release forms expose the slots directly and so stop
// at the end of the buffer. What a kind changes is how a side reserves
// (reserve_slots: cached positions, owned turns, or a CAS claim) and how it
// hands slots on (a position store, or turns).
//
// spsc (no multi side): Lamport's ring with cached positions. The producer
// owns `tail`, the consumer owns `head`; each keeps a process-local copy of
// the other's position and re-reads the shared one only when its copy says
// full/empty. One release store publishes a whole batch. Every shared
// position read is checked against the other (never more than capacity
// apart), at attach too, so a hostile value makes calls return corrupt.
//
// Lock-step (issue 11). When the consumer keeps up with the producer, every
// try_pop finds its copy of tail used up and re-reads tail: two lines come
// from the producer's core per message, tail's and the slot's, and the
// slot's read used to start only after tail's had returned. A turn word
// beside each slot's payload (FastForward, OptimistAtomicQueue; the bench's
// ref-spsc-turns) moves one line instead, but the payloads are then no
// longer contiguous, which claim()/peek() spans, one-memcpy batches and
// mailbox byte slots need. So positions stay, and the consumer prefetches
// the slot it is about to read before it re-reads tail (transfer_one): the
// two transfers overlap. A prefetch orders nothing, so the protocol (and
// what tests/model checks of it) is unchanged. Measured on the 2-vCPU EPYC
// VM, 36 interleaved rounds per figure
// (perf/results/2026-12-03-lockstep-prefetch-ab.txt): 8-byte ping-pong p50
// 1.00x ref-spsc-turns in thread and process mode (1.13x and 1.07x without
// the prefetch; ref-spsc, positions without it, 1.6x); try-loop throughput
// 1.08-1.09x ref-spsc-turns (1.15-1.17x without: the prefetch sometimes
// takes the line the producer is still filling); 3 more instructions when a
// pop re-reads tail.
//
// Every other kind: per-slot turns. Slot s serves positions s, s+cap,
// s+2cap...; for position p (lap L = p / cap) the slot's turn is
//   2L          free for the producer of p   (set by the consumer of p - cap)
//   2L+1        holds p's item for consumers (set by the producer of p)
//   2L+1 | V    p was abandoned (V = turn_void): its producer died before
//               publishing; a consumer takes the slot and skips it
// A multi side claims positions by CAS on its cursor (tail or head), and only
// after seeing that every claimed slot's turn is ready, so claiming never
// waits for another process; a single side owns its cursor outright and
// stores it (relaxed) after its turns, as a hint for size() and for the next
// holder of the role.
// Turns are contiguous, eight to a 64-byte line, on purpose: spreading
// consecutive positions' turns over different lines (atomic_queue's
// remapping) was measured and halved the common 1x1 and batch rows, helping
// only producers contending for neighbouring positions
// (perf/results/2026-12-02-turn-spread-ab.txt).
// Turns are compared for equality only, so a corrupt turn can only make a
// slot look busy; positions are masked before use, so no shared value can
// make us touch memory outside the ring.
//
// Progress: spsc is wait-free; the other kinds are lock-free for claiming.
//
// Crashes (any process may die at any instruction). Before its claiming CAS
// a multi side writes the range it is about to claim into its role slot's
// claim_record (ring_layout.hpp) and empties it when the CAS fails; the CAS
// (release) publishes the record with the claim. So every claimed,
// unpublished position is covered by its claimer's record. A side that
// stays blocked on one claimed position for recovery_delay (default 100 ms)
// calls check_stall(): when every record covering the position belongs to a
// dead process (pid + start time), the position is settled by CAS on its
// turn — a dead producer's slot becomes void (consumers skip it), a dead
// consumer's slot becomes free for the next lap. The CAS succeeds only from
// the unpublished value, so a live claimer is never overtaken. What a crash
// loses, by step:
//  - producer (multi) dead after its CAS, before publishing: its claimed
//    positions are skipped (counted in recovery.abandoned); nothing else.
//  - consumer (multi) dead after its CAS, before releasing: the items it
//    held are lost with it (counted in recovery.reclaimed), unless its
//    record carries a keep tag: then they wait in their slots for its
//    successor (ring_recovery.hpp, "Kept claims"; recovery.kept). A keeping
//    producer's unpublished claim waits for its successor too, which voids
//    it.
//  - single producer (spmc) dead before publishing: nothing; the next holder
//    continues from the first position not yet published.
//  - single consumer (mpsc) dead before releasing: the item it was reading
//    is delivered again to the next holder (at least once for that item);
//    the next holder continues after the last released position.
//  - spsc: as the single sides (the producer's unpublished item is written
//    again; the consumer's unreleased items are delivered again).
// A single role is taken over by attaching again once its holder died
// (ring_state::attach); the new holder's engine scans forward from the
// stored cursor hint over positions the dead holder had already finished
// (finished_before(): a released slot may already hold the next lap's item,
// which the model checker found: tests/model/ring_model.cpp).
//
// tests/model/ring_model.cpp runs these templates, and ring_recovery.hpp's,
// under the Relacy model checker through a policy type (below).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "ringport/detail/process.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport::detail {

enum class role : std::uint8_t { producer, consumer };

// The engine is a template over a policy `P` (as folly's `Atom`) that
// supplies the atomics, the layout built from them and what is not plain
// atomics: the wake-up of the other side, the crash check, liveness. The
// library's policy is shipped_ring (below); the model checker's runs the
// same engine under Relacy (tests/model/ring_model.cpp). P provides:
//   atomic<T>, event_count, shared (basic_ring_shared of those), roles
//   rmw_pairing           ThreadSanitizer builds: an RMW instead of a fence
//   stall_check_mask      blocked() checks for a stall every mask+1 failures
//   acquire_fence()       std::atomic_thread_fence(acquire)
//   notify(ec, bells, k)  after a publish of k slots: wake up to k of the
//                         other side's waiters
//   wake_all(ec, bells)   wake every waiter (notify's slow half)
//   owner_alive(owner)    whether a role slot's owner may still act
//   check_stall(view, blocked side, pos, watch)   see blocked()
//   mutation              ring_mutation::none (the model's mutants)

/// Deliberate bugs, for the model checker's mutation test only (each must
/// make a check fail). The library's policy has none.
enum class ring_mutation : std::uint8_t {
  none,
  relaxed_turn_full,  // R-TURN-FULL (a producer's publish) relaxed
  relaxed_turn_free,  // R-TURN-FREE (a consumer's release) relaxed
  relaxed_ready,      // A-TURN relaxed
  relaxed_tail,       // spsc R-TAIL relaxed
  relaxed_head,       // spsc A-HEAD relaxed
  no_announce,        // multi sides claim without writing their claim record
  no_retract,         // a failed claim leaves its record
  settle_live,        // recovery ignores liveness: settles live claims too
  exact_resume,       // a new single holder resumes only over turns exactly one step on
  ignore_keep,        // recovery settles a dead keeping consumer's claims too
  kept_alone,         // resolve_kept() ignores the other records covering a position
};

/// A reservation: count slots from position pos.
struct span_pos {
  std::uint64_t pos = 0;
  std::size_t count = 0;
};

/// Process-local, validated view of one ring.
template <class P>
struct basic_ring_view {
  using atomic_u64 = typename P::template atomic<std::uint64_t>;
  typename P::shared* shared = nullptr;
  atomic_u64* turns = nullptr;  // null for spsc
  std::byte* data = nullptr;
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  std::uint64_t stride = 0;
  unsigned shift = 0;              // log2(capacity)
  doorbell_site* bells = nullptr;  // the domain's doorbells (detail/doorbell.hpp)

  // Never null (attach checked the mapping; never on a default view):
  // saying so lets the compiler drop the null test of the fast paths.
  // Stride: 0, the view's own `stride` (mailboxes: a header plus the
  // largest message); else the caller's compile-time stride, which must be
  // the one it attached with (ring<T>: sizeof(T), the stride attach set),
  // so that a scaled address replaces a load and a multiply.
  template <std::uint64_t Stride = 0>
  std::byte* slot(std::uint64_t pos) const noexcept {
    if (data == nullptr) __builtin_unreachable();
    return data + (pos & mask) * (Stride != 0 ? Stride : stride);
  }
  atomic_u64& turn(std::uint64_t pos) const noexcept { return turns[pos & mask]; }
  // Slots from pos to the end of the buffer: at least 1 (mask = capacity - 1,
  // both checked at attach, process-local), which the compiler is told, so
  // that a one-slot reservation needs no cut. Never on a default view.
  std::uint64_t to_end(std::uint64_t pos) const noexcept {
    const std::uint64_t k = capacity - (pos & mask);
    if (k == 0) __builtin_unreachable();
    return k;
  }
  // Copies a run of r.count items of `bytes` each into / out of its slots,
  // in two pieces where it goes on across the end of the buffer.
  void copy_in(span_pos r, const void* src, std::size_t bytes) const noexcept {
    const std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(r.count, to_end(r.pos)));
    std::memcpy(slot(r.pos), src, first * bytes);
    if (first < r.count)
      std::memcpy(slot(r.pos + first), static_cast<const std::byte*>(src) + first * bytes,
                  (r.count - first) * bytes);
  }
  void copy_out(span_pos r, void* dst, std::size_t bytes) const noexcept {
    const std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(r.count, to_end(r.pos)));
    std::memcpy(dst, slot(r.pos), first * bytes);
    if (first < r.count)
      std::memcpy(static_cast<std::byte*>(dst) + first * bytes, slot(r.pos + first),
                  (r.count - first) * bytes);
  }
  std::uint64_t lap2(std::uint64_t pos) const noexcept { return (pos >> shift) << 1; }
  std::uint64_t void_turn(std::uint64_t pos) const noexcept { return (lap2(pos) + 1) | turn_void; }
};

/// A side's process-local watch on the position it is blocked on.
struct stall_watch {
  std::uint64_t pos = ~std::uint64_t{0};
  std::int64_t since_ns = 0;
};

/// P's claim record type, from P::shared itself: clang does not treat an
/// alias template (P::atomic) as the class template it names.
template <class P>
using claim_record_t =
    std::remove_reference_t<decltype(std::declval<typename P::shared&>().producer_claims[0])>;

struct shipped_ring;
using ring_view = basic_ring_view<shipped_ring>;

/// The view of an engine that holds no ring (default-constructed, or moved
/// from): a static ring of one slot, closed, whose turn is ready for no
/// position, with head = tail = 0. An engine on it finds it closed, full
/// or empty on its ordinary paths (no test added to them), and an engine
/// that was moved from can no longer touch the ring it left. Out of line:
/// runtime/ring_state.cpp.
const ring_view& detached_view() noexcept;

/// Called now and then by a side of a ring that cannot proceed at `pos`
/// (its cursor). When the position it waits for was claimed by the other
/// side and has stayed unfinished for recovery_delay, settles the positions
/// of dead claimers (see "Crashes" above). Out of line: runtime/recovery.cpp.
[[gnu::cold]] void check_stall(const ring_view& v, role blocked, std::uint64_t pos, stall_watch& w) noexcept;

/// The library's policy: std::atomic, the real event count and liveness.
struct shipped_ring {
  template <class T>
  using atomic = std::atomic<T>;
  using event_count = detail::event_count;
  using shared = ring_shared;
  static constexpr std::size_t roles = max_roles;
  static constexpr bool rmw_pairing = tsan_build;
  static constexpr std::uint32_t stall_check_mask = 1023;
  static constexpr ring_mutation mutation = ring_mutation::none;
  static void acquire_fence() noexcept { std::atomic_thread_fence(std::memory_order_acquire); }
  static void notify(event_count& ec, doorbell_site* const& bells, std::size_t k) noexcept {
    detail::notify(ec, bells, static_cast<std::uint32_t>(std::min<std::size_t>(k, wake_every)));
  }
  static void wake_all(event_count& ec, doorbell_site* bells) noexcept { notify_slow(ec, bells); }
  static bool owner_alive(std::uint64_t owner) noexcept { return detail::owner_alive(owner); }
  static void check_stall(const ring_view& v, role blocked, std::uint64_t pos, stall_watch& w) noexcept {
    detail::check_stall(v, blocked, pos, w);
  }
};

// The order of a step that a mutant weakens: `o` unless P's mutation is m.
template <class P>
constexpr std::memory_order order_unless(ring_mutation m, std::memory_order o) noexcept {
  return P::mutation == m ? std::memory_order_relaxed : o;
}

template <class P>
claim_record_t<P>* claim_record_of(const basic_ring_view<P>& v, role r, std::size_t slot) noexcept {
  if (v.shared == nullptr || slot >= P::roles) return nullptr;
  return r == role::producer ? &v.shared->producer_claims[slot] : &v.shared->consumer_claims[slot];
}

/// What makes a side a producer or a consumer. The engine below is one
/// piece of code for both (as DPDK's one move_head serves both directions);
/// a side differs only in these: the cursor it advances, the other side's
/// cursor, the event count it wakes, and its two turns.
template <role Side, class P>
struct side_traits;

template <class P>
struct side_traits<role::producer, P> {
  template <class Shared>
  static auto& own(Shared& s) noexcept {
    return s.tail;
  }
  template <class Shared>
  static auto& other(Shared& s) noexcept {
    return s.head;
  }
  template <class Shared>
  static auto& wakes(Shared& s) noexcept {
    return s.not_empty;
  }
  // A slot is ready for this side at turn 2L + ready (free) and handed on
  // at 2L + done (full).
  static constexpr std::uint64_t ready = 0;
  static constexpr std::uint64_t done = 1;
  // spsc: a producer may run up to a whole ring ahead of the consumer.
  static constexpr bool ahead_by_capacity = true;
  // R-TAIL (spsc publish; pairs with the consumer's A-TAIL), A-HEAD (spsc
  // refresh; pairs with the consumer's R-HEAD), R-TURN-FULL (turn publish;
  // pairs with the consumer's A-TURN).
  static constexpr auto r_own = order_unless<P>(ring_mutation::relaxed_tail, std::memory_order_release);
  static constexpr auto a_other = order_unless<P>(ring_mutation::relaxed_head, std::memory_order_acquire);
  static constexpr auto r_done = order_unless<P>(ring_mutation::relaxed_turn_full, std::memory_order_release);
};

template <class P>
struct side_traits<role::consumer, P> {
  template <class Shared>
  static auto& own(Shared& s) noexcept {
    return s.head;
  }
  template <class Shared>
  static auto& other(Shared& s) noexcept {
    return s.tail;
  }
  template <class Shared>
  static auto& wakes(Shared& s) noexcept {
    return s.not_full;
  }
  // Ready at 2L + 1 (full), handed on at 2L + 2 (free for the next lap).
  static constexpr std::uint64_t ready = 1;
  static constexpr std::uint64_t done = 2;
  static constexpr bool ahead_by_capacity = false;
  // R-HEAD (the consumer is done reading every slot before head), A-TAIL
  // (the producer's slot writes before tail are visible), R-TURN-FREE.
  static constexpr auto r_own = std::memory_order_release;
  static constexpr auto a_other = std::memory_order_acquire;
  static constexpr auto r_done = order_unless<P>(ring_mutation::relaxed_turn_free, std::memory_order_release);
};

/// One side of a ring: reserve, (the caller copies), publish.
///   Side        producer or consumer (side_traits)
///   MultiOwn    this side claims its positions by CAS on its cursor (with
///               a claim record), else it owns the cursor outright
///   MultiOther  the other side claims by CAS: a dead claimer there can
///               stall this side (blocked(), poll_stall())
/// Neither multi: spsc, positions only; else per-slot turns. Engines are
/// written on every operation by their own thread: each takes whole cache
/// lines, so handles that sit next to each other never falsely share.
template <role Side, bool MultiOwn, bool MultiOther, class P = shipped_ring>
class alignas(cache_line) ring_engine {
  using S = side_traits<Side, P>;
  static constexpr bool turns = MultiOwn || MultiOther;
  static constexpr bool consumer = Side == role::consumer;

 public:
  using view_type = basic_ring_view<P>;
  using atomic_u64 = typename view_type::atomic_u64;
  using record = claim_record_t<P>;

  ring_engine() noexcept { detach(); }
  /// `slot`: this handle's role slot (its claim record, for a multi side).
  ring_engine(const view_type& v, std::size_t slot) noexcept
      : v_(v), rec_(MultiOwn ? claim_record_of(v, Side, slot) : nullptr) {
    // relaxed: read once at attach; spsc checks it against the other
    // side's position at its first reserve (limit_ = own_: full / empty).
    own_ = own_cursor().load(std::memory_order_relaxed);
    limit_ = own_;
    if constexpr (turns && !MultiOwn) resume_after_finished();
  }
  ring_engine(ring_engine&& o) noexcept { steal(o); }
  ring_engine& operator=(ring_engine&& o) noexcept {
    if (this != &o) {
      drop();
      steal(o);
    }
    return *this;
  }
  ~ring_engine() { drop(); }
  ring_engine(const ring_engine&) = delete;
  ring_engine& operator=(const ring_engine&) = delete;

  const view_type& view() const noexcept { return v_; }
  /// The first position of the current (or last) reservation.
  std::uint64_t pos() const noexcept { return res_.pos; }
  std::size_t reserved() const noexcept { return res_.count; }
  bool corrupt() const noexcept { return corrupt_; }
  /// Whether the ring is closed. A-CLOSE: pairs with R-CLOSE / R-REOPEN in
  /// ring_state; one load (and a bit test) from a line nobody writes. A
  /// detached engine's ring is closed.
  bool closed() const noexcept {
    return (v_.shared->closed.load(std::memory_order_acquire) & state_closed) != 0;
  }

  /// Takes up to n contiguous slots ready for this side (free for a
  /// producer, filled for a consumer): the span it took, count 0 when full
  /// / empty (or corrupt(): the shared positions are impossible). The
  /// reservation stays open until publish() (or abandon()).
  span_pos reserve(std::size_t n) noexcept { return reserve_slots<false>(n); }
  /// As reserve(), but the run may go on across the end of the buffer (to
  /// slot 0): for a copy split in two there (view().copy_in / copy_out),
  /// so that a batch is one reservation and one publish() (push_n, pop_n).
  span_pos reserve_run(std::size_t n) noexcept { return reserve_slots<true>(n); }

  /// Hands the reserved slots to the other side.
  void publish() noexcept {
    const span_pos r = res_;
    if constexpr (!turns) {
      own_ = r.pos + r.count;
      // R-TAIL / R-HEAD (side_traits).
      own_cursor().store(own_, S::r_own);
    } else {
      for (std::size_t i = 0; i < r.count; ++i) hand_on(r.pos + i);
      if constexpr (!MultiOwn) {
        own_ = r.pos + r.count;
        // relaxed: a hint for size() and the next holder; turns publish.
        own_cursor().store(own_, std::memory_order_relaxed);
      }
    }
    res_.count = 0;
    P::notify(S::wakes(*v_.shared), v_.bells, r.count);
  }

  /// try_push and try_pop: reserves one slot, lets copy(slot) write or read
  /// it, publishes it: false, with nothing reserved, when full / empty (or
  /// corrupt). The position stays in a register across the copy (a copy
  /// through std::byte* may alias every member, which would be read again
  /// after it). Stride: as view().slot().
  template <std::uint64_t Stride = 0, class Copy>
  bool transfer_one(Copy&& copy) noexcept {
    if constexpr (!turns) {
      const std::uint64_t pos = own_;
      auto* const slot = slot_of<Stride>(pos);
      if (limit_ == pos) [[unlikely]] {
        if constexpr (consumer) prefetch_read(slot);  // see "Lock-step" above
        if (!refresh() || limit_ == pos) return false;
      }
      auto* const sh = v_.shared;
      copy(slot);
      own_ = pos + 1;
      // R-TAIL / R-HEAD (side_traits).
      S::own(*sh).store(pos + 1, S::r_own);
      P::notify(S::wakes(*sh), v_.bells, 1);
      return true;
    } else {
      std::uint64_t pos;
      if (!reserve_one(pos)) return false;
      copy(slot_of<Stride>(pos));
      hand_on(pos);
      if constexpr (!MultiOwn) {
        own_ = pos + 1;
        own_cursor().store(own_, std::memory_order_relaxed);  // hint (as in publish())
      }
      P::notify(S::wakes(*v_.shared), v_.bells, 1);
      return true;
    }
  }

  /// Producers: gives up the reservation. A multi producer's claimed
  /// positions become void (consumers skip them); a single producer simply
  /// writes them again.
  void abandon() noexcept requires(!consumer) {
    if (res_.count == 0) return;
    if constexpr (MultiOwn) {
      for (std::size_t i = 0; i < res_.count; ++i)
        v_.turn(res_.pos + i).store(v_.void_turn(res_.pos + i), std::memory_order_release);
      P::notify(S::wakes(*v_.shared), v_.bells, res_.count);
    }
    res_.count = 0;
  }

  /// Consumers: like reserve(1), but first shows the filled slot to
  /// `accept(slot)` (kinds with turns only). When accept returns false
  /// nothing is reserved and the item stays queued; returns 0 then, or when
  /// empty (tell the two apart by what accept saw). accept may run on a
  /// slot that another consumer takes meanwhile: it must only read
  /// (atomically) and must not act on what it saw unless reserve_one_if
  /// then returns 1.
  template <class Accept>
  std::size_t reserve_one_if(Accept&& accept) noexcept requires(consumer) {
    static_assert(turns, "reserve_one_if needs per-slot turns");
    std::uint64_t pos = MultiOwn ? own_cursor().load(std::memory_order_relaxed) : own_;
    bool announced = false;
    auto none = [&]() noexcept -> std::size_t {
      if constexpr (MultiOwn)
        if (announced) retract();
      return 0;
    };
    for (;;) {
      if (!ready(pos)) {  // A-TURN inside
        if (is_void(pos)) {
          if constexpr (MultiOwn) {
            announced = true;
            skip_void(pos);
          } else {
            skip_own_void();
            pos = own_;
          }
          continue;
        }
        if constexpr (MultiOwn) {
          const std::uint64_t again = own_cursor().load(std::memory_order_relaxed);
          if (again != pos) {
            pos = again;
            continue;
          }
        }
        blocked(pos);
        return none();
      }
      const bool ok = accept(static_cast<const std::byte*>(v_.slot(pos)));
      if constexpr (!MultiOwn) {
        return ok ? take<false>(pos, 1).count : 0;
      } else {
        if (!ok) {
          // F-ACCEPT: keeps accept's reads before the head re-load. If head
          // still equals pos, nobody took pos, so its producer of the next
          // lap cannot have written the slot: accept saw this item.
          std::uint64_t again;
          if constexpr (P::rmw_pairing) {
            // An RMW that writes head's own value: its release half keeps
            // accept's reads before it (TSan builds only; see cpu.hpp).
            again = own_cursor().fetch_add(0, std::memory_order_acq_rel);
          } else {
            P::acquire_fence();
            again = own_cursor().load(std::memory_order_relaxed);
          }
          if (again == pos) return none();
          pos = again;
          continue;
        }
        announce(pos, pos + 1);
        announced = true;
        // release: publishes the record with the claim (R-CLAIM); success
        // means head was still pos, so the slot accept looked at is ours.
        if (own_cursor().compare_exchange_weak(pos, pos + 1, std::memory_order_release,
                                               std::memory_order_relaxed))
          return take<false>(pos, 1).count;
      }
    }
  }

  /// Consumers: true when a reserve(1) would likely succeed (for multi-ring
  /// waits); an abandoned slot counts, since taking it lets the wait move on.
  bool readable() const noexcept requires(consumer) {
    if constexpr (!turns) {
      return S::other(*v_.shared).load(std::memory_order_acquire) != own_;
    } else {
      const std::uint64_t pos = MultiOwn ? v_.shared->head.load(std::memory_order_relaxed) : own_;
      return ready(pos) || is_void(pos);
    }
  }

  /// For a waiting side: looks for a dead claimer of the other side that
  /// holds the position it waits for (see "Crashes").
  void poll_stall() noexcept {
    if constexpr (MultiOther)
      P::check_stall(v_, Side, MultiOwn ? own_cursor().load(std::memory_order_relaxed) : own_, watch_);
  }

  /// A keeping side (a multi side: it has a claim record) that took over
  /// a dead holder's role slot (ring_recovery.hpp, "Kept claims"): `held`
  /// is what resolve_kept() found it now holds, reserved as if reserve()
  /// had returned it: a consumer's to deliver, then publish(); a
  /// producer's (claimed, never published) to abandon(), or publish() by a
  /// caller that knows the slots were written whole. Count 0: nothing
  /// held, and the inherited record is emptied.
  void inherit(span_pos held) noexcept {
    record* const r = rec_;
    if (held.count == 0) {
      r->end.store(r->from.load(std::memory_order_relaxed), std::memory_order_relaxed);
      return;
    }
    // Narrowed to what is held; every step still covers it.
    r->from.store(held.pos, std::memory_order_release);
    r->end.store(held.pos + held.count, std::memory_order_release);
    res_ = held;
  }
  /// Our role slot's claim record (null for single sides).
  record* claims() const noexcept { return rec_; }

 private:
  atomic_u64& own_cursor() const noexcept { return S::own(*v_.shared); }
  template <std::uint64_t Stride>
  auto* slot_of(std::uint64_t pos) const noexcept {
    if constexpr (consumer)
      return static_cast<const std::byte*>(v_.template slot<Stride>(pos));
    else
      return v_.template slot<Stride>(pos);
  }

  // Onto detached_view() (the library's policy; the model never detaches):
  // a capacity of 1 with head = tail = 0, so a producer at 1 finds it full
  // and a consumer at 0 empty.
  void detach() noexcept {
    if constexpr (std::is_same_v<P, shipped_ring>) {
      v_ = detached_view();
      rec_ = nullptr;
      own_ = consumer ? 0 : 1;
      limit_ = own_;
      res_ = {};
      corrupt_ = false;
    }
  }
  void steal(ring_engine& o) noexcept {
    v_ = o.v_;
    rec_ = o.rec_;
    own_ = o.own_;
    limit_ = o.limit_;
    res_ = std::exchange(o.res_, span_pos{});
    corrupt_ = o.corrupt_;
    idle_ = o.idle_;
    watch_ = o.watch_;
    o.detach();
  }
  // A reservation left open when the handle goes: a producer's is given up,
  // a consumer's handed back.
  void drop() noexcept {
    if constexpr (consumer) {
      if (res_.count != 0) publish();
    } else {
      abandon();
    }
  }

  template <bool Run>
  span_pos reserve_slots(std::size_t n) noexcept {
    if constexpr (!turns) {
      if (limit_ - own_ < n && !refresh()) [[unlikely]]
        return {};
      return take<Run>(own_, std::min<std::uint64_t>(n, limit_ - own_));
    } else if constexpr (!MultiOwn) {
      for (;;) {
        if (const std::size_t k = ready_prefix<Run>(own_, n); k != 0) return take<Run>(own_, k);
        if constexpr (consumer) {
          if (is_void(own_)) {
            skip_own_void();
            continue;
          }
        }
        blocked(own_);
        return {};
      }
    } else {
      return claim<Run>(n);
    }
  }

  // Kinds with turns, for transfer_one(): the position of one slot ready
  // for this side, taken (false when full / empty, or corrupt). Nothing
  // stays reserved: transfer_one() hands the slot on itself.
  bool reserve_one(std::uint64_t& pos) noexcept {
    if constexpr (!MultiOwn) {
      if (ready(own_)) [[likely]] {
        pos = own_;
        return true;
      }
    }
    const span_pos r = reserve_slots<false>(1);
    res_.count = 0;
    pos = r.pos;
    return r.count != 0;
  }

  // Records a reservation of up to k slots from pos: cut at the end of the
  // buffer (contiguous, for spans), or, for a Run, not.
  template <bool Run>
  span_pos take(std::uint64_t pos, std::uint64_t k) noexcept {
    res_ = {pos, static_cast<std::size_t>(Run ? k : std::min(k, v_.to_end(pos)))};
    return res_;
  }

  // spsc: re-reads the other side's position (A-HEAD / A-TAIL:
  // side_traits); false (and corrupt()) when it is impossible: the two
  // positions never lie more than capacity apart, and limit_ - own_, the
  // slots this side may take, never exceeds capacity.
  bool refresh() noexcept {
    const std::uint64_t o = S::other(*v_.shared).load(S::a_other);
    const std::uint64_t limit = S::ahead_by_capacity ? o + v_.capacity : o;
    if (limit - own_ > v_.capacity) [[unlikely]] {
      corrupt_ = true;
      return false;
    }
    limit_ = limit;
    return true;
  }

  // A-TURN: the acquire pairs with the other side's R-TURN-FULL /
  // R-TURN-FREE of the same turn (hand_on()).
  bool ready(std::uint64_t pos) const noexcept {
    return v_.turn(pos).load(a_turn) == v_.lap2(pos) + S::ready;
  }
  // R-TURN-FULL / R-TURN-FREE: hands the slot at pos on to the other side
  // (the item is written / the slot is read).
  void hand_on(std::uint64_t pos) noexcept { v_.turn(pos).store(v_.lap2(pos) + S::done, S::r_done); }
  // Consumers: pos was abandoned by its dead producer (set by the CAS of
  // check_stall(); nothing to read, so relaxed).
  bool is_void(std::uint64_t pos) const noexcept {
    return v_.turn(pos).load(std::memory_order_relaxed) == v_.void_turn(pos);
  }

  // How many slots from pos are ready for this side, up to n and the end of
  // the buffer (a Run: up to n and the capacity).
  template <bool Run>
  std::size_t ready_prefix(std::uint64_t pos, std::size_t n) const noexcept {
    const std::uint64_t lim = std::min<std::uint64_t>(n, Run ? v_.capacity : v_.to_end(pos));
    std::size_t k = 0;
    while (k < lim && ready(pos + k)) ++k;
    return k;
  }

  // R-CLAIM: the record of what we are about to claim; released before the
  // claiming CAS (and by the CAS itself), acquired by check_stall() after
  // it acquired the cursor.
  void announce(std::uint64_t from, std::uint64_t end) noexcept {
    if constexpr (P::mutation == ring_mutation::no_announce) return;
    rec_->from.store(from, std::memory_order_release);
    rec_->end.store(end, std::memory_order_release);
  }
  // Empties the record after a failed claim, so that it covers nothing
  // (relaxed: a survivor that still sees the old range only waits longer).
  void retract() noexcept {
    if constexpr (P::mutation == ring_mutation::no_retract) return;
    rec_->end.store(rec_->from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  // A multi side claims up to n ready slots by CAS on its cursor; count 0
  // when the slot at the cursor is not ready (full for producers, empty for
  // consumers). Consumers take and skip abandoned slots on the way. The
  // uncontended case is inline; retries, skips and the blocked path are out
  // of line (claim_slow).
  template <bool Run>
  span_pos claim(std::size_t n) noexcept {
    atomic_u64& cursor = own_cursor();
    // relaxed: the CAS validates the cursor; turns carry the ordering.
    std::uint64_t pos = cursor.load(std::memory_order_relaxed);
    if (const std::size_t k = ready_prefix<Run>(pos, n); k != 0) [[likely]] {
      announce(pos, pos + k);
      // release: publishes the record with the claim (R-CLAIM).
      if (cursor.compare_exchange_strong(pos, pos + k, std::memory_order_release, std::memory_order_relaxed))
          [[likely]]
        return take<Run>(pos, k);
      return claim_slow<Run>(n, pos, true);
    }
    return claim_slow<Run>(n, pos, false);
  }

  template <bool Run>
  [[gnu::noinline]] span_pos claim_slow(std::size_t n, std::uint64_t pos, bool announced) noexcept {
    atomic_u64& cursor = own_cursor();
    for (;;) {
      const std::size_t k = ready_prefix<Run>(pos, n);
      if (k == 0) {
        if constexpr (consumer) {
          if (is_void(pos)) {
            announced = true;
            skip_void(pos);
            continue;
          }
        }
        const std::uint64_t again = cursor.load(std::memory_order_relaxed);
        if (again == pos) {
          // Nothing claimed: the record must not cover others' positions.
          if (announced) retract();
          blocked(pos);
          return {};
        }
        pos = again;
        continue;
      }
      announce(pos, pos + k);
      announced = true;
      // release: publishes the record with the claim (R-CLAIM); exclusivity
      // comes from the CAS itself; the slots' turns were acquired above.
      if (cursor.compare_exchange_weak(pos, pos + k, std::memory_order_release, std::memory_order_relaxed))
        return take<Run>(pos, k);
    }
  }

  // Multi consumers: claims the abandoned slot at pos and frees it for the
  // next lap; pos becomes the cursor to continue from.
  void skip_void(std::uint64_t& pos) noexcept {
    announce(pos, pos + 1);
    const std::uint64_t p = pos;
    if (own_cursor().compare_exchange_strong(pos, p + 1, std::memory_order_release,
                                             std::memory_order_relaxed)) {
      hand_on(p);
      P::notify(S::wakes(*v_.shared), v_.bells, 1);
      pos = p + 1;
    }
  }
  // Single consumer: takes and frees the abandoned slot at own_.
  void skip_own_void() noexcept {
    hand_on(own_);
    P::notify(S::wakes(*v_.shared), v_.bells, 1);
    ++own_;
    own_cursor().store(own_, std::memory_order_relaxed);  // hint
  }

  // Every 1024th failed reservation looks for a stalled claim (cheap: a
  // counter; the clock and the shared cursor only then).
  void blocked(std::uint64_t pos) noexcept {
    if constexpr (MultiOther)
      if ((++idle_ & P::stall_check_mask) == 0) [[unlikely]]
        P::check_stall(v_, Side, pos, watch_);
  }

  // Single side with turns, at attach: the stored cursor may lag the last
  // holder's work by its last batch; skip the positions it had already
  // finished (a producer's: full, void or already consumed; a consumer's:
  // free for their next lap).
  void resume_after_finished() noexcept {
    for (std::uint64_t i = 0; i < v_.capacity; ++i, ++own_)
      if (!finished_before(own_, S::done)) break;
    own_cursor().store(own_, std::memory_order_relaxed);
  }
  // Whether the last holder finished pos, i.e. its turn (void bit aside)
  // reached lap2 + done or went further: the other side may already have
  // moved the slot on to its next lap (a consumer's released slot refilled
  // by the producer of pos + cap). An ordering comparison, unlike ready():
  // a corrupt turn only makes the new holder skip or stop; positions stay
  // masked.
  bool finished_before(std::uint64_t pos, std::uint64_t done) const noexcept {
    // A-TURN (as in ready()).
    const std::uint64_t t = v_.turn(pos).load(std::memory_order_acquire) & ~turn_void;
    const std::uint64_t want = v_.lap2(pos) + done;
    if constexpr (P::mutation == ring_mutation::exact_resume) return t == want;
    return t >= want;
  }

  static constexpr auto a_turn = order_unless<P>(ring_mutation::relaxed_ready, std::memory_order_acquire);

  view_type v_{};
  record* rec_ = nullptr;    // multi side: our role slot's record
  std::uint64_t own_ = 0;    // single side: next position of this side
  std::uint64_t limit_ = 0;  // spsc: the position this side may go up to, last seen
  span_pos res_{};
  bool corrupt_ = false;
  std::uint32_t idle_ = 0;
  stall_watch watch_{};
};

/// The two sides of a ring of a given kind.
template <bool MultiProducer, bool MultiConsumer, class P = shipped_ring>
using producer_engine = ring_engine<role::producer, MultiProducer, MultiConsumer, P>;
template <bool MultiProducer, bool MultiConsumer, class P = shipped_ring>
using consumer_engine = ring_engine<role::consumer, MultiConsumer, MultiProducer, P>;

}  // namespace ringport::detail
