// Topics in one process (threads; also under TSan): options, one publisher,
// history and latest(), exact overrun accounting, back-pressure, eviction,
// close, wait_any, and lossy / back-pressured streams checked stamp by stamp.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "ringport/detail/cpu.hpp"
#include "ringport/detail/topic_layout.hpp"
#include "ringport/topic.hpp"
#include "test_util.hpp"
#include "topic_stamp.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using ringport_test::topic_stamp;
using clock_type = std::chrono::steady_clock;

namespace {

topic_options opts(std::size_t cap, topic_mode mode, std::size_t lag_limit = 0) {
  topic_options o;
  o.capacity = cap;
  o.mode = mode;
  o.lag_limit = lag_limit;
  o.backing = pages::normal;
  return o;
}

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

TEST_CASE("topic options, typed open, one publisher at a time") {
  CHECK(byte_topic::create("t-bad", opts(3, topic_mode::lossy)).error() == errc::invalid_argument);
  CHECK(byte_topic::create("t-bad", opts(1, topic_mode::lossy)).error() == errc::invalid_argument);
  CHECK(byte_topic::create("t-bad", opts(8, topic_mode::lossy, 4)).error() == errc::invalid_argument);
  CHECK(byte_topic::create("t-bad", opts(8, topic_mode::backpressure, 9)).error() == errc::invalid_argument);

  auto t = topic<std::uint64_t>::create("t-typed", opts(8, topic_mode::lossy));
  REQUIRE_MESSAGE(t, t.error().message);
  CHECK(topic<std::uint32_t>::open("t-typed").error() == errc::bad_layout);
  auto again = topic<std::uint64_t>::open("t-typed");
  REQUIRE(again);
  CHECK(again->capacity() == 8);
  CHECK(again->element_size() == 8);
  CHECK(byte_topic::create("t-typed", opts(8, topic_mode::lossy)).error() == errc::already_exists);

  auto p = t->publisher();
  REQUIRE(p);
  CHECK(again->publisher().error() == errc::role_taken);
  *p = {};  // released
  CHECK(again->publisher());
  CHECK(byte_topic::remove("t-typed"));
}

TEST_CASE("byte topic: every subscriber gets every message; sizes") {
  auto t = byte_topic::create("t-bytes", opts(16, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto a = t->subscriber();
  auto b = t->subscriber();
  REQUIRE((p && a && b));
  std::byte buf[4096];
  std::size_t len = 0;
  CHECK(a->try_receive(buf, len) == status::would_block);
  for (std::string_view m : {"", "x", "hello world", "twenty-three characters"})
    REQUIRE(p->try_publish(bytes(m)) == status::ok);
  std::vector<std::byte> big(t->max_message_size() + 1);
  CHECK(p->try_publish(big) == status::too_large);
  for (auto* s : {&*a, &*b}) {
    for (std::string_view m : {"", "x", "hello world", "twenty-three characters"}) {
      REQUIRE(s->try_receive(buf, len) == status::ok);
      CHECK(std::string(reinterpret_cast<const char*>(buf), len) == m);
    }
    CHECK(s->try_receive(buf, len) == status::would_block);
  }
  // A buffer too short keeps the message next.
  REQUIRE(p->try_publish(bytes("0123456789")) == status::ok);
  CHECK(a->try_receive(std::span(buf, 4), len) == status::too_large);
  CHECK(len == 10);
  CHECK(a->try_receive(buf, len) == status::ok);
  CHECK(len == 10);
}

TEST_CASE("a default-constructed or moved-from publisher or subscriber returns closed") {
  std::byte buf[64];
  std::size_t len = 0;
  topic_publisher no_p;
  topic_subscriber no_s;
  CHECK_FALSE(no_p.valid());
  CHECK_FALSE(no_s.valid());
  CHECK(no_p.max_message_size() == 0);
  CHECK(no_p.try_publish(bytes("x")) == status::closed);
  CHECK(no_p.publish_for(bytes("x"), 1ms) == status::closed);
  CHECK(no_s.try_receive(buf, len) == status::closed);
  CHECK(no_s.receive_for(buf, len, 1ms) == status::closed);

  auto t = byte_topic::create("t-detached", opts(8, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto s = t->subscriber();
  REQUIRE((p && s));
  topic_publisher p2 = std::move(*p);
  topic_subscriber s2 = std::move(*s);
  CHECK_FALSE(p->valid());
  CHECK_FALSE(s->valid());
  CHECK(p->try_publish(bytes("ghost")) == status::closed);
  CHECK(s->try_receive(buf, len) == status::closed);
  REQUIRE(p2.try_publish(bytes("one")) == status::ok);
  REQUIRE(s2.try_receive(buf, len) == status::ok);
  CHECK(std::string(reinterpret_cast<const char*>(buf), len) == "one");
  CHECK(s2.try_receive(buf, len) == status::would_block);
}

TEST_CASE("late join: next and oldest (history); latest()") {
  for (topic_mode mode : {topic_mode::lossy, topic_mode::backpressure}) {
    CAPTURE(to_string(mode));
    const std::string name = std::string("t-hist-") + to_string(mode);
    auto t = topic<std::uint64_t>::create(name, opts(8, mode));
    REQUIRE(t);
    std::uint64_t v = 0;
    CHECK(t->latest(v) == status::would_block);
    auto p = t->publisher();
    REQUIRE(p);
    // Back-pressure without subscribers: the publisher goes on freely.
    const std::uint64_t n = mode == topic_mode::lossy ? 11 : 6;
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(p->try_publish(100 + i) == status::ok);
    REQUIRE(t->latest(v) == status::ok);
    CHECK(v == 100 + n - 1);
    auto next = t->subscriber(start_at::next);
    auto old = t->subscriber(start_at::oldest);
    REQUIRE((next && old));
    CHECK(next->try_receive(v) == status::would_block);
    const std::uint64_t first = n > 8 ? n - 8 : 0;  // the whole ring is retained
    for (std::uint64_t i = first; i < n; ++i) {
      REQUIRE(old->try_receive(v) == status::ok);
      CHECK(v == 100 + i);
    }
    CHECK(old->try_receive(v) == status::would_block);
    REQUIRE(p->try_publish(7) == status::ok);
    CHECK((next->try_receive(v) == status::ok && v == 7));
    CHECK((old->try_receive(v) == status::ok && v == 7));
    CHECK(t->latest(v) == status::ok);
    CHECK(v == 7);
    CHECK(old->total_missed() == 0);
  }
}

TEST_CASE("back-pressure: a history joiner is never lapped by a publisher mid-window") {
  // The publisher rescans the subscribers only every capacity/8 messages;
  // a joiner that starts in the oldest retained messages must still hold
  // it back (the gate protocol in topic.hpp).
  auto t = topic<std::uint64_t>::create("t-join-gate", opts(64, topic_mode::backpressure));
  REQUIRE(t);
  auto p = t->publisher();
  auto s1 = t->subscriber();
  REQUIRE((p && s1));
  std::uint64_t v = 0, i = 0;
  for (; i < 100; ++i) {
    REQUIRE(p->try_publish(i) == status::ok);
    REQUIRE(s1->try_receive(v) == status::ok);
  }
  auto j = t->subscriber(start_at::oldest);
  REQUIRE(j);
  const std::uint64_t start = j->position();
  CHECK(start <= 100 - 64 + 8);  // most of the ring is history
  for (; i < 200 && p->try_publish(i) == status::ok; ++i) REQUIRE(s1->try_receive(v) == status::ok);
  CHECK(i < 200);  // the joiner holds the publisher back
  std::uint64_t want = start;
  for (status st; (st = j->try_receive(v)) != status::would_block; ++want) {
    REQUIRE(st == status::ok);
    CHECK(v == want);
  }
  CHECK(want == i);
  CHECK(j->total_missed() == 0);
}

TEST_CASE("lossy: a lapped subscriber learns exactly how many it missed") {
  auto t = topic<std::uint64_t>::create("t-lap", opts(8, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto s = t->subscriber();
  REQUIRE((p && s));
  for (std::uint64_t i = 0; i < 20; ++i) REQUIRE(p->try_publish(i) == status::ok);  // never waits
  std::uint64_t v = 0, received = 0;
  REQUIRE(s->try_receive(v) == status::overrun);
  // Messages 0..12 were overwritten or are being replaced: the oldest
  // retained is head - capacity + 1 = 13.
  CHECK(s->missed() == 13);
  for (std::uint64_t want = 13; want < 20; ++want, ++received) {
    REQUIRE(s->try_receive(v) == status::ok);
    CHECK(v == want);
  }
  CHECK(s->try_receive(v) == status::would_block);
  CHECK(received + s->total_missed() == 20);
}

TEST_CASE("back-pressure: the publisher waits for the slowest live subscriber") {
  auto t = topic<std::uint64_t>::create("t-bp", opts(8, topic_mode::backpressure));
  REQUIRE(t);
  auto p = t->publisher();
  auto fast = t->subscriber();
  auto slow = t->subscriber();
  REQUIRE((p && fast && slow));
  std::uint64_t v = 0;
  std::uint64_t i = 0;
  for (; i < 8; ++i) {
    REQUIRE(p->try_publish(i) == status::ok);
    REQUIRE(fast->try_receive(v) == status::ok);
  }
  CHECK(p->try_publish(i) == status::would_block);  // slow has read nothing
  CHECK(p->publish_until(i, clock_type::now() + 20ms) == status::timed_out);
  REQUIRE(slow->try_receive(v) == status::ok);
  CHECK(v == 0);
  CHECK(p->try_publish(i) == status::ok);
  CHECK(p->try_publish(i + 1) == status::would_block);
  // A subscriber that leaves stops gating.
  *slow = {};
  CHECK(p->try_publish(i + 1) == status::ok);
  auto st = t->stats();
  CHECK(st.published == 10);
  REQUIRE(st.subscribers.size() == 1);
  CHECK(st.subscribers[0].lag == 2);
}

TEST_CASE("back-pressure with a lag limit evicts the laggard") {
  auto t = topic<std::uint64_t>::create("t-evict", opts(8, topic_mode::backpressure, 8));
  REQUIRE(t);
  auto p = t->publisher();
  auto fast = t->subscriber();
  auto slow = t->subscriber();
  REQUIRE((p && fast && slow));
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i < 40; ++i) {
    REQUIRE(p->try_publish(i) == status::ok);  // never blocked by `slow`
    REQUIRE(fast->try_receive(v) == status::ok);
    CHECK(v == i);
  }
  CHECK(slow->try_receive(v) == status::evicted);
  CHECK(slow->try_receive(v) == status::evicted);
  CHECK(t->stats().evictions == 1);
  // A new subscriber is gated again.
  auto again = t->subscriber();
  REQUIRE(again);
  CHECK(again->position() == 40);
}

TEST_CASE("close: publishers fail, subscribers drain then see closed") {
  auto t = topic<std::uint64_t>::create("t-close", opts(8, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto s = t->subscriber();
  REQUIRE((p && s));
  REQUIRE(p->try_publish(1) == status::ok);
  t->close();
  CHECK(p->try_publish(2) == status::closed);
  std::uint64_t v = 0;
  CHECK(s->try_receive(v) == status::ok);
  CHECK(s->try_receive(v) == status::closed);
  CHECK(s->receive_for(v, 10s) == status::closed);
}

TEST_CASE("readable() wakes wait_any; a blocked receive wakes on publish") {
  auto t = topic<std::uint64_t>::create("t-wait", opts(8, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto s = t->subscriber(start_at::next, wait_policy::block);
  REQUIRE((p && s));
  const waitable w[1] = {s->readable()};
  CHECK(wait_any(w, clock_type::now() + 20ms) == -1);
  std::thread pub([&] {
    std::this_thread::sleep_for(20ms);
    (void)p->publish(42);
  });
  CHECK(wait_any(w, clock_type::now() + 10s) == 0);
  std::uint64_t v = 0;
  CHECK(s->try_receive(v) == status::ok);
  CHECK(v == 42);
  pub.join();
  std::thread pub2([&] {
    std::this_thread::sleep_for(20ms);
    (void)p->publish(43);
  });
  CHECK(s->receive_for(v, 10s) == status::ok);
  CHECK(v == 43);
  pub2.join();
}

namespace {

struct stream_result {
  std::uint64_t received = 0, missed = 0, torn = 0, disorder = 0, overruns = 0;
};

// Reads stamps until the topic closes; checks each stamp and the order.
stream_result read_stream(topic<topic_stamp>::subscriber_handle& s, bool slow) {
  stream_result r;
  std::uint64_t expect = s.position();
  topic_stamp m{};
  for (;;) {
    const status st = s.receive_for(m, 30s);
    if (st == status::closed) break;
    if (st == status::overrun) {
      ++r.overruns;
      r.missed += s.missed();
      expect += s.missed();
      continue;
    }
    if (st != status::ok) {
      ++r.disorder;  // timed out or worse
      break;
    }
    if (!m.check()) ++r.torn;
    if (m.seq != expect) ++r.disorder;
    expect = m.seq + 1;
    ++r.received;
    if (slow && (r.received & 63) == 0) std::this_thread::sleep_for(50us);
  }
  return r;
}

// slow_first: the first subscriber pauses now and then (lossy: it is lapped).
void run_stream(topic_mode mode, std::uint64_t n, unsigned subs, bool slow_first, std::size_t cap) {
  const std::string name = std::string("t-stream-") + to_string(mode);
  auto t = topic<topic_stamp>::create(name, opts(cap, mode));
  REQUIRE(t);
  std::vector<topic<topic_stamp>::subscriber_handle> handles;
  for (unsigned i = 0; i < subs; ++i) {
    auto s = t->subscriber();
    REQUIRE(s);
    handles.push_back(std::move(*s));
  }
  std::vector<stream_result> results(subs);
  std::vector<std::thread> readers;
  for (unsigned i = 0; i < subs; ++i)
    readers.emplace_back([&, i] { results[i] = read_stream(handles[i], slow_first && i == 0); });
  auto p = t->publisher();
  REQUIRE(p);
  for (std::uint64_t i = 0; i < n; ++i) {
    REQUIRE(p->publish(topic_stamp::make(i)) == status::ok);
    // Lossy: let the readers run now and then, so that they often read a
    // slot while it is overwritten (what the seqlock must catch).
    if (mode == topic_mode::lossy && (i & 255) == 255) std::this_thread::yield();
  }
  t->close();
  for (auto& r : readers) r.join();
  for (unsigned i = 0; i < subs; ++i) {
    CAPTURE(i);
    CHECK(results[i].torn == 0);
    CHECK(results[i].disorder == 0);
    CHECK(results[i].received + results[i].missed == n);
    if (mode == topic_mode::backpressure) CHECK(results[i].received == n);
  }
  for (const auto& r : results)
    MESSAGE(std::string(to_string(mode)), ": ", n, " published; a subscriber received ", r.received,
            ", missed ", r.missed, " in ", r.overruns, " overruns");
}

}  // namespace

TEST_CASE("lossy stream, threads: received + missed == published, nothing torn") {
  run_stream(topic_mode::lossy, ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 300000, 30000), 3, true,
             64);
}

TEST_CASE("back-pressured stream, threads: every stamp exactly once, in order") {
  run_stream(topic_mode::backpressure, ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 300000, 30000),
             3, false, 1024);
}

TEST_CASE("join and leave while publishing (threads)") {
  auto t = topic<topic_stamp>::create("t-churn", opts(16, topic_mode::backpressure));
  REQUIRE(t);
  const std::uint64_t n = ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 20000, 5000);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> bad{0}, joins{0};
  std::vector<std::thread> churn;
  for (int k = 0; k < 2; ++k)
    churn.emplace_back([&, k] {
      std::uint64_t round = 0;
      while (!done.load()) {
        auto s = t->subscriber(round % 2 ? start_at::oldest : start_at::next);
        if (!s) {
          bad.fetch_add(1);
          return;
        }
        joins.fetch_add(1);
        std::uint64_t expect = s->position();
        topic_stamp m{};
        for (std::uint64_t i = 0; i < 50 + 37 * static_cast<std::uint64_t>(k) && !done.load(); ++i) {
          const status st = s->receive_for(m, 5ms);
          if (st == status::timed_out || st == status::closed) continue;
          if (st != status::ok || !m.check() || m.seq != expect) bad.fetch_add(1);
          expect = m.seq + 1;
        }
        ++round;
      }
    });
  auto steady = t->subscriber();
  REQUIRE(steady);
  stream_result r;
  std::thread reader([&] { r = read_stream(*steady, false); });
  auto p = t->publisher();
  REQUIRE(p);
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(p->publish(topic_stamp::make(i)) == status::ok);
  t->close();
  reader.join();
  done.store(true);
  for (auto& c : churn) c.join();
  CHECK(bad.load() == 0);
  CHECK(r.received == n);
  CHECK(r.torn + r.disorder + r.missed == 0);
  CHECK(joins.load() > 2);
}

namespace {

// Readers of a 2-slot topic of 4 KiB messages: nearly every read races the
// publisher overwriting that very slot. A message is whole when all its
// words hold its number.
struct race_tally {
  std::uint64_t received = 0, missed = 0, torn = 0, bad = 0;
};

race_tally read_racing(topic_subscriber& s) {
  race_tally r;
  std::vector<std::uint64_t> buf(512);
  const std::span<std::byte> b(reinterpret_cast<std::byte*>(buf.data()), buf.size() * 8);
  for (;;) {
    std::size_t len = 0;
    const status st = s.receive_for(b, len, 30s);
    if (st == status::closed) break;
    if (st == status::overrun) {
      r.missed += s.missed();
      continue;
    }
    if (st != status::ok || len != b.size()) {
      ++r.bad;
      break;
    }
    for (std::uint64_t w : buf)
      if (w != buf[0]) {
        ++r.torn;
        break;
      }
    ++r.received;
  }
  return r;
}

}  // namespace

TEST_CASE("lossy with 2 slots of 4 KiB: reads racing the overwrite are never returned torn (threads)") {
  topic_options o = opts(2, topic_mode::lossy);
  o.max_message_size = 4096;
  auto t = byte_topic::create("t-race", o);
  REQUIRE(t);
  const std::uint64_t n = ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 50000, 10000);
  std::vector<topic_subscriber> subs;
  for (int i = 0; i < 2; ++i) {
    auto s = t->subscriber();
    REQUIRE(s);
    subs.push_back(std::move(*s));
  }
  std::vector<race_tally> res(2);
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back([&, i] { res[i] = read_racing(subs[i]); });
  auto p = t->publisher();
  REQUIRE(p);
  std::vector<std::uint64_t> msg(512);
  // Publish for a while, pausing between messages so that the readers (on
  // the other CPU when there is one) keep copying slots being overwritten.
  const auto until = clock_type::now() + std::chrono::milliseconds(n / 50);
  std::uint64_t i = 0;
  for (; i < n || clock_type::now() < until; ++i) {
    std::fill(msg.begin(), msg.end(), i);
    REQUIRE(p->try_publish(std::as_bytes(std::span(msg))) == status::ok);
    for (int k = 0; k < 64; ++k) ringport::detail::cpu_relax();
  }
  t->close();
  for (auto& r : readers) r.join();
  for (const auto& r : res) {
    CHECK(r.torn == 0);
    CHECK(r.bad == 0);
    CHECK(r.received + r.missed == i);
    MESSAGE("received ", r.received, ", missed ", r.missed);
  }
}

// ---------------------------------------------------------------- wake batching (#13 bench)

// A parked back-pressured publisher is woken by the subscriber that frees a
// batch (a quarter of the ring), not once per freed slot. Counted on the
// "not full" event count's seq, which only a wake-up changes (the
// publisher's own time-slice retries do not), so the check is not timed.
TEST_CASE("back-pressure: a parked publisher is woken once a batch is free, not per slot") {
  constexpr std::size_t cap = 16, batch = cap / 4;
  auto t = topic<std::uint64_t>::create("t-wake", opts(cap, topic_mode::backpressure));
  REQUIRE(t);
  auto p = t->publisher(wait_policy::block);
  auto s = t->subscriber();
  REQUIRE((p && s));
  for (std::uint64_t i = 0; i < cap; ++i) REQUIRE(p->try_publish(i) == status::ok);
  auto seg = segment::open("t-wake");  // raw view of the same file
  REQUIRE(seg);
  auto* sh = std::launder(reinterpret_cast<detail::topic_shared*>(seg->payload()));
  std::thread publisher([&] { CHECK(p->publish(std::uint64_t{cap}) == status::ok); });
  // block policy: no spinning, it registers on not_full and parks.
  const auto give_up = clock_type::now() + 10s;
  while (detail::waiter_count(sh->not_full.waiters.load()) == 0 && clock_type::now() < give_up)
    std::this_thread::sleep_for(1ms);
  REQUIRE(detail::waiter_count(sh->not_full.waiters.load()) != 0);
  const std::uint32_t seq0 = sh->not_full.seq.load();
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i + 1 < batch; ++i) {
    REQUIRE(s->try_receive(v) == status::ok);
    CHECK(v == i);
  }
  // batch - 1 slots free: no wake-up yet (one per slot would be 3 by now).
  CHECK(sh->not_full.seq.load() == seq0);
  REQUIRE(s->try_receive(v) == status::ok);  // the batch is free: one wake-up
  // Exactly one, whether or not the publisher's own 50 ms retry got through
  // first (that retry leaves its registration for this wake to clear).
  CHECK(sh->not_full.seq.load() == seq0 + 1);
  publisher.join();
  CHECK(t->published() == cap + 1);
  for (std::uint64_t i = batch; i <= cap; ++i) {
    REQUIRE(s->try_receive(v) == status::ok);
    CHECK(v == i);
  }
}

// A lapped subscriber re-syncs capacity/8 messages past the slot being
// overwritten (topic.hpp, "Design"), not onto it: the skipped ones are in
// missed(), and received + missed == published still holds exactly.
TEST_CASE("lossy: a lapped subscriber re-syncs capacity/8 ahead of the oldest slot") {
  constexpr std::uint64_t cap = 64, published = 200;
  auto t = topic<std::uint64_t>::create("t-resync", opts(cap, topic_mode::lossy));
  REQUIRE(t);
  auto p = t->publisher();
  auto s = t->subscriber();
  REQUIRE((p && s));
  for (std::uint64_t i = 0; i < published; ++i) REQUIRE(p->try_publish(i) == status::ok);
  std::uint64_t v = 0, received = 0;
  REQUIRE(s->try_receive(v) == status::overrun);
  const std::uint64_t first = published - cap + cap / 8;  // 144: 137 is the oldest not being rewritten
  CHECK(s->missed() == first);
  for (std::uint64_t want = first; want < published; ++want, ++received) {
    REQUIRE(s->try_receive(v) == status::ok);
    CHECK(v == want);
  }
  CHECK(s->try_receive(v) == status::would_block);
  CHECK(received + s->total_missed() == published);
}
