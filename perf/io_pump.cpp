// pump rows (issue 14): mailbox -> loopback TCP -> mailbox through two
// pumps (a to_socket and a from_socket pump in one pump_loop thread, as
// `ringport pump` runs them), beside a plain blocking loop that moves the
// same frames (4-byte little-endian length, then the payload) over
// loopback TCP: one send(2) per frame, recv(2) of the length then of the
// payload. Same socket set-up for both (default buffers, Nagle on). 64 B
// and 4 KiB. A producer thread sends stamped messages for the repetition's
// time, then an end marker; the receiving side checks every stamp (in
// order, untorn) and stops at the marker. Threads are not pinned (three of
// them with the pumps, two in the plain loop).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "peers_kernel.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/pump.hpp"
#include "ringport_channels.hpp"

namespace bench {
namespace {

using clock_type = std::chrono::steady_clock;

// A connected loopback TCP pair: fds[0] the sending end, fds[1] the receiving end.
ringport::result<void> tcp_pair(owned_fd (&fds)[2]) {
  owned_fd ls(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (ls.fd < 0) return ringport::system_failure("socket", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(ls.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls.fd, 1) != 0 ||
      ::getsockname(ls.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return ringport::system_failure("bind/listen 127.0.0.1", errno);
  fds[0] = owned_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fds[0].fd < 0 || ::connect(fds[0].fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return ringport::system_failure("connect 127.0.0.1", errno);
  fds[1] = owned_fd(::accept4(ls.fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (fds[1].fd < 0) return ringport::system_failure("accept", errno);
  return {};
}

bool send_all(int fd, const void* p, std::size_t n) noexcept {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t k = ::send(fd, b, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool recv_all(int fd, void* p, std::size_t n) noexcept {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t k = ::recv(fd, b, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// Checks the stamps of what arrives; counts messages until the end marker.
struct stamp_check {
  std::uint64_t next = 0, wrong = 0;
  bool ended = false;
  void take(const std::uint64_t* w, std::size_t words) noexcept {
    if (w[0] != w[words - 1]) {
      ++wrong;
    } else if (is_end(w[0])) {
      ended = true;
    } else if (w[0] != make_stamp(0, next++)) {
      ++wrong;
    }
  }
};

// Sends stamped messages with send(m) for `seconds` (at least one), then the
// end marker; how many, or -1 when a send failed.
template <class Send>
long long produce_for(std::size_t n, double seconds, Send&& send) {
  std::vector<std::uint64_t> w(n / 8, 0);
  const auto until = clock_type::now() + std::chrono::duration<double>(seconds);
  std::uint64_t seq = 0;
  for (;;) {
    w[0] = w[n / 8 - 1] = make_stamp(0, seq);
    if (!send(w)) return -1;
    ++seq;
    if ((seq & 63) == 0 && clock_type::now() >= until) break;
  }
  w[0] = w[n / 8 - 1] = end_stamp(0);
  return send(w) ? static_cast<long long>(seq) : -1;
}

void finish(measurement& out, long long sent, const stamp_check& got, double seconds, const std::string& err,
            const char* note) {
  if (!err.empty()) return out.fail(err);
  if (sent < 0 || !got.ended || got.wrong != 0 || got.next != static_cast<std::uint64_t>(sent))
    return out.fail("delivered " + std::to_string(got.next) + " of " + std::to_string(sent) + " (" +
                    std::to_string(got.wrong) + " wrong)");
  out.ok = true;
  out.messages = static_cast<std::uint64_t>(sent);
  out.seconds = seconds;
  set_text(out.note, note);
}

ringport::result<ringport::mailbox> make_box(std::size_t n) {
  const std::string name = bench_ring_name();
  ringport::mailbox_options o;
  o.capacity = queue_slots;
  o.max_message_size = n;
  auto b = ringport::mailbox::create(name, o);
  if (b) (void)ringport::mailbox::remove(name);  // the handles keep it mapped
  return b;
}

void run_pumps(const run_context& ctx, measurement& out, std::size_t n) {
  auto loop = ringport::pump_loop::create();
  if (!loop) {
    if (loop.error() == ringport::errc::unsupported) return out.skip(loop.error().message);
    return out.fail(loop.error().message);
  }
  owned_fd fds[2];
  auto a = make_box(n), b = make_box(n);
  if (!a || !b) return out.fail((!a ? a : b).error().message);
  if (auto t = tcp_pair(fds); !t) return out.fail(t.error().message);
  auto tx = a->sender();
  auto pump_rx = a->receiver();
  auto pump_tx = b->sender();
  auto rx = b->receiver();
  if (!tx || !pump_rx || !pump_tx || !rx) return out.fail("no mailbox handles");
  if (auto p = loop->to_socket(*pump_rx, fds[0].fd); !p) return out.fail(p.error().message);
  if (auto p = loop->from_socket(fds[1].fd, *pump_tx); !p) return out.fail(p.error().message);
  const auto t0 = clock_type::now();
  std::string err;
  std::thread pumps([&] {
    if (auto r = loop->run(); !r) err = r.error().message;
  });
  long long sent = 0;
  std::thread producer([&] {
    sent = produce_for(n, ctx.seconds, [&](const std::vector<std::uint64_t>& w) {
      return tx->send(std::as_bytes(std::span(w))) == ringport::status::ok;
    });
    a->close();  // the to_socket pump drains it, then shuts the socket's write side
  });
  stamp_check got;
  std::vector<std::uint64_t> w(n / 8, 0);
  while (!got.ended) {
    std::size_t len = 0;
    const auto s = rx->receive_until(std::as_writable_bytes(std::span(w)), len,
                                     clock_type::now() + std::chrono::seconds(5));
    if (s != ringport::status::ok || len != n) break;
    got.take(w.data(), w.size());
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (!got.ended) {  // lets the producer and the pumps out
    a->close();
    b->close();
    for (owned_fd& f : fds) ::shutdown(f.fd, SHUT_RDWR);
  }
  producer.join();
  pumps.join();
  finish(out, sent, got, seconds, err,
         "two pumps in one pump_loop thread, 1024-slot mailboxes, loopback TCP");
}

void run_plain(const run_context& ctx, measurement& out, std::size_t n) {
  owned_fd fds[2];
  if (auto t = tcp_pair(fds); !t) return out.fail(t.error().message);
  const auto t0 = clock_type::now();
  long long sent = 0;
  std::thread producer([&] {
    std::vector<std::byte> frame(4 + n);
    sent = produce_for(n, ctx.seconds, [&](const std::vector<std::uint64_t>& w) {
      const auto len = static_cast<std::uint32_t>(n);  // little-endian, as the pumps' frames
      std::memcpy(frame.data(), &len, 4);
      std::memcpy(frame.data() + 4, w.data(), n);
      return send_all(fds[0].fd, frame.data(), frame.size());
    });
    ::shutdown(fds[0].fd, SHUT_WR);
  });
  stamp_check got;
  std::vector<std::uint64_t> w(n / 8, 0);
  std::string err;
  while (!got.ended) {
    std::uint32_t len = 0;
    if (!recv_all(fds[1].fd, &len, 4) || len != n || !recv_all(fds[1].fd, w.data(), n)) {
      err = "a frame was cut short or has the wrong length";
      break;
    }
    got.take(w.data(), w.size());
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (!got.ended) ::shutdown(fds[1].fd, SHUT_RDWR);
  producer.join();
  finish(out, sent, got, seconds, err, "blocking send/recv, loopback TCP, one send(2) per frame");
}

void add(registry& r, const char* impl, const char* wait, std::size_t n, std::size_t cap, row_role role,
         const char* peer, void (*run)(const run_context&, measurement&, std::size_t)) {
  scenario s;
  s.name = "pump";
  s.impl = impl;
  s.mode = run_mode::thread;
  s.msg_bytes = n;
  s.wait = wait;
  s.capacity = cap;
  s.role = role;
  s.peer = peer;
  s.run = [run, n](const run_context& c, measurement& m) { run(c, m, n); };
  r.push_back(std::move(s));
}

}  // namespace

void register_pump(registry& r) {
  for (std::size_t n : {std::size_t{64}, std::size_t{4096}}) {
    add(r, "send-recv", "kernel", n, 0, row_role::peer, "", &run_plain);
    add(r, "ringport-pump", "adaptive", n, queue_slots, row_role::subject, "send-recv", &run_pumps);
  }
}

}  // namespace bench
