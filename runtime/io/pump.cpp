// pump_loop: mailboxes <-> stream sockets through one io_uring (pump.hpp).
#include "ringport/pump.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>

#include "frame_reader.hpp"
#include "ringport/readable_fd.hpp"
#include "uring_bufring.hpp"

namespace ringport {
namespace {

constexpr std::size_t prefix = 4;
enum op : std::uint64_t {
  op_send = 1,
  op_recv = 2,
  op_wait = 3,
  op_timer = 4,
  op_link = 5,
  op_recv_multi = 6
};
constexpr unsigned provided_buffers = 16;  // per from_socket pump (pump.hpp)
constexpr unsigned min_buffer_bytes = 64;
constexpr __kernel_timespec retry_after{0, 1000 * 1000};       // 1 ms
constexpr __kernel_timespec stall_check{0, 50 * 1000 * 1000};  // detail::peer_poll

std::uint64_t tag(std::size_t pump, op o) noexcept {
  return std::uint64_t{pump} << 3 | o;
}

bool single_shot_forced(pump_recv recv) noexcept {
  if (recv == pump_recv::single_shot) return true;
  const char* e = std::getenv("RINGPORT_PUMP_RECV");
  return e != nullptr && std::strcmp(e, "single") == 0;
}

}  // namespace

struct pump_loop::impl {
  struct pump {
    bool outbound = true;  // to_socket
    mailbox_receiver* rx = nullptr;
    mailbox_sender* tx = nullptr;
    int fd = -1;
    std::vector<std::byte> buf;
    std::size_t have = 0;   // bytes in buf
    std::size_t start = 0;  // to_socket: bytes sent; from_socket: bytes fed to `frames`
    // from_socket: frames cut anywhere; multishot: the provided buffers the
    // kernel filled, in order, not yet fed in full (each goes back after).
    struct filled {
      unsigned bid;
      std::size_t len, used;
    };
    std::optional<io_detail::frame_reader> frames;
    std::unique_ptr<uring::buf_ring> bufs;  // null: single-shot
    std::deque<filled> pending;
    bool armed = false;          // a multishot receive is in flight
    std::uint64_t buffered = 0;  // to_socket: messages in buf
    bool io = false, waiting = false, eof = false, draining_done = false;
    pump_stats st;
  };
  io_uring ring{};
  bool ring_ok = false;
  bool single_shot = false;
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

  // Feeds what was received to the frame reader, delivering every whole
  // frame the mailbox takes now; false: the pump ended.
  bool deliver(pump& p, bool& blocked) {
    auto send = [&](std::span<const std::byte> m) {
      const status s = p.tx->try_send(m);
      if (s == status::ok) ++p.st.messages;
      return s;
    };
    using fr = io_detail::frame_reader;
    fr::fed got = fr::fed::all;
    std::size_t used = 0;
    if (!p.bufs) {
      got = p.frames->feed({p.buf.data() + p.start, p.have - p.start}, used, send);
      p.start += used;
      if (p.start == p.have) p.have = p.start = 0;
    }
    // A whole frame staged from buffers already given back, refused by a
    // full mailbox: it waits for no more bytes, so hand it again first
    // (else, with nothing pending, it would wait for data that never comes).
    if (p.bufs && p.frames->mid_frame()) got = p.frames->feed({}, used, send);
    while (got == fr::fed::all && p.bufs && !p.pending.empty()) {
      pump::filled& f = p.pending.front();
      got = p.frames->feed({p.bufs->buffer(f.bid) + f.used, f.len - f.used}, used, send);
      f.used += used;
      if (f.used != f.len) break;
      // Only now: a buffer given back while its frames wait for the
      // mailbox would be refilled under them.
      p.bufs->give_back(f.bid);
      p.pending.pop_front();
    }
    switch (got) {
      case fr::fed::all:
        return true;
      case fr::fed::blocked:
        blocked = true;
        return true;
      case fr::fed::too_long:
        end(p, pump_state::failed,
            "a frame of " + std::to_string(p.frames->bad_length()) + " bytes exceeds the mailbox's maximum");
        return false;
      case fr::fed::stopped:
        if (p.frames->last_status() == status::closed)
          end(p, pump_state::done);
        else
          end(p, pump_state::failed, "mailbox send failed");
        return false;
    }
    return false;
  }

  // One multishot receive into the pump's buffer group. Not linked to
  // anything: a link's next SQE starts only when its head completes, and a
  // multishot receive completes only when it ends; buffers go back through
  // the shared buffer ring, not through SQEs. (The linked SQEs are the
  // outbound pumps' futex wait + IORING_OP_LINK_TIMEOUT, wait_for_data.)
  void arm_multishot(std::size_t i, pump& p) {
    io_uring_sqe* q = sqe();
    if (q == nullptr) return;
    io_uring_prep_recv_multishot(q, p.fd, nullptr, 0, 0);
    q->flags |= IOSQE_BUFFER_SELECT;
    q->buf_group = p.bufs->group();
    q->user_data = tag(i, op_recv_multi);
    p.armed = true;
  }

  void step_in(std::size_t i, pump& p) {
    if (p.io || p.waiting || p.st.state != pump_state::running) return;
    bool blocked = false;
    if (!deliver(p, blocked)) return;
    io_uring_sqe* q = nullptr;
    if (blocked) {  // back-pressure: the socket is not read until the mailbox has room
      if ((q = sqe()) == nullptr) return;
      io_uring_prep_timeout(q, const_cast<__kernel_timespec*>(&retry_after), 0, 0);
      q->user_data = tag(i, op_timer);
      p.waiting = true;
      return;
    }
    if (p.eof) {
      if (p.frames->mid_frame()) return end(p, pump_state::failed, "the peer closed inside a frame");
      return end(p, pump_state::done);
    }
    if (p.bufs) {
      if (!p.armed) arm_multishot(i, p);  // first, or after an end without IORING_CQE_F_MORE
      return;
    }
    if ((q = sqe()) == nullptr) return;
    io_uring_prep_recv(q, p.fd, p.buf.data() + p.have, p.buf.size() - p.have, 0);
    q->user_data = tag(i, op_recv);
    p.io = true;
  }

  void on_recv(pump& p, int res) {
    p.io = false;
    if (res == 0 || res == -ECONNRESET) {
      p.eof = true;
      return;
    }
    if (res < 0) return end(p, pump_state::failed, std::string("recv: ") + std::strerror(-res));
    p.have += static_cast<std::size_t>(res);
    p.st.bytes += static_cast<std::uint64_t>(res);
  }

  void on_recv_multi(pump& p, const io_uring_cqe& c) {
    if ((c.flags & IORING_CQE_F_MORE) == 0) p.armed = false;
    if (c.res > 0) {
      const unsigned bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
      if ((c.flags & IORING_CQE_F_BUFFER) == 0 || bid >= p.bufs->entries() ||
          static_cast<unsigned>(c.res) > p.bufs->size())
        return end(p, pump_state::failed, "multishot recv: a completion without a valid buffer");
      p.pending.push_back({bid, static_cast<std::size_t>(c.res), 0});
      p.st.bytes += static_cast<std::uint64_t>(c.res);
      return;
    }
    if (c.res == 0 || c.res == -ECONNRESET) {
      p.eof = true;
      return;
    }
    if (c.res == -ENOBUFS) {  // every buffer waits for the mailbox: re-armed in step_in
      ++p.st.buffers_exhausted;
      return;
    }
    if (c.res == -EINVAL && p.st.bytes == 0) {  // a kernel with buffer rings but no multishot recv
      io_uring_unregister_buf_ring(&ring, p.bufs->group());
      p.bufs.reset();
      p.st.multishot = false;
      p.buf.resize(std::max(buffer_bytes, prefix + p.tx->max_message_size()));
      return;
    }
    end(p, pump_state::failed, std::string("recv: ") + std::strerror(-c.res));
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
      case op_recv_multi:
        on_recv_multi(p, *cqe);
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

result<pump_loop> pump_loop::create(std::size_t buffer_bytes, pump_recv recv) {
  pump_loop l;
  l.p_ = std::make_unique<impl>();
  l.p_->buffer_bytes = buffer_bytes;
  l.p_->single_shot = single_shot_forced(recv);
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
  p->frames.emplace(tx.max_message_size());
  const std::size_t index = p_->pumps.size();
  if (!p_->single_shot && index <= 0xffff) {
    auto bufs = std::make_unique<uring::buf_ring>();
    const auto size = static_cast<unsigned>(
        std::clamp<std::size_t>(p_->buffer_bytes / provided_buffers, min_buffer_bytes, std::size_t{1} << 20));
    if (bufs->setup(&p_->ring, static_cast<std::uint16_t>(index), provided_buffers, size) == 0) {
      p->bufs = std::move(bufs);
      p->st.multishot = true;
    }
  }
  if (!p->bufs) p->buf.resize(std::max(p_->buffer_bytes, prefix + tx.max_message_size()));
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
