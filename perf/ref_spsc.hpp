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
  alignas(line) std::atomic<std::size_t> tail_{0};  // written by the producer
  std::size_t head_seen_ = 0;                       // the producer's copy of head_
  alignas(line) std::atomic<std::size_t> head_{0};  // written by the consumer
  std::size_t tail_seen_ = 0;                       // the consumer's copy of tail_
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

}  // namespace bench
