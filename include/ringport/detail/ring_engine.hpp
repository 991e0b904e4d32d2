// ringport/detail/ring_engine.hpp — the lock-free algorithms, on bytes.
//
// A producer or consumer engine works in two steps that every public
// operation is built from:
//   reserve(n) -> k      take up to n contiguous slots (0: full / empty)
//   ...copy into / out of slot(pos()) ... slot(pos() + k - 1)
//   publish()            hand the k slots to the other side
// try_push and try_pop are push_one(copy) / pop_one(copy): the same three
// steps for one slot in one call, so that spsc keeps its position in a
// register across the copy; push_n/pop_n take reserve_run(n), a run that may
// go on across the end of the buffer (only the copy is split there:
// view().copy_in / copy_out), so a batch is one claim and one publication;
// the zero-copy claim/commit and peek/release forms expose the slots
// directly and so stop at the end of the buffer.
//
// spsc (no multi side): Lamport's ring with cached positions. The producer
// owns `tail`, the consumer owns `head`; each keeps a process-local copy of
// the other's position and re-reads the shared one only when its copy says
// full/empty. One release store publishes a whole batch. Every shared
// position read is checked against the other (never more than capacity
// apart), at attach too, so a hostile value makes calls return corrupt.
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
//   notify(ec, bells)     after a publish: wake the other side's waiters
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
  static void notify(event_count& ec, doorbell_site* const& bells) noexcept { detail::notify(ec, bells); }
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

/// What both engines share: the validated view, the process-local
/// positions, the current reservation and the per-slot turn checks.
template <role Side, class P = shipped_ring>
class engine_base {
 public:
  using view_type = basic_ring_view<P>;
  using atomic_u64 = typename view_type::atomic_u64;
  using record = claim_record_t<P>;
  const view_type& view() const noexcept { return v_; }
  std::uint64_t pos() const noexcept { return res_.pos; }
  std::size_t reserved() const noexcept { return res_.count; }
  bool corrupt() const noexcept { return corrupt_; }
  /// Whether the ring is closed. A-CLOSE: pairs with R-CLOSE / R-REOPEN in
  /// ring_state; one load (and a bit test) from a line nobody writes. A
  /// detached engine's ring is closed.
  bool closed() const noexcept {
    return (v_.shared->closed.load(std::memory_order_acquire) & state_closed) != 0;
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

  engine_base(const engine_base&) = delete;
  engine_base& operator=(const engine_base&) = delete;

 protected:
  // The turn (relative to 2 * lap) at which a slot is ready for this side:
  // 0 = free, for producers; 1 = full, for consumers.
  static constexpr std::uint64_t ready_turn = Side == role::producer ? 0 : 1;

  engine_base() noexcept { detach(); }
  // other_multi: the other side claims by CAS, so a dead claimer there can
  // stall this side (see blocked()).
  engine_base(const view_type& v, record* rec, bool other_multi) noexcept
      : v_(v), rec_(rec), other_multi_(other_multi) {}
  engine_base(engine_base&& o) noexcept { steal(o); }
  void steal(engine_base& o) noexcept {
    v_ = o.v_;
    rec_ = o.rec_;
    own_ = o.own_;
    cached_other_ = o.cached_other_;
    res_ = std::exchange(o.res_, span_pos{});
    corrupt_ = o.corrupt_;
    other_multi_ = o.other_multi_;
    idle_ = o.idle_;
    watch_ = o.watch_;
    o.detach();
  }
  // Onto detached_view() (the library's policy; the model never detaches):
  // a single producer's copy of head one lap behind (full), a consumer's
  // equal to its own (empty).
  void detach() noexcept {
    if constexpr (std::is_same_v<P, shipped_ring>) {
      v_ = detached_view();
      rec_ = nullptr;
      own_ = Side == role::producer ? 1 : 0;
      cached_other_ = 0;
      res_ = {};
      corrupt_ = false;
      other_multi_ = false;
    }
  }

  // Records a reservation of up to k slots from pos: cut at the end of the
  // buffer (contiguous, for spans), or, for a Run, not (a copy split in two
  // at the end: push_n/pop_n reserve and publish once across the wrap).
  template <bool Run = false>
  std::size_t take(std::uint64_t pos, std::uint64_t k) noexcept {
    res_ = {pos, static_cast<std::size_t>(Run ? k : std::min(k, v_.to_end(pos)))};
    return res_.count;
  }

  // A-TURN: the acquire pairs with the other side's release of the same
  // turn: R-TURN-FREE in consumer_engine::publish() for producers (the
  // consumer of the previous lap is done reading), R-TURN-FULL in
  // producer_engine::publish() for consumers (the item is written).
  bool ready(std::uint64_t pos) const noexcept {
    return v_.turn(pos).load(a_turn) == v_.lap2(pos) + ready_turn;
  }
  // Consumers: pos was abandoned by its dead producer (set by the CAS of
  // check_stall(); nothing to read, so relaxed).
  bool is_void(std::uint64_t pos) const noexcept {
    return v_.turn(pos).load(std::memory_order_relaxed) == v_.void_turn(pos);
  }

  // Single side taken over (resume_after_finished): whether the last holder
  // finished pos, i.e. its turn (void bit aside) reached lap2 + done (1: a
  // producer published it; 2: a consumer released it) or went further: the
  // other side may already have moved the slot on to its next lap (a
  // consumer's released slot refilled by the producer of pos + cap). An
  // ordering comparison, unlike ready(): a corrupt turn only makes the new
  // holder skip or stop; positions stay masked.
  bool finished_before(std::uint64_t pos, std::uint64_t done) const noexcept {
    // A-TURN (as in ready()).
    const std::uint64_t t = v_.turn(pos).load(std::memory_order_acquire) & ~turn_void;
    const std::uint64_t want = v_.lap2(pos) + done;
    if constexpr (P::mutation == ring_mutation::exact_resume) return t == want;
    return t >= want;
  }

  // How many slots from pos are ready for this side, up to n and the end of
  // the buffer (a Run: up to n and the capacity).
  template <bool Run = false>
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

  // A multi side claims up to n ready slots by CAS on its cursor; 0 when
  // the slot at the cursor is not ready (full for producers, empty for
  // consumers). Consumers take and skip abandoned slots on the way.
  // The uncontended case is inline; retries, skips and the blocked path
  // are out of line (claim_slow).
  template <bool Run = false>
  std::size_t claim(atomic_u64& cursor, std::size_t n) noexcept {
    // relaxed: the CAS validates the cursor; turns carry the ordering.
    std::uint64_t pos = cursor.load(std::memory_order_relaxed);
    if (const std::size_t k = ready_prefix<Run>(pos, n); k != 0) [[likely]] {
      announce(pos, pos + k);
      // release: publishes the record with the claim (R-CLAIM).
      if (cursor.compare_exchange_strong(pos, pos + k, std::memory_order_release, std::memory_order_relaxed))
          [[likely]]
        return take<Run>(pos, k);
      return claim_slow<Run>(cursor, n, pos, true);
    }
    return claim_slow<Run>(cursor, n, pos, false);
  }

  template <bool Run>
  [[gnu::noinline]] std::size_t claim_slow(atomic_u64& cursor, std::size_t n, std::uint64_t pos,
                                           bool announced) noexcept {
    for (;;) {
      const std::size_t k = ready_prefix<Run>(pos, n);
      if (k == 0) {
        if constexpr (Side == role::consumer) {
          if (is_void(pos)) {
            announced = true;
            skip_void(cursor, pos);
            continue;
          }
        }
        const std::uint64_t again = cursor.load(std::memory_order_relaxed);
        if (again == pos) {
          // Nothing claimed: the record must not cover others' positions.
          if (announced) retract();
          blocked(pos);
          return 0;
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

  // Consumers (multi): claims the abandoned slot at pos and frees it for the
  // next lap; pos becomes the cursor to continue from.
  void skip_void(atomic_u64& cursor, std::uint64_t& pos) noexcept {
    announce(pos, pos + 1);
    const std::uint64_t p = pos;
    if (cursor.compare_exchange_strong(pos, p + 1, std::memory_order_release, std::memory_order_relaxed)) {
      free_for_next_lap(p);
      pos = p + 1;
    }
  }
  void free_for_next_lap(std::uint64_t p) noexcept {
    // R-TURN-FREE (as in consumer_engine::publish()).
    v_.turn(p).store(v_.lap2(p) + 2, r_turn_free);
    P::notify(v_.shared->not_full, v_.bells);
  }

  // Every 1024th failed reservation looks for a stalled claim (cheap: a
  // counter; the clock and the shared cursor only then).
  void blocked(std::uint64_t pos) noexcept {
    if (other_multi_ && (++idle_ & P::stall_check_mask) == 0) [[unlikely]]
      P::check_stall(v_, Side, pos, watch_);
  }

  // The orders of the turn and spsc position steps (see order_unless).
  static constexpr auto a_turn = order_unless<P>(ring_mutation::relaxed_ready, std::memory_order_acquire);
  static constexpr auto r_turn_full =
      order_unless<P>(ring_mutation::relaxed_turn_full, std::memory_order_release);
  static constexpr auto r_turn_free =
      order_unless<P>(ring_mutation::relaxed_turn_free, std::memory_order_release);
  static constexpr auto r_tail = order_unless<P>(ring_mutation::relaxed_tail, std::memory_order_release);
  static constexpr auto a_head = order_unless<P>(ring_mutation::relaxed_head, std::memory_order_acquire);

  view_type v_{};
  record* rec_ = nullptr;           // multi side: our role slot's record
  std::uint64_t own_ = 0;           // single side: next position of this side
  std::uint64_t cached_other_ = 0;  // spsc: the other side's position, last seen
  span_pos res_{};
  bool corrupt_ = false;
  bool other_multi_ = false;
  std::uint32_t idle_ = 0;
  stall_watch watch_{};
};

template <class P>
claim_record_t<P>* claim_record_of(const basic_ring_view<P>& v, role r, std::size_t slot) noexcept {
  if (v.shared == nullptr || slot >= P::roles) return nullptr;
  return r == role::producer ? &v.shared->producer_claims[slot] : &v.shared->consumer_claims[slot];
}

// Engines are written on every operation by their own thread: each takes
// whole cache lines, so handles that sit next to each other (on a stack, in
// a struct) never falsely share.
template <bool MultiProducer, bool MultiConsumer, class P = shipped_ring>
class alignas(cache_line) producer_engine : public engine_base<role::producer, P> {
  static constexpr bool turns = MultiProducer || MultiConsumer;
  using base = engine_base<role::producer, P>;
  using base::a_head;
  using base::a_turn;
  using base::blocked;
  using base::cached_other_;
  using base::claim;
  using base::corrupt_;
  using base::own_;
  using base::r_tail;
  using base::r_turn_free;
  using base::r_turn_full;
  using base::ready;
  using base::ready_prefix;
  using base::res_;
  using base::steal;
  using base::take;
  using base::v_;
  using base::watch_;
  using typename base::view_type;

 public:
  producer_engine() = default;
  /// `slot`: this handle's producer role slot (its claim record).
  producer_engine(const view_type& v, std::size_t slot) noexcept
      : base(v, MultiProducer ? claim_record_of(v, role::producer, slot) : nullptr, MultiConsumer) {
    // relaxed: read once at attach; later uses validate against head.
    own_ = v_.shared->tail.load(std::memory_order_relaxed);
    if constexpr (!turns) {
      // Looks full: the first reserve re-reads and checks head.
      cached_other_ = own_ - v_.capacity;
    } else if constexpr (!MultiProducer) {
      resume_after_finished();
    }
  }
  producer_engine(producer_engine&& o) noexcept : base(std::move(o)) {}
  producer_engine& operator=(producer_engine&& o) noexcept {
    if (this != &o) {
      abandon();
      steal(o);
    }
    return *this;
  }
  ~producer_engine() { abandon(); }

 private:
  template <bool Run>
  std::size_t reserve_slots(std::size_t n) noexcept {
    if constexpr (!turns) {
      if (v_.capacity - (own_ - cached_other_) < n && !refresh_head()) [[unlikely]]
        return 0;
      return this->template take<Run>(own_, std::min<std::uint64_t>(n, v_.capacity - (own_ - cached_other_)));
    } else if constexpr (!MultiProducer) {
      const std::size_t k = this->template take<Run>(own_, this->template ready_prefix<Run>(own_, n));
      if (k == 0) blocked(own_);
      return k;
    } else {
      return this->template claim<Run>(v_.shared->tail, n);
    }
  }

 public:
  /// Takes up to n free contiguous slots; 0 when full. Sets corrupt() when
  /// the shared positions are impossible.
  std::size_t reserve(std::size_t n) noexcept { return reserve_slots<false>(n); }
  /// As reserve(), but the run may go on across the end of the buffer (to
  /// slot 0): for a copy split in two there (view().copy_in), one
  /// reservation and one publish() per batch (push_n). Returns the run.
  span_pos reserve_run(std::size_t n) noexcept {
    reserve_slots<true>(n);
    return res_;
  }

  /// try_push's whole fast path: reserves one free slot, lets copy(slot)
  /// write it, publishes it. False, with nothing reserved, when full (or
  /// corrupt). spsc keeps its position in a register across the copy (a
  /// copy through std::byte* may alias every member, which would be read
  /// again after it).
  template <std::uint64_t Stride = 0, class Copy>
  bool push_one(Copy&& copy) noexcept {
    if constexpr (!turns) {
      const std::uint64_t pos = own_;
      if (pos - cached_other_ >= v_.capacity) [[unlikely]]
        if (!refresh_head() || pos - cached_other_ == v_.capacity) return false;
      auto* const sh = v_.shared;
      copy(v_.template slot<Stride>(pos));
      own_ = pos + 1;
      // R-TAIL (as in publish()).
      sh->tail.store(pos + 1, r_tail);
      P::notify(sh->not_empty, v_.bells);
      return true;
    } else {
      std::byte* const slot = reserve_one<Stride>();
      if (slot == nullptr) return false;
      copy(slot);
      publish_one();
      return true;
    }
  }

 private:
  // Kinds with turns: the free slot to write, or null when full (or
  // corrupt); then publish_one().
  template <std::uint64_t Stride>
  std::byte* reserve_one() noexcept {
    static_assert(turns, "spsc: push_one");
    if constexpr (!MultiProducer) {
      if (ready(own_)) return v_.template slot<Stride>(own_);
      blocked(own_);
      return nullptr;
    } else {
      return reserve(1) != 0 ? v_.template slot<Stride>(res_.pos) : nullptr;
    }
  }

  // Publishes the slot from reserve_one().
  void publish_one() noexcept {
    if constexpr (!MultiProducer) {
      // R-TURN-FULL (as in publish()).
      v_.turn(own_).store(v_.lap2(own_) + 1, r_turn_full);
      ++own_;
      v_.shared->tail.store(own_, std::memory_order_relaxed);  // hint (see the top of this file)
    } else {
      // R-TURN-FULL (as in publish()).
      v_.turn(res_.pos).store(v_.lap2(res_.pos) + 1, r_turn_full);
      res_.count = 0;
    }
    P::notify(v_.shared->not_empty, v_.bells);
  }

 public:
  /// Hands the reserved slots to the consumers.
  void publish() noexcept {
    if constexpr (!turns) {
      own_ = res_.pos + res_.count;
      // R-TAIL: pairs with A-TAIL in consumer_engine::refresh_tail(): the
      // slot writes above become visible with the new tail.
      v_.shared->tail.store(own_, r_tail);
    } else {
      for (std::size_t i = 0; i < res_.count; ++i) {
        const std::uint64_t p = res_.pos + i;
        // R-TURN-FULL: pairs with A-TURN in the consumer's ready().
        v_.turn(p).store(v_.lap2(p) + 1, r_turn_full);
      }
      if constexpr (!MultiProducer) {
        own_ = res_.pos + res_.count;
        // relaxed: a hint for size() and the next holder; turns publish.
        v_.shared->tail.store(own_, std::memory_order_relaxed);
      }
    }
    res_.count = 0;
    P::notify(v_.shared->not_empty, v_.bells);
  }

  /// Gives up the reservation: a multi producer's claimed positions become
  /// void (consumers skip them); single producers simply write them again.
  void abandon() noexcept {
    if (res_.count == 0) return;
    if constexpr (MultiProducer) {
      for (std::size_t i = 0; i < res_.count; ++i)
        v_.turn(res_.pos + i).store(v_.void_turn(res_.pos + i), std::memory_order_release);
      P::notify(v_.shared->not_empty, v_.bells);
    }
    res_.count = 0;
  }

  /// For a waiting producer: looks for a dead consumer holding the slot it
  /// waits for (see "Crashes").
  void poll_stall() noexcept {
    if constexpr (MultiConsumer)
      P::check_stall(v_, role::producer,
                     MultiProducer ? v_.shared->tail.load(std::memory_order_relaxed) : own_, watch_);
  }

 private:
  // spsc: re-reads the consumer's position; false (and corrupt()) when it
  // is impossible.
  bool refresh_head() noexcept {
    // A-HEAD: pairs with R-HEAD in consumer_engine::publish(): the consumer
    // is done reading every slot before head.
    const std::uint64_t h = v_.shared->head.load(a_head);
    if (own_ - h > v_.capacity) [[unlikely]] {
      corrupt_ = true;
      return false;
    }
    cached_other_ = h;
    return true;
  }

  // Single producer with turns (spmc), at attach: the stored tail may lag
  // the last holder's publications by its last batch; skip the positions it
  // had already published (full, void, or already consumed).
  void resume_after_finished() noexcept {
    for (std::uint64_t i = 0; i < v_.capacity; ++i, ++own_)
      if (!this->finished_before(own_, 1)) break;
    v_.shared->tail.store(own_, std::memory_order_relaxed);
  }
};

template <bool MultiProducer, bool MultiConsumer, class P = shipped_ring>
class alignas(cache_line) consumer_engine : public engine_base<role::consumer, P> {
  static constexpr bool turns = MultiProducer || MultiConsumer;
  using base = engine_base<role::consumer, P>;
  using base::a_turn;
  using base::announce;
  using base::blocked;
  using base::cached_other_;
  using base::claim;
  using base::corrupt_;
  using base::free_for_next_lap;
  using base::is_void;
  using base::own_;
  using base::r_turn_free;
  using base::r_turn_full;
  using base::ready;
  using base::ready_prefix;
  using base::res_;
  using base::retract;
  using base::skip_void;
  using base::steal;
  using base::take;
  using base::v_;
  using base::watch_;
  using typename base::view_type;

 public:
  consumer_engine() = default;
  /// `slot`: this handle's consumer role slot (its claim record).
  consumer_engine(const view_type& v, std::size_t slot) noexcept
      : base(v, MultiConsumer ? claim_record_of(v, role::consumer, slot) : nullptr, MultiProducer) {
    own_ = v_.shared->head.load(std::memory_order_relaxed);
    if constexpr (!turns) {
      // Looks empty: the first reserve re-reads and checks tail.
      cached_other_ = own_;
    } else if constexpr (!MultiConsumer) {
      resume_after_finished();
    }
  }
  consumer_engine(consumer_engine&& o) noexcept : base(std::move(o)) {}
  consumer_engine& operator=(consumer_engine&& o) noexcept {
    if (this != &o) {
      if (res_.count != 0) publish();
      steal(o);
    }
    return *this;
  }
  ~consumer_engine() {
    if (res_.count != 0) publish();
  }

  /// Takes up to n filled contiguous slots; 0 when empty.
  std::size_t reserve(std::size_t n) noexcept { return reserve_slots<false>(n); }
  /// As reserve(), but the run may go on across the end of the buffer (as
  /// producer_engine::reserve_run; view().copy_out; pop_n).
  span_pos reserve_run(std::size_t n) noexcept {
    reserve_slots<true>(n);
    return res_;
  }

 private:
  template <bool Run>
  std::size_t reserve_slots(std::size_t n) noexcept {
    if constexpr (!turns) {
      if (cached_other_ - own_ < n && !refresh_tail()) [[unlikely]]
        return 0;
      return this->template take<Run>(own_, std::min<std::uint64_t>(n, cached_other_ - own_));
    } else if constexpr (!MultiConsumer) {
      for (;;) {
        const std::size_t k = this->template ready_prefix<Run>(own_, n);
        if (k != 0) return this->template take<Run>(own_, k);
        if (!is_void(own_)) {
          blocked(own_);
          return 0;
        }
        skip_own_void();
      }
    } else {
      return this->template claim<Run>(v_.shared->head, n);
    }
  }

 public:
  /// Like reserve(1), but first shows the filled slot to `accept(slot)`
  /// (kinds with turns only). When accept returns false nothing is reserved
  /// and the item stays queued; returns 0 then, or when empty (tell the two
  /// apart by what accept saw). accept may run on a slot that another
  /// consumer takes meanwhile: it must only read (atomically) and must not
  /// act on what it saw unless reserve_one_if then returns 1.
  template <class Accept>
  std::size_t reserve_one_if(Accept&& accept) noexcept {
    static_assert(turns, "reserve_one_if needs per-slot turns");
    std::uint64_t pos = MultiConsumer ? v_.shared->head.load(std::memory_order_relaxed) : own_;
    bool announced = false;
    auto none = [&]() noexcept -> std::size_t {
      if constexpr (MultiConsumer)
        if (announced) retract();
      return 0;
    };
    for (;;) {
      if (!ready(pos)) {  // A-TURN inside
        if (is_void(pos)) {
          if constexpr (MultiConsumer) {
            announced = true;
            skip_void(v_.shared->head, pos);
          } else {
            skip_own_void();
            pos = own_;
          }
          continue;
        }
        if constexpr (MultiConsumer) {
          const std::uint64_t again = v_.shared->head.load(std::memory_order_relaxed);
          if (again != pos) {
            pos = again;
            continue;
          }
        }
        blocked(pos);
        return none();
      }
      const bool ok = accept(static_cast<const std::byte*>(v_.slot(pos)));
      if constexpr (!MultiConsumer) {
        return ok ? take(pos, 1) : 0;
      } else {
        if (!ok) {
          // F-ACCEPT: keeps accept's reads before the head re-load. If head
          // still equals pos, nobody took pos, so its producer of the next
          // lap cannot have written the slot: accept saw this item.
          std::uint64_t again;
          if constexpr (P::rmw_pairing) {
            // An RMW that writes head's own value: its release half keeps
            // accept's reads before it (TSan builds only; see cpu.hpp).
            again = v_.shared->head.fetch_add(0, std::memory_order_acq_rel);
          } else {
            P::acquire_fence();
            again = v_.shared->head.load(std::memory_order_relaxed);
          }
          if (again == pos) return none();
          pos = again;
          continue;
        }
        announce(pos, pos + 1);
        announced = true;
        // release: publishes the record with the claim (R-CLAIM); success
        // means head was still pos, so the slot accept looked at is ours.
        if (v_.shared->head.compare_exchange_weak(pos, pos + 1, std::memory_order_release,
                                                  std::memory_order_relaxed))
          return take(pos, 1);
      }
    }
  }

  /// try_pop's whole fast path: reserves one filled slot, lets copy(slot)
  /// read it, releases it. False, with nothing reserved, when empty (or
  /// corrupt). As push_one().
  template <std::uint64_t Stride = 0, class Copy>
  bool pop_one(Copy&& copy) noexcept {
    if constexpr (!turns) {
      const std::uint64_t pos = own_;
      if (cached_other_ == pos) [[unlikely]]
        if (!refresh_tail() || cached_other_ == pos) return false;
      auto* const sh = v_.shared;
      copy(static_cast<const std::byte*>(v_.template slot<Stride>(pos)));
      own_ = pos + 1;
      // R-HEAD (as in publish()).
      sh->head.store(pos + 1, std::memory_order_release);
      P::notify(sh->not_full, v_.bells);
      return true;
    } else {
      const std::byte* const slot = reserve_one<Stride>();
      if (slot == nullptr) return false;
      copy(slot);
      publish_one();
      return true;
    }
  }

 private:
  // Kinds with turns: the filled slot to read, or null when empty (or
  // corrupt); then publish_one().
  template <std::uint64_t Stride>
  const std::byte* reserve_one() noexcept {
    static_assert(turns, "spsc: pop_one");
    if constexpr (!MultiConsumer) {
      if (ready(own_)) [[likely]]
        return v_.template slot<Stride>(own_);
      return reserve(1) != 0 ? v_.template slot<Stride>(own_) : nullptr;
    } else {
      return reserve(1) != 0 ? v_.template slot<Stride>(res_.pos) : nullptr;
    }
  }

  /// Releases the slot from reserve_one().
  void publish_one() noexcept {
    if constexpr (!MultiConsumer) {
      // R-TURN-FREE (as in publish()).
      v_.turn(own_).store(v_.lap2(own_) + 2, r_turn_free);
      ++own_;
      v_.shared->head.store(own_, std::memory_order_relaxed);  // hint (see the top of this file)
      res_.count = 0;
    } else {
      // R-TURN-FREE (as in publish()).
      v_.turn(res_.pos).store(v_.lap2(res_.pos) + 2, r_turn_free);
      res_.count = 0;
    }
    P::notify(v_.shared->not_full, v_.bells);
  }

 public:
  /// Gives the reserved slots back to the producers.
  void publish() noexcept {
    if constexpr (!turns) {
      own_ = res_.pos + res_.count;
      // R-HEAD: pairs with A-HEAD in producer_engine::refresh_head(): our
      // reads of the slots happen before the producer may overwrite them.
      v_.shared->head.store(own_, std::memory_order_release);
    } else {
      for (std::size_t i = 0; i < res_.count; ++i) {
        const std::uint64_t p = res_.pos + i;
        // R-TURN-FREE: pairs with A-TURN in the producer's ready().
        v_.turn(p).store(v_.lap2(p) + 2, r_turn_free);
      }
      if constexpr (!MultiConsumer) {
        own_ = res_.pos + res_.count;
        v_.shared->head.store(own_, std::memory_order_relaxed);  // hint (see the top of this file)
      }
    }
    res_.count = 0;
    P::notify(v_.shared->not_full, v_.bells);
  }

  /// True when a reserve(1) would likely succeed (for multi-ring waits); an
  /// abandoned slot counts, since taking it lets the wait move on.
  bool readable() const noexcept {
    if constexpr (!turns) {
      return v_.shared->tail.load(std::memory_order_acquire) != own_;
    } else {
      const std::uint64_t pos = MultiConsumer ? v_.shared->head.load(std::memory_order_relaxed) : own_;
      return ready(pos) || is_void(pos);
    }
  }

  /// For a waiting consumer: looks for a dead producer that claimed the
  /// position it waits for (see "Crashes").
  void poll_stall() noexcept {
    if constexpr (MultiProducer)
      P::check_stall(v_, role::consumer,
                     MultiConsumer ? v_.shared->head.load(std::memory_order_relaxed) : own_, watch_);
  }

 private:
  // spsc: re-reads the producer's position; false (and corrupt()) when it
  // is impossible.
  bool refresh_tail() noexcept {
    // A-TAIL: pairs with R-TAIL in producer_engine::publish(): the
    // producer's slot writes before tail are visible.
    const std::uint64_t t = v_.shared->tail.load(std::memory_order_acquire);
    if (t - own_ > v_.capacity) [[unlikely]] {
      corrupt_ = true;
      return false;
    }
    cached_other_ = t;
    return true;
  }

  // Single consumer: takes and frees the abandoned slot at own_.
  void skip_own_void() noexcept {
    free_for_next_lap(own_);
    ++own_;
    v_.shared->head.store(own_, std::memory_order_relaxed);  // hint
  }

  // Single consumer with turns (mpsc), at attach: the stored head may lag
  // the last holder's releases by its last batch; skip the positions it had
  // already released (free for their next lap).
  void resume_after_finished() noexcept {
    for (std::uint64_t i = 0; i < v_.capacity; ++i, ++own_)
      if (!this->finished_before(own_, 2)) break;
    v_.shared->head.store(own_, std::memory_order_relaxed);
  }
};

}  // namespace ringport::detail
