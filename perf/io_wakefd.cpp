// wakefd rows (issue 14): the wake-up round trip of readable_fd + epoll.
// A ping-pong of 8-byte messages over two ringport spsc rings (one each
// way): each side waits for its ring with epoll_wait on a readable_fd made
// for its consumer, then pops and replies with a push. Beside it, in the
// same group: the raw futex ping-pong (the floor, the `futex` channel of the
// pingpong rows), an eventfd ping-pong and the same through epoll (kernel
// peers, peers_kernel.hpp). Two readable_fd rows: the io_uring futex wait
// (`readable-fd`, skipped where the kernel lacks IORING_OP_FUTEX_WAITV) and
// the forced fallback, a helper thread and an eventfd (`readable-fd-thread`).
#include <optional>

#include "peers_floor.hpp"
#include "peers_kernel.hpp"
#include "ringport/readable_fd.hpp"
#include "ringport_channels.hpp"

namespace bench {
namespace {

template <std::size_t N, ringport::wake_mode Mode>
struct readable_fd_channel : channel_defaults {
  using message = bench::message<N>;
  using ring_t = ringport::spsc<message>;
  static constexpr bool helper = Mode == ringport::wake_mode::helper_thread;
  static constexpr const char* impl = helper ? "readable-fd-thread" : "readable-fd";
  static constexpr const char* wait = "epoll";
  static constexpr bool streams = false;  // ping-pong only
  static constexpr std::size_t capacity = queue_slots;
  static constexpr row_role role = row_role::subject;
  static constexpr const char* peer = "eventfd";

  named_object<ring_t> seg;

  static const char* unavailable() noexcept {
    return helper || ringport::uring_futex_supported() ? nullptr : ringport::uring_futex_unsupported_reason();
  }
  ringport::result<void> init(const run_context& ctx) {
    if (ctx.mode == run_mode::thread) {
      auto r = ring_t::create_local(capacity);
      if (!r) return r.error();
      seg.obj.emplace(std::move(*r));
      return {};
    }
    return seg.make(ctx, [](std::string_view name) {
      ringport::ring_options o;
      o.capacity = capacity;
      return ring_t::create(name, o);
    });
  }
  void started() { seg.started(); }
  std::string describe() const {
    return std::string(helper ? "helper thread + eventfd" : "io_uring FUTEX_WAIT") + ", spsc " +
           std::to_string(seg.obj->capacity()) + " slots, " +
           std::to_string(seg.obj->info().page_size >> 10) + " KiB pages";
  }

  struct producer_end {
    typename ring_t::producer_handle h;
    bool send(const message& m) noexcept { return h.push(m) == ringport::status::ok; }
  };
  // The event loop of one side: epoll_wait, drain, rearm (readable_fd.hpp).
  struct consumer_end {
    typename ring_t::consumer_handle h;
    std::optional<ringport::readable_fd> rfd;  // made at the first recv: it points at h, which must not move
    owned_fd ep;
    bool armed = false;  // rearm() returned false: h is off limits until ep reports readable
    bool recv(message& m) noexcept {
      if (!rfd && !start()) return false;
      for (;;) {
        if (armed) {
          if (!epoll_wait_one(ep.fd)) return false;
          armed = false;
        }
        const ringport::status s = h.try_pop(m);
        if (s == ringport::status::ok) return true;
        if (s != ringport::status::would_block) return false;
        armed = !rfd->rearm();
      }
    }
    bool start() noexcept {
      const ringport::waitable t = h.readable();
      auto r = ringport::readable_fd::create(std::span(&t, 1), Mode);
      if (!r) return false;
      rfd.emplace(std::move(*r));
      ep = owned_fd(epoll_for(rfd->fd()));
      armed = true;  // create() armed it
      return ep.fd >= 0;
    }
  };

  ringport::result<producer_end> sender(unsigned) {
    auto r = seg.mine();
    if (!r) return r.error();
    auto h = r->producer(ringport::wait_policy::block);
    if (!h) return h.error();
    return producer_end{std::move(*h)};
  }
  ringport::result<consumer_end> receiver(unsigned) {
    auto r = seg.mine();
    if (!r) return r.error();
    auto h = r->consumer(ringport::wait_policy::block);
    if (!h) return h.error();
    return consumer_end{std::move(*h), std::nullopt, owned_fd{}, false};
  }
};

template <std::size_t N>
using readable_fd_futex = readable_fd_channel<N, ringport::wake_mode::uring_futex>;
template <std::size_t N>
using readable_fd_thread = readable_fd_channel<N, ringport::wake_mode::helper_thread>;

}  // namespace

void register_wakefd(registry& r) {
  const row_options o{"wakefd", {}};
  add_pingpong<futex_channel>(r, o);  // the floor, as in the pingpong rows
  add_pingpong<eventfd_plain>(r, o);
  add_pingpong<eventfd_epoll>(r, o);
  add_pingpong<readable_fd_futex>(r, o);
  add_pingpong<readable_fd_thread>(r, o);
}

}  // namespace bench
