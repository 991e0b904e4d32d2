// readable_fd: a pollable fd for rings (readable_fd.hpp says how).
#include "ringport/readable_fd.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "ringport/detail/wait.hpp"
#include "uring_futex.hpp"

namespace ringport {
namespace {

constexpr std::uint64_t tag_wait = 1, tag_nop = 2;

struct probe_result {
  bool ok = false;
  const char* why = "not probed";
};

probe_result probe_once() noexcept {
  io_uring ring;
  if (io_uring_queue_init(2, &ring, 0) < 0)
    return {false,
            "io_uring is unavailable (io_uring_setup refused: /proc/sys/kernel/io_uring_disabled, seccomp)"};
  probe_result r{true, ""};
  io_uring_probe* p = io_uring_get_probe_ring(&ring);
  if (p == nullptr)
    r = {false, "IORING_REGISTER_PROBE failed"};
  else if (!io_uring_opcode_supported(p, uring::op_futex_wait) ||
           !io_uring_opcode_supported(p, uring::op_futex_waitv))
    r = {false, "the kernel's io_uring lacks IORING_OP_FUTEX_WAIT/FUTEX_WAITV (Linux < 6.7)"};
  if (p) io_uring_free_probe(p);
  io_uring_queue_exit(&ring);
  return r;
}

const probe_result& probed() noexcept {
  static const probe_result r = probe_once();
  return r;
}

bool first_ready(std::span<const waitable> t) noexcept {
  for (const waitable& w : t)
    if (w.ready(w.ctx)) return true;
  return false;
}

bool forced_thread() noexcept {
  const char* e = std::getenv("RINGPORT_READABLE_FD");
  return e != nullptr && std::strcmp(e, "thread") == 0;
}

}  // namespace

bool uring_futex_supported() noexcept {
  return probed().ok;
}
const char* uring_futex_unsupported_reason() noexcept {
  return probed().ok ? "" : probed().why;
}

struct readable_fd::impl {
  wake_mode mode = wake_mode::uring_futex;
  std::vector<waitable> targets;
  std::vector<detail::event_count*> events;
  // uring_futex
  io_uring ring{};
  bool ring_ok = false;
  bool waiting = false;  // a futex wait is queued (its completion not reaped)
  std::vector<uring::futex_waitv> waitv;
  // helper_thread
  int efd = -1;
  std::thread helper;
  std::mutex m;
  std::condition_variable cv;
  bool armed = false, stop = false;

  ~impl() {
    if (helper.joinable()) {
      {
        std::lock_guard<std::mutex> g(m);
        stop = true;
      }
      cv.notify_all();
      helper.join();
    }
    if (efd >= 0) ::close(efd);
    if (ring_ok) io_uring_queue_exit(&ring);
  }

  void post_nop() noexcept {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring)) {
      io_uring_prep_nop(s);
      s->user_data = tag_nop;
      io_uring_submit(&ring);
    }
  }

  bool rearm_uring() noexcept {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
      if (cqe->user_data == tag_wait) waiting = false;
      io_uring_cqe_seen(&ring, cqe);
    }
    for (const waitable& w : targets)
      if (w.idle) w.idle(w.ctx);
    if (waiting) {  // the queued wait still covers every target
      if (!first_ready(targets)) return false;
      post_nop();
      return true;
    }
    // Register on every count (A-KEY, waiters += 1), then F-WAIT, then the
    // re-check: as a parked thread does (detail::park_round).
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const std::uint32_t key = detail::register_waiter<detail::shipped_env>(*events[i]);
      waitv[i] = {key, reinterpret_cast<std::uintptr_t>(&events[i]->seq), uring::futex2_size_u32, 0};
    }
    detail::park_fence(std::span<detail::event_count* const>(events.data(), events.size()));
    if (first_ready(targets)) {
      post_nop();  // no deregistration: wakers clear `waiters`
      return true;
    }
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) return false;
    if (targets.size() == 1)
      uring::prep_futex_wait(s, reinterpret_cast<const std::uint32_t*>(&events[0]->seq),
                             static_cast<std::uint32_t>(waitv[0].val));
    else
      uring::prep_futex_waitv(s, waitv.data(), static_cast<unsigned>(waitv.size()));
    s->user_data = tag_wait;
    waiting = io_uring_submit(&ring) == 1;
    if (!waiting) post_nop();  // could not queue the wait: stay readable rather than miss data
    return !waiting;
  }

  void signal_eventfd() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(efd, &one, sizeof one);
  }

  bool rearm_thread() noexcept {
    std::uint64_t v;
    while (::read(efd, &v, sizeof v) > 0) {
    }
    for (const waitable& w : targets)
      if (w.idle) w.idle(w.ctx);
    if (first_ready(targets)) {
      signal_eventfd();
      return true;
    }
    {
      std::lock_guard<std::mutex> g(m);
      armed = true;
    }
    cv.notify_one();
    return false;
  }

  // The helper thread: while armed, wait_any() on the targets (without their
  // idle hooks: those belong to the owning thread), then the eventfd.
  void run() noexcept {
    std::vector<waitable> t = targets;
    for (waitable& w : t) w.idle = nullptr;
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv.wait(lk, [&] { return armed || stop; });
      if (stop) return;
      lk.unlock();
      int r = -1;
      while (r < 0) {
        r = wait_any(t, std::chrono::steady_clock::now() + detail::peer_poll, wait_policy::block);
        std::lock_guard<std::mutex> g(m);
        if (stop) return;
      }
      lk.lock();
      armed = false;
      signal_eventfd();
    }
  }
};

readable_fd::readable_fd() = default;
readable_fd::readable_fd(readable_fd&&) noexcept = default;
readable_fd& readable_fd::operator=(readable_fd&&) noexcept = default;
readable_fd::~readable_fd() = default;

result<readable_fd> readable_fd::create(std::span<const waitable> targets, wake_mode mode) {
  if (targets.empty() || targets.size() > wait_any_max)
    return ringport::error(errc::invalid_argument, "readable_fd: 1 to 128 targets");
  for (const waitable& w : targets)
    if (w.event == nullptr || w.ready == nullptr)
      return ringport::error(errc::invalid_argument, "readable_fd: a target without an event count");
  if (mode == wake_mode::automatic)
    mode = !forced_thread() && uring_futex_supported() ? wake_mode::uring_futex : wake_mode::helper_thread;
  if (mode == wake_mode::uring_futex && !uring_futex_supported())
    return ringport::error(errc::unsupported,
                           std::string("readable_fd: ") + uring_futex_unsupported_reason());
  readable_fd r;
  r.p_ = std::make_unique<impl>();
  impl& s = *r.p_;
  s.mode = mode;
  s.targets.assign(targets.begin(), targets.end());
  for (const waitable& w : targets) s.events.push_back(w.event);
  if (mode == wake_mode::uring_futex) {
    if (int rc = io_uring_queue_init(4, &s.ring, 0); rc < 0)
      return ringport::error(errc::unsupported, std::string("io_uring_queue_init: ") + std::strerror(-rc));
    s.ring_ok = true;
    s.waitv.resize(targets.size());
  } else {
    s.efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s.efd < 0) return system_failure("eventfd", errno);
    s.helper = std::thread([p = r.p_.get()] { p->run(); });
  }
  r.rearm();
  return r;
}

int readable_fd::fd() const noexcept {
  return p_->mode == wake_mode::uring_futex ? p_->ring.ring_fd : p_->efd;
}
bool readable_fd::rearm() noexcept {
  return p_->mode == wake_mode::uring_futex ? p_->rearm_uring() : p_->rearm_thread();
}
wake_mode readable_fd::mode() const noexcept {
  return p_->mode;
}

bool prep_readable_wait(io_uring_sqe* sqe, const waitable& target) noexcept {
  detail::event_count& ec = *target.event;
  const std::uint32_t key = detail::register_waiter<detail::shipped_env>(ec);
  detail::event_count* const one[1] = {&ec};
  detail::park_fence(std::span<detail::event_count* const>(one));
  if (target.ready(target.ctx)) {
    io_uring_prep_nop(sqe);
    return true;
  }
  uring::prep_futex_wait(sqe, reinterpret_cast<const std::uint32_t*>(&ec.seq), key);
  return false;
}

}  // namespace ringport
