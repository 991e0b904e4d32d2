// Nodes: names, reclaiming a dead owner's name, links created once per
// ordered pair (also when both sides race), direct and any-source receives.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "ringport/node.hpp"
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

// Joins two strings (not "lit" + std::string: GCC 12 -Wrestrict false positive).
std::string cat(std::string_view a, std::string_view b) {
  std::string s(a);
  s += b;
  return s;
}
std::string numbered(const char* prefix, int i) {
  return cat(prefix, std::to_string(i));
}

node_options small_links() {
  node_options o;
  o.link_capacity = 16;
  o.max_message_size = 64;
  o.backing = pages::normal;
  return o;
}

// The links in this process's test domain whose name starts with `prefix`.
std::set<std::string> links_in_domain(std::initializer_list<std::string_view> prefixes) {
  std::set<std::string> out;
  auto all = segment::list();
  REQUIRE(all);
  for (const auto& i : *all)
    for (std::string_view p : prefixes)
      if (i.name.rfind(p, 0) == 0) out.insert(i.name);
  return out;
}

}  // namespace

TEST_CASE("node names: rules, and one live holder per name") {
  CHECK(node::validate("P-1_x"));
  CHECK_FALSE(node::validate(""));
  CHECK_FALSE(node::validate("has.dot"));
  CHECK_FALSE(node::validate(std::string(node_name_max + 1, 'n')));
  CHECK(node::validate(std::string(node_name_max, 'n')));
  CHECK(node::link_name(std::string(node_name_max, 'a'), std::string(node_name_max, 'b')).size() <= 64);
  auto bad = node::join("a.b");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::invalid_name);

  auto a = node::join("holder", small_links());
  REQUIRE_MESSAGE(a, a.error().message);
  auto again = node::join("holder", small_links());
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::already_exists);
  a->leave();
  CHECK(node::join("holder", small_links()));  // free again after leave
}

TEST_CASE("a node name whose owner was killed with SIGKILL can be joined again") {
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto n = node::join("victim", small_links());
    const char c = n ? '1' : '0';
    (void)::write(ready[1], &c, 1);
    for (;;) ::pause();
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == '1');
  auto taken = node::join("victim", small_links());
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == errc::already_exists);
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
  auto n = node::join("victim", small_links());
  CHECK_MESSAGE(n, (n ? "" : n.error().message));
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_CASE("direct send/receive, receive_any with the sender's name, sync delivery") {
  auto a = node::join("A", small_links());
  auto b = node::join("B", small_links());
  auto c = node::join("C", small_links());
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;
  std::string_view from;

  auto r = a->try_receive_any(buf, len, from);
  REQUIRE(r);
  CHECK(*r == status::would_block);
  r = a->try_receive("B", buf, len);  // creates link.B.A from the receiving side
  REQUIRE(r);
  CHECK(*r == status::would_block);

  REQUIRE(*b->send("A", bytes("hello from B")) == status::ok);
  REQUIRE(*c->try_send("A", bytes("hello from C")) == status::ok);
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i) {
    r = a->receive_any_for(buf, len, from, 10s);
    REQUIRE(r);
    REQUIRE(*r == status::ok);
    CHECK(text(buf, len) == cat("hello from ", from));
    got.insert(std::string(from));
  }
  CHECK(got == std::set<std::string>{"B", "C"});

  // Direct receive takes only from the named node.
  REQUIRE(*c->send("A", bytes("c2")) == status::ok);
  r = a->try_receive("B", buf, len);
  CHECK(*r == status::would_block);
  r = a->receive_for("C", buf, len, 10s);
  REQUIRE(*r == status::ok);
  CHECK(text(buf, len) == "c2");

  // Timed forms honour their deadlines.
  auto deadline = clock_type::now() + 50ms;
  r = a->receive_any_until(buf, len, from, deadline);
  CHECK(*r == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  deadline = clock_type::now() + 30ms;
  r = b->send_until("A", bytes("sync, nobody takes it"), deadline, delivery::sync);
  CHECK(*r == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  r = a->try_receive("B", buf, len);
  CHECK(*r == status::would_block);  // the timed-out sync message is never delivered

  // A sync send completes once A takes it (A waits in another thread).
  std::atomic<int> taken{0};
  std::thread t([&] {
    std::array<std::byte, 64> b2{};
    std::size_t n = 0;
    std::string_view f;
    auto rr = a->receive_any_for(b2, n, f, 10s);
    taken = rr && *rr == status::ok && f == "B" ? 1 : 2;
  });
  r = b->send_for("A", bytes("sync"), 10s, delivery::sync);
  t.join();
  CHECK(*r == status::ok);
  CHECK(taken.load() == 1);
  CHECK(links_in_domain({"link.B.", "link.C."}) == std::set<std::string>{"link.B.A", "link.C.A"});
}

TEST_CASE("receive_any wakes up for a link created while it waits") {
  auto a = node::join("waiter", small_links());
  REQUIRE(a);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::this_thread::sleep_for(100ms);
    auto late = node::join("late", small_links());
    if (!late) ::_exit(10);
    auto r = late->send("waiter", bytes("I am new"));
    ::_exit(r && *r == status::ok ? 0 : 11);
  }
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;
  std::string_view from;
  auto r = a->receive_any_for(buf, len, from, 20s);
  REQUIRE(r);
  CHECK(*r == status::ok);
  CHECK(from == "late");
  CHECK(text(buf, len) == "I am new");
  CHECK(ringport_test::wait_child(pid) == 0);
}

TEST_CASE("two nodes sending to each other at the same instant make one link per direction") {
  auto* go = static_cast<std::atomic<int>*>(
      ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  REQUIRE(go != MAP_FAILED);
  for (int round = 0; round < 10; ++round) {
    const std::string p = numbered("P", round), q = numbered("Q", round);
    go->store(0);
    auto side = [&](const std::string& me, const std::string& peer) {
      auto n = node::join(me, small_links());
      if (!n) return 10;
      go->fetch_add(1);
      while (go->load() < 2) std::this_thread::yield();  // barrier: both joined
      auto s = n->send(peer, bytes(me));
      if (!s || *s != status::ok) return 11;
      std::array<std::byte, 64> buf{};
      std::size_t len = 0;
      auto r = n->receive_for(peer, buf, len, 10s);
      if (!r || *r != status::ok || text(buf, len) != peer) return 12;
      return 0;
    };
    std::fflush(nullptr);
    const pid_t a = ::fork();
    if (a == 0) ::_exit(side(p, q));
    const pid_t b = ::fork();
    if (b == 0) ::_exit(side(q, p));
    CHECK(ringport_test::wait_child(a) == 0);
    CHECK(ringport_test::wait_child(b) == 0);
  }
  std::set<std::string> want;
  for (int round = 0; round < 10; ++round) {
    want.insert(node::link_name(numbered("P", round), numbered("Q", round)));
    want.insert(node::link_name(numbered("Q", round), numbered("P", round)));
  }
  CHECK(links_in_domain({"link.P", "link.Q"}) == want);
  ::munmap(go, sizeof(std::atomic<int>));
}

TEST_CASE("typed node messages; ok() checks the common path in one test") {
  auto p = node::join("TyP", small_links());
  auto q = node::join("TyQ", small_links());
  REQUIRE(p);
  REQUIRE(q);
  REQUIRE(ok(p->send("TyQ", std::uint64_t{5})));
  std::uint64_t v = 0;
  REQUIRE(ok(q->receive("TyP", v)));
  CHECK(v == 5);
  REQUIRE(ok(p->send_for("TyQ", std::uint64_t{6}, 1s, delivery::async)));
  REQUIRE(ok(q->receive_until("TyP", v, clock_type::now() + 1s)));
  CHECK(v == 6);

  // Another size: wrong_size (on the direct and the any-source receive), kept queued.
  REQUIRE(ok(p->try_send("TyQ", std::uint32_t{1})));
  CHECK(status_of(q->try_receive("TyP", v), status::corrupt) == status::wrong_size);
  std::string_view from;
  CHECK(status_of(q->try_receive_any(v, from), status::corrupt) == status::wrong_size);
  std::uint32_t w = 0;
  REQUIRE(ok(q->receive_any_for(w, from, 1s)));
  CHECK(from == "TyP");
  CHECK(w == 1);
  CHECK(status_of(q->try_receive_any(w, from), status::corrupt) == status::would_block);
  CHECK(status_of(q->receive_for("TyP", v, 1ms), status::corrupt) == status::timed_out);
  CHECK(status_of(q->receive_any_for(v, from, 1ms), status::corrupt) == status::timed_out);

  // A failed set-up is not ok either, and status_of maps it.
  auto bad = p->send("bad.name", v);
  CHECK_FALSE(ok(bad));
  CHECK_FALSE(bad.has_value());
  CHECK(status_of(bad, status::peer_gone) == status::peer_gone);
}
