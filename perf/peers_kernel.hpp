// Kernel transports: every message is one system call each way, and a reader
// with nothing to read sleeps in the kernel ("kernel" wait).
//   pipe  an anonymous pipe (default 64 KiB buffer)
//   uds   a SOCK_STREAM Unix-domain socketpair
//   mq    a POSIX message queue, message size = the message, opened with a
//         unique name and unlinked at once (the descriptor keeps it alive)
#pragma once

#include <mqueue.h>

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
