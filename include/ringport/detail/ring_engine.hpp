// ringport/detail/ring_engine.hpp — the lock-free algorithms, on bytes.
//
// A producer or consumer engine works in two steps that every public
// operation is built from:
//   reserve(n) -> k      take up to n contiguous slots (0: full / empty)
//   ...copy into / out of slot(pos()) ... slot(pos() + k - 1)
//   publish()            hand the k slots to the other side
// try_push is reserve(1)+copy+publish; push_n reserves once per batch; the
// zero-copy claim/commit and peek/release forms expose the slots directly.
//
// spsc (no multi side): Lamport's ring with cached positions. The producer
// owns `tail`, the consumer owns `head`; each keeps a process-local copy of
// the other's position and re-reads the shared one only when its copy says
// full/empty. One release store publishes a whole batch.
//
// Every other kind: per-slot turns. Slot s serves positions s, s+cap,
// s+2cap...; for position p (lap L = p / cap) the slot's turn is
//   2L   free for the producer of p      (set by the consumer of p - cap)
//   2L+1 holds p's item for the consumer (set by the producer of p)
// A multi side claims positions by CAS on its cursor (tail or head), and only
// after seeing that every claimed slot's turn is ready, so claiming never
// waits for another process; a single side owns its cursor outright.
// Turns are compared for equality only, so a corrupt turn can only make a
// slot look busy; positions are masked before use, so no shared value can
// make us touch memory outside the ring.
//
// Progress: spsc is wait-free. Multi-producer/consumer kinds are lock-free
// for claiming, but a process that dies between reserve() and publish()
// leaves its slots unpublished: later positions stay invisible to consumers
// (or unusable for producers) until the ring is recreated. This is the
// documented price of bounded, allocation-free FIFO rings (DPDK and Vyukov
// queues share it); ringport reports the dead peer instead of hanging.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport::detail {

/// Process-local, validated view of one ring.
struct ring_view {
  ring_shared* shared = nullptr;
  std::atomic<std::uint64_t>* turns = nullptr;  // null for spsc
  std::byte* data = nullptr;
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  std::uint64_t stride = 0;
  unsigned shift = 0;              // log2(capacity)
  doorbell_site* bells = nullptr;  // the domain's doorbells (detail/doorbell.hpp)

  std::byte* slot(std::uint64_t pos) const noexcept { return data + (pos & mask) * stride; }
  std::atomic<std::uint64_t>& turn(std::uint64_t pos) const noexcept { return turns[pos & mask]; }
  std::uint64_t lap2(std::uint64_t pos) const noexcept { return (pos >> shift) << 1; }
};

/// What one reserve() returned.
struct span_pos {
  std::uint64_t pos = 0;
  std::size_t count = 0;
};

/// What both engines share: the validated view, the process-local
/// positions, the current reservation and the per-slot turn checks.
/// `Ready` is the turn (relative to 2 * lap) at which a slot is ready for
/// this side: 0 = free, for producers; 1 = full, for consumers.
template <std::uint64_t Ready>
class engine_base {
 public:
  const ring_view& view() const noexcept { return v_; }
  std::uint64_t pos() const noexcept { return res_.pos; }
  std::size_t reserved() const noexcept { return res_.count; }
  bool corrupt() const noexcept { return corrupt_; }

 protected:
  engine_base() = default;
  explicit engine_base(const ring_view& v) noexcept : v_(v) {}

  // Records a reservation of up to k slots from pos, cut at the end of the
  // buffer (reservations are contiguous).
  std::size_t take(std::uint64_t pos, std::uint64_t k) noexcept {
    const std::uint64_t to_end = v_.capacity - (pos & v_.mask);
    res_ = {pos, static_cast<std::size_t>(std::min(k, to_end))};
    return res_.count;
  }

  // A-TURN: the acquire pairs with the other side's release of the same
  // turn: R-TURN-FREE in consumer_engine::publish() for producers (the
  // consumer of the previous lap is done reading), R-TURN-FULL in
  // producer_engine::publish() for consumers (the item is written).
  bool ready(std::uint64_t pos) const noexcept {
    return v_.turn(pos).load(std::memory_order_acquire) == v_.lap2(pos) + Ready;
  }

  // How many slots from pos are ready for this side, up to n and the end of
  // the buffer.
  std::size_t ready_prefix(std::uint64_t pos, std::size_t n) const noexcept {
    const std::uint64_t lim = std::min<std::uint64_t>(n, v_.capacity - (pos & v_.mask));
    std::size_t k = 0;
    while (k < lim && ready(pos + k)) ++k;
    return k;
  }

  // A multi side claims up to n ready slots by CAS on its cursor; 0 when
  // the slot at the cursor is not ready (full for producers, empty for
  // consumers).
  std::size_t claim(std::atomic<std::uint64_t>& cursor, std::size_t n) noexcept {
    // relaxed: the CAS validates the cursor; turns carry the ordering.
    std::uint64_t pos = cursor.load(std::memory_order_relaxed);
    for (;;) {
      const std::size_t k = ready_prefix(pos, n);
      if (k == 0) {
        const std::uint64_t again = cursor.load(std::memory_order_relaxed);
        if (again == pos) return 0;
        pos = again;
        continue;
      }
      // relaxed: exclusivity comes from the CAS itself; the slots' turns
      // were acquired above.
      if (cursor.compare_exchange_weak(pos, pos + k, std::memory_order_relaxed, std::memory_order_relaxed))
        return take(pos, k);
    }
  }

  ring_view v_{};
  std::uint64_t own_ = 0;           // single side: next position of this side
  std::uint64_t cached_other_ = 0;  // spsc: the other side's position, last seen
  span_pos res_{};
  bool corrupt_ = false;
};

// Engines are written on every operation by their own thread: each takes
// whole cache lines, so handles that sit next to each other (on a stack, in
// a struct) never falsely share.
template <bool MultiProducer, bool MultiConsumer>
class alignas(cache_line) producer_engine : public engine_base<0> {
  static constexpr bool turns = MultiProducer || MultiConsumer;

 public:
  producer_engine() = default;
  explicit producer_engine(const ring_view& v) noexcept : engine_base(v) {
    // relaxed: read once at attach; later uses validate against head.
    own_ = v_.shared->tail.load(std::memory_order_relaxed);
    cached_other_ = v_.shared->head.load(std::memory_order_acquire);  // A-HEAD (see refresh_head)
  }

  /// Takes up to n free contiguous slots; 0 when full. Sets corrupt() when
  /// the shared positions are impossible.
  std::size_t reserve(std::size_t n) noexcept {
    if constexpr (!turns) {
      if (v_.capacity - (own_ - cached_other_) < n && !refresh_head()) [[unlikely]]
        return 0;
      return take(own_, std::min<std::uint64_t>(n, v_.capacity - (own_ - cached_other_)));
    } else if constexpr (!MultiProducer) {
      return take(own_, ready_prefix(own_, n));
    } else {
      return claim(v_.shared->tail, n);
    }
  }

  /// Single-item fast path for try_push: the free slot to write, or null
  /// when full (or corrupt). Pair with publish_one(), never with publish().
  std::byte* reserve_one() noexcept {
    if constexpr (!turns) {
      if (own_ - cached_other_ >= v_.capacity) [[unlikely]]
        if (!refresh_head() || own_ - cached_other_ == v_.capacity) return nullptr;
      return v_.slot(own_);
    } else if constexpr (!MultiProducer) {
      return ready(own_) ? v_.slot(own_) : nullptr;
    } else {
      return reserve(1) != 0 ? v_.slot(res_.pos) : nullptr;
    }
  }

  /// Publishes the slot from reserve_one().
  void publish_one() noexcept {
    if constexpr (!turns) {
      ++own_;
      // R-TAIL (as in publish()).
      v_.shared->tail.store(own_, std::memory_order_release);
    } else if constexpr (!MultiProducer) {
      // R-TURN-FULL (as in publish()).
      v_.turn(own_).store(v_.lap2(own_) + 1, std::memory_order_release);
      ++own_;
      v_.shared->tail.store(own_, std::memory_order_relaxed);  // estimate for size()
    } else {
      // R-TURN-FULL (as in publish()).
      v_.turn(res_.pos).store(v_.lap2(res_.pos) + 1, std::memory_order_release);
      res_.count = 0;
    }
    notify(v_.shared->not_empty, v_.bells);
  }

  /// Hands the reserved slots to the consumers.
  void publish() noexcept {
    if constexpr (!turns) {
      own_ = res_.pos + res_.count;
      // R-TAIL: pairs with A-TAIL in consumer_engine::refresh_tail(): the
      // slot writes above become visible with the new tail.
      v_.shared->tail.store(own_, std::memory_order_release);
    } else {
      for (std::size_t i = 0; i < res_.count; ++i) {
        const std::uint64_t p = res_.pos + i;
        // R-TURN-FULL: pairs with A-TURN in the consumer's ready().
        v_.turn(p).store(v_.lap2(p) + 1, std::memory_order_release);
      }
      if constexpr (!MultiProducer) {
        own_ = res_.pos + res_.count;
        // relaxed: tail is only an estimate for size() here; turns publish.
        v_.shared->tail.store(own_, std::memory_order_relaxed);
      }
    }
    res_.count = 0;
    notify(v_.shared->not_empty, v_.bells);
  }

 private:
  // spsc: re-reads the consumer's position; false (and corrupt()) when it
  // is impossible.
  bool refresh_head() noexcept {
    // A-HEAD: pairs with R-HEAD in consumer_engine::publish(): the consumer
    // is done reading every slot before head.
    const std::uint64_t h = v_.shared->head.load(std::memory_order_acquire);
    if (own_ - h > v_.capacity) [[unlikely]] {
      corrupt_ = true;
      return false;
    }
    cached_other_ = h;
    return true;
  }
};

template <bool MultiProducer, bool MultiConsumer>
class alignas(cache_line) consumer_engine : public engine_base<1> {
  static constexpr bool turns = MultiProducer || MultiConsumer;

 public:
  consumer_engine() = default;
  explicit consumer_engine(const ring_view& v) noexcept : engine_base(v) {
    own_ = v_.shared->head.load(std::memory_order_relaxed);
    cached_other_ = v_.shared->tail.load(std::memory_order_acquire);  // A-TAIL (see refresh_tail)
  }

  /// Takes up to n filled contiguous slots; 0 when empty.
  std::size_t reserve(std::size_t n) noexcept {
    if constexpr (!turns) {
      if (cached_other_ - own_ < n && !refresh_tail()) [[unlikely]]
        return 0;
      return take(own_, std::min<std::uint64_t>(n, cached_other_ - own_));
    } else if constexpr (!MultiConsumer) {
      return take(own_, ready_prefix(own_, n));
    } else {
      return claim(v_.shared->head, n);
    }
  }

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
    for (;;) {
      if (!ready(pos)) {  // A-TURN inside
        if constexpr (!MultiConsumer) return 0;
        const std::uint64_t again = v_.shared->head.load(std::memory_order_relaxed);
        if (again == pos) return 0;
        pos = again;
        continue;
      }
      const bool ok = accept(static_cast<const std::byte*>(v_.slot(pos)));
      if constexpr (!MultiConsumer) {
        return ok ? take(pos, 1) : 0;
      } else {
        if (!ok) {
          // F-ACCEPT: keeps accept's reads before the head re-load. If head
          // still equals pos, nobody took pos, so its producer of the next
          // lap cannot have written the slot: accept saw this item.
#if defined(__SANITIZE_THREAD__)
          // An RMW that writes head's own value: its release half keeps
          // accept's reads before it (TSan builds only; see cpu.hpp).
          const std::uint64_t again = v_.shared->head.fetch_add(0, std::memory_order_acq_rel);
#else
          std::atomic_thread_fence(std::memory_order_acquire);
          const std::uint64_t again = v_.shared->head.load(std::memory_order_relaxed);
#endif
          if (again == pos) return 0;
          pos = again;
          continue;
        }
        // relaxed: as in claim(); success means head was still pos, so the
        // slot accept looked at is the one we now own.
        if (v_.shared->head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                                  std::memory_order_relaxed))
          return take(pos, 1);
      }
    }
  }

  /// Single-item fast path for try_pop: the filled slot to read, or null
  /// when empty (or corrupt). Pair with publish_one(), never with publish().
  const std::byte* reserve_one() noexcept {
    if constexpr (!turns) {
      if (cached_other_ == own_) [[unlikely]]
        if (!refresh_tail() || cached_other_ == own_) return nullptr;
      return v_.slot(own_);
    } else if constexpr (!MultiConsumer) {
      return ready(own_) ? v_.slot(own_) : nullptr;
    } else {
      return reserve(1) != 0 ? v_.slot(res_.pos) : nullptr;
    }
  }

  /// Releases the slot from reserve_one().
  void publish_one() noexcept {
    if constexpr (!turns) {
      ++own_;
      // R-HEAD (as in publish()).
      v_.shared->head.store(own_, std::memory_order_release);
    } else if constexpr (!MultiConsumer) {
      // R-TURN-FREE (as in publish()).
      v_.turn(own_).store(v_.lap2(own_) + 2, std::memory_order_release);
      ++own_;
      v_.shared->head.store(own_, std::memory_order_relaxed);  // estimate for size()
    } else {
      // R-TURN-FREE (as in publish()).
      v_.turn(res_.pos).store(v_.lap2(res_.pos) + 2, std::memory_order_release);
      res_.count = 0;
    }
    notify(v_.shared->not_full, v_.bells);
  }

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
        v_.turn(p).store(v_.lap2(p) + 2, std::memory_order_release);
      }
      if constexpr (!MultiConsumer) {
        own_ = res_.pos + res_.count;
        v_.shared->head.store(own_, std::memory_order_relaxed);  // estimate for size()
      }
    }
    res_.count = 0;
    notify(v_.shared->not_full, v_.bells);
  }

  /// True when a reserve(1) would likely succeed (for multi-ring waits).
  bool readable() const noexcept {
    if constexpr (!turns) {
      return v_.shared->tail.load(std::memory_order_acquire) != own_;
    } else {
      return ready(MultiConsumer ? v_.shared->head.load(std::memory_order_relaxed) : own_);
    }
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
};

}  // namespace ringport::detail
