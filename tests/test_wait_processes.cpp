// Waiting across processes (fork; every child opens the named ring itself):
// lost wake-up stress, close while waiting, cross-process wake-ups, peer
// death while parked, wait_any over rings fed by other processes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "ringport/detail/doorbell.hpp"
#include "ringport/ring.hpp"
#include "ringport/wait.hpp"
#include "wait_harness.hpp"
#include "wait_scenarios.hpp"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

using namespace ringport;
using namespace wait_test;

namespace {

constexpr std::array<wait_policy, 2> parking_policies = {wait_policy::block, wait_policy::adaptive};

// The state letter of /proc/<pid>/stat ('Z' for a zombie), or '?'.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : '?';
}

// A child that holds a role on the ring (the producer's if as_producer) and
// then does nothing until killed.
template <class R>
int hold_role_until_killed(const R& parents, const std::string& name, bool as_producer,
                           std::atomic<std::uint32_t>& attached) {
  R ring = worker_ring(mode::processes, parents, name);
  if (!ring.valid()) return 1;
  auto hold = [&](auto handle) -> int {
    if (!handle) return 2;
    attached.store(1);
    for (;;) ::pause();
  };
  return as_producer ? hold(ring.producer()) : hold(ring.consumer());
}

// Runs call() (a blocking ring call) on this thread while a helper thread
// SIGKILLs `victim` as soon as this thread is parked in FUTEX_WAIT. Returns
// the call's status and how long after the kill it returned (none if this
// thread never parked). Throws nothing while the helper runs.
struct killed_outcome {
  status s = status::ok;
  std::optional<clock::duration> after_kill;
};
template <class Call>
killed_outcome call_while_killing(pid_t victim, Call&& call) {
  const pid_t me = this_tid();
  std::atomic<clock::rep> killed_at{0};
  std::thread killer([&] {
    if (!wait_until_in_syscall(me, SYS_futex)) return;
    killed_at.store(clock::now().time_since_epoch().count());
    ::kill(victim, SIGKILL);
  });
  killed_outcome out;
  out.s = call();
  const auto returned = clock::now();
  killer.join();
  if (killed_at.load() != 0) out.after_kill = returned - clock::time_point(clock::duration(killed_at.load()));
  return out;
}

// The parent parks in pop() (or push() on a full ring); its only peer, a child,
// is killed with SIGKILL and left unreaped (a zombie). The parked call must
// return status::peer_gone within peer_poll plus slack.
template <class R>
void peer_dies_while_parked(bool parent_consumes, wait_policy policy) {
  const std::string what = std::string(to_string(R::kind)) + (parent_consumes ? ": consumer" : ": producer") +
                           " parked, " + policy_name(policy);
  INFO(what);
  const std::string name = unique_name("peer-death");
  R ring = create_ring<R>(name, 4);
  shared_array<std::atomic<std::uint32_t>> attached;
  workers w(mode::processes);
  w.start([&] { return hold_role_until_killed(ring, name, parent_consumes, attached[0]); });
  const auto give_up = clock::now() + 20s;
  while (attached[0].load() == 0 && clock::now() < give_up) std::this_thread::sleep_for(1ms);
  REQUIRE(attached[0].load() == 1);

  const pid_t child = w.id(0);
  killed_outcome out;
  if (parent_consumes) {
    auto c = ring.consumer(policy);
    REQUIRE(c);
    stamped v{};
    out = call_while_killing(child, [&] { return c->pop(v); });
  } else {
    auto p = ring.producer(policy);
    REQUIRE(p);
    for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(p->try_push(make_item(0, i)) == status::ok);
    out = call_while_killing(child, [&] { return p->push(make_item(0, 4)); });
  }
  REQUIRE_MESSAGE(out.after_kill, "the call never parked");
  CHECK(proc_state(child) == 'Z');  // still unreaped: a zombie counts as dead
  CHECK(out.s == status::peer_gone);
  CHECK(*out.after_kill < generous);
  CHECK(w.join(0) == 128 + SIGKILL);
  CHECK(R::remove(name));
}

}  // namespace

// Four processes per run: two spsc pairs, or two producers and two consumers
// on one mpmc ring.
TEST_CASE("lost wake-ups: 4 processes, tiny rings") {
  for (wait_policy p : parking_policies) {
    const std::uint64_t n =
        p == wait_policy::block ? 100'000 : 200'000;  // block: several system calls per item
    run_stress<spsc<stamped>>(mode::processes, {.rings = 2, .capacity = 1, .policy = p, .items = n});
    run_stress<mpmc<stamped>>(mode::processes,
                              {.producers = 2, .consumers = 2, .capacity = 2, .policy = p, .items = n});
    run_stress<mpsc<stamped>>(mode::processes, {.producers = 3, .capacity = 4, .policy = p, .items = n / 2});
  }
}

// One waiter in wait_any over four rings of one slot, each fed by its own
// producer process, through futex_waitv and through the doorbell fallback.
TEST_CASE("wait_any lost wake-ups: 4 producer processes, one waiter") {
  for (sleep_via via : {sleep_via::futex_waitv, sleep_via::doorbell})
    for (wait_policy p : parking_policies)
      run_wait_any_stress<spsc<stamped>>(mode::processes, via,
                                         {.rings = 4, .capacity = 1, .policy = p, .items = 100'000});
}

TEST_CASE("lost wake-ups: 4 processes, full-fence mode and membarrier-only") {
  for (auto rule : {detail::fence_switch::always, detail::fence_switch::never}) {
    INFO((rule == detail::fence_switch::always ? "always switch" : "never switch"));
    fence_switch_setup setup(rule);
    run_stress<spsc<stamped>>(mode::processes,
                              {.rings = 2, .capacity = 1, .policy = wait_policy::block, .items = 100'000});
    run_stress<mpmc<stamped>>(
        mode::processes,
        {.producers = 2, .consumers = 2, .capacity = 2, .policy = wait_policy::block, .items = 100'000});
  }
}

TEST_CASE("close wakes every waiter (processes)") {
  for (wait_policy p : parking_policies) run_close_while_waiting<mpmc<stamped>>(mode::processes, p);
}

// A consumer parked (block) in a child wakes from a push in the parent. A
// FUTEX_WAKE that never reached it (a private futex, or one keyed on the
// wrong mapping) would still let it see the item at its next re-check, one
// peer_poll (50 ms) after parking: so over several rounds the median delay
// must be well under that. A real wake-up takes microseconds.
TEST_CASE("a push in one process wakes a consumer parked in another") {
  constexpr std::size_t rounds = 9;
  struct delivery {
    std::atomic<std::uint64_t> seq;
    std::atomic<clock::rep> at;  // steady_clock (CLOCK_MONOTONIC): the same clock in every process
    std::atomic<std::uint32_t> done;
  };
  const std::string name = unique_name("wake");
  auto ring = create_ring<spsc<stamped>>(name, 4);
  auto p = ring.producer(wait_policy::block);
  REQUIRE(p);
  shared_array<delivery> got(rounds);
  workers w(mode::processes);
  w.start([&] {
    auto mine = worker_ring(mode::processes, ring, name);
    if (!mine.valid()) return 1;
    auto c = mine.consumer(wait_policy::block);
    if (!c) return 2;
    for (std::size_t i = 0; i < rounds; ++i) {
      stamped v{};
      if (c->pop(v) != status::ok) return 3;
      got[i].seq.store(v.seq);
      got[i].at.store(clock::now().time_since_epoch().count());
      got[i].done.store(1);
    }
    return 0;
  });

  std::vector<clock::duration> delays;
  for (std::size_t i = 0; i < rounds; ++i) {
    REQUIRE_MESSAGE(wait_until_in_syscall(w.id(0), SYS_futex), "the consumer never parked");
    const auto pushed = clock::now();
    REQUIRE(p->try_push(make_item(0, i)) == status::ok);
    while (got[i].done.load() == 0 && clock::now() < pushed + generous) std::this_thread::sleep_for(100us);
    REQUIRE_MESSAGE(got[i].done.load() == 1, "the consumer did not receive the item within 2 s");
    CHECK(got[i].seq.load() == i);
    delays.push_back(clock::time_point(clock::duration(got[i].at.load())) - pushed);
  }
  CHECK(w.join(0) == 0);
  std::sort(delays.begin(), delays.end());
  const auto median = delays[rounds / 2];
  MESSAGE("cross-process wake-up delay: median "
          << std::chrono::duration_cast<std::chrono::microseconds>(median).count() << " us, max "
          << std::chrono::duration_cast<std::chrono::microseconds>(delays.back()).count() << " us");
  CHECK(median < detail::peer_poll / 2);
  CHECK(spsc<stamped>::remove(name));
}

TEST_CASE("a parked call returns peer_gone when its only peer is killed") {
  for (wait_policy policy : parking_policies) {
    for (bool parent_consumes : {true, false}) {
      peer_dies_while_parked<spsc<stamped>>(parent_consumes, policy);
      peer_dies_while_parked<mpmc<stamped>>(parent_consumes, policy);
    }
  }
}

// Three children feed three rings (three kinds) one after the other, each
// only once the parent sleeps (in futex_waitv, or in FUTEX_WAIT on its own
// doorbell for the fallback); every wake-up names the ring that has data, and
// in the fallback each one comes with a ring of the parent's doorbell. Then,
// with nothing arriving, wait_any gives -1 at the deadline.
TEST_CASE("wait_any over three rings fed by three processes") {
  for (const auto& round : {std::pair{sleep_via::futex_waitv, wait_policy::block},
                            std::pair{sleep_via::futex_waitv, wait_policy::adaptive},
                            std::pair{sleep_via::doorbell, wait_policy::block},
                            std::pair{sleep_via::doorbell, wait_policy::adaptive}}) {
    // Plain variables, not a structured binding: lambdas (INFO's, feed) capture
    // them, which clang before 16 refuses for bindings.
    const sleep_via via = round.first;
    const wait_policy policy = round.second;
    INFO(to_string(via), ", ", policy_name(policy));
    if (via == sleep_via::futex_waitv && !kernel_has_futex_waitv()) {
      // wait_any falls back to the doorbells (their rounds below): nobody sleeps in futex_waitv.
      MESSAGE("no futex_waitv here (ENOSYS): the futex_waitv rounds are the doorbell rounds");
      continue;
    }
    wait_any_setup setup(via);
    const std::array<std::string, 3> names = {unique_name("any"), unique_name("any"), unique_name("any")};
    auto r0 = create_ring<spsc<stamped>>(names[0], 4);
    auto r1 = create_ring<mpsc<stamped>>(names[1], 4);
    auto r2 = create_ring<mpmc<stamped>>(names[2], 4);
    auto c0 = r0.consumer(policy);
    auto c1 = r1.consumer(policy);
    auto c2 = r2.consumer(policy);
    REQUIRE((c0 && c1 && c2));
    const std::array<waitable, 3> targets = {c0->readable(), c1->readable(), c2->readable()};
    constexpr std::array<std::uint32_t, 3> order = {2, 0, 1};  // which ring is fed at each step
    // Where the parent sleeps: futex_waitv (any arguments), or FUTEX_WAIT on
    // this thread's doorbell in the domain's table, shared by all three rings.
    long sleep_call = SYS_futex_waitv;
    std::uintptr_t sleep_word = 0;
    std::atomic<std::uint32_t>* bell = nullptr;
    if (via == sleep_via::doorbell) {
      REQUIRE(targets[0].bells != nullptr);
      REQUIRE((targets[1].bells == targets[0].bells && targets[2].bells == targets[0].bells));
      detail::doorbell_table* table = detail::doorbell_table_of(targets[0].bells);
      REQUIRE(table != nullptr);
      bell = &table->bells[detail::own_doorbell()].seq;
      sleep_call = SYS_futex;
      sleep_word = reinterpret_cast<std::uintptr_t>(bell);
    }

    shared_array<std::atomic<std::uint32_t>> step;
    const pid_t parent = this_tid();
    auto feed = [&](const auto& parents, std::uint32_t k) -> int {
      auto ring = worker_ring(mode::processes, parents, names[k]);
      if (!ring.valid()) return 1;
      auto p = ring.producer(policy);
      if (!p) return 2;
      const std::uint32_t my_step =
          static_cast<std::uint32_t>(std::find(order.begin(), order.end(), k) - order.begin());
      const auto give_up = clock::now() + 20s;
      while (step[0].load() != my_step)
        if (clock::now() > give_up)
          return 3;
        else
          std::this_thread::sleep_for(200us);
      if (!wait_until_in_syscall(parent, sleep_call, 20s, sleep_word)) return 4;
      for (std::uint64_t seq = 0; seq < 2; ++seq)
        if (p->push(make_item(k, seq)) != status::ok) return 5;
      return 0;
    };
    workers w(mode::processes);
    w.start([&] { return feed(r0, 0); });
    w.start([&] { return feed(r1, 1); });
    w.start([&] { return feed(r2, 2); });

    auto take_two = [&](auto& c, std::uint32_t k) {
      for (std::uint64_t seq = 0; seq < 2; ++seq) {
        stamped v{};
        REQUIRE(c->pop_until(v, clock::now() + generous) == status::ok);
        CHECK(v.producer == k);
        CHECK(v.seq == seq);
      }
    };
    for (std::uint32_t s = 0; s < 3; ++s) {
      const std::uint32_t rung_before = bell ? bell->load() : 0;
      const int ready = wait_any(targets, clock::now() + 20s, policy);
      REQUIRE(ready == static_cast<int>(order[s]));
      if (bell) CHECK(bell->load() != rung_before);  // the feeder's push rang our doorbell
      if (ready == 0) take_two(c0, 0);
      if (ready == 1) take_two(c1, 1);
      if (ready == 2) take_two(c2, 2);
      step[0].store(s + 1);
    }
    for (std::size_t i = 0; i < 3; ++i) CHECK(w.join(i) == 0);

    const auto deadline = clock::now() + 30ms;
    CHECK(wait_any(targets, deadline, policy) == -1);
    const auto end = clock::now();
    CHECK(end >= deadline);
    CHECK(end < deadline + generous);
    CHECK(spsc<stamped>::remove(names[0]));
    CHECK(mpsc<stamped>::remove(names[1]));
    CHECK(mpmc<stamped>::remove(names[2]));
  }
}

// A consumer SIGKILLed while parked leaves its registration behind (wakers,
// not waiters, take registrations): it costs the publishes after it at most
// one needless FUTEX_WAKE in all, which wakes nobody.
TEST_CASE("a dead parked consumer costs at most one needless wake-up") {
  using R = mpmc<stamped>;
  const std::string name = unique_name("dead-waiter");
  R ring = create_ring<R>(name, 16);
  workers w(mode::processes);
  w.start([&] {
    R r = worker_ring(mode::processes, ring, name);
    if (!r.valid()) return 1;
    auto c = r.consumer(wait_policy::block);
    if (!c) return 2;
    stamped v{};
    (void)c->pop(v);
    return 3;  // never: it is killed while parked
  });
  REQUIRE(wait_until_in_syscall(w.id(0), SYS_futex));
  ::kill(w.id(0), SIGKILL);
  CHECK(w.join(0) == 128 + SIGKILL);
  auto p = ring.producer();
  REQUIRE(p);
  const detail::wake_tally before = detail::wake_tally_now();
  for (std::uint32_t i = 0; i < 8; ++i) REQUIRE(p->try_push(make_item(0, i)) == status::ok);
  const detail::wake_tally after = detail::wake_tally_now();
  CHECK(after.calls - before.calls <= 1);
  CHECK(after.woken == before.woken);
  CHECK(R::remove(name));
}
