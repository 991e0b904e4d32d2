// Boost.Lockfree peers. Both spin with the bounded backoff while full/empty.
//   boost-spsc  spsc_queue with compile-time capacity: its storage is an
//               inline array plus two indices, no pointers, so one placed in
//               the shared mapping works across fork().
//   boost-spsc-batch32  the same spsc_queue through its batch push/pop.
//   boost-mpmc  queue with a fixed-capacity node pool (Michael–Scott with
//               tagged indices); thread mode only, as Boost documents it.
//               Its 16-bit node indices cap the pool at 65535 nodes (one a dummy), so the
//               65536-slot rows hold two messages fewer (the note says so).
#pragma once

#include <algorithm>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include "drivers.hpp"

namespace bench {

template <class Queue, class Message, std::size_t Slots>
struct boost_channel {
  using message = Message;
  Queue q;
  ringport::result<void> init() { return {}; }
  bool send(const message& m) noexcept {
    return retry([&]() noexcept { return q.push(m) ? step::done : step::again; });
  }
  bool recv(message& m) noexcept {
    return retry([&]() noexcept { return q.pop(m) ? step::done : step::again; });
  }
  std::string describe() const { return std::to_string(Slots) + " slots"; }
};

template <std::size_t N, std::size_t Cap>
struct boost_spsc_cap : channel_defaults,
                        boost_channel<boost::lockfree::spsc_queue<message<N>, boost::lockfree::capacity<Cap>>,
                                      message<N>, Cap> {
  static constexpr std::size_t capacity = Cap;
  static constexpr const char* impl = "boost-spsc";
  static constexpr const char* wait = "spin-yield";
};
template <std::size_t N>
using boost_spsc = boost_spsc_cap<N, queue_slots>;
template <std::size_t N>
using boost_spsc_64k = boost_spsc_cap<N, large_queue_slots>;

/// spsc_queue's own batch calls, push(const T*, n) and pop(T*, n): the fair
/// peer of ringport's push_n/pop_n rows.
template <std::size_t N>
struct boost_spsc_batch : boost_spsc<N> {
  using message = bench::message<N>;
  static_assert(batch_size == 32, "the impl name says the batch size");
  static constexpr const char* impl = "boost-spsc-batch32";
  static constexpr std::size_t batch = batch_size;
  bool send_n(const message* m, std::size_t n) noexcept {
    std::size_t done = 0;
    return retry([&]() noexcept {
      done += this->q.push(m + done, n - done);
      return done == n ? step::done : step::again;
    });
  }
  std::size_t recv_n(message* m, std::size_t n) noexcept {
    std::size_t got = 0;
    retry([&]() noexcept {
      got = this->q.pop(m, n);
      return got != 0 ? step::done : step::again;
    });
    return got;
  }
  std::string describe() const {
    return std::to_string(queue_slots) + " slots, batch " + std::to_string(batch);
  }
};

inline constexpr std::size_t boost_queue_max_nodes = 65534;  // plus its dummy node: < 65536

template <std::size_t N, std::size_t Cap>
struct boost_mpmc_cap
    : channel_defaults,
      boost_channel<
          boost::lockfree::queue<message<N>, boost::lockfree::capacity<std::min(Cap, boost_queue_max_nodes)>>,
          message<N>, std::min(Cap, boost_queue_max_nodes)> {
  static constexpr const char* impl = "boost-mpmc";
  static constexpr const char* wait = "spin-yield";
  static constexpr std::size_t capacity = Cap;  // the row's class; describe() says what it holds
  static constexpr bool process_safe = false;
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
};
template <std::size_t N>
using boost_mpmc = boost_mpmc_cap<N, queue_slots>;
template <std::size_t N>
using boost_mpmc_64k = boost_mpmc_cap<N, large_queue_slots>;

}  // namespace bench
