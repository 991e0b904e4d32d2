// Pumps (issue #14): mailbox -> socket -> mailbox over a socketpair and over
// loopback TCP, exactly once and in order, with both mailboxes filling up
// (back-pressure: the receiving side starts late, the sending side is fed
// faster than the socket drains); a peer that closes; a frame too large.
// RINGPORT_PUMP_MESSAGES sets the count (default 100000; the long
// mode is 1000000).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "journal_util.hpp"
#include "ringport/pump.hpp"

using namespace ringport;
using namespace journal_test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t max = 256;

std::uint64_t pump_count() {
  const char* e = std::getenv("RINGPORT_PUMP_MESSAGES");
  return e ? std::strtoull(e, nullptr, 10) : 100000;
}

void tcp_pair(int fds[2]) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(l >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(l, 1) == 0);
  socklen_t n = sizeof a;
  REQUIRE(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &n) == 0);
  fds[0] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(::connect(fds[0], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  fds[1] = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(fds[1] >= 0);
  ::close(l);
}

void through_pumps(int fds[2], std::uint64_t n) {
  mailbox a = make_mailbox("pump-a", 64, max);
  mailbox b = make_mailbox("pump-b", 64, max);
  auto a_tx = a.sender();
  auto a_rx = a.receiver();
  auto b_tx = b.sender();
  auto b_rx = b.receiver();
  REQUIRE((a_tx && a_rx && b_tx && b_rx));
  auto loop = pump_loop::create(16 * 1024);
  REQUIRE_MESSAGE(loop, loop.error().message);
  auto out = loop->to_socket(*a_rx, fds[0]);
  auto in = loop->from_socket(fds[1], *b_tx);
  REQUIRE((out && in));
  std::thread feeder([&] {
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(a_tx->send_for(message(11, i, max), 30s) == status::ok);
    a.close();  // the outbound pump drains, then shuts the socket's write side
  });
  result<void> ran;
  std::thread runner([&] { ran = loop->run(); });
  std::this_thread::sleep_for(200ms);  // both mailboxes and the socket fill up meanwhile
  CHECK(b.size() == b.capacity());     // back-pressure reached the receiving mailbox
  std::vector<std::byte> buf(max);
  std::uint64_t wrong = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::size_t len = 0;
    REQUIRE(b_rx->receive_for(buf, len, 30s) == status::ok);
    const auto want = message(11, i, max);
    if (len != want.size() || std::memcmp(buf.data(), want.data(), len) != 0) ++wrong;
  }
  feeder.join();
  runner.join();
  CHECK(ran);
  CHECK(wrong == 0);
  std::size_t len = 0;
  CHECK(b_rx->try_receive(buf, len) == status::would_block);  // nothing extra
  CHECK(loop->stats(*out).state == pump_state::done);
  CHECK(loop->stats(*in).state == pump_state::done);
  CHECK(loop->stats(*out).messages == n);
  CHECK(loop->stats(*in).messages == n);
  CHECK(loop->stats(*out).bytes == loop->stats(*in).bytes);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace

TEST_CASE("pump: mailbox -> socketpair -> mailbox, exactly once, in order, with back-pressure") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  through_pumps(fds, pump_count());
}

TEST_CASE("pump: mailbox -> loopback TCP -> mailbox") {
  int fds[2];
  tcp_pair(fds);
  through_pumps(fds, pump_count() / 2);
}

TEST_CASE("pump: a peer that closes ends the outbound pump (peer_closed)") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  mailbox a = make_mailbox("pump-c", 64, max);
  auto tx = a.sender();
  auto rx = a.receiver();
  REQUIRE((tx && rx));
  auto loop = pump_loop::create(8192);
  REQUIRE(loop);
  auto out = loop->to_socket(*rx, fds[0]);
  REQUIRE(out);
  ::close(fds[1]);
  std::thread feeder([&] {
    for (int i = 0; i < 1000 && loop->stats(*out).state == pump_state::running; ++i)
      (void)tx->send_for(message(12, static_cast<std::uint64_t>(i), max), 100ms);
  });
  CHECK(loop->run());
  feeder.join();
  CHECK(loop->stats(*out).state == pump_state::peer_closed);
  ::close(fds[0]);
}

TEST_CASE("pump: a frame longer than the mailbox's maximum fails the inbound pump") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  mailbox b = make_mailbox("pump-d", 64, max);
  auto tx = b.sender();
  REQUIRE(tx);
  auto loop = pump_loop::create(8192);
  REQUIRE(loop);
  auto in = loop->from_socket(fds[1], *tx);
  REQUIRE(in);
  const std::uint32_t huge = 100000;
  REQUIRE(::write(fds[0], &huge, 4) == 4);
  CHECK(loop->run());
  CHECK(loop->stats(*in).state == pump_state::failed);
  CHECK(loop->stats(*in).error.find("exceeds") != std::string::npos);
  CHECK(b.size() == 0);
  ::close(fds[0]);
  ::close(fds[1]);
}
