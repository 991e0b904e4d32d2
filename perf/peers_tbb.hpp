// oneTBB's tbb::concurrent_bounded_queue (Debian: libtbb-dev), thread mode
// only (heap storage): MPMC and FIFO, bounded by set_capacity(); the bench
// uses its non-blocking try_push / try_pop with the bounded backoff, as for
// the other peers.
#pragma once

#include <optional>

#include "drivers.hpp"

#if RINGPORT_BENCH_HAVE_TBB
#include <tbb/concurrent_queue.h>

namespace bench {

template <std::size_t N, std::size_t Cap>
struct tbb_bounded_cap : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "tbb-bounded";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;
  static constexpr bool process_safe = false;
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
  std::optional<tbb::concurrent_bounded_queue<message>> q;

  ringport::result<void> init() {
    q.emplace();
    q->set_capacity(static_cast<std::ptrdiff_t>(Cap));
    return {};
  }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q->try_push(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q->try_pop(m) ? step::done : step::again; });
  }
  std::string describe() const { return std::to_string(Cap) + " slots"; }
};
template <std::size_t N>
using tbb_bounded = tbb_bounded_cap<N, queue_slots>;
template <std::size_t N>
using tbb_bounded_64k = tbb_bounded_cap<N, large_queue_slots>;

}  // namespace bench
#endif
