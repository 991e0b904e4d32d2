// The non-ringport baselines: their out-of-line parts and their rows.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <fstream>

#include "peers_floor.hpp"
#include "peers_kernel.hpp"
#include "peers_lockfree.hpp"
#include "peers_moodycamel.hpp"
#include "peers_tbb.hpp"
#include "ref_spsc.hpp"

namespace bench {

// ---- stream descriptors ------------------------------------------------------

bool write_full(int fd, const void* p, std::size_t n) noexcept {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t k = ::write(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool read_full(int fd, void* p, std::size_t n) noexcept {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t k = ::read(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

void close_pair(int (&fds)[2]) noexcept {
  for (int& fd : fds) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

ringport::result<void> pipe_kind::open(int (&fds)[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return ringport::system_failure("pipe2", errno);
  return {};
}

ringport::result<void> uds_kind::open(int (&fds)[2]) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ringport::system_failure("socketpair(AF_UNIX, SOCK_STREAM)", errno);
  }
  fds[0] = sv[1];  // read end
  fds[1] = sv[0];  // write end
  return {};
}

// ---- eventfd -----------------------------------------------------------------------

owned_fd::~owned_fd() {
  if (fd >= 0) ::close(fd);
}

ringport::result<int> open_eventfd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC);
  if (fd < 0) return ringport::system_failure("eventfd", errno);
  return fd;
}

bool eventfd_signal(int efd) noexcept {
  const std::uint64_t one = 1;
  for (;;) {
    if (::write(efd, &one, sizeof one) == static_cast<ssize_t>(sizeof one)) return true;
    if (errno != EINTR) return false;
  }
}

bool eventfd_take(int efd) noexcept {
  std::uint64_t v = 0;
  for (;;) {
    if (::read(efd, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) return v != 0;
    if (errno != EINTR) return false;
  }
}

int epoll_for(int fd) noexcept {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -1;
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(ep);
    return -1;
  }
  return ep;
}

bool epoll_wait_one(int ep) noexcept {
  for (;;) {
    epoll_event ev{};
    const int n = ::epoll_wait(ep, &ev, 1, 1000);
    if (n == 1) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// ---- POSIX message queues ------------------------------------------------------

namespace {
long system_msg_max() {
  std::ifstream f("/proc/sys/fs/mqueue/msg_max");
  long v = 10;
  f >> v;
  return v > 0 ? v : 10;
}
}  // namespace

ringport::result<mqd_t> open_private_mq(std::size_t msg_bytes, long depth, long* got_depth) {
  static std::atomic<unsigned> counter{0};
  const std::string name =
      "/ringport-bench." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  for (long d : {depth, system_msg_max()}) {
    mq_attr attr{};
    attr.mq_maxmsg = d;
    attr.mq_msgsize = static_cast<long>(msg_bytes);
    const mqd_t q = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
    if (q == static_cast<mqd_t>(-1)) {
      if (errno == EINVAL || errno == EMFILE) continue;  // over msg_max / RLIMIT_MSGQUEUE
      return ringport::system_failure("mq_open", errno);
    }
    mq_unlink(name.c_str());  // the descriptors keep it alive; nothing to clean up later
    *got_depth = d;
    return q;
  }
  return ringport::system_failure("mq_open (depth from /proc/sys/fs/mqueue/msg_max)", errno);
}

bool mq_send_all(mqd_t q, const void* p, std::size_t n) noexcept {
  while (mq_send(q, static_cast<const char*>(p), n, 0) != 0)
    if (errno != EINTR) return false;
  return true;
}

bool mq_recv_all(mqd_t q, void* p, std::size_t n) noexcept {
  for (;;) {
    const ssize_t k = mq_receive(q, static_cast<char*>(p), n, nullptr);
    if (k >= 0) return static_cast<std::size_t>(k) == n;
    if (errno != EINTR) return false;
  }
}

// ---- futex -----------------------------------------------------------------------

namespace {
long futex(std::atomic<std::uint32_t>& w, int op, std::uint32_t val) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), op, val, nullptr, nullptr, 0);
}
}  // namespace

// The sender's publish (a release store) and the receiver's announcement are
// each followed by a seq_cst fence before reading the other's word (Dekker):
// either the sender sees `waiting` and wakes, or the receiver sees the new
// value before it sleeps (and FUTEX_WAIT re-checks it in the kernel anyway).
void futex_waiter::wake(std::atomic<std::uint32_t>& w, std::atomic<std::uint32_t>& waiting) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (waiting.load(std::memory_order_relaxed) != 0) futex(w, FUTEX_WAKE, 1);
}

std::uint32_t futex_waiter::await_change(std::atomic<std::uint32_t>& w, std::atomic<std::uint32_t>& waiting,
                                         std::uint32_t seen) noexcept {
  for (;;) {
    // Pairs with the release store in slot_channel::send.
    std::uint32_t v = w.load(std::memory_order_acquire);
    if (v != seen) return v;
    waiting.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    v = w.load(std::memory_order_acquire);
    if (v == seen) futex(w, FUTEX_WAIT, seen);  // returns at once if w already changed (EAGAIN)
    waiting.store(0, std::memory_order_relaxed);
    if (v != seen) return v;
  }
}

// ---- rows ------------------------------------------------------------------------

namespace {
// An MPMC peer's rows: those of boost-mpmc (throughput 1x1 at every size and
// at the large capacity, mpsc/spmc shapes, ping-pong, the scaling rows).
template <template <std::size_t> class C, template <std::size_t> class Large>
void add_mpmc_peer(registry& r, const char* scaling_note) {
  add_throughput<C, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<Large, 8>(r, 1, 1);
  add_throughput<C, 64>(r, 4, 1);
  add_throughput<C, 64>(r, 1, 4);
  add_pingpong<C>(r);
  const row_options scaling{"scaling", scaling_note};
  for (unsigned n : {1U, 2U, 4U}) add_throughput<C, 64>(r, n, n, scaling);
}
}  // namespace

scenario floor_probe() {
  registry r;
  add_pingpong<spin_line_channel>(r);
  return r.front();  // thread mode comes first
}

void register_peers(registry& r) {
  // Floors first: every later row's "vs floor" divides by them.
  add_pingpong<futex_channel>(r);
  add_pingpong<spin_line_channel, 8, 64, 512, 4096>(r);
  add_throughput<memcpy_sink, 8, 64, 512, 4096>(r, 1, 0);
  add_throughput<memcpy_queue_sized, 8, 64, 512, 4096>(r, 1, 0);

  // Boost.Lockfree: the peers ringport's ratios are taken against.
  add_throughput<boost_spsc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<boost_spsc_batch, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<boost_spsc>(r);
  add_throughput<boost_mpmc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<boost_mpmc, 64>(r, 4, 1);
  add_throughput<boost_mpmc, 64>(r, 1, 4);
  add_pingpong<boost_mpmc>(r);
  const row_options no_block{"scaling", "boost::lockfree has no blocking wait: spin-yield"};
  add_throughput<boost_mpmc, 64>(r, 1, 1, no_block);
  add_throughput<boost_mpmc, 64>(r, 2, 2, no_block);
  add_throughput<boost_mpmc, 64>(r, 4, 4, no_block);
  add_throughput<boost_spsc_64k, 8>(r, 1, 1);
  add_throughput<boost_mpmc_64k, 8>(r, 1, 1);

  // The software-ring floor, and the other queues a user would pick instead.
  add_throughput<ref_spsc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<ref_spsc_64k, 8>(r, 1, 1);
  add_pingpong<ref_spsc>(r);
  // Issue 11's one-line-transfer spsc design, measured beside ref-spsc.
  add_throughput<ref_turns, 8, 64>(r, 1, 1);
  add_throughput<ref_turns_64k, 8>(r, 1, 1);
  add_pingpong<ref_turns>(r);
#if RINGPORT_BENCH_HAVE_RWQ
  add_throughput<moodycamel_rwq, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<moodycamel_rwq_64k, 8>(r, 1, 1);
  add_pingpong<moodycamel_rwq>(r);
#endif
#if RINGPORT_BENCH_HAVE_CQ
  add_mpmc_peer<moodycamel_cq, moodycamel_cq_64k>(r, "moodycamel-cq spins (try_dequeue): spin-yield");
#endif
#if RINGPORT_BENCH_HAVE_TBB
  add_mpmc_peer<tbb_bounded, tbb_bounded_64k>(r, "tbb try_pop spins: spin-yield");
#endif

  // Kernel transports.
  add_throughput<pipe_channel, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<pipe_channel>(r);
  add_throughput<uds_channel, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<uds_channel>(r);
  add_oneway<uds_channel, 64, 4096>(r);
  add_throughput<mq_channel, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<mq_channel>(r);
  add_oneway<mq_channel, 64, 4096>(r);
}

}  // namespace bench
