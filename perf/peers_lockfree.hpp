// Boost.Lockfree peers. Both spin with the bounded backoff while full/empty.
//   boost-spsc  spsc_queue with compile-time capacity: its storage is an
//               inline array plus two indices, no pointers, so one placed in
//               the shared mapping works across fork().
//   boost-spsc-batch32  the same spsc_queue through its batch push/pop.
//   boost-mpmc  queue with a fixed-capacity node pool (Michael–Scott with
//               tagged indices); thread mode only, as Boost documents it.
#pragma once

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include "drivers.hpp"

namespace bench {

template <class Queue, class Message>
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
  std::string describe() const { return std::to_string(queue_slots) + " slots"; }
};

template <std::size_t N>
struct boost_spsc
    : channel_defaults,
      boost_channel<boost::lockfree::spsc_queue<message<N>, boost::lockfree::capacity<queue_slots>>,
                    message<N>> {
  static constexpr const char* impl = "boost-spsc";
  static constexpr const char* wait = "spin-yield";
};

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

template <std::size_t N>
struct boost_mpmc
    : channel_defaults,
      boost_channel<boost::lockfree::queue<message<N>, boost::lockfree::capacity<queue_slots>>, message<N>> {
  static constexpr const char* impl = "boost-mpmc";
  static constexpr const char* wait = "spin-yield";
  static constexpr bool process_safe = false;
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
};

}  // namespace bench
