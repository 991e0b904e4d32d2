// The event count (ringport/detail/event_count.hpp) under the Relacy model
// checker: no lost wake-up with light fences, full fences and a switch
// between them, with herd and counted waiters (each publish wakes one
// sleeper unless a herd waiter is registered), and at most one needless
// wake-up for a dead waiter; then every mutant must fail some check. README.md beside this file gives the
// model and its argument. Exit 0: as expected; 1: a check failed on the
// shipped protocol or a mutant survived.
//
// Usage: event_count_model [--long] [--only NAME]
//   --only CONFIG, --check CHECK: run only those
//   --long   also a random search (deeper stale reads) of 200000 iterations
//            per check
#include <cstdlib>
#include <cstring>
#include <string>

#include "relacy_env.hpp"

namespace model {
namespace {

using ringport::detail::ec_mutation;
using ringport::detail::fences_full;
using ringport::detail::fences_light;
using ringport::detail::wake_share;

// ---------------------------------------------------------------------------
// Configurations: the shipped protocols and the mutants.
struct shipped {
  static constexpr bool rmw_pairing = false;
  static constexpr ec_mutation mutation = ec_mutation::none;
  static constexpr bool no_wait_fence = false;
  static constexpr bool light_unregistered = false;
  static constexpr bool membarrier_is_fence = false;
};
struct shipped_tsan : shipped {
  static constexpr bool rmw_pairing = true;
};
template <ec_mutation M>
struct mutant : shipped {
  static constexpr ec_mutation mutation = M;
};
struct drop_wait_fence : shipped {
  static constexpr bool no_wait_fence = true;
};
struct plain_membarrier : shipped {
  static constexpr bool membarrier_is_fence = true;
};
struct light_everywhere : shipped {
  static constexpr bool light_unregistered = true;
};
template <ec_mutation M>
struct tsan_mutant : shipped_tsan {
  static constexpr ec_mutation mutation = M;
};

// ---------------------------------------------------------------------------
// Checks: small systems of wakers, waiters and dead waiters on one count.
enum class role : std::uint8_t { none, waker, waiter, taker, quick_taker, dead, dead_taker };

// A waker publishes items one at a time, each with a notify for one item
// (k = 1, as a ring's try_push). A waiter (herd: registers with the herd
// bit) waits until n items were published, taking none; a taker (counted)
// takes n items, one at a time, as ring<T>'s pop does; a quick taker tries
// once before it registers (wait_loop's spin phase).
struct actor {
  role r = role::none;
  unsigned n = 0;  // waker: items it publishes; waiter: items it waits for; taker: items it takes
};

struct check {
  const char* name;
  const char* what;
  unsigned threads;
  actor actors[kernel::max_threads];
  unsigned registered = ~0u;  // processes registered for membarrier (bit per thread)
  std::uint32_t mode = fences_light;
  unsigned switch_choice = 0;  // should_switch(): 0 no, 1 yes, 2 the checker chooses
  unsigned max_slow = ~0u;     // most slow notifies (FUTEX_WAKE) one waker may make
};

constexpr actor waker(unsigned n) {
  return {role::waker, n};
}
constexpr actor waiter(unsigned n) {
  return {role::waiter, n};
}
constexpr actor taker(unsigned n) {
  return {role::taker, n};
}
constexpr actor quick_taker(unsigned n) {
  return {role::quick_taker, n};
}
constexpr actor dead() {
  return {role::dead, 0};
}
constexpr actor dead_taker() {
  return {role::dead_taker, 0};
}

const check checks[] = {
    {"light_1x1", "light fences: a waiter, a waker", 2, {waiter(1), waker(1)}},
    {"light_2x1", "light fences: two waiters, one publish", 3, {waiter(1), waiter(1), waker(1)}},
    {"light_1x2", "light fences: a waiter needs both publishes of one waker", 2, {waiter(2), waker(2)}},
    {"light_1x1x1",
     "light fences: a waiter needs the publishes of two wakers",
     3,
     {waiter(2), waker(1), waker(1)}},
    {"unregistered", "the waker's process is not registered (seq_cst fence)", 2, {waiter(1), waker(1)}, 0b01},
    {"full_1x2", "full-fence mode from the start", 2, {waiter(2), waker(2)}, ~0u, fences_full},
    {"unregistered_full",
     "full-fence mode, the waker's process not registered",
     2,
     {waiter(1), waker(1)},
     0b01,
     fences_full},
    {"switch_1x2",
     "the waiter may switch the count to full fences at any park",
     2,
     {waiter(2), waker(2)},
     ~0u,
     fences_light,
     2},
    {"switch_2x1",
     "one waiter switches while another parks",
     3,
     {waiter(1), waiter(1), waker(1)},
     ~0u,
     fences_light,
     2},
    {"dead_1",
     "a dead waiter costs one waker at most one FUTEX_WAKE",
     2,
     {dead(), waker(3)},
     ~0u,
     fences_light,
     0,
     1},
    {"dead_2",
     "... and each of two wakers at most one",
     3,
     {dead(), waker(2), waker(2)},
     ~0u,
     fences_light,
     0,
     1},
    {"counted_2x2", "two takers of one item each, two publishes", 3, {taker(1), taker(1), waker(2)}},
    {"counted_1x2", "a taker of two items, two publishes", 2, {quick_taker(2), waker(2)}},
    {"counted_quick",
     "a taker and a quick taker (one try before it registers), two publishes",
     3,
     {taker(1), quick_taker(1), waker(2)}},
    {"counted_herd",
     "a taker and a herd waiter, one publish: the herd bit wakes both",
     3,
     {taker(1), waiter(1), waker(1)}},
    {"counted_full", "two takers, full-fence mode", 3, {taker(1), taker(1), waker(2)}, ~0u, fences_full},
    {"counted_dead",
     "a dead counted waiter costs one waker at most one FUTEX_WAKE",
     2,
     {dead_taker(), waker(3)},
     ~0u,
     fences_light,
     0,
     1},
};

const check* current = nullptr;  // the check being run (constant during a simulation)

template <class Cfg, unsigned N>
struct ec_test : rl::test_suite<ec_test<Cfg, N>, N> {
  using E = env<Cfg>;
  kernel k;
  event_count ec;
  atomic<std::uint32_t> items;  // what the wakers publish (a ring's positions)
  atomic<std::uint32_t> taken;  // what the takers took
  unsigned slow[kernel::max_threads] = {};

  void before() {
    kernel::options o;
    o.threads = N;
    o.registered = current->registered;
    o.membarrier_is_fence = Cfg::membarrier_is_fence;
    o.switch_choice = current->switch_choice;
    k.reset(o);
    the_kernel = &k;
    ec.init(current->mode);
    items.init(0);
    taken.init(0);
  }

  void thread(unsigned i) {
    const actor a = current->actors[i];
    if (a.r == role::waker) publish(i, a.n);
    if (a.r == role::waiter) wait_for(a.n);
    if (a.r == role::taker || a.r == role::quick_taker) take(a.n, a.r == role::quick_taker);
    if (a.r == role::dead) die_registered(wake_share::herd);
    if (a.r == role::dead_taker) die_registered(wake_share::counted);
    k.exit();
  }

  void after() {
    for (unsigned i = 0; i < N; ++i) RL_ASSERT(slow[i] <= current->max_slow);
  }

  // A producer: publish (release), then notify (detail::notify()).
  void publish(unsigned me, unsigned n) {
    for (unsigned j = 0; j < n; ++j) {
      items.fetch_add(1, std::memory_order_release);
      if (ringport::detail::must_wake<E>(ec)) {
        ++slow[me];
        ringport::detail::wake_waiters<E>(ec, 1);
      }
    }
  }

  // A consumer with the block policy: park rounds of detail::wait_loop()
  // until `need` items are there. A lost wake-up leaves it blocked.
  void wait_for(std::uint32_t need) {
    auto attempt = [&] {
      return items.load(std::memory_order_acquire) >= need ? status::ok : status::would_block;
    };
    park(wake_share::herd, attempt);
  }

  // A consumer that takes `n` items one at a time (a ring's pop: a CAS on
  // what is taken), parking, counted, while none is there; `quick`: one
  // attempt before parking (a take without a registration).
  void take(unsigned n, bool quick) {
    auto attempt = [&] {
      for (;;) {
        std::uint32_t t = taken.load(std::memory_order_relaxed);
        if (items.load(std::memory_order_acquire) <= t) return status::would_block;
        if (taken.compare_exchange_strong(t, t + 1, std::memory_order_relaxed)) return status::ok;
      }
    };
    for (unsigned j = 0; j < n; ++j)
      if (!quick || attempt() != status::ok) park(wake_share::counted, attempt);
  }

  // One wait of detail::wait_loop: park rounds until attempt() gets through.
  template <class Attempt>
  void park(wake_share share, Attempt& attempt) {
    ringport::detail::park_state parked;
    while (ringport::detail::park_round<E>(ec, parked, share, attempt, futex_sleep{}) ==
           status::would_block) {
    }
  }

  // A waiter killed after it registered (before or while it sleeps: no one
  // can tell).
  void die_registered(wake_share share) {
    (void)ringport::detail::register_waiter<E>(ec, share);
    event_count* const one[1] = {&ec};
    E::park_fence(std::span<event_count* const>(one));
  }
};

// ---------------------------------------------------------------------------
struct search {
  rl::scheduler_type_e type;
  unsigned bound;                 // sched_bound: preemptions per execution
  unsigned long long iterations;  // sched_random
};

// How a check is searched: every schedule with at most `bound` preemptions
// (and every choice of stale values, futex returns and IPI points on them);
// 3 for two threads, 2 for three, one more in the long mode; then, in the
// long mode, 200000 random schedules (deeper stale reads).
search search_for(const check& c, bool long_mode, int pass) {
  if (pass == 1) return {rl::sched_random, 0, 200000};
  return {rl::sched_bound, (c.threads == 2 ? 3u : 2u) + (long_mode ? 1u : 0u), 0};
}

template <class Cfg>
outcome run(const check& c, const search& how) {
  current = &c;
  if (c.threads == 2) return run_search<ec_test<Cfg, 2>>(how.type, how.bound, how.iterations, 4000);
  return run_search<ec_test<Cfg, 3>>(how.type, how.bound, how.iterations, 4000);
}

struct config {
  const char* name;
  const char* what;
  outcome (*run)(const check&, const search&);
  const char* kills;  // mutants: the checks that must fail (space-separated); null: shipped
};

const config configs[] = {
    {"shipped", "the protocol of release builds", run<shipped>, nullptr},
    {"shipped-tsan", "the protocol of ThreadSanitizer builds (acq_rel RMWs)", run<shipped_tsan>, nullptr},
    {"no-wait-fence", "F-WAIT removed", run<drop_wait_fence>, "light_1x1 light_2x1 full_1x2 switch_1x2"},
    {"plain-membarrier", "F-NOTIFY a compiler fence, membarrier a plain seq_cst fence (no IPIs)",
     run<plain_membarrier>, "light_1x1 light_1x2 light_1x1x1 switch_2x1"},
    {"light-unregistered", "wakers of unregistered processes use the compiler fence", run<light_everywhere>,
     "unregistered"},
    {"key-after-registration", "A-KEY read after the waiters increment",
     run<mutant<ec_mutation::key_after_registration>>, "light_1x1x1 full_1x2"},
    {"no-clear", "wakers never clear waiters", run<mutant<ec_mutation::no_clear>>, "dead_1 dead_2"},
    {"relaxed-clear", "the waker's clear of waiters is relaxed", run<mutant<ec_mutation::relaxed_clear>>, ""},
    {"ignore-switching", "wakers fence only once the mode is full, not while switching",
     run<mutant<ec_mutation::ignore_switching>>, "switch_1x2"},
    {"switching-is-full", "a waiter takes a count being switched for a full one",
     run<mutant<ec_mutation::switching_is_full>>, "switch_2x1"},
    {"stale-count", "a fenced waker trusts the registrations it read before its fence",
     run<mutant<ec_mutation::stale_count>>, "unregistered unregistered_full full_1x2"},
    {"ignore-herd", "a counted wake-up wakes one waiter even with the herd bit set",
     run<mutant<ec_mutation::ignore_herd>>, "light_2x1 counted_herd"},
    {"clear-counted", "a counted wake-up clears every registration but wakes one",
     run<mutant<ec_mutation::clear_counted>>, "counted_2x2"},
    {"keep-unchecked", "a waiter keeps its registration across rounds without checking seq",
     run<mutant<ec_mutation::keep_unchecked>>, "counted_1x2 counted_quick"},
    {"tsan-key-after-registration", "TSan protocol, A-KEY after the increment",
     run<tsan_mutant<ec_mutation::key_after_registration>>, "light_1x2 full_1x2"},
};

// Mutants that no check can kill, and why (reported, not failed).
const char* expected_survivor(const char* name) {
  if (std::strcmp(name, "relaxed-clear") == 0)
    return "the acquire orders only wait_any()'s doorbell bits (bells), which these checks do not model";
  return nullptr;
}

}  // namespace
}  // namespace model

int main(int argc, char** argv) {
  using namespace model;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const model_args args = parse_model_args(argc, argv);
  const bool long_mode = args.long_mode;
  const char* only = args.only;
  const char* only_check = args.only_check;
  bool all_good = true;
  for (const config& cfg : configs) {
    if (only && std::strcmp(only, cfg.name) != 0) continue;
    const bool is_mutant = cfg.kills != nullptr;
    std::printf("%s: %s\n", cfg.name, cfg.what);
    bool survived = true;
    for (const check& c : checks) {
      if (only_check && std::strcmp(only_check, c.name) != 0) continue;
      // Short mode: a mutant runs only the checks that must kill it.
      const bool must_fail = is_mutant && listed(cfg.kills, c.name);
      if (is_mutant && !long_mode && !must_fail) continue;
      bool failed = false;
      for (int pass = 0; pass < (long_mode ? 2 : 1) && !failed; ++pass) {
        const search how = search_for(c, long_mode, pass);
        const outcome o = cfg.run(c, how);
        failed = !o.passed;
        char label[16];
        std::snprintf(label, sizeof label, how.type == rl::sched_random ? "random" : "bound %u", how.bound);
        std::printf("  %-12s %-8s %-4s %9llu executions  %s\n", c.name, label, o.passed ? "pass" : "FAIL",
                    o.iterations, c.what);
        if (failed && !is_mutant) std::printf("%s\n", o.report.c_str());
      }
      if (failed) survived = false;
      if (!is_mutant && failed) all_good = false;
      if (must_fail && !failed) {
        std::printf("  MUTANT NOT CAUGHT by %s\n", c.name);
        all_good = false;
      }
    }
    if (is_mutant && survived) {
      if (const char* why = expected_survivor(cfg.name))
        std::printf("  %s: %s\n", long_mode ? "survives every check, as expected" : "no check can kill it",
                    why);
    }
  }
  std::printf("%s\n", all_good ? "model: all as expected" : "model: UNEXPECTED RESULTS");
  return all_good ? 0 : 1;
}
