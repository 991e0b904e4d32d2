// ref-spsc: the floor for a software ring, written here in a few lines so
// that every figure of ringport's spsc ring has a "what the bare algorithm
// costs" beside it. A bounded single-producer single-consumer ring of Cap
// slots (a power of two): each side owns its index on its own cache line and
// keeps a private copy of the other side's, re-reading the shared index only
// when its copy says full (producer) or empty (consumer). Nothing else: no
// waiting, no roles, no checks of a peer it cannot trust, no closing. What
// ringport adds on top of this costs something; this row says how much.
// Inline storage, no pointers: it works in the shared mapping across fork().
#pragma once

#include <atomic>
#include <cstddef>

#include "drivers.hpp"

namespace bench {

template <class T, std::size_t Cap>
class ref_spsc_ring {
  static_assert(Cap >= 2 && (Cap & (Cap - 1)) == 0, "capacity is a power of two");

 public:
  bool try_push(const T& v) noexcept {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_seen_ == Cap) {  // full by the copy: look again
      head_seen_ = head_.load(std::memory_order_acquire);
      if (t - head_seen_ == Cap) return false;
    }
    slots_[t & (Cap - 1)] = v;
    tail_.store(t + 1, std::memory_order_release);  // pairs with the consumer's acquire of tail_
    return true;
  }
  bool try_pop(T& v) noexcept {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_seen_) {  // empty by the copy: look again
      tail_seen_ = tail_.load(std::memory_order_acquire);
      if (h == tail_seen_) return false;
    }
    v = slots_[h & (Cap - 1)];
    head_.store(h + 1, std::memory_order_release);  // pairs with the producer's acquire of head_
    return true;
  }

 private:
  // A guard line between the two indices (and between them and the slots):
  // the adjacent-line prefetcher fetches 64-byte lines in 128-byte pairs, and
  // indices on the two lines of one pair would move between the cores
  // together (ringport's ring_shared keeps the same guard).
  alignas(line) std::atomic<std::size_t> tail_{0};  // written by the producer
  std::size_t head_seen_ = 0;                       // the producer's copy of head_
  alignas(line) unsigned char guard0_[line];
  alignas(line) std::atomic<std::size_t> head_{0};  // written by the consumer
  std::size_t tail_seen_ = 0;                       // the consumer's copy of tail_
  alignas(line) unsigned char guard1_[line];
  alignas(line) T slots_[Cap];
};

template <std::size_t N, std::size_t Cap>
struct ref_spsc_cap : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "ref-spsc";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;
  ref_spsc_ring<message, Cap> q;

  ringport::result<void> init() { return {}; }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q.try_push(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q.try_pop(m) ? step::done : step::again; });
  }
  std::string describe() const { return std::to_string(Cap) + " slots; the software-ring floor"; }
};
template <std::size_t N>
using ref_spsc = ref_spsc_cap<N, queue_slots>;
template <std::size_t N>
using ref_spsc_64k = ref_spsc_cap<N, large_queue_slots>;

// ref-spsc-turns: the same floor with issue 11's "one line transfer per
// message" design, the lock-step floor the engine is measured against (it
// kept positions and overlaps the two transfers with a prefetch instead:
// ring_engine.hpp, "Lock-step"). Each slot
// carries its own turn beside the payload: the producer of position p
// writes the item, then stores turn p + 1 (release); the consumer at p
// takes the slot when its turn reads p + 1 (acquire) — a stale turn from an
// earlier lap is p + 1 - k * Cap — and needs no shared tail at all. The
// consumer still publishes head for the producer, which reads it only when
// its private copy says full. So in lock-step only the slot's line crosses
// between the cores (ref-spsc moves the tail's line as well). The price: the
// payload is no longer contiguous (a turn per slot), which zero-copy spans
// and one-memcpy batches need.
template <class T, std::size_t Cap>
class ref_turn_ring {
  static_assert(Cap >= 2 && (Cap & (Cap - 1)) == 0, "capacity is a power of two");
  struct cell {
    std::atomic<std::size_t> turn{0};  // p + 1: holds position p's item
    T value;
  };

 public:
  bool try_push(const T& v) noexcept {
    const std::size_t t = tail_;
    if (t - head_seen_ == Cap) {  // full by the copy: look again
      head_seen_ = head_.load(std::memory_order_acquire);
      if (t - head_seen_ == Cap) return false;
    }
    cell& c = cells_[t & (Cap - 1)];
    c.value = v;
    c.turn.store(t + 1, std::memory_order_release);  // pairs with the consumer's acquire of turn
    tail_ = t + 1;
    return true;
  }
  bool try_pop(T& v) noexcept {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    cell& c = cells_[h & (Cap - 1)];
    if (c.turn.load(std::memory_order_acquire) != h + 1) return false;
    v = c.value;
    head_.store(h + 1, std::memory_order_release);  // pairs with the producer's acquire of head_
    return true;
  }

 private:
  alignas(line) std::size_t tail_ = 0;              // the producer's own, never shared
  std::size_t head_seen_ = 0;                       // the producer's copy of head_
  alignas(line) unsigned char guard0_[line];        // guard lines as in ref_spsc_ring
  alignas(line) std::atomic<std::size_t> head_{0};  // written by the consumer
  alignas(line) unsigned char guard1_[line];
  alignas(line) cell cells_[Cap];
};

template <std::size_t N, std::size_t Cap>
struct ref_turns_cap : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "ref-spsc-turns";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;
  static constexpr const char* peer = "ref-spsc";  // vs best peer: the positions design beside it
  ref_turn_ring<message, Cap> q;

  ringport::result<void> init() { return {}; }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q.try_push(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q.try_pop(m) ? step::done : step::again; });
  }
  std::string describe() const {
    return std::to_string(Cap) + " slots; ref-spsc with a turn in every slot instead of a shared tail";
  }
};
template <std::size_t N>
using ref_turns = ref_turns_cap<N, queue_slots>;
template <std::size_t N>
using ref_turns_64k = ref_turns_cap<N, large_queue_slots>;

}  // namespace bench
