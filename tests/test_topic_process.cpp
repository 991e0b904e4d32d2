// Topics across processes (fork): back-pressured fan-out exactly once, lossy
// accounting, a SIGKILLed subscriber, join/leave while publishing, and the
// takeover of a dead publisher. Long mode: RINGPORT_TOPIC_MESSAGES=N.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ringport/topic.hpp"
#include "test_util.hpp"
#include "topic_stamp.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using ringport_test::topic_stamp;
using clock_type = std::chrono::steady_clock;
using stamp_topic = topic<topic_stamp>;

namespace {

topic_options opts(std::size_t cap, topic_mode mode) {
  topic_options o;
  o.capacity = cap;
  o.mode = mode;
  o.backing = pages::normal;
  return o;
}

// What each child reports, in an anonymous shared mapping made before fork.
struct child_report {
  std::atomic<std::uint32_t> ready;
  std::atomic<std::uint64_t> received, missed, torn, disorder, joins;
};

struct reports {
  explicit reports(std::size_t n) : n_(n) {
    void* m =
        ::mmap(nullptr, n * sizeof(child_report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    r_ = new (m) child_report[n]{};
  }
  ~reports() { ::munmap(r_, n_ * sizeof(child_report)); }
  child_report& operator[](std::size_t i) { return r_[i]; }
  // Waits until `count` children said they subscribed.
  bool all_ready(std::size_t count) {
    const auto deadline = clock_type::now() + 30s;
    for (std::size_t i = 0; i < count; ++i)
      while (r_[i].ready.load() == 0)
        if (clock_type::now() > deadline)
          return false;
        else
          std::this_thread::sleep_for(1ms);
    return true;
  }

 private:
  std::size_t n_;
  child_report* r_;
};

pid_t fork_child(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  return pid;
}

// A child: subscribes, says so, reads stamps until the topic closes.
int read_until_closed(const std::string& name, child_report& r, bool slow, wait_policy policy) {
  auto t = stamp_topic::open(name);
  if (!t) return 10;
  auto s = t->subscriber(start_at::next, policy);
  if (!s) return 11;
  std::uint64_t expect = s->position();
  r.ready.store(1);
  topic_stamp m{};
  for (;;) {
    const status st = s->receive_for(m, 60s);
    if (st == status::closed) return 0;
    if (st == status::overrun) {
      r.missed.fetch_add(s->missed());
      expect += s->missed();
      continue;
    }
    if (st != status::ok) return 12;
    if (!m.check()) r.torn.fetch_add(1);
    if (m.seq != expect) r.disorder.fetch_add(1);
    expect = m.seq + 1;
    const std::uint64_t got = r.received.fetch_add(1) + 1;
    if (slow && (got & 127) == 0) std::this_thread::sleep_for(200us);
  }
}

}  // namespace

TEST_CASE("back-pressured: 1 publisher, 4 subscriber processes, every stamp exactly once, in order") {
  const std::uint64_t n = ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 1000000, 100000);
  const std::string name = "tp-bp";
  auto t = stamp_topic::create(name, opts(4096, topic_mode::backpressure));
  REQUIRE(t);
  reports rep(4);
  std::vector<pid_t> kids;
  for (int i = 0; i < 4; ++i)
    kids.push_back(
        fork_child([&, i] { return read_until_closed(name, rep[i], false, wait_policy::adaptive); }));
  REQUIRE(rep.all_ready(4));
  auto p = t->publisher();
  REQUIRE(p);
  const auto t0 = clock_type::now();
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(p->publish(topic_stamp::make(i)) == status::ok);
  t->close();
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(ringport_test::wait_child(kids[i]) == 0);
    CHECK(rep[i].received.load() == n);
    CHECK(rep[i].missed.load() == 0);
    CHECK(rep[i].torn.load() == 0);
    CHECK(rep[i].disorder.load() == 0);
  }
  MESSAGE(n, " stamps to 4 processes in ",
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count(), " ms");
}

TEST_CASE("lossy, processes: received + overrun == published per subscriber, nothing torn") {
  const std::uint64_t n = ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 1000000, 100000);
  const std::string name = "tp-lossy";
  auto t = stamp_topic::create(name, opts(256, topic_mode::lossy));
  REQUIRE(t);
  reports rep(2);
  std::vector<pid_t> kids;
  for (int i = 0; i < 2; ++i)
    kids.push_back(
        fork_child([&, i] { return read_until_closed(name, rep[i], i == 0, wait_policy::adaptive); }));
  REQUIRE(rep.all_ready(2));
  auto p = t->publisher();
  REQUIRE(p);
  for (std::uint64_t i = 0; i < n; ++i) {
    REQUIRE(p->try_publish(topic_stamp::make(i)) == status::ok);  // never waits
    if ((i & 1023) == 1023) std::this_thread::yield();
  }
  t->close();
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(ringport_test::wait_child(kids[i]) == 0);
    CHECK(rep[i].received.load() + rep[i].missed.load() == n);
    CHECK(rep[i].torn.load() == 0);
    CHECK(rep[i].disorder.load() == 0);
    MESSAGE("subscriber ", i, std::string(i == 0 ? " (slow)" : ""), ": received ", rep[i].received.load(),
            ", missed ", rep[i].missed.load());
  }
  CHECK(rep[0].missed.load() > 0);  // the slow one was lapped
}

TEST_CASE("a SIGKILLed subscriber stops holding a back-pressured publisher within the bound") {
  const std::string name = "tp-kill";
  auto t = stamp_topic::create(name, opts(64, topic_mode::backpressure));
  REQUIRE(t);
  reports rep(1);
  const pid_t kid = fork_child([&] {
    auto o = stamp_topic::open(name);
    if (!o) return 10;
    auto s = o->subscriber();
    if (!s) return 11;
    rep[0].ready.store(1);
    for (;;) ::pause();  // never reads
  });
  REQUIRE(rep.all_ready(1));
  auto p = t->publisher();
  REQUIRE(p);
  for (std::uint64_t i = 0; i < 64; ++i) REQUIRE(p->try_publish(topic_stamp::make(i)) == status::ok);
  // Alive, it holds the publisher back.
  CHECK(p->publish_for(topic_stamp::make(64), 300ms) == status::timed_out);
  std::thread killer([kid] {
    std::this_thread::sleep_for(50ms);
    ::kill(kid, SIGKILL);
  });
  const auto t0 = clock_type::now();
  CHECK(p->publish_for(topic_stamp::make(64), 20s) == status::ok);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
  killer.join();
  CHECK(ringport_test::wait_child(kid) == 128 + SIGKILL);
  // Documented bound: about 2 * peer_poll (100 ms) after the death; 2 s
  // leaves room for a loaded machine.
  CHECK(waited < 2050ms);
  MESSAGE("publisher went on ", waited.count(), " ms after it started waiting (kill at 50 ms)");
  CHECK(t->stats().reaped == 1);
  CHECK(t->stats().subscribers.empty());
}

TEST_CASE("join and leave while publishing (processes)") {
  const std::uint64_t n = ringport_test::topic_count("RINGPORT_TOPIC_MESSAGES", 50000, 10000);
  const std::string name = "tp-churn";
  auto t = stamp_topic::create(name, opts(32, topic_mode::backpressure));
  REQUIRE(t);
  reports rep(3);
  std::vector<pid_t> kids;
  kids.push_back(fork_child([&] { return read_until_closed(name, rep[0], false, wait_policy::adaptive); }));
  for (int k = 1; k <= 2; ++k)
    kids.push_back(fork_child([&, k] {
      auto o = stamp_topic::open(name);
      if (!o) return 10;
      rep[k].ready.store(1);
      for (std::uint64_t round = 0; !o->closed(); ++round) {
        auto s = o->subscriber(round % 2 ? start_at::oldest : start_at::next);
        if (!s) return 11;
        rep[k].joins.fetch_add(1);
        std::uint64_t expect = s->position();
        topic_stamp m{};
        for (std::uint64_t i = 0; i < 20 + 31 * round % 97; ++i) {
          const status st = s->receive_for(m, 20ms);
          if (st == status::closed) return 0;
          if (st == status::timed_out) continue;
          if (st != status::ok) return 12;
          if (!m.check()) rep[k].torn.fetch_add(1);
          if (m.seq != expect) rep[k].disorder.fetch_add(1);
          expect = m.seq + 1;
          rep[k].received.fetch_add(1);
        }
      }
      return 0;
    }));
  REQUIRE(rep.all_ready(3));
  auto p = t->publisher();
  REQUIRE(p);
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(p->publish(topic_stamp::make(i)) == status::ok);
  t->close();
  for (std::size_t i = 0; i < kids.size(); ++i) {
    CAPTURE(i);
    CHECK(ringport_test::wait_child(kids[i]) == 0);
    CHECK(rep[i].torn.load() == 0);
    CHECK(rep[i].disorder.load() == 0);
    CHECK(rep[i].missed.load() == 0);
  }
  CHECK(rep[0].received.load() == n);
  CHECK(rep[1].joins.load() + rep[2].joins.load() > 2);
  MESSAGE("churning subscribers joined ", rep[1].joins.load() + rep[2].joins.load(), " times");
}

TEST_CASE("a dead publisher's role is taken over; the next one continues after its last message") {
  const std::string name = "tp-takeover";
  auto t = stamp_topic::create(name, opts(16, topic_mode::lossy));
  REQUIRE(t);
  const pid_t kid = fork_child([&] {
    auto o = stamp_topic::open(name);
    if (!o) return 10;
    auto p = o->publisher();
    if (!p) return 11;
    for (std::uint64_t i = 0; i < 10; ++i)
      if (p->try_publish(topic_stamp::make(i)) != status::ok) return 12;
    ::raise(SIGKILL);  // dies holding the role
    return 13;
  });
  CHECK(ringport_test::wait_child(kid) == 128 + SIGKILL);
  auto p = t->publisher();
  REQUIRE_MESSAGE(p, p.error().message);
  CHECK(p->position() == 10);
  REQUIRE(p->try_publish(topic_stamp::make(10)) == status::ok);
  auto s = t->subscriber(start_at::oldest);
  REQUIRE(s);
  topic_stamp m{};
  for (std::uint64_t i = 0; i <= 10; ++i) {
    REQUIRE(s->try_receive(m) == status::ok);
    CHECK(m.seq == i);
    CHECK(m.check());
  }
  CHECK(t->stats().takeovers == 1);
  topic_stamp last{};
  REQUIRE(t->latest(last) == status::ok);
  CHECK(last.seq == 10);
}
