// Waiting, between the threads of one process (also run under TSan):
// lost wake-up stress, deadlines of every timed call, close while waiting.
// The process-mode counterparts are in test_wait_processes.cpp.
#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <thread>

#include "ringport/detail/doorbell.hpp"
#include "ringport/ring.hpp"
#include "ringport/wait.hpp"
#include "test_util.hpp"
#include "wait_harness.hpp"
#include "wait_scenarios.hpp"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

using namespace ringport;
using namespace wait_test;

namespace {

constexpr std::array<wait_policy, 2> parking_policies = {wait_policy::block, wait_policy::adaptive};
constexpr std::array<wait_policy, 3> all_policies = {wait_policy::busy_spin, wait_policy::adaptive,
                                                     wait_policy::block};

// Calls op(deadline), which says whether the call reported a time-out, and
// checks when it came back: never before the deadline (exact), and soon after
// it, or soon after the call for a deadline already past (generous).
template <class Op>
void expect_timeout(clock::duration from_now, Op&& op) {
  const auto start = clock::now();
  const auto deadline = start + from_now;
  CHECK(op(deadline));
  const auto end = clock::now();
  CHECK(end >= deadline);
  CHECK(end < std::max(start, deadline) + generous);
}

}  // namespace

// Eight threads on rings of 1 to 4 slots: with `block` every wait parks, with
// `adaptive` most do once the spin and yield budgets run out (threads outnumber
// the cores).
TEST_CASE("lost wake-ups: 8 threads, tiny rings, every kind") {
  for (wait_policy p : parking_policies) {
    const std::uint64_t n =
        p == wait_policy::block ? 100'000 : 200'000;  // block: several system calls per item
    run_stress<spsc<stamped>>(mode::threads, {.rings = 4, .capacity = 1, .policy = p, .items = n});
    run_stress<mpsc<stamped>>(mode::threads, {.producers = 7, .capacity = 2, .policy = p, .items = n / 2});
    run_stress<spmc<stamped>>(mode::threads, {.consumers = 7, .capacity = 2, .policy = p, .items = n / 2});
    run_stress<mpmc<stamped>>(mode::threads,
                              {.producers = 4, .consumers = 4, .capacity = 4, .policy = p, .items = n});
  }
}

// One waiter in wait_any over eight rings, each fed by its own producer
// thread (nine threads on two cores), through futex_waitv and through the
// doorbell fallback; named rings share their domain's doorbells.
TEST_CASE("wait_any lost wake-ups: 8 producer threads, one waiter") {
  for (sleep_via via : {sleep_via::futex_waitv, sleep_via::doorbell})
    for (wait_policy p : parking_policies) {
      run_wait_any_stress<spsc<stamped>>(mode::threads, via,
                                         {.rings = 8, .capacity = 1, .policy = p, .items = 200'000});
      run_wait_any_stress<mpmc<stamped>>(mode::threads, via,
                                         {.rings = 8, .capacity = 2, .policy = p, .items = 100'000});
    }
}

// Anonymous rings share the process's doorbells; rings of two domains have
// no doorbell in common, so wait_any polls them (and still finds the data).
TEST_CASE("wait_any fallback: anonymous rings and rings of two domains") {
  wait_any_setup setup(sleep_via::doorbell);
  auto a = spsc<stamped>::create_local(4, pages::normal);
  auto b = mpmc<stamped>::create_local(4, pages::normal);
  REQUIRE((a && b));
  auto ca = a->consumer(wait_policy::block);
  auto cb = b->consumer(wait_policy::block);
  auto pb = b->producer(wait_policy::block);
  REQUIRE((ca && cb && pb));
  const std::array<waitable, 2> local = {ca->readable(), cb->readable()};
  CHECK(local[0].bells != nullptr);
  CHECK(local[0].bells == local[1].bells);
  CHECK(detail::doorbell_table_of(local[0].bells) != nullptr);
  std::atomic<pid_t> waiter{0};
  std::atomic<int> got{-2};
  std::thread t([&] {
    waiter = this_tid();
    got = wait_any(local, clock::now() + 20s, wait_policy::block);
  });
  while (waiter.load() == 0) std::this_thread::yield();
  CHECK(wait_until_in_syscall(waiter.load(), SYS_futex));
  REQUIRE(pb->push(make_item(1, 0)) == status::ok);
  t.join();
  CHECK(got.load() == 1);

  const std::string n1 = unique_name("dom"), n2 = unique_name("dom");
  const std::string other = ringport_test::domain() + "-b";
  auto r1 = spsc<stamped>::create(n1, {.capacity = 4, .backing = pages::normal});
  auto r2 = spsc<stamped>::create(n2, {.capacity = 4, .backing = pages::normal, .domain = other});
  REQUIRE_MESSAGE(r1, r1.error().message);
  REQUIRE_MESSAGE(r2, r2.error().message);
  auto c1 = r1->consumer(wait_policy::block);
  auto c2 = r2->consumer(wait_policy::block);
  auto p2 = r2->producer(wait_policy::block);
  REQUIRE((c1 && c2 && p2));
  const std::array<waitable, 2> mixed = {c1->readable(), c2->readable()};
  CHECK(mixed[0].bells != mixed[1].bells);
  got = -2;
  std::thread u([&] { got = wait_any(mixed, clock::now() + 20s, wait_policy::block); });
  std::this_thread::sleep_for(20ms);
  REQUIRE(p2->push(make_item(2, 0)) == status::ok);
  u.join();
  CHECK(got.load() == 1);
  CHECK(spsc<stamped>::remove(n1));
  CHECK(spsc<stamped>::remove(n2, other));
  std::error_code ec;
  std::filesystem::remove_all("/dev/shm/ringport." + other, ec);  // its doorbell file
}

// A damaged doorbell file (here: the wrong size) is refused with a notice
// that names it and says what to do; wait_any then polls, and still finds
// the data.
TEST_CASE("wait_any fallback: a damaged doorbell file is refused, not trusted") {
  wait_any_setup setup(sleep_via::doorbell);
  const std::string dom = ringport_test::domain() + "-damaged";
  const std::string name = unique_name("damaged");
  auto r = spsc<stamped>::create(name, {.capacity = 4, .backing = pages::normal, .domain = dom});
  REQUIRE_MESSAGE(r, r.error().message);
  {
    std::ofstream bad("/dev/shm/ringport." + dom + "/.doorbells~", std::ios::binary);
    bad << std::string(100, 'x');
  }
  std::vector<std::string> notices;
  set_notice_handler([&](std::string_view m) { notices.emplace_back(m); });
  auto c = r->consumer(wait_policy::block);
  auto p = r->producer(wait_policy::block);
  REQUIRE((c && p));
  const waitable one[] = {c->readable()};
  CHECK(detail::doorbell_table_of(one[0].bells) == nullptr);
  set_notice_handler({});
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].find(".doorbells~") != std::string::npos);
  CHECK(notices[0].find("wrong size") != std::string::npos);
  CHECK(notices[0].find("Remove the file") != std::string::npos);
  std::atomic<int> got{-2};
  std::thread t([&] { got = wait_any(one, clock::now() + 20s, wait_policy::block); });
  std::this_thread::sleep_for(20ms);
  REQUIRE(p->push(make_item(0, 0)) == status::ok);
  t.join();
  CHECK(got.load() == 0);
  CHECK(spsc<stamped>::remove(name, dom));
  std::error_code ec;
  std::filesystem::remove_all("/dev/shm/ringport." + dom, ec);
}

// CTest runs this binary once more with RINGPORT_FUTEX_WAITV=0 (and the
// node and mailbox tests too): there wait_any must sleep on a doorbell.
TEST_CASE("wait_any sleeps where RINGPORT_FUTEX_WAITV says") {
  const char* env = std::getenv("RINGPORT_FUTEX_WAITV");
  const bool has_waitv = kernel_has_futex_waitv();
  const bool doorbell = (env && env[0] == '0') || !has_waitv;
  MESSAGE("RINGPORT_FUTEX_WAITV=" << std::string(env ? env : "(unset)")
                                  << std::string(has_waitv ? "" : ", no futex_waitv here (ENOSYS)")
                                  << ": expecting "
                                  << std::string(doorbell ? "the doorbell fallback" : "futex_waitv"));
  // Without the system call, wait_any() learns it at its first sleep.
  if (has_waitv) CHECK(detail::futex_waitv_enabled() == !doorbell);
  auto r = spsc<stamped>::create_local(4, pages::normal);
  REQUIRE(r);
  auto c = r->consumer(wait_policy::block);
  auto p = r->producer(wait_policy::block);
  REQUIRE((c && p));
  const waitable one[] = {c->readable()};
  std::atomic<std::uintptr_t> word{0};
  std::atomic<pid_t> waiter{0};
  std::atomic<int> got{-2};
  std::thread t([&] {
    // The doorbell this thread will sleep on (any word for futex_waitv).
    word = doorbell ? reinterpret_cast<std::uintptr_t>(
                          &detail::doorbell_table_of(one[0].bells)->bells[detail::own_doorbell()].seq)
                    : 0;
    waiter = this_tid();
    got = wait_any(one, clock::now() + 20s, wait_policy::block);
  });
  while (waiter.load() == 0) std::this_thread::yield();
  CHECK(wait_until_in_syscall(waiter.load(), doorbell ? SYS_futex : SYS_futex_waitv, 20s, word.load()));
  REQUIRE(p->push(make_item(0, 0)) == status::ok);
  t.join();
  CHECK(got.load() == 0);
  CHECK(detail::futex_waitv_enabled() == !doorbell);
}

// The same with every event count switched to full-fence mode at its first
// park (wakers fence, parks do not membarrier), and with membarrier on
// every park (never switched).
TEST_CASE("lost wake-ups: 8 threads, full-fence mode and membarrier-only") {
  for (auto rule : {detail::fence_switch::always, detail::fence_switch::never}) {
    INFO((rule == detail::fence_switch::always ? "always switch" : "never switch"));
    fence_switch_setup setup(rule);
    run_stress<spsc<stamped>>(mode::threads,
                              {.rings = 4, .capacity = 1, .policy = wait_policy::block, .items = 100'000});
    run_stress<mpmc<stamped>>(
        mode::threads,
        {.producers = 4, .consumers = 4, .capacity = 4, .policy = wait_policy::block, .items = 100'000});
  }
}

// Full-fence mode: under fence_switch::never parks leave an event count
// light; under `always` the first park switches it (its wakers then fence
// themselves, so later parks need no membarrier), and wake-ups still come.
// (The automatic rule depends on how long membarrier takes: not asserted.)
// TSan builds pair RMWs instead of fences.
TEST_CASE("parking switches an event count to full fences when told to") {
  if (detail::tsan_build) {
    MESSAGE("skipped: TSan builds do not use fences for the event counts");
    return;
  }
  fence_switch_setup rule(detail::fence_switch::never);
  auto r = spsc<stamped>::create_local(4, pages::normal);
  REQUIRE(r);
  auto p = r->producer(wait_policy::block);
  auto c = r->consumer(wait_policy::block);
  REQUIRE((p && c));
  // The control block, found from the consumer's waitable (its not_empty).
  const waitable one[] = {c->readable()};
  const auto* sh = reinterpret_cast<const detail::ring_shared*>(reinterpret_cast<const char*>(one[0].event) -
                                                                offsetof(detail::ring_shared, not_empty));
  stamped v{};
  CHECK(c->pop_for(v, 30ms) == status::timed_out);  // parks at least once
  CHECK(wait_any(one, clock::now() + 30ms, wait_policy::block) == -1);
  CHECK(detail::fence_mode_of(sh->not_empty.waiters.load()) == detail::fences_light);
  detail::set_fence_switch(detail::fence_switch::always);
  CHECK(c->pop_for(v, 30ms) == status::timed_out);
  CHECK(detail::fence_mode_of(sh->not_empty.waiters.load()) == detail::fences_full);
  CHECK(detail::fence_mode_of(sh->not_full.waiters.load()) ==
        detail::fences_light);  // nobody parked on a full ring
  std::thread t([&] { CHECK(c->pop_for(v, 20s) == status::ok); });
  std::this_thread::sleep_for(10ms);
  REQUIRE(p->push(make_item(0, 7)) == status::ok);
  t.join();
  CHECK(v.seq == 7);
}

TEST_CASE_TEMPLATE("timed calls time out at their deadline, not before", R, spsc<stamped>, mpsc<stamped>,
                   spmc<stamped>, mpmc<stamped>) {
  for (wait_policy policy : all_policies) {
    INFO(std::string(policy_name(policy)));
    auto r = R::create_local(4, pages::normal);
    REQUIRE(r);
    auto p = r->producer(policy);
    auto c = r->consumer(policy);
    REQUIRE(p);
    REQUIRE(c);
    const waitable readable[] = {c->readable()};
    std::array<stamped, 4> buf{};
    stamped v{};
    status why = status::ok;

    for (auto from_now : {-50ms, 0ms, 30ms}) {
      INFO("deadline in ", from_now.count(), " ms");
      // Empty ring: every consumer-side wait times out.
      expect_timeout(from_now, [&](auto d) { return c->pop_until(v, d) == status::timed_out; });
      expect_timeout(from_now, [&](auto d) {
        return c->pop_n_until(buf.data(), 3, d, &why) == 0 && why == status::timed_out;
      });
      expect_timeout(from_now,
                     [&](auto d) { return c->peek_until(2, d, &why).empty() && why == status::timed_out; });
      expect_timeout(from_now, [&](auto d) { return wait_any(readable, d, policy) == -1; });
      // Full ring: every producer-side wait times out.
      for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(p->try_push(make_item(0, i)) == status::ok);
      expect_timeout(from_now,
                     [&](auto d) { return p->push_until(make_item(0, 9), d) == status::timed_out; });
      expect_timeout(from_now, [&](auto d) {
        return p->push_n_until(buf.data(), 3, d, &why) == 0 && why == status::timed_out;
      });
      expect_timeout(from_now,
                     [&](auto d) { return p->claim_until(2, d, &why).empty() && why == status::timed_out; });
      REQUIRE(c->pop_n(buf.data(), 4) == 4);
    }

    // A deadline already past does not stop a call that can be done at once.
    const auto past = clock::now() - 1s;
    CHECK(p->push_until(make_item(0, 1), past) == status::ok);
    CHECK(wait_any(readable, past, policy) == 0);
    CHECK(c->pop_until(v, past) == status::ok);
    CHECK(v.seq == 1);
    const std::array<stamped, 3> three = {make_item(0, 2), make_item(0, 3), make_item(0, 4)};
    CHECK(p->push_n_until(three.data(), 3, past, &why) == 3);
    CHECK(why == status::ok);
    CHECK(c->pop_n_until(buf.data(), 2, past, &why) == 2);
    CHECK(why == status::ok);
    CHECK(buf[1].seq == 3);
    auto w = p->claim_until(1, past, &why);
    CHECK(w.size() == 1);
    CHECK(why == status::ok);
    p->commit();
    auto rd = c->peek_until(2, past, &why);
    REQUIRE(!rd.empty());  // one or two slots: a peek stops at the end of the buffer
    CHECK(rd[0].seq == 4);
    CHECK(why == status::ok);
    c->release();
    // ... and a batch that only partly fits stops at the deadline with what fit.
    while (c->pop_n(buf.data(), buf.size()) != 0) {
    }
    for (std::uint32_t i = 0; i < 3; ++i) REQUIRE(p->try_push(make_item(0, i)) == status::ok);
    CHECK(p->push_n_until(three.data(), 3, past, &why) == 1);
    CHECK(why == status::timed_out);
  }
}

TEST_CASE("close wakes every waiter (threads)") {
  for (wait_policy p : parking_policies) run_close_while_waiting<mpmc<stamped>>(mode::threads, p);
}

// A publish of k items wakes at most k of the N > k consumers parked on a
// ring (counted registrations: detail/event_count.hpp, wake_waiters()),
// counted by what FUTEX_WAKE itself reported (detail::wake_tally_now()).
// Every consumer still gets exactly one item.
TEST_CASE("a publish of k items wakes at most k of the parked consumers") {
  using R = mpmc<stamped>;
  constexpr unsigned n = 4;
  const std::string name = unique_name("wake-count");
  R ring = create_ring<R>(name, 16);
  std::array<std::atomic<std::uint64_t>, n> got{};  // seq + 1 of the item popped
  std::atomic<unsigned> done{0};
  workers w(mode::threads);
  for (unsigned i = 0; i < n; ++i)
    w.start([&, i] {
      auto c = ring.consumer(wait_policy::block);
      if (!c) return 1;
      stamped v{};
      if (c->pop(v) != status::ok || v.check != check_word(v.producer, v.seq)) return 2;
      got[i].store(v.seq + 1);
      done.fetch_add(1);
      return 0;
    });
  auto p = ring.producer();
  REQUIRE(p);
  // Parks: every consumer still waiting sits in FUTEX_WAIT (registered).
  auto all_parked = [&] {
    for (unsigned i = 0; i < n; ++i)
      if (got[i].load() == 0 && !wait_until_in_syscall(w.id(i), SYS_futex)) return false;
    return true;
  };
  auto until_done = [&](unsigned k) {
    const auto give_up = clock::now() + 20s;
    while (done.load() < k && clock::now() < give_up) std::this_thread::sleep_for(1ms);
    return done.load() == k;
  };
  std::uint64_t seq = 0;
  for (unsigned k : {1u, 2u, 1u}) {
    INFO("publish of " << k << " with " << n - done.load() << " parked");
    REQUIRE(all_parked());
    const detail::wake_tally before = detail::wake_tally_now();
    std::array<stamped, 2> batch{};
    for (unsigned j = 0; j < k; ++j) batch[j] = make_item(0, seq++);
    REQUIRE(p->push_n(batch.data(), k) == k);  // one publish of k items
    const detail::wake_tally after = detail::wake_tally_now();
    CHECK(after.calls - before.calls == 1);
    CHECK(after.woken - before.woken <= k);
    REQUIRE(until_done(static_cast<unsigned>(seq)));
  }
  for (unsigned i = 0; i < n; ++i) CHECK(w.join(i) == 0);
  std::array<bool, n> seen{};
  for (auto& g : got) {
    REQUIRE(g.load() >= 1);
    REQUIRE(g.load() <= n);
    CHECK(!seen[g.load() - 1]);
    seen[g.load() - 1] = true;
  }
  CHECK(R::remove(name));
}
