// Stress, process mode: every ring kind on every path and capacity, with each
// producer and consumer a forked process that opens the named ring itself
// (see stress_harness.hpp). Then the single roles across processes: refused
// while their holder lives, taken over once it was killed while holding.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "holder.hpp"
#include "ringport/ring.hpp"
#include "stress_harness.hpp"
#include "test_util.hpp"

using namespace ringport;
using ringport_test::holder;
using ringport_test::stress::item;
using ringport_test::stress::make_item;
using ringport_test::stress::why;

TEST_CASE_TEMPLATE("stress, process mode: exactly once, in order, untorn", R, spsc<item>, mpsc<item>,
                   spmc<item>, mpmc<item>) {
  ringport_test::stress::run_all<R>(ringport_test::stress::mode::processes);
}

namespace {

/// In a fresh child: opens the ring and asks for the role; true when that
/// was refused with errc::role_taken.
template <class R>
bool refused_in_another_process(const std::string& name, bool producer_role) {
  return ringport_test::run_in_child([&] {
           auto r = R::open(name);
           if (!r) return 2;
           if (producer_role) {
             auto h = r->producer();
             return !h && h.error() == errc::role_taken ? 0 : 1;
           }
           auto h = r->consumer();
           return !h && h.error() == errc::role_taken ? 0 : 1;
         }) == 0;
}

bool same(const item& a, const item& b) {
  return a.producer == b.producer && a.pad == b.pad && a.seq == b.seq && a.check == b.check;
}

}  // namespace

TEST_CASE_TEMPLATE("single producer role: refused while held, taken over after its holder is killed", R,
                   spsc<item>, spmc<item>) {
  const std::string name = "takeover-producer";
  auto ring = R::create(name, {.capacity = 16, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));

  holder child([&](const std::function<void()>& hold) {
    auto r = R::open(name);
    if (!r) return 10;
    auto p = r->producer();
    if (!p) return 11;
    if (auto again = r->producer(); again || !(again.error() == errc::role_taken)) return 12;
    for (std::uint64_t seq = 0; seq < 3; ++seq)
      if (p->try_push(make_item(0, seq)) != status::ok) return 13;
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);

  auto second = ring->producer();
  REQUIRE_FALSE(second);
  CHECK(second.error() == errc::role_taken);
  CHECK(refused_in_another_process<R>(name, true));

  CHECK(child.kill() == 128 + SIGKILL);
  auto p = ring->producer();
  REQUIRE_MESSAGE(p, why(p));
  for (std::uint64_t seq = 3; seq < 6; ++seq) REQUIRE(p->try_push(make_item(0, seq)) == status::ok);

  auto c = ring->consumer();
  REQUIRE(c);
  for (std::uint64_t seq = 0; seq < 6; ++seq) {
    item v{};
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(same(v, make_item(0, seq)));
  }
  item v{};
  CHECK(c->try_pop(v) == status::would_block);
  CHECK(R::remove(name));
}

TEST_CASE_TEMPLATE("single consumer role: refused while held, taken over after its holder is killed", R,
                   spsc<item>, mpsc<item>) {
  const std::string name = "takeover-consumer";
  auto ring = R::create(name, {.capacity = 16, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto p = ring->producer();
  REQUIRE(p);
  for (std::uint64_t seq = 0; seq < 6; ++seq) REQUIRE(p->try_push(make_item(0, seq)) == status::ok);

  holder child([&](const std::function<void()>& hold) {
    auto r = R::open(name);
    if (!r) return 10;
    auto c = r->consumer();
    if (!c) return 11;
    if (auto again = r->consumer(); again || !(again.error() == errc::role_taken)) return 12;
    for (std::uint64_t seq = 0; seq < 2; ++seq) {
      item v{};
      if (c->try_pop(v) != status::ok || !same(v, make_item(0, seq))) return 13;
    }
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);

  auto second = ring->consumer();
  REQUIRE_FALSE(second);
  CHECK(second.error() == errc::role_taken);
  CHECK(refused_in_another_process<R>(name, false));

  CHECK(child.kill() == 128 + SIGKILL);
  auto c = ring->consumer();
  REQUIRE_MESSAGE(c, why(c));
  for (std::uint64_t seq = 6; seq < 8; ++seq) REQUIRE(p->try_push(make_item(0, seq)) == status::ok);
  for (std::uint64_t seq = 2; seq < 8; ++seq) {
    item v{};
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(same(v, make_item(0, seq)));
  }
  item v{};
  CHECK(c->try_pop(v) == status::would_block);
  CHECK(R::remove(name));
}
