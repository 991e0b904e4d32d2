// Waiting scenarios written once and run in both worker modes: thread mode
// (test_wait_threads, also under TSan) and process mode (test_wait_processes,
// named rings opened by each child).
//  - run_stress: lost wake-ups. Producers and consumers on tiny rings, so
//    that nearly every operation waits; stamped items prove that each one
//    arrives exactly once and in its producer's order; a watchdog fails the
//    test if deliveries stop.
//  - run_close_while_waiting: close() wakes every parked waiter on both sides.
#pragma once

#include <doctest/doctest.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ringport/ring.hpp"
#include "wait_harness.hpp"

namespace wait_test {

constexpr const char* policy_name(ringport::wait_policy p) noexcept {
  switch (p) {
    case ringport::wait_policy::busy_spin:
      return "busy_spin";
    case ringport::wait_policy::adaptive:
      return "adaptive";
    case ringport::wait_policy::block:
      return "block";
  }
  return "?";
}

/// An item that says who pushed it, its number in that producer's sequence,
/// and a check word over both (catches torn, stale or foreign slots).
struct stamped {
  std::uint32_t producer;
  std::uint32_t check;
  std::uint64_t seq;
};

constexpr std::uint32_t check_word(std::uint32_t producer, std::uint64_t seq) noexcept {
  std::uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ (std::uint64_t{producer} << 40);
  x ^= x >> 31;
  return static_cast<std::uint32_t>(x ^ (x >> 32));
}

constexpr stamped make_item(std::uint32_t producer, std::uint64_t seq) noexcept {
  return {producer, check_word(producer, seq), seq};
}

/// A worker's own ring object: in thread mode a copy of the parent's (same
/// mapping), in process mode a fresh open() by name (another mapping of the
/// same segment). Invalid (valid() false) if open failed.
template <class R>
R worker_ring(mode m, const R& parents, const std::string& name) {
  if (m == mode::threads) return parents;
  auto r = R::open(name);
  return r ? std::move(*r) : R{};
}

template <class R>
R create_ring(const std::string& name, std::size_t capacity) {
  auto r = R::create(name, {.capacity = capacity, .backing = ringport::pages::normal});
  REQUIRE_MESSAGE(r, r.error().message);
  return std::move(*r);
}

struct stress_config {
  std::size_t rings = 1;      // independent rings running side by side
  std::size_t producers = 1;  // per ring
  std::size_t consumers = 1;  // per ring
  std::size_t capacity = 1;
  ringport::wait_policy policy = ringport::wait_policy::block;
  std::uint64_t items = 100'000;  // over all rings, release build (see work_divisor)
};

struct stress_counters {
  std::atomic<std::uint64_t> popped;  // the watchdog's progress counter
  failure_log failures;
};

template <class R>
void run_stress(mode m, const stress_config& cfg) {
  using ringport::status;
  const std::size_t producers_total = cfg.rings * cfg.producers;
  const std::uint64_t per_producer = std::max<std::uint64_t>(1, cfg.items / work_divisor / producers_total);
  const std::uint64_t total = per_producer * producers_total;
  const std::string what = std::string(to_string(R::kind)) + " x" + std::to_string(cfg.rings) + " " +
                           std::to_string(cfg.producers) + "P/" + std::to_string(cfg.consumers) + "C cap " +
                           std::to_string(cfg.capacity) + " " + policy_name(cfg.policy) + " (" +
                           to_string(m) + ", " + std::to_string(total) + " items)";
  INFO(what);

  shared_array<stress_counters> counters;
  shared_array<std::atomic<std::uint8_t>> seen(total);  // deliveries per (producer, seq)
  std::vector<std::string> names;
  std::vector<R> rings;
  for (std::size_t k = 0; k < cfg.rings; ++k) {
    names.push_back(unique_name("stress"));
    rings.push_back(create_ring<R>(names.back(), cfg.capacity));
  }

  workers w(m);
  auto describe = [&] {
    std::string d =
        what + ": popped " + std::to_string(counters->popped.load()) + " of " + std::to_string(total);
    for (std::size_t k = 0; k < cfg.rings; ++k)
      d += "; ring " + std::to_string(k) + " holds " + std::to_string(rings[k].size()) +
           (rings[k].closed() ? " (closed)" : "");
    return d;
  };
  watchdog dog(what, counters->popped, describe, [&] { w.kill_all(); });

  auto consume = [&](std::size_t k) -> int {
    failure_log& log = counters->failures;
    R ring = worker_ring(m, rings[k], names[k]);
    if (!ring.valid()) return fail(log, "consumer: open failed"), 1;
    auto c = ring.consumer(cfg.policy);
    if (!c) return fail(log, "consumer: %s", c.error().message.c_str()), 1;
    std::vector<std::uint64_t> next(cfg.producers, 0);  // per producer: lowest seq still expected
    const auto first_producer = static_cast<std::uint32_t>(k * cfg.producers);
    stamped v{};
    for (;;) {
      const status s = c->pop(v);
      if (s == status::closed) return 0;
      const std::uint64_t local = v.producer - first_producer;  // wraps (fails) below the range
      const char* bad = nullptr;
      if (s != status::ok)
        bad = to_string(s);
      else if (local >= cfg.producers || v.seq >= per_producer)
        bad = "an item from nowhere";
      else if (v.check != check_word(v.producer, v.seq))
        bad = "a torn item";
      else if (cfg.consumers == 1 ? v.seq != next[local] : v.seq < next[local])
        bad = "an item out of its producer's order";  // one consumer sees all of them, several see a rising
                                                      // subset
      else if (seen[v.producer * per_producer + v.seq].fetch_add(1) != 0)
        bad = "a duplicate";
      if (bad) {
        fail(log, "ring %zu: pop gave %s (producer %u seq %llu check %08x; expected seq %llu)", k, bad,
             v.producer, static_cast<unsigned long long>(v.seq), v.check,
             static_cast<unsigned long long>(local < cfg.producers ? next[local] : 0));
        ring.close();  // unblock everyone: the test fails fast instead of via the watchdog
        return 1;
      }
      next[local] = v.seq + 1;
      counters->popped.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto produce = [&](std::size_t k, std::uint32_t producer) -> int {
    failure_log& log = counters->failures;
    R ring = worker_ring(m, rings[k], names[k]);
    if (!ring.valid()) return fail(log, "producer: open failed"), 1;
    auto p = ring.producer(cfg.policy);
    if (!p) return fail(log, "producer: %s", p.error().message.c_str()), 1;
    for (std::uint64_t seq = 0; seq < per_producer; ++seq)
      if (const status s = p->push(make_item(producer, seq)); s != status::ok)
        return fail(log, "producer %u: push of seq %llu returned %s", producer,
                    static_cast<unsigned long long>(seq), to_string(s)),
               1;
    return 0;
  };

  const auto started = clock::now();
  // Consumers first, so that they park on empty rings before anything moves.
  std::vector<std::size_t> consumers, producers;
  for (std::size_t k = 0; k < cfg.rings; ++k)
    for (std::size_t j = 0; j < cfg.consumers; ++j)
      consumers.push_back(w.start([&, k] { return consume(k); }));
  for (std::size_t k = 0; k < cfg.rings; ++k)
    for (std::size_t j = 0; j < cfg.producers; ++j) {
      const auto id = static_cast<std::uint32_t>(k * cfg.producers + j);
      producers.push_back(w.start([&, k, id] { return produce(k, id); }));
    }
  for (std::size_t i : producers) CHECK(w.join(i) == 0);
  for (R& r : rings) r.close();  // consumers drain, then see closed
  for (std::size_t i : consumers) CHECK(w.join(i) == 0);
  MESSAGE(what << ": " << std::chrono::duration<double>(clock::now() - started).count() << " s");

  CHECK_MESSAGE(counters->failures.count.load() == 0, counters->failures.first);
  CHECK(counters->popped.load() == total);
  std::uint64_t lost = 0, doubled = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto n = seen[i].load();
    lost += n == 0;
    doubled += n > 1;
  }
  CHECK(lost == 0);
  CHECK(doubled == 0);
  for (const auto& n : names) CHECK(R::remove(n));
}

/// Waiters parked in pop() on an empty ring and in push() on a full one all
/// return status::closed when the parent closes the rings; the items queued
/// before the close are still drained, in order, and nothing else.
template <class R>
void run_close_while_waiting(mode m, ringport::wait_policy policy, std::size_t per_side = 3) {
  using ringport::status;
  const std::string what = std::string(to_string(m)) + ", " + policy_name(policy);
  INFO(what);
  const std::string empty_name = unique_name("close-empty"), full_name = unique_name("close-full");
  R empty = create_ring<R>(empty_name, 4);
  R full = create_ring<R>(full_name, 4);
  auto filler = full.producer();
  REQUIRE(filler);
  for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(filler->try_push(make_item(0, i)) == status::ok);

  shared_array<std::atomic<std::uint64_t>> returned;  // the watchdog's progress counter
  workers w(m);
  watchdog dog("close while waiting", returned[0], {}, [&] { w.kill_all(); });
  std::vector<std::size_t> ids;
  for (std::size_t i = 0; i < per_side; ++i) {
    ids.push_back(w.start([&] {
      R ring = worker_ring(m, empty, empty_name);
      if (!ring.valid()) return 100;
      auto c = ring.consumer(policy);
      if (!c) return 101;
      stamped v{};
      const status s = c->pop(v);
      returned->fetch_add(1);
      return static_cast<int>(s);
    }));
    ids.push_back(w.start([&, i] {
      R ring = worker_ring(m, full, full_name);
      if (!ring.valid()) return 100;
      auto p = ring.producer(policy);
      if (!p) return 101;
      const status s = p->push(make_item(1, i));
      returned->fetch_add(1);
      return static_cast<int>(s);
    }));
  }
  for (std::size_t i : ids) CHECK_MESSAGE(wait_until_in_syscall(w.id(i), SYS_futex), "worker never parked");
  CHECK(returned->load() == 0);
  empty.close();
  full.close();
  for (std::size_t i : ids) CHECK(w.join(i) == static_cast<int>(status::closed));

  // Only the four items from before the close, in order; then closed.
  auto c = full.consumer();
  REQUIRE(c);
  stamped v{};
  for (std::uint64_t i = 0; i < 4; ++i) {
    REQUIRE(c->pop(v) == status::ok);
    CHECK(v.producer == 0);
    CHECK(v.seq == i);
  }
  CHECK(c->pop(v) == status::closed);
  CHECK(R::remove(empty_name));
  CHECK(R::remove(full_name));
}

}  // namespace wait_test

namespace wait_test {

/// Sets detail::set_fence_switch() for the life of the object (forked
/// workers inherit it), then restores the automatic rule.
class fence_switch_setup {
 public:
  explicit fence_switch_setup(ringport::detail::fence_switch s) { ringport::detail::set_fence_switch(s); }
  ~fence_switch_setup() { ringport::detail::set_fence_switch(ringport::detail::fence_switch::automatic); }
  fence_switch_setup(const fence_switch_setup&) = delete;
  fence_switch_setup& operator=(const fence_switch_setup&) = delete;
};

/// How wait_any() sleeps in a scenario: futex_waitv, or the doorbell
/// fallback of kernels before 5.16 (forced with set_futex_waitv(false)).
enum class sleep_via { futex_waitv, doorbell };

inline const char* to_string(sleep_via v) noexcept {
  return v == sleep_via::futex_waitv ? "futex_waitv" : "doorbell";
}

/// Selects the mechanism and makes wait_any()'s slices an hour long for the
/// life of the object, so that a lost wake-up hangs instead of costing one
/// slice: the scenario's watchdog turns that into a failure.
class wait_any_setup {
 public:
  explicit wait_any_setup(sleep_via v) : was_(ringport::detail::futex_waitv_enabled()) {
    ringport::detail::set_futex_waitv(v == sleep_via::futex_waitv);
    ringport::detail::set_wait_any_slice(std::chrono::hours(1));
  }
  ~wait_any_setup() {
    ringport::detail::set_futex_waitv(was_);
    ringport::detail::set_wait_any_slice(ringport::detail::peer_poll);
  }
  wait_any_setup(const wait_any_setup&) = delete;
  wait_any_setup& operator=(const wait_any_setup&) = delete;

 private:
  bool was_;
};

/// Lost wake-ups in wait_any(): one producer per ring (cfg.rings of them, on
/// rings of cfg.capacity slots) and one consumer that sleeps in wait_any()
/// over all of them and drains whatever is ready. Checks exactly-once and
/// per-producer order; a lost wake-up stops deliveries and trips the watchdog.
template <class R>
void run_wait_any_stress(mode m, sleep_via via, const stress_config& cfg) {
  using ringport::status;
  const std::uint64_t per_producer = std::max<std::uint64_t>(1, cfg.items / work_divisor / cfg.rings);
  const std::uint64_t total = per_producer * cfg.rings;
  const std::string what = std::string("wait_any via ") + to_string(via) + " over " +
                           std::to_string(cfg.rings) + " " + to_string(R::kind) + " rings cap " +
                           std::to_string(cfg.capacity) + " " + policy_name(cfg.policy) + " (" +
                           to_string(m) + ", " + std::to_string(total) + " items)";
  INFO(what);
  REQUIRE(cfg.rings <= ringport::wait_any_max);
  wait_any_setup setup(via);
  shared_array<stress_counters> counters;
  std::vector<std::string> names;
  std::vector<R> rings;
  for (std::size_t k = 0; k < cfg.rings; ++k) {
    names.push_back(unique_name("any-stress"));
    rings.push_back(create_ring<R>(names.back(), cfg.capacity));
  }
  workers w(m);
  watchdog dog(
      what, counters->popped, [&] { return what + ": popped " + std::to_string(counters->popped.load()); },
      [&] { w.kill_all(); });
  for (std::size_t k = 0; k < cfg.rings; ++k)
    w.start([&, k]() -> int {
      R ring = worker_ring(m, rings[k], names[k]);
      if (!ring.valid()) return fail(counters->failures, "producer %zu: open failed", k), 1;
      auto p = ring.producer(cfg.policy);
      if (!p) return fail(counters->failures, "producer %zu: %s", k, p.error().message.c_str()), 1;
      for (std::uint64_t seq = 0; seq < per_producer; ++seq)
        if (const status s = p->push(make_item(static_cast<std::uint32_t>(k), seq)); s != status::ok)
          return fail(counters->failures, "producer %zu: push returned %s", k, to_string(s)), 1;
      return 0;
    });

  // The consumer is this thread: sleep in wait_any, then drain every ring.
  std::vector<typename R::consumer_handle> cons;
  std::vector<ringport::waitable> targets;
  for (R& r : rings) {
    auto c = r.consumer(cfg.policy);
    REQUIRE(c);
    cons.push_back(std::move(*c));
  }
  for (auto& c : cons) targets.push_back(c.readable());
  std::vector<std::uint64_t> next(cfg.rings, 0);
  std::uint64_t popped = 0, wakes = 0;
  const auto started = clock::now();
  bool bad = false;
  while (popped < total && !bad) {
    const int r = ringport::wait_any(targets, clock::now() + std::chrono::hours(1), cfg.policy);
    if (r < 0) continue;  // cannot happen before the deadline; the loop re-waits
    ++wakes;
    stamped v{};
    for (std::size_t k = 0; k < cfg.rings && !bad; ++k)
      while (cons[k].try_pop(v) == status::ok) {
        if (v.producer != k || v.seq != next[k] || v.check != check_word(v.producer, v.seq)) {
          fail(counters->failures, "ring %zu gave producer %u seq %llu (expected seq %llu)", k, v.producer,
               static_cast<unsigned long long>(v.seq), static_cast<unsigned long long>(next[k]));
          bad = true;
          break;
        }
        ++next[k];
        ++popped;
        counters->popped.fetch_add(1, std::memory_order_relaxed);
      }
  }
  if (bad)
    for (R& r : rings) r.close();  // producers stop with `closed`; the failure is reported below
  for (std::size_t i = 0; i < w.size(); ++i) {
    const int code = w.join(i);
    if (!bad) CHECK(code == 0);
  }
  MESSAGE(what << ": " << std::chrono::duration<double>(clock::now() - started).count() << " s, " << wakes
               << " wake-ups");
  CHECK_MESSAGE(counters->failures.count.load() == 0, counters->failures.first);
  CHECK(popped == total);
  for (std::size_t k = 0; k < cfg.rings; ++k) CHECK(next[k] == per_producer);
  for (const auto& n : names) CHECK(R::remove(n));
}

}  // namespace wait_test
