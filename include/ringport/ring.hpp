// ringport/ring.hpp — bounded lock-free rings of fixed-size slots.
//
// ringport::spsc<T>, mpsc<T>, spmc<T>, mpmc<T>: the producer-consumer bounded
// buffer, in a named shared-memory segment (create/open by name, from any
// process) or in an anonymous mapping for the threads of one process
// (create_local). T must be trivially copyable: slots hold bytes that any
// process may read.
//
// Guarantees
//  - Every item pushed is popped exactly once (until the ring is destroyed).
//  - FIFO: spsc and spmc deliver in push order; mpsc and mpmc deliver each
//    producer's items in that producer's order. Pushes and pops are
//    linearizable at the CAS (multi side) or release store (single side)
//    that publishes them.
//  - No system call on the data path while nobody waits; no allocation; no
//    locks; everything noexcept.
//
// Algorithm: see detail/ring_engine.hpp — Lamport's ring with cached
// positions for spsc; per-slot turns plus CAS-claimed cursors for the others.
// Batches (push_n/pop_n) reserve once and publish once; claim()/commit() and
// peek()/release() hand out the slots themselves (zero copy).
//
// Roles: producer() and consumer() return move-only handles that carry the
// process-local state (cached positions, the wait policy) and occupy a role
// slot in the segment (pid + process start time). A single-producer or
// single-consumer kind refuses a second live holder of its single role
// (errc::role_taken); a role whose holder died is taken over.
//
// Waiting: push/pop (block until done or closed), push_until/pop_until
// (absolute steady_clock deadline), push_for/pop_for. Policy per handle:
// busy_spin, adaptive (default: spin, yield, park), block. Parking uses the
// event counts in the segment (detail/wait.hpp); a publish of k items wakes
// at most k of the consumers parked on the ring, a release of k slots at
// most k producers (their waits are counted: each success takes what woke
// it). wait_any() on a ring's consumer asks for every wake-up instead.
//
// close(): no more pushes succeed (status::closed); pops drain what is left,
// then return status::closed; every waiter in every process wakes up.
//
// Reopen, reset. reopen() makes a closed ring open again, in place, for
// every process, and keeps what is queued: one CAS on the state word (the
// closed bit and a generation, ring_layout.hpp) clears the bit and bumps
// generation(); it returns false and changes nothing on an open ring. So a
// close() racing a reopen() lands either before it (the ring ends open) or
// after it (closed); of racing reopens, one wins. status::closed is what a
// call saw then, not the end: a consumer that got closed on a drained ring
// calls pop() again after the reopen and receives; a push that got closed
// pushes again. A waiter woken by close() returns closed if it sees the
// ring still closed and (consumer) drained; if the reopen came first it
// never sees the close and goes on waiting. A consumer draining during the
// reopen goes on popping the same FIFO: items pushed before the close and
// after the reopen are not marked apart (a push that raced close() may
// even land after the reopen). Who needs to tell them apart stamps T with
// generation() read after its own reopen() (each producer's items are in
// its order). A consumer in another process that never stopped is safe:
// positions, turns and roles do not change; it just sees closed, then not.
// reset() empties a ring with no live role holder (errc::busy otherwise;
// this process's own handles count): it takes every role slot for itself
// (a racing producer()/consumer() then fails with role_taken or
// too_many_roles), puts positions, turns and claim records back to lap 0,
// opens the ring with the next generation, and frees the slots. Recovery
// counters are kept. Before it rewrites anything it marks the ring
// (closed + resetting): a reset killed from there on leaves the mark, and
// producer()/consumer() refuse the half-reset ring with errc::busy until a
// reset completes it; reopen() does nothing while it is marked.
// Opening a closed ring (open(), if_exists::open) does not reopen it.
//
// Peer death: a waiting call re-checks the peers' role slots every
// detail::peer_poll (50 ms) and returns status::peer_gone when at least one
// peer attached in the other role died without detaching and none is alive.
// Detected: death by any signal, exit without releasing the handle, pid
// reuse (start time differs). Not detected: a peer that is alive but stuck,
// and peers in another pid namespace.
//
// Crashes: a process may die anywhere, even inside a push or pop; the
// survivors go on. A producer of a multi-producer ring that dies between
// claiming and publishing costs exactly the items it was writing: a blocked
// consumer notices the stall within recovery_delay() (100 ms by default)
// and skips those positions; a consumer of a multi-consumer ring that dies
// holding items (peek) loses them and its slots go back to the producers.
// A single role (spsc, the producer of spmc, the consumer of mpsc) is
// taken over by the next producer()/consumer() call once its holder died.
// Counters: ring_state::recovery(), `ringport stat`. Details and what each
// step loses: detail/ring_engine.hpp, "Crashes". A handle destroyed with an
// open claim() gives it up (its slots are skipped); one destroyed with an
// open peek() releases it.
//
// A handle default-constructed or moved from holds no role (valid() is
// false): every call on it finds a closed ring (status::closed, 0 items,
// empty spans) and none reaches the ring it left. Moved-from rings may
// only be destroyed or assigned to.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringport/detail/ring_engine.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/detail/wait.hpp"
#include "ringport/result.hpp"
#include "ringport/segment.hpp"
#include "ringport/status.hpp"
#include "ringport/wait.hpp"

namespace ringport {

template <class T, object_kind Kind>
class ring {
  static_assert(std::is_trivially_copyable_v<T>,
                "ringport rings copy items as bytes between processes: T must be trivially copyable "
                "(no pointers to process memory, no virtual functions, no owning members)");
  static_assert(Kind == object_kind::spsc || Kind == object_kind::mpsc || Kind == object_kind::spmc ||
                    Kind == object_kind::mpmc,
                "ring kinds are spsc, mpsc, spmc and mpmc");
  static constexpr bool multi_producer = Kind == object_kind::mpsc || Kind == object_kind::mpmc;
  static constexpr bool multi_consumer = Kind == object_kind::spmc || Kind == object_kind::mpmc;
  using state_ptr = std::shared_ptr<detail::ring_state>;
  using clock = std::chrono::steady_clock;

  // Owns a role slot for as long as a handle lives.
  class role_hold {
   public:
    role_hold() = default;
    role_hold(state_ptr st, detail::role r, std::size_t slot) : st_(std::move(st)), role_(r), slot_(slot) {}
    role_hold(role_hold&& o) noexcept
        : st_(std::move(o.st_)), role_(o.role_), slot_(std::exchange(o.slot_, detail::max_roles)) {}
    role_hold& operator=(role_hold&& o) noexcept {
      if (this != &o) {
        reset();
        st_ = std::move(o.st_);
        role_ = o.role_;
        slot_ = std::exchange(o.slot_, detail::max_roles);
      }
      return *this;
    }
    ~role_hold() { reset(); }
    detail::ring_state& state() const noexcept { return *st_; }
    bool held() const noexcept { return st_ && slot_ < detail::max_roles; }

    /// The one blocking wait of both handles: parks on the event count that
    /// the other side wakes (not_full for a producer, not_empty for a
    /// consumer) until attempt() succeeds, the deadline passes or every
    /// holder of the other role died (poll_stall() settles dead claimers on
    /// the way). Counted: every attempt that succeeds takes a slot or an item.
    template <class Engine, class Attempt>
    status wait(Engine& e, wait_policy policy, clock::time_point deadline, Attempt&& attempt) const noexcept {
      if (!held()) return status::closed;
      auto& sh = *e.view().shared;
      const bool producer = role_ == detail::role::producer;
      const detail::role peer = producer ? detail::role::consumer : detail::role::producer;
      return detail::wait_loop(
          producer ? sh.not_full : sh.not_empty, policy, deadline, attempt,
          [&e, this, peer]() noexcept {
            e.poll_stall();
            return st_->peers_alive(peer);
          },
          detail::wake_share::counted);
    }

   private:
    void reset() noexcept {
      if (st_ && slot_ < detail::max_roles) st_->detach(role_, slot_);
      slot_ = detail::max_roles;
    }
    state_ptr st_;
    detail::role role_ = detail::role::producer;
    std::size_t slot_ = detail::max_roles;
  };

 public:
  using value_type = T;
  static constexpr object_kind kind = Kind;

  /// Pushes items. Move-only; one per producing thread.
  class producer_handle {
   public:
    producer_handle() = default;

    /// Pushes v if there is room; never waits.
    status try_push(const T& v) noexcept {
      if (closed()) [[unlikely]]
        return status::closed;
      if (e_.template transfer_one<sizeof(T)>(
              [&](std::byte* slot) noexcept { std::memcpy(slot, &v, sizeof(T)); })) [[likely]]
        return status::ok;
      return e_.corrupt() ? status::corrupt : status::would_block;
    }
    status push(const T& v) noexcept { return push_until(v, clock::time_point::max()); }
    status push_until(const T& v, clock::time_point deadline) noexcept {
      if (status s = try_push(v); s != status::would_block) return s;
      return hold_.wait(e_, policy_, deadline, [&]() noexcept { return try_push(v); });
    }
    template <class Rep, class Period>
    status push_for(const T& v, std::chrono::duration<Rep, Period> d) noexcept {
      return push_until(v, clock::now() + d);
    }

    /// Pushes up to n items without waiting; returns how many. One
    /// reservation and one publication per batch, across the end of the
    /// buffer too (only the copy is split there).
    std::size_t push_n(const T* items, std::size_t n) noexcept {
      if (closed()) [[unlikely]]
        return 0;
      std::size_t done = 0;
      while (done < n) {
        const detail::span_pos run = e_.reserve_run(n - done);
        if (run.count == 0) break;
        e_.view().copy_in(run, items + done, sizeof(T));
        e_.publish();
        done += run.count;
      }
      return done;
    }
    /// Pushes all n items, waiting for room; returns how many were pushed
    /// (fewer than n only on deadline, close or peer death: see *why).
    std::size_t push_n_until(const T* items, std::size_t n, clock::time_point deadline,
                             status* why = nullptr) noexcept {
      std::size_t done = push_n(items, n);
      status s = status::ok;
      if (done < n)
        s = hold_.wait(e_, policy_, deadline, [&]() noexcept {
          if (closed()) return status::closed;
          done += push_n(items + done, n - done);
          return done == n ? status::ok : status::would_block;
        });
      if (why) *why = s;
      return done;
    }

    /// Zero copy: up to n contiguous free slots to write in place (empty
    /// when full or closed). Publish them with commit(); a claim still open
    /// when the handle is destroyed is given up (consumers skip its slots).
    std::span<T> claim(std::size_t n) noexcept {
      if (closed()) [[unlikely]]
        return {};
      const detail::span_pos r = e_.reserve(n);
      return {reinterpret_cast<T*>(e_.view().template slot<sizeof(T)>(r.pos)), r.count};
    }
    std::span<T> claim_until(std::size_t n, clock::time_point deadline, status* why = nullptr) noexcept {
      std::span<T> out = claim(n);
      status s = status::ok;
      if (out.empty())
        s = hold_.wait(e_, policy_, deadline, [&]() noexcept {
          if (closed()) return status::closed;
          out = claim(n);
          return out.empty() ? status::would_block : status::ok;
        });
      if (why) *why = s;
      return out;
    }
    void commit() noexcept {
      if (e_.reserved() != 0) e_.publish();
    }

    /// False for a handle default-constructed or moved from: it holds no
    /// role, and every call on it finds a closed ring (0 items, empty spans).
    bool valid() const noexcept { return hold_.held(); }
    std::size_t capacity() const noexcept { return valid() ? e_.view().capacity : 0; }
    wait_policy policy() const noexcept { return policy_; }
    void set_policy(wait_policy p) noexcept { policy_ = p; }

   private:
    friend class ring;
    producer_handle(role_hold hold, std::size_t slot, wait_policy p) noexcept
        : hold_(std::move(hold)), e_(hold_.state().view(), slot), policy_(p) {}
    bool closed() const noexcept { return e_.closed(); }
    role_hold hold_;
    detail::producer_engine<multi_producer, multi_consumer> e_;
    wait_policy policy_ = wait_policy::adaptive;
  };

  /// Pops items. Move-only; one per consuming thread.
  class consumer_handle {
   public:
    consumer_handle() = default;

    /// Pops into out if an item is there; never waits.
    status try_pop(T& out) noexcept {
      if (e_.template transfer_one<sizeof(T)>(
              [&](const std::byte* slot) noexcept { std::memcpy(&out, slot, sizeof(T)); })) [[likely]]
        return status::ok;
      return empty_status();
    }
    status pop(T& out) noexcept { return pop_until(out, clock::time_point::max()); }
    status pop_until(T& out, clock::time_point deadline) noexcept {
      if (status s = try_pop(out); s != status::would_block) return s;
      return hold_.wait(e_, policy_, deadline, [&]() noexcept { return try_pop(out); });
    }
    template <class Rep, class Period>
    status pop_for(T& out, std::chrono::duration<Rep, Period> d) noexcept {
      return pop_until(out, clock::now() + d);
    }

    /// Pops up to n items without waiting; returns how many. One
    /// reservation and one release per batch, as push_n.
    std::size_t pop_n(T* out, std::size_t n) noexcept {
      std::size_t done = 0;
      while (done < n) {
        const detail::span_pos run = e_.reserve_run(n - done);
        if (run.count == 0) break;
        e_.view().copy_out(run, out + done, sizeof(T));
        e_.publish();
        done += run.count;
      }
      return done;
    }
    /// Waits until at least one item is there, then pops up to n; returns
    /// how many (0 on deadline, close of a drained ring or peer death).
    std::size_t pop_n_until(T* out, std::size_t n, clock::time_point deadline,
                            status* why = nullptr) noexcept {
      std::size_t done = pop_n(out, n);
      status s = status::ok;
      if (done == 0 && n != 0)
        s = hold_.wait(e_, policy_, deadline, [&]() noexcept {
          done = pop_n(out, n);
          return done != 0 ? status::ok : empty_status();
        });
      if (why) *why = s;
      return done;
    }

    /// Zero copy: up to n contiguous filled slots to read in place (empty
    /// when there are none). Hand them back with release().
    std::span<const T> peek(std::size_t n) noexcept {
      const detail::span_pos r = e_.reserve(n);
      return {reinterpret_cast<const T*>(e_.view().template slot<sizeof(T)>(r.pos)), r.count};
    }
    std::span<const T> peek_until(std::size_t n, clock::time_point deadline, status* why = nullptr) noexcept {
      std::span<const T> out = peek(n);
      status s = status::ok;
      if (out.empty())
        s = hold_.wait(e_, policy_, deadline, [&]() noexcept {
          out = peek(n);
          return out.empty() ? empty_status() : status::ok;
        });
      if (why) *why = s;
      return out;
    }
    void release() noexcept {
      if (e_.reserved() != 0) e_.publish();
    }

    /// For wait_any(): wakes when this consumer's ring has data or closes.
    waitable readable() const noexcept {
      return waitable{&e_.view().shared->not_empty, &consumer_handle::ready, this, e_.view().bells,
                      &consumer_handle::idle};
    }

    /// False for a handle default-constructed or moved from: it holds no
    /// role, and every call on it finds a closed ring (0 items, empty spans).
    bool valid() const noexcept { return hold_.held(); }
    std::size_t capacity() const noexcept { return valid() ? e_.view().capacity : 0; }
    wait_policy policy() const noexcept { return policy_; }
    void set_policy(wait_policy p) noexcept { policy_ = p; }

   private:
    friend class ring;
    consumer_handle(role_hold hold, std::size_t slot, wait_policy p) noexcept
        : hold_(std::move(hold)), e_(hold_.state().view(), slot), policy_(p) {}
    static bool ready(const void* self) noexcept {
      const auto* c = static_cast<const consumer_handle*>(self);
      return c->e_.readable() || c->closed();
    }
    bool closed() const noexcept { return e_.closed(); }
    // wait_any() parks for this handle's thread, which owns the engine.
    static void idle(const void* self) noexcept {
      const_cast<consumer_handle*>(static_cast<const consumer_handle*>(self))->e_.poll_stall();
    }
    // Empty: closed (once drained), corrupt, or would_block. A push that
    // raced with close() is still delivered: re-check after seeing closed.
    status empty_status() noexcept {
      if (e_.corrupt()) return status::corrupt;
      if (closed()) return e_.readable() ? status::would_block : status::closed;
      return status::would_block;
    }
    role_hold hold_;
    detail::consumer_engine<multi_producer, multi_consumer> e_;
    wait_policy policy_ = wait_policy::adaptive;
  };

  ring() = default;

  /// A named ring in a new segment (errc::already_exists if taken).
  static result<ring> create(std::string_view name, const ring_options& opt = {}) {
    return wrap(detail::ring_state::create(name, Kind, sizeof(T), alignof(T), opt));
  }
  /// Opens a named ring; the kind and element size must match.
  static result<ring> open(std::string_view name, std::string_view domain = {}) {
    return wrap(detail::ring_state::open(name, Kind, sizeof(T), alignof(T), domain));
  }
  /// open(), retrying while the name does not exist until `deadline` (then
  /// errc::not_found); other errors return at once. Pacing: segment.hpp.
  static result<ring> open_wait(std::string_view name, clock::time_point deadline,
                                std::string_view domain = {}) {
    for (detail::appear_backoff wait(deadline);;)
      if (auto r = open(name, domain); r || !wait.retry(r.error())) return r;
  }
  /// create(), or open() when another process created it first.
  static result<ring> open_or_create(std::string_view name, const ring_options& opt = {}) {
    auto r = create(name, opt);
    if (r || !(r.error() == errc::already_exists)) return r;
    return open(name, opt.domain);
  }
  /// A ring for the threads of this process (anonymous mapping).
  static result<ring> create_local(std::size_t capacity, pages backing = pages::any) {
    ring_options opt;
    opt.capacity = capacity;
    opt.backing = backing;
    return wrap(detail::ring_state::create_local(Kind, sizeof(T), alignof(T), opt));
  }
  static result<void> remove(std::string_view name, std::string_view domain = {}) {
    return segment::remove(name, domain);
  }

  result<producer_handle> producer(wait_policy p = wait_policy::adaptive) const {
    auto slot = st_->attach(detail::role::producer);
    if (!slot) return slot.error();
    return producer_handle(role_hold(st_, detail::role::producer, *slot), *slot, p);
  }
  result<consumer_handle> consumer(wait_policy p = wait_policy::adaptive) const {
    auto slot = st_->attach(detail::role::consumer);
    if (!slot) return slot.error();
    return consumer_handle(role_hold(st_, detail::role::consumer, *slot), *slot, p);
  }

  /// Closes the ring for every process: pushes fail, pops drain, waiters wake.
  void close() const noexcept { st_->close(); }
  bool closed() const noexcept { return st_->closed(); }
  /// Opens a closed ring again for every process, keeping what is queued;
  /// false (nothing changes) when it was open. See "Reopen, reset" above.
  bool reopen() const noexcept { return st_->reopen(); }
  /// Reopens and resets so far (mod 2^30): 0 for a new ring.
  std::uint32_t generation() const noexcept { return st_->generation(); }
  /// Empties the ring and opens it (next generation) when no live process
  /// holds a role; errc::busy otherwise, and nothing changes.
  result<void> reset() const { return st_->reset(); }
  /// Who holds the producer and consumer roles now, alive and dead.
  peer_counts peers() const noexcept { return st_->peers(); }
  std::size_t capacity() const noexcept { return st_->view().capacity; }
  /// Items in the ring; an estimate while others push or pop.
  std::size_t size() const noexcept { return st_->size(); }
  bool empty() const noexcept { return size() == 0; }
  const segment_info& info() const noexcept { return st_->info(); }
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  explicit ring(state_ptr st) : st_(std::move(st)) {}
  static result<ring> wrap(result<state_ptr> st) {
    if (!st) return std::move(st).error();
    return ring(std::move(*st));
  }
  state_ptr st_;
};

template <class T>
using spsc = ring<T, object_kind::spsc>;
template <class T>
using mpsc = ring<T, object_kind::mpsc>;
template <class T>
using spmc = ring<T, object_kind::spmc>;
template <class T>
using mpmc = ring<T, object_kind::mpmc>;

}  // namespace ringport
