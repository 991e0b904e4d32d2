// Boost.Lockfree peers. Both spin with the bounded backoff while full/empty.
//   boost-spsc  spsc_queue with compile-time capacity: its storage is an
//               inline array plus two indices, no pointers, so one placed in
//               the shared mapping works across fork().
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
    backoff b;
    while (!q.push(m)) b.pause();
    return true;
  }
  bool recv(message& m) noexcept {
    backoff b;
    while (!q.pop(m)) b.pause();
    return true;
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

template <std::size_t N>
struct boost_mpmc
    : channel_defaults,
      boost_channel<boost::lockfree::queue<message<N>, boost::lockfree::capacity<queue_slots>>,
                    message<N>> {
  static constexpr const char* impl = "boost-mpmc";
  static constexpr const char* wait = "spin-yield";
  static constexpr bool process_safe = false;
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
};

}  // namespace bench
