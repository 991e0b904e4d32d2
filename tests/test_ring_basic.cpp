// Single-threaded behaviour of every ring kind: capacity, FIFO, batches,
// zero copy, close, roles. The concurrent proofs live in test_ring_stress.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "ringport/ring.hpp"
#include "test_util.hpp"

using namespace ringport;

TEST_CASE_TEMPLATE("ring basics", R, spsc<std::uint64_t>, mpsc<std::uint64_t>, spmc<std::uint64_t>,
                   mpmc<std::uint64_t>) {
  auto r = R::create_local(4, pages::normal);
  REQUIRE_MESSAGE(r, r.error().message);
  auto p = r->producer();
  auto c = r->consumer();
  REQUIRE(p);
  REQUIRE(c);
  CHECK(r->capacity() == 4);
  CHECK(r->empty());

  SUBCASE("fills to capacity, then would_block; FIFO across wrap-around") {
    std::uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 10; ++round) {
      while (p->try_push(next_in) == status::ok) ++next_in;
      CHECK(r->size() == 4);
      CHECK(p->try_push(99) == status::would_block);
      std::uint64_t v = 0;
      for (int i = 0; i < 3; ++i) {
        REQUIRE(c->try_pop(v) == status::ok);
        CHECK(v == next_out++);
      }
    }
    std::uint64_t v = 0;
    while (c->try_pop(v) == status::ok) CHECK(v == next_out++);
    CHECK(next_out == next_in);
    CHECK(c->try_pop(v) == status::would_block);
  }

  SUBCASE("batches stop at capacity and preserve order") {
    std::array<std::uint64_t, 10> in{}, out{};
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = 100 + i;
    CHECK(p->push_n(in.data(), in.size()) == 4);
    CHECK(c->pop_n(out.data(), 3) == 3);
    CHECK(p->push_n(in.data() + 4, 6) == 3);  // wraps: 1 + 2 slots
    CHECK(c->pop_n(out.data() + 3, 10) == 4);
    for (std::size_t i = 0; i < 7; ++i) CHECK(out[i] == 100 + i);
  }

  SUBCASE("claim/commit and peek/release are zero copy and contiguous") {
    auto w = p->claim(3);
    REQUIRE(w.size() == 3);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 7 + i;
    p->commit();
    auto rd = c->peek(8);
    REQUIRE(rd.size() == 3);
    CHECK(rd[0] == 7);
    CHECK(rd[2] == 9);
    c->release();
    // Position is now 3: a claim of 4 stops at the end of the buffer.
    CHECK(p->claim(4).size() == 1);
    p->commit();
    CHECK(c->peek(4).size() == 1);
    c->release();
  }

  SUBCASE("close refuses pushes, drains, then reports closed") {
    REQUIRE(p->try_push(1) == status::ok);
    r->close();
    CHECK(r->closed());
    CHECK(p->try_push(2) == status::closed);
    CHECK(p->push(2) == status::closed);
    std::uint64_t v = 0;
    CHECK(c->pop(v) == status::ok);
    CHECK(v == 1);
    CHECK(c->try_pop(v) == status::closed);
    CHECK(c->pop(v) == status::closed);
  }

  SUBCASE("timed pop on an empty ring times out") {
    std::uint64_t v = 0;
    CHECK(c->pop_for(v, std::chrono::milliseconds(5)) == status::timed_out);
    CHECK(p->push_n_until(nullptr, 0, std::chrono::steady_clock::now()) == 0);
  }
}

TEST_CASE("capacity must be a power of two") {
  for (std::size_t bad : {0ul, 3ul, 1000ul, (1ul << 33)}) {
    auto r = mpmc<int>::create_local(bad, pages::normal);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);
    CHECK(r.error().message.find("power of two") != std::string::npos);
  }
  CHECK(spsc<int>::create_local(1, pages::normal));
}

TEST_CASE("single-role kinds refuse a second holder, multi-role kinds do not") {
  auto s = spsc<int>::create_local(8, pages::normal);
  REQUIRE(s);
  auto p1 = s->producer();
  REQUIRE(p1);
  auto p2 = s->producer();
  REQUIRE_FALSE(p2);
  CHECK(p2.error() == errc::role_taken);
  auto c1 = s->consumer();
  CHECK(c1);
  CHECK_FALSE(s->consumer());
  {  // releasing the handle frees the role
    auto moved = std::move(*p1);
    (void)moved;
  }
  CHECK(s->producer());

  auto m = mpmc<int>::create_local(8, pages::normal);
  REQUIRE(m);
  std::vector<mpmc<int>::producer_handle> many;
  for (int i = 0; i < 5; ++i) {
    auto h = m->producer();
    REQUIRE(h);
    many.push_back(std::move(*h));
  }
  CHECK(many.size() == 5);
}

// Every call on a handle that holds no role, default-constructed or moved
// from, on one of them.
template <class Handle>
void check_detached_producer(Handle& h) {
  const std::uint64_t items[3] = {7, 8, 9};
  status why = status::ok;
  CHECK_FALSE(h.valid());
  CHECK(h.capacity() == 0);
  CHECK(h.try_push(1) == status::closed);
  CHECK(h.push_for(1, std::chrono::milliseconds(1)) == status::closed);
  CHECK(h.push(1) == status::closed);
  CHECK(h.push_n(items, 3) == 0);
  CHECK(h.push_n_until(items, 3, std::chrono::steady_clock::now(), &why) == 0);
  CHECK(why == status::closed);
  CHECK(h.claim(2).empty());
  CHECK(h.claim_until(2, std::chrono::steady_clock::now() + std::chrono::seconds(5), &why).empty());
  CHECK(why == status::closed);
  h.commit();
}

template <class Handle>
void check_detached_consumer(Handle& h) {
  std::uint64_t out[3] = {};
  status why = status::ok;
  CHECK_FALSE(h.valid());
  CHECK(h.capacity() == 0);
  CHECK(h.try_pop(out[0]) == status::closed);
  CHECK(h.pop_for(out[0], std::chrono::milliseconds(1)) == status::closed);
  CHECK(h.pop(out[0]) == status::closed);
  CHECK(h.pop_n(out, 3) == 0);
  CHECK(h.pop_n_until(out, 3, std::chrono::steady_clock::now() + std::chrono::seconds(5), &why) == 0);
  CHECK(why == status::closed);
  CHECK(h.peek(2).empty());
  CHECK(h.peek_until(2, std::chrono::steady_clock::now() + std::chrono::seconds(5), &why).empty());
  CHECK(why == status::closed);
  h.release();
}

TEST_CASE_TEMPLATE("a default-constructed or moved-from handle holds no role and finds a closed ring", R,
                   spsc<std::uint64_t>, mpsc<std::uint64_t>, spmc<std::uint64_t>, mpmc<std::uint64_t>) {
  typename R::producer_handle no_p;
  typename R::consumer_handle no_c;
  check_detached_producer(no_p);
  check_detached_consumer(no_c);

  // Moved from: the calls must not reach the ring the handle left (for a
  // single side that would be a second producer or consumer on it).
  auto r = R::create_local(4, pages::normal);
  REQUIRE(r);
  auto p = r->producer();
  auto c = r->consumer();
  REQUIRE(p);
  REQUIRE(c);
  REQUIRE(p->try_push(1) == status::ok);
  auto p2 = std::move(*p);
  auto c2 = std::move(*c);
  check_detached_producer(*p);
  check_detached_consumer(*c);
  CHECK(r->size() == 1);
  CHECK(p2.valid());
  CHECK(p2.try_push(2) == status::ok);
  std::uint64_t v = 0;
  REQUIRE(c2.try_pop(v) == status::ok);
  CHECK(v == 1);
  REQUIRE(c2.try_pop(v) == status::ok);
  CHECK(v == 2);
  CHECK(c2.try_pop(v) == status::would_block);
  // Move-assigning a live handle into a detached one brings it back.
  *p = std::move(p2);
  CHECK(p->valid());
  CHECK(p->try_push(3) == status::ok);
  CHECK(c2.try_pop(v) == status::ok);
  CHECK(v == 3);
  check_detached_producer(p2);
}

TEST_CASE("named ring: open checks kind and element size") {
  auto r = spsc<std::uint64_t>::create("kinds", {.capacity = 16, .backing = pages::normal});
  REQUIRE_MESSAGE(r, r.error().message);
  auto wrong_kind = mpmc<std::uint64_t>::open("kinds");
  REQUIRE_FALSE(wrong_kind);
  CHECK(wrong_kind.error() == errc::wrong_kind);
  auto wrong_size = spsc<std::uint32_t>::open("kinds");
  REQUIRE_FALSE(wrong_size);
  CHECK(wrong_size.error() == errc::wrong_kind);
  auto ok = spsc<std::uint64_t>::open("kinds");
  REQUIRE(ok);
  CHECK(ok->capacity() == 16);
  CHECK(spsc<std::uint64_t>::remove("kinds"));
}

TEST_CASE_TEMPLATE("items whose size is not a multiple of 8 keep their values in batches and spans", R,
                   spsc<std::array<std::uint32_t, 3>>, mpmc<std::array<std::uint32_t, 3>>,
                   spmc<std::array<std::uint8_t, 5>>, mpsc<std::array<std::uint16_t, 7>>) {
  using T = typename R::value_type;
  auto ring = R::create_local(8, pages::normal);
  REQUIRE(ring);
  auto p = ring->producer();
  auto c = ring->consumer();
  REQUIRE((p && c));
  auto make = [](unsigned i) {
    T v{};
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<typename T::value_type>(i * 10 + k);
    return v;
  };
  T batch[5];
  for (unsigned i = 0; i < 5; ++i) batch[i] = make(i);
  REQUIRE(p->push_n(batch, 5) == 5);
  auto span = p->claim(2);
  REQUIRE(span.size() == 2);
  span[0] = make(5);
  span[1] = make(6);
  p->commit();
  for (unsigned i = 0; i < 3; ++i) {
    T v{};
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(v == make(i));
  }
  auto seen = c->peek(2);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == make(3));
  CHECK(seen[1] == make(4));
  c->release();
  T out[2];
  REQUIRE(c->pop_n(out, 2) == 2);
  CHECK(out[0] == make(5));
  CHECK(out[1] == make(6));
}
