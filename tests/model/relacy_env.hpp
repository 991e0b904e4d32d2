// tests/model/relacy_env.hpp — the event count's protocol steps
// (ringport/detail/event_count.hpp) instantiated under the Relacy model
// checker: std::atomic-like wrappers over rl::atomic (also used by the
// mailbox acknowledgement model), and models of futex and membarrier.
// README.md beside this file gives the modelling argument.
//
// Relacy's relacy_std.hpp clashes with libstdc++ 12, so this includes only
// relacy/relacy.hpp, after every standard and ringport header, and then
// removes the macros it defines that would rewrite standard code.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <source_location>
#include <span>
#include <streambuf>
#include <string>

#include "ringport/detail/event_count.hpp"

// Last: its macros (memory_order_relaxed, new, ...) rewrite what follows.
// clang-format off
#include <relacy/relacy.hpp>
// clang-format on

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef assert

namespace model {

using ringport::status;
using where = std::source_location;

inline rl::debug_info info(const where& w) {
  return rl::debug_info(w.function_name(), w.file_name(), w.line());
}

inline rl::memory_order to_rl(std::memory_order mo) {
  switch (mo) {
    case std::memory_order::relaxed:
      return rl::mo_relaxed;
    case std::memory_order::consume:
      return rl::mo_consume;
    case std::memory_order::acquire:
      return rl::mo_acquire;
    case std::memory_order::release:
      return rl::mo_release;
    case std::memory_order::acq_rel:
      return rl::mo_acq_rel;
    case std::memory_order::seq_cst:
      return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

// ---------------------------------------------------------------------------
// The kernel: futex and membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED).
//
// Every model thread is in user code, in the kernel (a futex or membarrier
// call) or finished. A membarrier caller runs a seq_cst fence, then owes
// each other thread of a registered process that is in user code a full
// barrier (an IPI), parks until every one has paid, and runs a seq_cst fence
// again. A thread pays at a checkpoint: just after the scheduling point of
// each of its atomic operations and fences, or at the latest on entry to a
// system call or at exit; at each checkpoint the checker chooses whether the
// IPI lands now or later. Paying is a seq_cst fence in that thread's own
// instruction stream, at that point. A thread in the kernel has its barrier
// from the context switch: it runs a seq_cst fence on its way back to user
// code (it entered with one).
class kernel {
 public:
  static constexpr unsigned max_threads = 4;

  struct options {
    unsigned threads = 0;
    unsigned registered = 0;           // bit i: thread i's process is registered
    unsigned spurious = 1;             // spurious futex returns each thread may see
    bool membarrier_is_fence = false;  // mutant: membarrier sends no IPIs
    unsigned switch_choice = 0;        // wait_fence's should_switch(): 0 no, 1 yes, 2 the checker chooses
  };

  void reset(const options& o) {
    opt_ = o;
    victim_ = max_threads;
    deaths_ = 0;
    for (unsigned i = 0; i < max_threads; ++i) {
      owner_[i] = i + 1;
      deaths_seen_[i] = 0;
      life_[i].store(owner_[i], rl::mo_relaxed, $);
      sleeping_on_[i] = nullptr;
      at_[i] = place::user;
      owed_[i] = 0;
      waiting_for_[i] = 0;
      fence_on_return_[i] = false;
      spurious_left_[i] = o.spurious;
    }
  }

  bool registered(unsigned t) const { return (opt_.registered >> t) & 1u; }
  bool should_switch() const { return opt_.switch_choice == 2 ? rl::rand(2) == 0 : opt_.switch_choice == 1; }

  // The scheduling point before an instruction, then a checkpoint; the
  // victim (arm_kill) may die here, before the instruction.
  void step(const where& w) {
    rl::ctx().sched();
    const unsigned me = rl::thread_index();
    if (me == victim_ && victim_ops_++ == kill_at_) {
      die(me, w);
      return;
    }
    if (owed_[me] != 0 && rl::rand(2) == 0) pay(me, w);
  }

  // ---- process death (SIGKILL), for the ring model
  //
  // A process (one model thread) may die before any of its atomic
  // operations and fences: from then on it does nothing. Its later
  // operations are no-ops that return a value no protocol step accepts
  // (all bits set), so that the code it is in returns at once without
  // effects; the harness stops the thread when it sees dead(). A thread
  // may then start again as a new process (restart: a new owner identity,
  // as a restarted process attaching again). Death pays any barrier the
  // thread owed (its CPU leaves the process), and ends the sleep of every
  // futex waiter: their 50 ms slices (detail::wait_loop) run out, so a
  // survivor looks again without a wake-up.
  //
  // A death is a release and seeing it an acquire, and a look after the
  // death sees it: the process's life word (its owner word while it lives,
  // 0 once dead) is stored seq_cst after a full barrier when it dies, and
  // owner_alive() loads it seq_cst. So whatever the dead process wrote
  // happens before what a survivor does after it saw the death, as on
  // Linux: the killed task's CPU takes an interrupt and passes through the
  // kernel's exit path (full barriers, locks) before kill(pid, 0) or /proc
  // report it gone, and the survivor reads that state through a system
  // call, under the same locks. A futex sleep that starts after a death
  // ends at once (the first slice after the death runs out), as does every
  // sleep under way when it happens.

  /// Thread t dies before one of its next `window` operations, or lives:
  /// the checker chooses which (window + 1 cases).
  void arm_kill(unsigned t, unsigned window) {
    victim_ = t;
    victim_ops_ = 0;
    kill_at_ = rl::rand(window + 1);
  }
  bool dead(unsigned t) const { return at_[t] == place::dead; }
  bool me_dead() const { return dead(rl::thread_index()); }
  /// The role-slot owner word of thread t's current process (0: none).
  std::uint64_t owner(unsigned t) const { return dead(t) ? 0 : owner_[t]; }
  /// Whether the process with owner word o lives (the acquire above).
  bool owner_alive(std::uint64_t o, const where& w = where::current()) {
    if (o == 0) return false;
    const unsigned t = static_cast<unsigned>((o - 1) % max_threads);
    if (t >= opt_.threads) return false;
    rl::preemption_disabler pd(rl::ctx());
    return life_[t](info(w)).load(rl::mo_seq_cst) == o;
  }
  /// The dead calling thread starts again as a new process; returns its
  /// owner word.
  std::uint64_t restart(const where& w = where::current()) {
    const unsigned me = rl::thread_index();
    at_[me] = place::user;
    owner_[me] += max_threads;
    rl::preemption_disabler pd(rl::ctx());
    life_[me](info(w)).store(owner_[me], rl::mo_seq_cst);
    return owner_[me];
  }

  // A seq_cst fence instruction (std::atomic_thread_fence).
  void seq_cst_fence(const where& w) {
    if (!live(w)) return;
    fence(w);
  }
  // An acquire fence instruction.
  void acquire_fence(const where& w) {
    if (!live(w)) return;
    rl::preemption_disabler pd(rl::ctx());
    rl::atomic_thread_fence(rl::mo_acquire, info(w));
  }
  // step(), then whether the calling thread is still alive to act.
  bool live(const where& w) {
    if (me_dead()) return false;
    step(w);
    return !me_dead();
  }

  void membarrier(const where& w) {
    if (me_dead()) return;
    const unsigned me = syscall_entry(w);
    fence(w);  // smp_mb() on entry
    if (!opt_.membarrier_is_fence) {
      at_[me] = place::kernel;
      unsigned need = 0;
      for (unsigned t = 0; t < opt_.threads; ++t) {
        if (t == me || !registered(t) || at_[t] == place::finished || at_[t] == place::dead) continue;
        if (at_[t] == place::kernel) {
          fence_on_return_[t] = true;
        } else {
          owed_[t] |= 1u << me;
          ++need;
        }
      }
      waiting_for_[me] = need;
      if (need != 0) parked_[me].park_current(rl::ctx(), false, false, false, info(w));
      at_[me] = place::user;
      fence_on_return_[me] = false;  // the fence below serves
    }
    fence(w);  // smp_mb() on return
  }

  // FUTEX_WAIT: atomically (under the hash-bucket lock) compares the word
  // with key and sleeps until FUTEX_WAKE; may also return at once for no
  // reason (EINTR, or a spurious wake-up), at most opt_.spurious times.
  void futex_wait(rl::atomic<std::uint32_t>& word, std::uint32_t key, const where& w) {
    if (me_dead()) return;
    const unsigned me = syscall_entry(w);
    fence(w);  // smp_mb() before the word is read (futex_wait_setup)
    std::uint32_t v;
    {
      rl::preemption_disabler pd(rl::ctx());
      v = word(info(w)).load(rl::mo_relaxed);
    }
    if (v != key) return;  // EAGAIN
    if (deaths_seen_[me] != deaths_) {
      deaths_seen_[me] = deaths_;  // the slice after a death ran out
      return;
    }
    if (spurious_left_[me] != 0 && rl::rand(2) == 0) {
      --spurious_left_[me];
      return;
    }
    at_[me] = place::kernel;
    sleeping_on_[me] = &word;
    word.wait(rl::ctx(), false, false, info(w));
    sleeping_on_[me] = nullptr;
    at_[me] = place::user;
    if (fence_on_return_[me]) {
      fence_on_return_[me] = false;
      fence(w);
    }
  }

  // FUTEX_WAKE of at most n sleepers on word (the checker chooses which).
  void futex_wake(rl::atomic<std::uint32_t>& word, unsigned n, const where& w) {
    if (me_dead()) return;
    syscall_entry(w);
    fence(w);  // the barrier before the waiter check in futex_wake()
    word.wake(rl::ctx(), n, info(w));
  }
  void futex_wake_all(rl::atomic<std::uint32_t>& word, const where& w) { futex_wake(word, max_threads, w); }

  // At the end of a thread's body: it pays what it owes and stops. Its exit
  // is a kernel entry: a full barrier orders everything it did before any
  // later membarrier returns.
  void exit(const where& w = where::current()) {
    if (me_dead()) return;
    const unsigned me = syscall_entry(w);
    fence(w);
    at_[me] = place::finished;
  }

 private:
  enum class place : std::uint8_t { user, kernel, finished, dead };

  void die(unsigned me, const where& w) {
    if (owed_[me] != 0) pay(me, w);
    victim_ = max_threads;
    fence(w);
    {
      rl::preemption_disabler pd(rl::ctx());
      life_[me](info(w)).store(0, rl::mo_seq_cst);
    }
    ++deaths_;
    at_[me] = place::dead;
    for (unsigned t = 0; t < opt_.threads; ++t)
      if (sleeping_on_[t] != nullptr) sleeping_on_[t]->wake(rl::ctx(), max_threads, info(w));
  }

  // A seq_cst fence without the scheduling point Relacy puts before one:
  // the callers place theirs.
  static void fence(const where& w) {
    rl::preemption_disabler pd(rl::ctx());
    rl::atomic_thread_fence(rl::mo_seq_cst, info(w));
  }

  unsigned syscall_entry(const where& w) {
    rl::ctx().sched();
    const unsigned me = rl::thread_index();
    if (owed_[me] != 0) pay(me, w);
    return me;
  }

  void pay(unsigned me, const where& w) {
    fence(w);
    for (unsigned c = 0; c < opt_.threads; ++c)
      if (((owed_[me] >> c) & 1u) != 0 && --waiting_for_[c] == 0) parked_[c].unpark_all(rl::ctx(), info(w));
    owed_[me] = 0;
  }

  options opt_;
  place at_[max_threads];
  unsigned owed_[max_threads];  // bit c: caller c waits for this thread's barrier
  unsigned waiting_for_[max_threads];
  bool fence_on_return_[max_threads];
  unsigned spurious_left_[max_threads];
  rl::waitset<max_threads> parked_[max_threads];
  unsigned victim_ = max_threads;
  unsigned victim_ops_ = 0, kill_at_ = 0;
  unsigned deaths_ = 0;
  unsigned deaths_seen_[max_threads];
  std::uint64_t owner_[max_threads];
  rl::atomic<std::uint64_t> life_[max_threads];
  rl::atomic<std::uint32_t>* sleeping_on_[max_threads];
};

/// The kernel of the current iteration (set by each test's before()).
inline kernel* the_kernel = nullptr;

// ---------------------------------------------------------------------------
// std::atomic's interface over rl::atomic: each operation is a scheduling
// point and a membarrier checkpoint, and carries its caller's source line
// into Relacy's history.
template <class T>
class atomic {
 public:
  // What a dead thread's operations return (see kernel, "process death"):
  // all bits set, or (set_ghost) a value of the caller's choice, so that
  // no loop of the dead thread's code sees a value it waits for.
  void set_ghost(T g) { ghost = g; }

  void init(T v) { a_.store(v, rl::mo_relaxed, $); }
  T load(std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return ghost;
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).load(to_rl(mo));
  }
  void store(T v, std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return;
    rl::preemption_disabler pd(rl::ctx());
    a_(info(w)).store(v, to_rl(mo));
  }
  T fetch_add(T v, std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return ghost;
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).fetch_add(v, to_rl(mo));
  }
  T fetch_and(T v, std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return ghost;
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).fetch_and(v, to_rl(mo));
  }
  T fetch_or(T v, std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return ghost;
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).fetch_or(v, to_rl(mo));
  }
  T exchange(T v, std::memory_order mo, const where& w = where::current()) {
    if (!the_kernel->live(w)) return ghost;
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).exchange(v, to_rl(mo));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order mo,
                               const where& w = where::current()) {
    if (!the_kernel->live(w)) return (expected = ghost, false);
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).compare_exchange_strong(expected, desired, to_rl(mo));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order mo, std::memory_order failure,
                               const where& w = where::current()) {
    if (!the_kernel->live(w)) return (expected = ghost, false);
    rl::preemption_disabler pd(rl::ctx());
    return a_(info(w)).compare_exchange_strong(expected, desired, to_rl(mo), to_rl(failure));
  }
  // The model never fails a weak CAS spuriously: a spurious failure only
  // repeats the loop of a failed one, without a new kind of state.
  bool compare_exchange_weak(T& expected, T desired, std::memory_order mo, std::memory_order failure,
                             const where& w = where::current()) {
    return compare_exchange_strong(expected, desired, mo, failure, w);
  }
  rl::atomic<T>& raw() { return a_; }

 private:
  rl::atomic<T> a_;
  T ghost = static_cast<T>(~T{});
};

/// event_count with the model's atomics (same members, same protocol code).
struct event_count {
  atomic<std::uint32_t> seq;
  atomic<std::uint32_t> waiters;
  atomic<std::uint64_t> bells;

  void init(std::uint32_t mode) {
    seq.init(0);
    waiters.init(ringport::detail::mode_word(mode));  // the mode shares the word
    bells.init(0);
  }
};

// ---------------------------------------------------------------------------
// The environment of the protocol steps under the model.
//
// Cfg: rmw_pairing (the TSan-build protocol), mutation (a template-level
// ec_mutation), no_wait_fence (mutant: F-WAIT removed), light_unregistered
// (mutant: wakers take the compiler fence even in unregistered processes).
template <class Cfg>
struct env {
  static constexpr bool rmw_pairing = Cfg::rmw_pairing;
  static constexpr ringport::detail::ec_mutation mutation = Cfg::mutation;

  static bool light_notify() { return Cfg::light_unregistered || the_kernel->registered(rl::thread_index()); }
  static std::uint32_t fence_due() { return light_notify() ? 0u : 1u; }
  static void compiler_fence() {}  // orders nothing at run time; the model keeps program order
  static void full_fence(const where& w = where::current()) { the_kernel->seq_cst_fence(w); }
  static void futex_wake_all(atomic<std::uint32_t>& word, const where& w = where::current()) {
    the_kernel->futex_wake_all(word.raw(), w);
  }
  static void futex_wake(atomic<std::uint32_t>& word, std::uint32_t n, const where& w = where::current()) {
    the_kernel->futex_wake(word.raw(), n, w);
  }
  static void park_fence(std::span<event_count* const> ecs) {
    if constexpr (Cfg::no_wait_fence) return;
    ringport::detail::wait_fence<env>(ecs, [] { return the_kernel->should_switch(); });
  }
  static void park_barrier(const where& w = where::current()) { the_kernel->membarrier(w); }
  static void switch_barrier(const where& w = where::current()) { the_kernel->membarrier(w); }
};

/// A waiter's sleep in park_round(): FUTEX_WAIT without a deadline, so that
/// a wake-up the protocol loses leaves it blocked (Relacy: deadlock).
struct futex_sleep {
  void operator()(atomic<std::uint32_t>& word, std::uint32_t key, const where& w = where::current()) const {
    the_kernel->futex_wait(word.raw(), key, w);
  }
};

// ---------------------------------------------------------------------------
// A stream buffer that never allocates (Relacy replaces operator new while
// it runs, so a growing std::string buffer would cross its allocator): the
// models' destination for Relacy's reports.
class capped_buffer : public std::streambuf {
 public:
  capped_buffer() { reset(); }
  void reset() { setp(buf_, buf_ + sizeof buf_); }
  std::string text() const { return std::string(pbase(), pptr()); }

 private:
  char buf_[1 << 16];
};

// ---- what both models' drivers share

/// The result of one search of one check.
struct outcome {
  bool passed;
  unsigned long long iterations;
  std::string report;  // Relacy's account of a failure
};

/// One search of a Relacy test suite: the scheduler, its preemption bound,
/// how many iterations (0: the scheduler's own end), the execution depth
/// limit; Relacy's report goes to a buffer that never allocates.
template <class Test>
outcome run_search(rl::scheduler_type_e type, unsigned bound, unsigned long long iterations, unsigned depth) {
  rl::test_params p;
  static capped_buffer buf;
  buf.reset();
  std::ostream out(&buf);
  p.output_stream = &out;
  p.progress_stream = &out;
  p.search_type = type;
  p.context_bound = bound;
  p.iteration_count = iterations;
  p.execution_depth_limit = depth;
  const bool ok = rl::simulate<Test>(p);
  return {ok, static_cast<unsigned long long>(p.stop_iteration), buf.text()};
}

/// Whether `name` is one of the space-separated words of `names`.
inline bool listed(const char* names, const char* name) {
  const std::size_t n = std::strlen(name);
  for (const char* p = names; (p = std::strstr(p, name)) != nullptr; p += n)
    if ((p == names || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

/// A model program's options: --long, --only CONFIG, --check CHECK,
/// --random N (only N random schedules per check: a quick look).
struct model_args {
  unsigned long long random = 0;
  bool long_mode = false;
  const char* only = nullptr;
  const char* only_check = nullptr;
};
inline model_args parse_model_args(int argc, char** argv) {
  model_args a;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--long") == 0) a.long_mode = true;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) a.only = argv[++i];
    if (std::strcmp(argv[i], "--check") == 0 && i + 1 < argc) a.only_check = argv[++i];
    if (std::strcmp(argv[i], "--random") == 0 && i + 1 < argc)
      a.random = std::strtoull(argv[++i], nullptr, 10);
  }
  return a;
}

}  // namespace model
