// The buffering models of issue 15: zero capacity (rendezvous), in threads
// and with processes killed mid-rendezvous.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string text(std::span<const std::byte> b, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

mailbox make_rendezvous(const char* name) {
  mailbox_options o;
  o.capacity = 0;
  o.max_message_size = 64;
  o.backing = pages::normal;
  auto b = mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  return std::move(*b);
}

// Receives one message on another thread; `started` is set just before it waits.
struct receiver_thread {
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;
  status got = status::corrupt;
  std::atomic<bool> started{false};
  clock_type::time_point start_time{};
  std::thread t;
  receiver_thread(mailbox_receiver& rx, std::chrono::milliseconds delay) {
    t = std::thread([this, &rx, delay] {
      std::this_thread::sleep_for(delay);
      start_time = clock_type::now();
      started = true;
      got = rx.receive_until(buf, len, clock_type::now() + 10s);
    });
  }
  ~receiver_thread() {
    if (t.joinable()) t.join();
  }
  std::string message() const { return text(buf, len); }
};

}  // namespace

TEST_CASE("rendezvous: capacity 0 buffers nothing; try_ calls need the other side waiting") {
  mailbox box = make_rendezvous("rv-basic");
  CHECK(box.rendezvous());
  CHECK(box.capacity() == 0);
  auto again = mailbox::open("rv-basic");
  REQUIRE(again);
  CHECK(again->rendezvous());
  CHECK(again->capacity() == 0);
  auto tx = box.sender();
  auto rx = again->receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;

  // Nobody waits: try_send would block at once and leaves nothing behind.
  const auto t0 = clock_type::now();
  CHECK(tx->try_send(bytes("early")) == status::would_block);
  CHECK(clock_type::now() - t0 < rendezvous_grace);
  CHECK(box.size() == 0);
  CHECK(rx->try_receive(buf, len) == status::would_block);

  // A timed send (even an "async" one) with no receiver: timed_out no
  // earlier than its deadline, and nothing stays to be received.
  const auto deadline = clock_type::now() + 60ms;
  CHECK(tx->send_until(bytes("late"), deadline, delivery::async) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  CHECK(box.size() == 0);
  CHECK(rx->receive_for(buf, len, 30ms) == status::timed_out);

  // A blocking send returns only once a receiver took the message: the
  // receiver starts 150 ms later.
  {
    receiver_thread r(*rx, 150ms);
    REQUIRE(tx->send(bytes("met"), delivery::async) == status::ok);
    const auto returned = clock_type::now();
    CHECK(r.started.load());
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "met");
    CHECK(returned >= r.start_time);
    CHECK(box.size() == 0);
  }

  // try_send succeeds once a receiver is waiting.
  {
    receiver_thread r(*rx, 0ms);
    status s = status::would_block;
    for (int i = 0; i < 2000 && s == status::would_block; ++i) {
      s = tx->try_send(bytes("tried"));
      if (s == status::would_block) std::this_thread::sleep_for(1ms);
    }
    CHECK(s == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "tried");
  }

  // try_receive meets a sender that is waiting.
  {
    std::atomic<bool> sent{false};
    std::thread t([&] {
      CHECK(tx->send_for(bytes("waiting sender"), 10s) == status::ok);
      sent = true;
    });
    status s = status::would_block;
    for (int i = 0; i < 2000 && s == status::would_block; ++i) {
      s = rx->try_receive(buf, len);
      if (s == status::would_block) std::this_thread::sleep_for(1ms);
    }
    CHECK(s == status::ok);
    t.join();
    CHECK(sent.load());
    CHECK(text(buf, len) == "waiting sender");
  }

  // Zero copy on a rendezvous is synchronous too.
  {
    receiver_thread r(*rx, 50ms);
    std::span<std::byte> out;
    REQUIRE(tx->try_claim(5, out) == status::ok);
    std::memcpy(out.data(), "claim", 5);
    CHECK(tx->commit(5, delivery::async, clock_type::now() + 10s) == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "claim");
  }

  // close() wakes a sender waiting for a receiver.
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    box.close();
  });
  CHECK(tx->send_for(bytes("closing"), 10s) == status::closed);
  closer.join();
  CHECK(rx->try_receive(buf, len) == status::closed);
}

TEST_CASE("rendezvous: a receiver or sender killed mid-rendezvous wedges nobody") {
  mailbox box = make_rendezvous("rv-kill");
  auto tx = box.sender();
  REQUIRE(tx);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;

  // A receiver process announces itself, then is stopped (SIGSTOP) before
  // it can take anything: a send meets the announcement but must not return
  // ok, since nobody took the message; it times out and withdraws it, and
  // once resumed the receiver gets the next message, not that one.
  pid_t stopped = fork();
  REQUIRE(stopped >= 0);
  if (stopped == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto r = b->receiver(wait_policy::block);
    if (!r) _exit(11);
    std::array<std::byte, 64> cb{};
    std::size_t cl = 0;
    if (r->receive_for(cb, cl, 20s) != status::ok) _exit(12);
    _exit(text(cb, cl) == "second" ? 0 : 13);
  }
  std::this_thread::sleep_for(200ms);  // it announced itself and sleeps
  ::kill(stopped, SIGSTOP);
  CHECK(tx->send_for(bytes("first"), 300ms) == status::timed_out);
  ::kill(stopped, SIGCONT);
  CHECK(tx->send_for(bytes("second"), 10s) == status::ok);
  CHECK(ringport_test::wait_child(stopped) == 0);

  // A receiver process waits, then dies: a sender that meets its stale
  // announcement learns that every receiver is dead (peer_gone), well
  // before its deadline; its message is never delivered.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto r = b->receiver();
    if (!r) _exit(11);
    std::array<std::byte, 64> cb{};
    std::size_t cl = 0;
    (void)r->receive(cb, cl);
    _exit(12);
  }
  std::this_thread::sleep_for(200ms);  // it announced itself and sleeps
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
  const auto t0 = clock_type::now();
  CHECK(tx->send_for(bytes("for the dead"), 10s) == status::peer_gone);
  CHECK(clock_type::now() - t0 < 5s);

  // A new receiver gets the next message, never the withdrawn one.
  auto rx = box.receiver();
  REQUIRE(rx);
  {
    receiver_thread r(*rx, 0ms);
    CHECK(tx->send_for(bytes("for the living"), 10s) == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "for the living");
  }

  // A sender process waiting for a receiver dies: try_receive is bounded
  // by the grace, and a new pair meets as before.
  pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto s = b->sender();
    if (!s) _exit(11);
    (void)s->send(bytes("from the dead"));
    _exit(12);
  }
  std::this_thread::sleep_for(200ms);
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
  const auto t1 = clock_type::now();
  CHECK(rx->try_receive(buf, len) == status::would_block);
  CHECK(clock_type::now() - t1 < 2s);
  {
    receiver_thread r(*rx, 0ms);
    CHECK(tx->send_for(bytes("still works"), 10s) == status::ok);
    r.t.join();
    CHECK(r.message() == "still works");
  }
}
