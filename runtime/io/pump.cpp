// pump_loop: mailboxes <-> stream sockets through one io_uring (pump.hpp).
#include "ringport/pump.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ringport/readable_fd.hpp"

namespace ringport {
namespace {

constexpr std::size_t prefix = 4;
enum op : std::uint64_t { op_send = 1, op_recv = 2, op_wait = 3, op_timer = 4, op_link = 5 };
constexpr __kernel_timespec retry_after{0, 1000 * 1000};       // 1 ms
constexpr __kernel_timespec stall_check{0, 50 * 1000 * 1000};  // detail::peer_poll

std::uint64_t tag(std::size_t pump, op o) noexcept {
  return std::uint64_t{pump} << 3 | o;
}

std::uint32_t load_u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian hosts only (journal_format.hpp asserts it)
}

}  // namespace

struct pump_loop::impl {
  struct pump {
    bool outbound = true;  // to_socket
    mailbox_receiver* rx = nullptr;
    mailbox_sender* tx = nullptr;
    int fd = -1;
    std::vector<std::byte> buf;
    std::size_t have = 0;        // bytes in buf
    std::size_t start = 0;       // to_socket: bytes sent; from_socket: bytes delivered
    std::uint64_t buffered = 0;  // to_socket: messages in buf
    bool io = false, waiting = false, eof = false, draining_done = false;
    pump_stats st;
  };
  io_uring ring{};
  bool ring_ok = false;
  std::size_t buffer_bytes = 0;
  std::vector<std::unique_ptr<pump>> pumps;

  ~impl() {
    if (ring_ok) io_uring_queue_exit(&ring);  // cancels what is in flight before the buffers go
  }

  io_uring_sqe* sqe() noexcept {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  static void end(pump& p, pump_state s, std::string why = {}) {
    if (p.st.state != pump_state::running) return;
    p.st.state = s;
    p.st.error = std::move(why);
  }

  // Waits for the mailbox (a futex wait in this ring, cut after peer_poll
  // by a linked timeout), else a 1 ms timer. Runs the receiver's crash
  // recovery hook first: a receiver killed while holding a slot stalls the
  // others until a waiting one notices (ring.hpp, "Crashes").
  void wait_for_data(std::size_t i, pump& p) noexcept {
    const waitable w = p.rx->readable();
    if (w.idle) w.idle(w.ctx);
    if (io_uring_sq_space_left(&ring) < 2) io_uring_submit(&ring);  // the linked pair stays together
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;
    if (uring_futex_supported()) {
      prep_readable_wait(s, w);
      s->user_data = tag(i, op_wait);
      if (io_uring_sqe* t = sqe()) {
        s->flags |= IOSQE_IO_LINK;
        io_uring_prep_link_timeout(t, const_cast<__kernel_timespec*>(&stall_check), 0);
        t->user_data = tag(i, op_link);
      }
    } else {
      io_uring_prep_timeout(s, const_cast<__kernel_timespec*>(&retry_after), 0, 0);
      s->user_data = tag(i, op_timer);
    }
    p.waiting = true;
  }

  void step_out(std::size_t i, pump& p) {
    if (p.io || p.waiting || p.st.state != pump_state::running) return;
    status s = status::would_block;
    const std::size_t max = p.rx->max_message_size();
    while (p.have + prefix + max <= p.buf.size()) {
      std::size_t len = 0;
      s = p.rx->try_receive({p.buf.data() + p.have + prefix, max}, len);
      if (s != status::ok) break;
      const auto n = static_cast<std::uint32_t>(len);
      std::memcpy(p.buf.data() + p.have, &n, prefix);
      p.have += prefix + len;
      ++p.buffered;
    }
    if (s == status::corrupt) return end(p, pump_state::failed, "the mailbox's shared state is corrupt");
    if (p.have != 0) {
      io_uring_sqe* q = sqe();
      if (q == nullptr) return;
      io_uring_prep_send(q, p.fd, p.buf.data() + p.start, p.have - p.start, MSG_NOSIGNAL);
      q->user_data = tag(i, op_send);
      p.io = true;
      return;
    }
    if (s == status::closed) {
      ::shutdown(p.fd, SHUT_WR);
      return end(p, pump_state::done);
    }
    wait_for_data(i, p);
  }

  void on_send(pump& p, int res) {
    p.io = false;
    if (res < 0) {
      p.st.unsent = p.buffered;
      if (res == -EPIPE || res == -ECONNRESET) return end(p, pump_state::peer_closed);
      return end(p, pump_state::failed, std::string("send: ") + std::strerror(-res));
    }
    p.st.bytes += static_cast<std::uint64_t>(res);
    p.start += static_cast<std::size_t>(res);
    if (p.start == p.have) {
      p.st.messages += p.buffered;
      p.buffered = 0;
      p.have = p.start = 0;
    }
  }

  void step_in(std::size_t i, pump& p) {
    if (p.io || p.waiting || p.st.state != pump_state::running) return;
    // Deliver every whole frame the mailbox takes now.
    bool blocked = false;
    while (p.have - p.start >= prefix) {
      const std::uint32_t len = load_u32(p.buf.data() + p.start);
      if (len > p.tx->max_message_size())
        return end(p, pump_state::failed,
                   "a frame of " + std::to_string(len) + " bytes exceeds the mailbox's maximum");
      if (p.have - p.start < prefix + len) break;
      const status s = p.tx->try_send({p.buf.data() + p.start + prefix, len});
      if (s == status::would_block) {
        blocked = true;
        break;
      }
      if (s == status::closed) return end(p, pump_state::done);
      if (s != status::ok) return end(p, pump_state::failed, "mailbox send failed");
      p.start += prefix + len;
      ++p.st.messages;
    }
    if (p.start != 0) {  // keep the partial frame at the front
      std::memmove(p.buf.data(), p.buf.data() + p.start, p.have - p.start);
      p.have -= p.start;
      p.start = 0;
    }
    io_uring_sqe* q = nullptr;
    if (blocked) {  // back-pressure: the socket is not read until the mailbox has room
      if ((q = sqe()) == nullptr) return;
      io_uring_prep_timeout(q, const_cast<__kernel_timespec*>(&retry_after), 0, 0);
      q->user_data = tag(i, op_timer);
      p.waiting = true;
      return;
    }
    if (p.eof) {
      if (p.have != 0) return end(p, pump_state::failed, "the peer closed inside a frame");
      return end(p, pump_state::done);
    }
    if ((q = sqe()) == nullptr) return;
    io_uring_prep_recv(q, p.fd, p.buf.data() + p.have, p.buf.size() - p.have, 0);
    q->user_data = tag(i, op_recv);
    p.io = true;
  }

  void on_recv(pump& p, int res) {
    p.io = false;
    if (res == 0) {
      p.eof = true;
      return;
    }
    if (res < 0) {
      if (res == -ECONNRESET) {
        p.eof = true;
        return;
      }
      return end(p, pump_state::failed, std::string("recv: ") + std::strerror(-res));
    }
    p.have += static_cast<std::size_t>(res);
    p.st.bytes += static_cast<std::uint64_t>(res);
  }

  void step(std::size_t i) {
    pump& p = *pumps[i];
    if (p.outbound)
      step_out(i, p);
    else
      step_in(i, p);
  }

  bool any_running() const noexcept {
    for (const auto& p : pumps)
      if (p->st.state == pump_state::running) return true;
    return false;
  }

  void complete(const io_uring_cqe* cqe) {
    const std::size_t i = static_cast<std::size_t>(cqe->user_data >> 3);
    if (i >= pumps.size()) return;
    pump& p = *pumps[i];
    switch (static_cast<op>(cqe->user_data & 7)) {
      case op_send:
        on_send(p, cqe->res);
        break;
      case op_recv:
        on_recv(p, cqe->res);
        break;
      case op_wait:
      case op_timer:
        p.waiting = false;
        break;
      case op_link:
        return;  // the wait it cut completes on its own (-ECANCELED)
    }
    step(i);
  }
};

pump_loop::pump_loop() = default;
pump_loop::pump_loop(pump_loop&&) noexcept = default;
pump_loop& pump_loop::operator=(pump_loop&&) noexcept = default;
pump_loop::~pump_loop() = default;

result<pump_loop> pump_loop::create(std::size_t buffer_bytes) {
  pump_loop l;
  l.p_ = std::make_unique<impl>();
  l.p_->buffer_bytes = buffer_bytes;
  if (int rc = io_uring_queue_init(256, &l.p_->ring, 0); rc < 0)
    return ringport::error(errc::unsupported,
                           std::string("io_uring_queue_init: ") + std::strerror(-rc) +
                               " (io_uring disabled? see /proc/sys/kernel/io_uring_disabled)");
  l.p_->ring_ok = true;
  return l;
}

result<std::size_t> pump_loop::to_socket(mailbox_receiver& rx, int fd) {
  auto p = std::make_unique<impl::pump>();
  p->outbound = true;
  p->rx = &rx;
  p->fd = fd;
  p->buf.resize(std::max(p_->buffer_bytes, 2 * (rx.max_message_size() + prefix)));
  p_->pumps.push_back(std::move(p));
  return p_->pumps.size() - 1;
}

result<std::size_t> pump_loop::from_socket(int fd, mailbox_sender& tx) {
  auto p = std::make_unique<impl::pump>();
  p->outbound = false;
  p->tx = &tx;
  p->fd = fd;
  p->buf.resize(std::max(p_->buffer_bytes, 2 * (tx.max_message_size() + prefix)));
  p_->pumps.push_back(std::move(p));
  return p_->pumps.size() - 1;
}

result<void> pump_loop::run(const std::atomic<bool>* stop) {
  impl& s = *p_;
  for (std::size_t i = 0; i < s.pumps.size(); ++i) s.step(i);
  while (s.any_running()) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) break;
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec slice{0, 50 * 1000 * 1000};
    const int rc = io_uring_submit_and_wait_timeout(&s.ring, &cqe, 1, &slice, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR) return system_failure("io_uring_submit_and_wait", -rc);
    while (io_uring_peek_cqe(&s.ring, &cqe) == 0) {
      const io_uring_cqe c = *cqe;
      io_uring_cqe_seen(&s.ring, cqe);
      s.complete(&c);
    }
  }
  io_uring_submit(&s.ring);
  return {};
}

const pump_stats& pump_loop::stats(std::size_t pump) const noexcept {
  return p_->pumps[pump]->st;
}
std::size_t pump_loop::size() const noexcept {
  return p_->pumps.size();
}

}  // namespace ringport
