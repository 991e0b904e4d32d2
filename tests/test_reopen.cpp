// Reopening and resetting a ring in place (issue 12 item 4; ring.hpp,
// "Reopen, reset"): close -> reopen keeps what is queued and wakes nobody
// into a lost state; a consumer that saw closed, in a thread or another
// process, receives again; reopen racing close and pushes loses and
// duplicates nothing; reset is refused while a role is held by a live
// process and empties the ring otherwise; mailboxes reopen too.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "holder.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using ringport_test::holder;

namespace {

ring_options small_ring(std::size_t capacity = 8, existing e = existing::fail) {
  ring_options o;
  o.capacity = capacity;
  o.backing = pages::normal;
  o.if_exists = e;
  return o;
}

template <class R>
void push_all(R& ring, std::initializer_list<int> items) {
  auto p = ring.producer();
  REQUIRE(p);
  for (int v : items) REQUIRE(p->try_push(v) == status::ok);
}

}  // namespace

TEST_CASE("reopen keeps what is queued and counts generations") {
  auto r = spsc<int>::create("reopen.keep", small_ring());
  REQUIRE(r);
  CHECK(r->generation() == 0);
  CHECK_FALSE(r->reopen());  // open: nothing to do
  CHECK(r->generation() == 0);
  push_all(*r, {1, 2, 3});
  r->close();
  r->close();  // twice: still one close, same generation
  CHECK(r->closed());
  auto p = r->producer();
  REQUIRE(p);
  CHECK(p->try_push(9) == status::closed);
  CHECK(r->reopen());
  CHECK_FALSE(r->reopen());
  CHECK_FALSE(r->closed());
  CHECK(r->generation() == 1);
  CHECK(p->try_push(4) == status::ok);  // the same handle pushes again
  auto c = r->consumer();
  REQUIRE(c);
  for (int want : {1, 2, 3, 4}) {
    int v = 0;
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(v == want);
  }
  int v = 0;
  CHECK(c->try_pop(v) == status::would_block);
  r->close();
  CHECK(c->try_pop(v) == status::closed);
  CHECK(r->reopen());
  CHECK(r->generation() == 2);
  CHECK(c->try_pop(v) == status::would_block);  // closed was then, not for good
}

TEST_CASE("a consumer waiting on a ring that closes and reopens receives what is pushed after") {
  auto r = mpmc<int>::create("reopen.wait", small_ring());
  REQUIRE(r);
  auto c = r->consumer();
  REQUIRE(c);
  std::atomic<int> phase{0};
  std::vector<status> seen;
  int got = 0;
  std::thread consumer([&] {
    int v = 0;
    seen.push_back(c->pop_for(v, 30s));  // parked when the ring closes: closed
    phase.store(1);
    while (phase.load() != 2) std::this_thread::sleep_for(1ms);
    seen.push_back(c->pop_for(v, 30s));  // parked again, on the reopened ring
    got = v;
  });
  std::this_thread::sleep_for(50ms);
  r->close();
  while (phase.load() != 1) std::this_thread::sleep_for(1ms);
  REQUIRE(r->reopen());
  phase.store(2);
  std::this_thread::sleep_for(50ms);
  push_all(*r, {42});
  consumer.join();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == status::closed);
  CHECK(seen[1] == status::ok);
  CHECK(got == 42);

  // close, reopen and push while it waits: it sees the close (and tries
  // again) or never sees it; either way it gets the item.
  int closes = 0;
  std::thread again([&] {
    int v = 0;
    for (status s; (s = c->pop_for(v, 30s)) != status::ok;) {
      if (s != status::closed) return;
      ++closes;
      std::this_thread::sleep_for(1ms);
    }
    got = v;
  });
  std::this_thread::sleep_for(50ms);
  r->close();
  REQUIRE(r->reopen());
  push_all(*r, {43});
  again.join();
  CHECK(got == 43);
  MESSAGE("closed seen by the waiter in the second round: " << closes);
}

TEST_CASE("a consumer in another process that never stops receives across close and reopen") {
  auto r = spsc<int>::create("reopen.proc", small_ring(16));
  REQUIRE(r);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto ring = spsc<int>::open("reopen.proc");
    if (!ring) ::_exit(10);
    auto c = ring->consumer();
    if (!c) ::_exit(11);
    const char ready = 'r';
    if (::write(fds[1], &ready, 1) != 1) ::_exit(12);
    bool told = false;
    for (int want = 1; want <= 6;) {
      int v = 0;
      const status s = c->pop_for(v, 30s);
      if (s == status::closed) {
        if (!told && ::write(fds[1], "c", 1) != 1) ::_exit(13);
        told = true;
        std::this_thread::sleep_for(1ms);  // a real consumer would back off too
        continue;
      }
      if (s != status::ok) ::_exit(14);
      if (v != want++) ::_exit(15);
    }
    ::_exit(told ? 0 : 16);
  }
  ::close(fds[1]);
  auto read_byte = [&] {
    pollfd pfd{fds[0], POLLIN, 0};
    char b = 0;
    return ::poll(&pfd, 1, 30'000) == 1 && ::read(fds[0], &b, 1) == 1 ? b : '?';
  };
  REQUIRE(read_byte() == 'r');
  push_all(*r, {1, 2, 3});
  r->close();
  CHECK(read_byte() == 'c');  // it drained 1..3, then saw closed
  REQUIRE(r->reopen());
  push_all(*r, {4, 5, 6});
  ::close(fds[0]);
  CHECK(ringport_test::wait_child(pid) == 0);
}

TEST_CASE("reopen racing close: one atomic step, generations only go up") {
  auto r = mpmc<int>::create("reopen.race", small_ring());
  REQUIRE(r);
  constexpr int rounds = 20000;
  std::atomic<bool> go{false}, closer_done{false};
  std::thread closer([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < rounds; ++i) r->close();
    closer_done.store(true);
  });
  unsigned reopened = 0;
  bool monotonic = true;
  go.store(true);
  for (;;) {
    const bool last = closer_done.load();  // then this round comes after every close
    if (r->reopen()) {
      ++reopened;
      // Only this thread bumps the generation: a close racing the CAS must
      // neither undo it nor reset the generation bits.
      monotonic = monotonic && r->generation() == reopened;
    }
    if (last) break;
  }
  closer.join();
  CHECK(monotonic);
  CHECK(reopened >= 1);
  CHECK_FALSE(r->closed());  // the last step was a reopen
  CHECK(r->generation() == reopened);
  MESSAGE("reopens that won against " << rounds << " closes: " << reopened);
}

TEST_CASE("pushes and pops through closes and reopens: every item exactly once, in order") {
  auto r = mpmc<std::uint64_t>::create("reopen.flow", small_ring(16));
  REQUIRE(r);
  constexpr std::uint64_t per_producer = 20000;
  std::atomic<int> producing{2};
  auto produce = [&](std::uint64_t id) {
    auto p = r->producer();
    REQUIRE(p);
    for (std::uint64_t n = 0; n < per_producer;) {
      const status s = p->push_for((id << 32) | n, 10s);
      if (s == status::ok)
        ++n;
      else if (s == status::closed)
        std::this_thread::yield();
      else
        break;  // a failure: the count below shows it
    }
    producing.fetch_sub(1);
  };
  std::thread p0(produce, 0), p1(produce, 1);
  std::thread toggler([&] {
    while (producing.load() != 0) {
      r->close();
      std::this_thread::yield();
      r->reopen();
      std::this_thread::sleep_for(100us);
    }
    r->reopen();
  });
  auto c = r->consumer();
  REQUIRE(c);
  std::uint64_t next[2] = {0, 0}, got = 0, disorder = 0;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (got < 2 * per_producer && std::chrono::steady_clock::now() < give_up) {
    std::uint64_t v = 0;
    const status s = c->pop_for(v, 100ms);
    if (s != status::ok) continue;  // closed, timed out: try again
    const std::uint64_t id = v >> 32, n = v & 0xffffffffu;
    if (id > 1 || n != next[id]) ++disorder;
    if (id <= 1) next[id] = n + 1;
    ++got;
  }
  p0.join();
  p1.join();
  toggler.join();
  CHECK(got == 2 * per_producer);
  CHECK(disorder == 0);
  CHECK(next[0] == per_producer);
  CHECK(next[1] == per_producer);
  CHECK(r->size() == 0);
  MESSAGE("reopens: " << r->generation());
}

TEST_CASE("reset: refused while a live process holds a role, empties the ring otherwise") {
  auto r = mpmc<int>::create("reopen.reset", small_ring(4));
  REQUIRE(r);
  {
    auto p = r->producer();
    auto c = r->consumer();
    REQUIRE(p);
    REQUIRE(c);
    for (int i = 0; i < 10; ++i) {  // wrap the positions and turns a few laps
      int v = 0;
      REQUIRE(p->try_push(i) == status::ok);
      REQUIRE(c->try_pop(v) == status::ok);
    }
    REQUIRE(p->try_push(100) == status::ok);
    REQUIRE(p->try_push(101) == status::ok);
    auto busy = r->reset();  // this process's own handles count
    REQUIRE_FALSE(busy);
    CHECK(busy.error() == errc::busy);
    CHECK(r->size() == 2);
  }
  r->close();
  // A consumer in another process, alive: busy; nothing changes.
  holder other([&](const std::function<void()>& hold) {
    auto ring = mpmc<int>::open("reopen.reset");
    if (!ring) return 10;
    auto c = ring->consumer();
    if (!c) return 11;
    hold();
    return 0;
  });
  REQUIRE(other.report() == 0);
  auto busy = r->reset();
  REQUIRE_FALSE(busy);
  CHECK(busy.error() == errc::busy);
  CHECK(busy.error().message.find("live consumer") != std::string::npos);
  CHECK(r->size() == 2);
  CHECK(r->closed());
  CHECK(r->generation() == 0);
  CHECK(r->producer());  // the refused reset gave every slot back

  other.kill();  // dies holding its role: a dead holder does not count
  REQUIRE(r->reset());
  CHECK(r->size() == 0);
  CHECK_FALSE(r->closed());
  CHECK(r->generation() == 1);
  CHECK(r->peers().consumers_dead == 0);  // the dead holder's slot was emptied
  auto p2 = r->producer();
  auto c2 = r->consumer();
  REQUIRE(p2);
  REQUIRE(c2);
  for (int round = 0; round < 3; ++round) {  // lap 0 again, turns and all
    for (int i = 0; i < 4; ++i) REQUIRE(p2->try_push(round * 10 + i) == status::ok);
    CHECK(p2->try_push(99) == status::would_block);
    for (int i = 0; i < 4; ++i) {
      int v = -1;
      REQUIRE(c2->try_pop(v) == status::ok);
      CHECK(v == round * 10 + i);
    }
  }
}

TEST_CASE("a reset killed midway: attach refuses the half-reset ring until another reset completes it") {
  auto r = mpmc<int>::create("reopen.killed", small_ring(4));
  REQUIRE(r);
  {
    auto p = r->producer();
    auto c = r->consumer();
    REQUIRE((p && c));
    for (int i = 0; i < 6; ++i) {  // positions and turns off lap 0
      int v = 0;
      REQUIRE(p->try_push(i) == status::ok);
      REQUIRE(c->try_pop(v) == status::ok);
    }
    REQUIRE(p->try_push(7) == status::ok);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the resetter, killed after it marked the ring, before the rewrite
    auto ring = mpmc<int>::open("reopen.killed");
    if (!ring) _exit(10);
    detail::reset_hook = [] { ::raise(SIGKILL); };
    (void)ring->reset();
    _exit(11);  // not reached
  }
  int wst = 0;
  REQUIRE(::waitpid(pid, &wst, 0) == pid);
  REQUIRE(WIFSIGNALED(wst));
  CHECK(WTERMSIG(wst) == SIGKILL);
  // Survivors cannot attach to the half-reset ring (its turns and
  // positions may be from different laps) ...
  CHECK(r->closed());
  auto p = r->producer();
  REQUIRE_FALSE(p);
  CHECK(p.error() == errc::busy);
  CHECK(p.error().message.find("reset") != std::string::npos);
  auto c = r->consumer();
  REQUIRE_FALSE(c);
  CHECK(c.error() == errc::busy);
  CHECK_FALSE(r->reopen());  // not while marked
  // ... and another reset completes it: empty, open, one generation on.
  REQUIRE(r->reset());
  CHECK_FALSE(r->closed());
  CHECK(r->generation() == 1);
  CHECK(r->size() == 0);
  auto p2 = r->producer();
  auto c2 = r->consumer();
  REQUIRE((p2 && c2));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) REQUIRE(p2->try_push(round * 10 + i) == status::ok);
    CHECK(p2->try_push(99) == status::would_block);
    for (int i = 0; i < 4; ++i) {
      int v = -1;
      REQUIRE(c2->try_pop(v) == status::ok);
      CHECK(v == round * 10 + i);
    }
  }
}

TEST_CASE("reset of a single-role ring nobody holds, and if_exists::open keeps a closed ring closed") {
  REQUIRE(ringport_test::run_in_child([] {
            auto r = spsc<int>::create("reopen.left", small_ring());
            if (!r) return 10;
            auto p = r->producer();
            if (!p) return 11;
            for (int i = 0; i < 3; ++i)
              if (p->try_push(i) != status::ok) return 12;
            r->close();
            return 0;
          }) == 0);
  auto opened = spsc<int>::create("reopen.left", small_ring(8, existing::open));
  REQUIRE(opened);
  CHECK(opened->closed());  // opening never reopens
  CHECK(opened->size() == 3);
  REQUIRE(opened->reopen());
  push_all(*opened, {3});
  {
    auto c = opened->consumer();
    REQUIRE(c);
    int v = 0;
    REQUIRE(c->try_pop(v) == status::ok);
    CHECK(v == 0);
  }
  REQUIRE(opened->reset());
  CHECK(opened->size() == 0);
  CHECK(opened->generation() == 2);
  push_all(*opened, {7});
  auto c = opened->consumer();
  REQUIRE(c);
  int v = 0;
  REQUIRE(c->try_pop(v) == status::ok);
  CHECK(v == 7);
}

TEST_CASE("a mailbox closes and reopens with what is queued") {
  mailbox_options o;
  o.capacity = 4;
  o.max_message_size = 16;
  o.backing = pages::normal;
  auto box = mailbox::create("reopen.box", o);
  REQUIRE(box);
  auto tx = box->sender();
  auto rx = box->receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  auto msg = [](std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); };
  REQUIRE(tx->try_send(msg("before")) == status::ok);
  box->close();
  CHECK(tx->try_send(msg("closed")) == status::closed);
  std::array<std::byte, 16> buf{};
  std::size_t len = 0;
  REQUIRE(rx->try_receive(buf, len) == status::ok);
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), len) == "before");
  CHECK(rx->try_receive(buf, len) == status::closed);
  REQUIRE(box->reopen());
  CHECK(box->generation() == 1);
  CHECK_FALSE(box->closed());
  REQUIRE(tx->try_send(msg("after")) == status::ok);
  REQUIRE(rx->try_receive(buf, len) == status::ok);
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), len) == "after");
}
