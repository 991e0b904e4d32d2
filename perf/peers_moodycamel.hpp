// The moodycamel queues (Debian: libreaderwriterqueue-dev,
// libconcurrentqueue-dev), thread mode only: both allocate their blocks on
// the heap and link them with pointers. Both spin with the bounded backoff
// while full or empty, and are preallocated for the row's capacity and used
// through the calls that never allocate (try_enqueue / try_dequeue), so they
// stay bounded like every other queue measured.
//   moodycamel-rwq  ReaderWriterQueue: SPSC, a circular list of ring blocks.
//   moodycamel-cq   ConcurrentQueue through its token-less calls (implicit
//                   producers), sized as its documentation says for Cap
//                   elements with P producers. Implicit producers hand their
//                   emptied blocks back to the shared pool; explicit ones
//                   (producer tokens) keep them, and a pool of Cap elements
//                   shared by several token producers starved the slower
//                   ones for good (it hung at 4x1 here), so no tokens. It is
//                   NOT FIFO across producers (each producer has its own
//                   sub-queue; per-producer order is kept, which is all the
//                   harness checks): it promises less than the MPMC rings it
//                   is compared with.
#pragma once

#include <memory>
#include <optional>

#include "drivers.hpp"

#if RINGPORT_BENCH_HAVE_RWQ
#include <readerwriterqueue/readerwriterqueue.h>
#endif
#if RINGPORT_BENCH_HAVE_CQ
#include <concurrentqueue/concurrentqueue.h>
#endif

namespace bench {

#if RINGPORT_BENCH_HAVE_RWQ
template <std::size_t N, std::size_t Cap>
struct moodycamel_rwq_cap : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "moodycamel-rwq";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;
  static constexpr bool process_safe = false;
  std::optional<moodycamel::ReaderWriterQueue<message>> q;

  ringport::result<void> init() {
    q.emplace(Cap);
    return {};
  }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q->try_enqueue(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q->try_dequeue(m) ? step::done : step::again; });
  }
  std::string describe() const { return "preallocated for " + std::to_string(Cap); }
};
template <std::size_t N>
using moodycamel_rwq = moodycamel_rwq_cap<N, queue_slots>;
template <std::size_t N>
using moodycamel_rwq_64k = moodycamel_rwq_cap<N, large_queue_slots>;
#endif

#if RINGPORT_BENCH_HAVE_CQ
template <std::size_t N, std::size_t Cap>
struct moodycamel_cq_cap : channel_defaults {
  using message = bench::message<N>;
  using queue = moodycamel::ConcurrentQueue<message>;
  static constexpr const char* impl = "moodycamel-cq";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;
  static constexpr bool process_safe = false;
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
  std::optional<queue> q;

  std::size_t producers = 1;

  ringport::result<void> init(const run_context& ctx) {
    producers = ctx.producers;
    q.emplace(Cap, 0, producers);  // no explicit (token) producer
    return {};
  }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q->try_enqueue(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q->try_dequeue(m) ? step::done : step::again; });
  }
  std::string describe() const {
    return "sized for " + std::to_string(Cap) + " with " + std::to_string(producers) +
           " producer(s); not FIFO across producers";
  }
};
template <std::size_t N>
using moodycamel_cq = moodycamel_cq_cap<N, queue_slots>;
template <std::size_t N>
using moodycamel_cq_64k = moodycamel_cq_cap<N, large_queue_slots>;
#endif

}  // namespace bench
