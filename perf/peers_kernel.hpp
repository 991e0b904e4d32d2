// Kernel transports: every message is one system call each way, and a reader
// with nothing to read sleeps in the kernel ("kernel" wait).
//   pipe  an anonymous pipe (default 64 KiB buffer)
//   uds   a SOCK_STREAM Unix-domain socketpair
//   mq    a POSIX message queue, message size = the message, opened with a
//         unique name and unlinked at once (the descriptor keeps it alive)
//   eventfd        one message in flight in a shared slot (as the futex
//                  floor's), handed over by an eventfd: the sender writes 1,
//                  the receiver sleeps in read(2) (wakefd rows)
//   eventfd-epoll  the same, the receiver sleeping in epoll_wait first, as an
//                  event loop would (its own epoll instance per receiver)
#pragma once

#include <mqueue.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "drivers.hpp"

namespace bench {

/// Full-length write/read of one message on a stream descriptor.
bool write_full(int fd, const void* p, std::size_t n) noexcept;
bool read_full(int fd, void* p, std::size_t n) noexcept;

struct pipe_kind {
  static constexpr const char* name = "pipe";
  static ringport::result<void> open(int (&fds)[2]);  // fds[0] read, fds[1] write
};
struct uds_kind {
  static constexpr const char* name = "uds";
  static ringport::result<void> open(int (&fds)[2]);
};

template <std::size_t N, class Kind>
struct stream_channel : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = Kind::name;
  static constexpr const char* wait = "kernel";
  int fds[2] = {-1, -1};

  stream_channel() = default;
  stream_channel(const stream_channel&) = delete;
  stream_channel& operator=(const stream_channel&) = delete;
  ~stream_channel();
  ringport::result<void> init() { return Kind::open(fds); }
  bool send(const message& m) noexcept { return write_full(fds[1], &m, N); }
  bool recv(message& m) noexcept { return read_full(fds[0], &m, N); }
};

void close_pair(int (&fds)[2]) noexcept;
template <std::size_t N, class Kind>
stream_channel<N, Kind>::~stream_channel() {
  close_pair(fds);
}

template <std::size_t N>
using pipe_channel = stream_channel<N, pipe_kind>;
template <std::size_t N>
using uds_channel = stream_channel<N, uds_kind>;

/// Opens an unnamed-in-effect message queue: created O_EXCL, unlinked at once.
/// Asks for `depth` messages, falling back to the system's msg_max.
ringport::result<mqd_t> open_private_mq(std::size_t msg_bytes, long depth, long* got_depth);

template <std::size_t N>
struct mq_channel : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "mq";
  static constexpr const char* wait = "kernel";
  static constexpr bool multi_producer = true;  // whole messages, any number of senders and receivers
  static constexpr bool multi_consumer = true;
  mqd_t q = -1;
  long depth = 0;

  mq_channel() = default;
  mq_channel(const mq_channel&) = delete;
  mq_channel& operator=(const mq_channel&) = delete;
  ~mq_channel() {
    if (q != -1) mq_close(q);
  }
  ringport::result<void> init() {
    auto r = open_private_mq(N, 64, &depth);
    if (!r) return r.error();
    q = *r;
    return {};
  }
  bool send(const message& m) noexcept;
  bool recv(message& m) noexcept;
  std::string describe() const { return "depth " + std::to_string(depth); }
};

bool mq_send_all(mqd_t q, const void* p, std::size_t n) noexcept;
bool mq_recv_all(mqd_t q, void* p, std::size_t n) noexcept;
template <std::size_t N>
bool mq_channel<N>::send(const message& m) noexcept {
  return mq_send_all(q, &m, N);
}
template <std::size_t N>
bool mq_channel<N>::recv(message& m) noexcept {
  return mq_recv_all(q, &m, N);
}

}  // namespace bench

namespace bench {

/// eventfd hand-off (see the top of this file). Waits are bounded (1 s
/// slices) so that a lost wake-up shows as a slow row, not a hang.
bool eventfd_signal(int efd) noexcept;
bool eventfd_take(int efd) noexcept;
/// An epoll instance watching fd for EPOLLIN (-1 on failure).
int epoll_for(int fd) noexcept;
/// epoll_wait on ep until it reports one event (1 s slices); false on error.
bool epoll_wait_one(int ep) noexcept;

/// Closes a descriptor when it goes; move-only.
struct owned_fd {
  int fd = -1;
  owned_fd() = default;
  explicit owned_fd(int f) noexcept : fd(f) {}
  owned_fd(owned_fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  owned_fd& operator=(owned_fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  owned_fd(const owned_fd&) = delete;
  owned_fd& operator=(const owned_fd&) = delete;
  ~owned_fd();
};

template <std::size_t N, bool Epoll>
struct eventfd_channel : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = Epoll ? "eventfd-epoll" : "eventfd";
  static constexpr const char* wait = "kernel";
  static constexpr bool streams = false;  // one slot: one message in flight

  message slot{};
  std::atomic<std::uint32_t> published{0};
  owned_fd efd;  // made before the workers start: forked workers inherit it

  eventfd_channel() = default;
  eventfd_channel(const eventfd_channel&) = delete;
  eventfd_channel& operator=(const eventfd_channel&) = delete;
  ringport::result<void> init();

  struct receiver_end {
    eventfd_channel* c;
    owned_fd ep;  // Epoll: this worker's own epoll instance
    bool recv(message& m) noexcept {
      if (Epoll && !epoll_wait_one(ep.fd)) return false;
      if (!eventfd_take(c->efd.fd)) return false;
      // Pairs with the release in send: the slot was written before it.
      (void)c->published.load(std::memory_order_acquire);
      m = c->slot;
      return true;
    }
  };
  bool send(const message& m) noexcept {
    slot = m;
    published.fetch_add(1, std::memory_order_release);  // pairs with the acquire in recv
    return eventfd_signal(efd.fd);
  }
  ringport::result<receiver_end> receiver(unsigned) {
    if (!Epoll) return receiver_end{this, {}};
    owned_fd ep(epoll_for(efd.fd));
    if (ep.fd < 0) return ringport::system_failure("epoll_create1/epoll_ctl", errno);
    return receiver_end{this, std::move(ep)};
  }
};

ringport::result<int> open_eventfd();
template <std::size_t N, bool Epoll>
ringport::result<void> eventfd_channel<N, Epoll>::init() {
  auto r = open_eventfd();
  if (!r) return r.error();
  efd = owned_fd(*r);
  return {};
}

template <std::size_t N>
using eventfd_plain = eventfd_channel<N, false>;
template <std::size_t N>
using eventfd_epoll = eventfd_channel<N, true>;

}  // namespace bench
