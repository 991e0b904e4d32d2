// Crash recovery (issue 10): a process killed inside a push, pop, send or
// receive never stalls the survivors; only its own in-flight items are lost,
// and they are counted. Also: single roles taken over from a stale cursor,
// hostile positions at attach, and a live slow claimer is never overtaken.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "holder.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/segment_header.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using ringport_test::holder;

namespace {

template <class T>
std::string why(const result<T>& r) {
  return r ? std::string() : r.error().message;
}

/// The shared control block of a named ring or mailbox, mapped once more.
struct shared_view {
  segment seg;
  detail::ring_shared* operator->() const { return reinterpret_cast<detail::ring_shared*>(seg.payload()); }
};
shared_view map_shared(const std::string& name) {
  auto s = segment::open(name);
  REQUIRE_MESSAGE(s, why(s));
  return {std::move(*s)};
}

/// A deadline for calls that must succeed; far enough for a loaded machine.
auto soon() {
  return std::chrono::steady_clock::now() + 10s;
}

}  // namespace

TEST_CASE("mpmc: a producer killed between claim and commit does not stall the survivors") {
  const std::string name = "crash-mpmc-producer";
  auto ring = mpmc<std::uint64_t>::create(name, {.capacity = 8, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto c = ring->consumer();
  REQUIRE(c);

  holder child([&](const std::function<void()>& hold) {
    auto r = mpmc<std::uint64_t>::open(name);
    if (!r) return 10;
    auto p = r->producer();
    if (!p) return 11;
    if (p->try_push(1) != status::ok) return 12;
    if (p->claim(2).size() != 2) return 13;  // claimed, never committed
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);
  CHECK(child.kill() == 128 + SIGKILL);

  auto p = ring->producer();
  REQUIRE(p);
  std::vector<std::uint64_t> got;
  std::thread feeder([&] {
    for (std::uint64_t v = 100; v < 200; ++v) REQUIRE(p->push_until(v, soon()) == status::ok);
  });
  for (int i = 0; i < 101; ++i) {
    std::uint64_t v = 0;
    REQUIRE(c->pop_until(v, soon()) == status::ok);
    got.push_back(v);
  }
  feeder.join();
  std::uint64_t extra = 0;
  CHECK(c->try_pop(extra) == status::would_block);
  REQUIRE(got.size() == 101);
  CHECK(got[0] == 1);  // the dead producer's committed item
  for (std::uint64_t i = 1; i < got.size(); ++i) CHECK(got[i] == 99 + i);
  CHECK(map_shared(name)->recovery.abandoned.load() == 2);
  CHECK(mpmc<std::uint64_t>::remove(name));
}

TEST_CASE("mpmc: a consumer killed holding a peek hands its slots back") {
  const std::string name = "crash-mpmc-consumer";
  auto ring = mpmc<std::uint64_t>::create(name, {.capacity = 4, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto p = ring->producer();
  REQUIRE(p);
  for (std::uint64_t v = 0; v < 4; ++v) REQUIRE(p->try_push(v) == status::ok);

  holder child([&](const std::function<void()>& hold) {
    auto r = mpmc<std::uint64_t>::open(name);
    if (!r) return 10;
    auto c = r->consumer();
    if (!c) return 11;
    if (c->peek(1).size() != 1) return 12;  // holds item 0, never releases
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);
  CHECK(child.kill() == 128 + SIGKILL);

  auto c = ring->consumer();
  REQUIRE(c);
  std::thread feeder([&] {
    for (std::uint64_t v = 4; v < 104; ++v) REQUIRE(p->push_until(v, soon()) == status::ok);
  });
  for (std::uint64_t want = 1; want < 104; ++want) {
    std::uint64_t v = 0;
    REQUIRE(c->pop_until(v, soon()) == status::ok);
    CHECK(v == want);
  }
  feeder.join();
  CHECK(map_shared(name)->recovery.reclaimed.load() == 1);
  CHECK(mpmc<std::uint64_t>::remove(name));
}

TEST_CASE("mpmc: a live claimer that holds its slots longer than the recovery delay is waited for") {
  auto ring = mpmc<std::uint64_t>::create_local(8, pages::normal);
  REQUIRE(ring);
  auto slow = ring->producer();
  auto fast = ring->producer();
  auto c = ring->consumer();
  REQUIRE((slow && fast && c));
  set_recovery_delay(10ms);
  auto span = slow->claim(1);
  REQUIRE(span.size() == 1);
  span[0] = 7;
  REQUIRE(fast->try_push(8) == status::ok);
  std::uint64_t v = 0;
  // 20 recovery delays: the claimer is alive, so nothing may be skipped.
  CHECK(c->pop_until(v, std::chrono::steady_clock::now() + 200ms) == status::timed_out);
  slow->commit();
  REQUIRE(c->try_pop(v) == status::ok);
  CHECK(v == 7);
  REQUIRE(c->try_pop(v) == status::ok);
  CHECK(v == 8);
  set_recovery_delay(100ms);
}

TEST_CASE("mpmc: a handle destroyed with an open claim gives it up") {
  auto ring = mpmc<std::uint64_t>::create_local(4, pages::normal);
  REQUIRE(ring);
  auto c = ring->consumer();
  REQUIRE(c);
  {
    auto p = ring->producer();
    REQUIRE(p);
    REQUIRE(p->claim(3).size() == 3);
  }
  auto p = ring->producer();
  REQUIRE(p);
  REQUIRE(p->try_push(0) == status::ok);
  std::uint64_t v = 99;
  REQUIRE(c->try_pop(v) == status::ok);  // the given-up slots are skipped at once
  CHECK(v == 0);
  for (std::uint64_t i = 1; i < 5; ++i) REQUIRE(p->try_push(i) == status::ok);
  for (std::uint64_t want = 1; want < 5; ++want) {
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(v == want);
  }
  CHECK(c->try_pop(v) == status::would_block);
}

TEST_CASE("mailbox: a sender killed inside a claim, a receiver killed holding a peek") {
  const std::string name = "crash-mailbox";
  auto mb = mailbox::create(name, {.capacity = 8, .max_message_size = 64, .backing = pages::normal});
  REQUIRE_MESSAGE(mb, why(mb));
  auto tx = mb->sender();
  REQUIRE(tx);
  const std::byte one[1] = {std::byte{1}};
  REQUIRE(tx->try_send(one) == status::ok);

  holder sender([&](const std::function<void()>& hold) {
    auto m = mailbox::open(name);
    if (!m) return 10;
    auto s = m->sender();
    if (!s) return 11;
    std::span<std::byte> out;
    if (s->try_claim(8, out) != status::ok) return 12;
    hold();
    return 0;
  });
  REQUIRE(sender.report() == 0);
  holder receiver([&](const std::function<void()>& hold) {
    auto m = mailbox::open(name);
    if (!m) return 10;
    auto r = m->receiver();
    if (!r) return 11;
    std::span<const std::byte> msg;
    if (r->try_peek(msg) != status::ok || msg.size() != 1) return 12;  // holds message "1"
    hold();
    return 0;
  });
  REQUIRE(receiver.report() == 0);
  CHECK(sender.kill() == 128 + SIGKILL);
  CHECK(receiver.kill() == 128 + SIGKILL);

  auto rx = mb->receiver();
  REQUIRE(rx);
  std::thread feeder([&] {
    for (std::uint32_t i = 0; i < 100; ++i) {
      std::byte msg[4];
      std::memcpy(msg, &i, 4);
      REQUIRE(tx->send_until(msg, soon()) == status::ok);
    }
  });
  for (std::uint32_t want = 0; want < 100; ++want) {
    std::byte buf[64];
    std::size_t len = 0;
    REQUIRE(rx->receive_until(buf, len, soon()) == status::ok);
    REQUIRE(len == 4);
    std::uint32_t got = 0;
    std::memcpy(&got, buf, 4);
    CHECK(got == want);
  }
  feeder.join();
  auto sh = map_shared(name);
  CHECK(sh->recovery.abandoned.load() == 1);
  CHECK(sh->recovery.reclaimed.load() == 1);
  CHECK(mailbox::remove(name));
}

// The single side publishes its turns before it stores its cursor (a hint):
// a holder killed between the two left the hint one position behind. The
// window is replayed by moving the hint back by hand.
TEST_CASE_TEMPLATE("single roles taken over from a stale cursor continue where the dead one stopped", R,
                   mpsc<std::uint64_t>, spmc<std::uint64_t>) {
  constexpr bool consumer_single = std::is_same_v<R, mpsc<std::uint64_t>>;
  const std::string name = consumer_single ? "stale-head" : "stale-tail";
  auto ring = R::create(name, {.capacity = 8, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto sh = map_shared(name);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  if constexpr (consumer_single) {
    auto p = ring->producer();
    REQUIRE(p);
    for (; next_in < 6; ++next_in) REQUIRE(p->try_push(next_in) == status::ok);
    holder child([&](const std::function<void()>& hold) {
      auto r = R::open(name);
      if (!r) return 9;
      auto c = r->consumer();
      if (!c) return 10;
      for (std::uint64_t want = 0; want < 3; ++want) {
        std::uint64_t v = 0;
        if (c->try_pop(v) != status::ok || v != want) return 11;
      }
      hold();
      return 0;
    });
    REQUIRE(child.report() == 0);
    next_out = 3;
    sh->head.store(2);  // the hint the dead consumer had not stored yet
    CHECK(child.kill() == 128 + SIGKILL);
    auto c = ring->consumer();
    REQUIRE_MESSAGE(c, why(c));
    for (; next_in < 20; ++next_in) {
      REQUIRE(p->push_until(next_in, soon()) == status::ok);
      std::uint64_t v = 0;
      REQUIRE(c->try_pop(v) == status::ok);
      CHECK(v == next_out++);
    }
  } else {
    auto c = ring->consumer();
    REQUIRE(c);
    holder child([&](const std::function<void()>& hold) {
      auto r = R::open(name);
      if (!r) return 9;
      auto p = r->producer();
      if (!p) return 10;
      for (std::uint64_t v = 0; v < 3; ++v)
        if (p->try_push(v) != status::ok) return 11;
      hold();
      return 0;
    });
    REQUIRE(child.report() == 0);
    next_in = 3;
    std::uint64_t v = 0;
    REQUIRE(c->try_pop(v) == status::ok);  // position 0 is then free for its next lap
    CHECK(v == next_out++);
    sh->tail.store(0);  // as if the dead producer had stored none of its hints
    CHECK(child.kill() == 128 + SIGKILL);
    auto p = ring->producer();
    REQUIRE_MESSAGE(p, why(p));
    for (; next_in < 20; ++next_in) {
      REQUIRE(p->push_until(next_in, soon()) == status::ok);
      while (next_out + 4 < next_in) {
        REQUIRE(c->try_pop(v) == status::ok);
        CHECK(v == next_out++);
      }
    }
    while (c->try_pop(v) == status::ok) CHECK(v == next_out++);
    CHECK(next_out == 20);
  }
  CHECK(sh->recovery.takeovers.load() == 1);
  CHECK(R::remove(name));
}

TEST_CASE("spsc: handles attached after a hostile head/tail report corrupt") {
  const std::string name = "hostile-spsc";
  auto ring = spsc<std::uint64_t>::create(name, {.capacity = 2, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto sh = map_shared(name);
  sh->head.store(1000);
  sh->tail.store(0);
  {
    auto p = ring->producer();
    REQUIRE(p);
    std::uint64_t items[64] = {};
    CHECK(p->push_n(items, 64) == 0);
    CHECK(p->try_push(1) == status::corrupt);
  }
  auto c = ring->consumer();
  REQUIRE(c);
  std::uint64_t v = 0;
  CHECK(c->try_pop(v) == status::corrupt);
  std::uint64_t out[4];
  CHECK(c->pop_n(out, 4) == 0);
  CHECK(spsc<std::uint64_t>::remove(name));
}

TEST_CASE("open refuses a ring whose header capacity disagrees with its geometry") {
  const std::string name = "capacity-mismatch";
  {
    auto ring = mpmc<std::uint64_t>::create(name, {.capacity = 8, .backing = pages::normal});
    REQUIRE_MESSAGE(ring, why(ring));
  }
  {
    auto s = segment::open(name);
    REQUIRE(s);
    // The header sits just before the payload.
    auto* h = reinterpret_cast<detail::segment_header*>(s->payload() - detail::header_bytes);
    h->capacity = 16;
  }
  auto again = mpmc<std::uint64_t>::open(name);
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::corrupt);
  CHECK(again.error().message.find("capacity") != std::string::npos);
  CHECK(mpmc<std::uint64_t>::remove(name));
}

TEST_CASE("wait_any on a ring stalled by a dead producer wakes once the claim is settled") {
  const std::string name = "crash-wait-any";
  auto ring = mpmc<std::uint64_t>::create(name, {.capacity = 8, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto c = ring->consumer();
  auto p = ring->producer();
  REQUIRE((c && p));
  holder child([&](const std::function<void()>& hold) {
    auto r = mpmc<std::uint64_t>::open(name);
    if (!r) return 10;
    auto dead = r->producer();
    if (!dead || dead->claim(1).size() != 1) return 11;
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);
  CHECK(child.kill() == 128 + SIGKILL);
  REQUIRE(p->try_push(5) == status::ok);  // queued behind the dead claim
  const waitable w[1] = {c->readable()};
  REQUIRE(wait_any(w, soon(), wait_policy::block) == 0);
  std::uint64_t v = 0;
  REQUIRE(c->try_pop(v) == status::ok);
  CHECK(v == 5);
  CHECK(mpmc<std::uint64_t>::remove(name));
}

TEST_CASE("a wait shorter than the peer poll reports dead peers; peers() says who holds the roles") {
  const std::string name = "short-wait-peers";
  auto ring = mpsc<std::uint64_t>::create(name, {.capacity = 4, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto c = ring->consumer(wait_policy::block);
  REQUIRE(c);
  holder child([&](const std::function<void()>& hold) {
    auto r = mpsc<std::uint64_t>::open(name);
    if (!r) return 10;
    auto p = r->producer();
    if (!p) return 11;
    hold();
    return 0;
  });
  REQUIRE(child.report() == 0);
  peer_counts before = ring->peers();
  CHECK(before.producers_alive == 1);
  CHECK(before.producers_dead == 0);
  CHECK(before.consumers_alive == 1);
  std::uint64_t v = 0;
  CHECK(c->pop_for(v, 5ms) == status::timed_out);  // the producer lives
  CHECK(child.kill() == 128 + SIGKILL);
  peer_counts after = ring->peers();
  CHECK(after.producers_alive == 0);
  CHECK(after.producers_dead == 1);
  CHECK(c->pop_for(v, 5ms) == status::peer_gone);  // 5 ms < the 50 ms poll
  CHECK(mpsc<std::uint64_t>::remove(name));
}

TEST_CASE("push_n and pop_n across the end of the buffer claim once: one record covers the batch") {
  // A batch that wraps is one reservation (one claim record, one CAS) and
  // one publication, so a producer killed after its claim abandons the
  // whole batch and never half of it as a separate claim.
  const std::string name = "crash-wrap-batch";
  auto ring = mpmc<std::uint64_t>::create(name, {.capacity = 8, .backing = pages::normal});
  REQUIRE_MESSAGE(ring, why(ring));
  auto p = ring->producer();
  auto c = ring->consumer();
  REQUIRE(p);
  REQUIRE(c);
  std::uint64_t in[8] = {}, out[8] = {};
  for (std::uint64_t i = 0; i < 8; ++i) in[i] = 100 + i;
  REQUIRE(p->push_n(in, 6) == 6);
  REQUIRE(c->pop_n(out, 6) == 6);
  // Positions 6..12: slots 6, 7, then 0..4.
  CHECK(p->push_n(in, 7) == 7);
  auto sh = map_shared(name);
  CHECK(sh->producer_claims[0].from.load() == 6);
  CHECK(sh->producer_claims[0].end.load() == 13);
  CHECK(c->pop_n(out, 8) == 7);
  CHECK(sh->consumer_claims[0].from.load() == 6);
  CHECK(sh->consumer_claims[0].end.load() == 13);
  for (std::uint64_t i = 0; i < 7; ++i) CHECK(out[i] == 100 + i);
  CHECK(mpmc<std::uint64_t>::remove(name));
}
