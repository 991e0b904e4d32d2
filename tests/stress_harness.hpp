// Stress harness: one generic proof that a ring kind delivers every item
// exactly once, in order, untorn — on every data path, at every capacity,
// with the workers as threads of one process or as forked processes.
//
// What travels: stamped items {producer, pad, seq, check}, check being a hash
// of (producer, seq) and pad the producer's complement. A consumer checks
// every item it gets:
//   - stamp and pad match            (no torn, stale or corrupted slot)
//   - seq is beyond the last seq it saw from that producer; exactly one
//     beyond when it is the only consumer   (per-producer FIFO)
//   - its (producer, seq) counter goes 0 -> 1   (no duplicate anywhere)
// and after the run every counter must be 1 (no loss). The counters and the
// first failure's text live in a MAP_SHARED anonymous mapping (`board`), so
// forked workers report into the same memory that threads do.
//
// A scenario = kind shape (producers x consumers) x capacity x push path x
// pop path. Paths: single (try_push/try_pop looped with back-off), blocking
// (push/pop), batch (push_n_until/pop_n_until of 1..capacity+3 items),
// zero_copy (claim/commit, peek/release), and mixed (a random path per
// step). plan() crosses them so that over the four capacities every
// (push path, pop path) pair runs once, plus a mixed run per capacity.
//
// A run: consumers and producers start together (a start line on the
// board), producers finish, the runner closes the ring, consumers drain and
// stop on status::closed. A worker that fails closes the ring too, so that
// the others stop at once. The runner waits under a watchdog: past the
// limit, forked workers are killed and threads are told to stop (abort flag,
// ring closed), and the scenario FAILS; the limit is a hang guard, never a
// timing assertion.
//
// Threads outnumber the two cores this runs on, so no loop here spins
// without bound: blocking calls wait with the adaptive (spin, yield, park)
// or the block (park) policy, and non-blocking loops yield after a few
// pause hints (backoff).
//
// Volume: items_per_kind() stamped items per kind and mode — 10 million by
// default, 3 million under ASan or TSan (see stress_harness.cpp), overridden
// by the environment variable RINGPORT_STRESS_ITEMS or the compile
// definition of the same name. 1% goes to each of capacities 1, 2 and 4 (a
// context switch per item or so when threads outnumber cores), the rest to
// capacity 1024. RINGPORT_STRESS_VERBOSE=1 prints each scenario's time.
//
// The chaos test (test_chaos.cpp) builds on the same pieces: items, and
// variable-length messages with the same stamp, as what travels; the
// checker on every receipt; the crew to fork, SIGKILL and restart workers.
#pragma once

#include <doctest/doctest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ringport/detail/cpu.hpp"
#include "ringport/ring.hpp"

namespace ringport_test::stress {

using clock = std::chrono::steady_clock;
inline constexpr auto forever = clock::time_point::max();

// ---------------------------------------------------------------- items

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr std::uint64_t stamp(std::uint32_t producer, std::uint64_t seq) noexcept {
  return mix64((std::uint64_t{producer} << 48) ^ seq ^ 0x9e3779b97f4a7c15ull);
}

struct item {
  std::uint32_t producer;
  std::uint32_t pad;  // ~producer
  std::uint64_t seq;
  std::uint64_t check;  // stamp(producer, seq)
};
static_assert(sizeof(item) == 24, "three words: a torn copy mixes words of two items");

constexpr item make_item(std::uint32_t producer, std::uint64_t seq) noexcept {
  return {producer, ~producer, seq, stamp(producer, seq)};
}

// ---------------------------------------------------------------- messages

/// Variable-length messages (mailboxes): this header, then payload bytes
/// drawn from (producer, seq). `length` is the whole message's, header
/// included, and itself a function of (producer, seq); `payload_sum` is a
/// checksum of the payload, so a message mixing bytes of two is caught.
struct message_header {
  item stamp;  // make_item(producer, seq)
  std::uint64_t length;
  std::uint64_t payload_sum;
};
static_assert(sizeof(message_header) == 40, "five words, no padding");

/// The length of message (producer, seq): sizeof(message_header) .. max.
std::size_t message_length(std::uint32_t producer, std::uint64_t seq, std::size_t max) noexcept;
/// Writes message (producer, seq) of message_length(producer, seq, max)
/// bytes to out (which must hold that many); returns the length.
std::size_t write_message(std::span<std::byte> out, std::uint32_t producer, std::uint64_t seq,
                          std::size_t max) noexcept;
/// Checks a received message: nullptr when intact (then *head is its
/// header, whose stamp a checker still has to see), else what is wrong.
const char* verify_message(std::span<const std::byte> msg, std::size_t max, message_header* head) noexcept;

// ---------------------------------------------------------------- scenarios

enum class path : std::uint8_t { single, blocking, batch, zero_copy, mixed };
inline constexpr std::size_t concrete_paths = 4;  // all but mixed
const char* to_string(path p) noexcept;

enum class mode : std::uint8_t { threads, processes };
const char* to_string(mode m) noexcept;

struct scenario {
  std::size_t capacity = 0;
  std::uint32_t producers = 0;
  std::uint32_t consumers = 0;
  path push_path = path::single;
  path pop_path = path::single;
  std::uint64_t per_producer = 0;  // items each producer pushes
  std::uint64_t seed = 0;
  std::string label;  // "mpmc cap=4 push=batch pop=zero_copy"

  std::uint64_t total() const noexcept { return per_producer * producers; }
};

/// Producers x consumers for a kind: 1x1 spsc, 4x1 mpsc, 1x4 spmc, 4x4 mpmc.
std::uint32_t producers_for(ringport::object_kind k) noexcept;
std::uint32_t consumers_for(ringport::object_kind k) noexcept;

/// The scenarios of one kind, `items` (at least) spread over them.
std::vector<scenario> plan(ringport::object_kind kind, std::uint64_t items);

/// Stamped items per kind and mode (see the top of this file).
std::uint64_t items_per_kind();
/// RINGPORT_STRESS_VERBOSE=1: print each scenario's items and wall time.
bool verbose();
/// Hang guard per scenario: RINGPORT_STRESS_WATCHDOG_S, default 120 s.
std::chrono::seconds watchdog_limit();
/// A positive integer from the environment, else fallback (a bad value is
/// reported on stderr and ignored).
std::uint64_t env_number(const char* var, std::uint64_t fallback);

// ---------------------------------------------------------------- board

/// What the workers of one scenario share. Lives at the start of a
/// MAP_SHARED anonymous mapping, followed by one counter byte per
/// (producer, seq): seen()[producer * per_producer + seq].
struct board {
  std::atomic<std::uint32_t> arrived{0};
  std::atomic<std::uint32_t> aborted{0};
  std::atomic<std::uint32_t> failures{0};
  char message[512] = {};

  /// Records the first failure's text (later ones only count), raises the
  /// abort flag; returns 1, the worker's exit code.
  [[gnu::format(printf, 2, 3)]] int fail(const char* fmt, ...) noexcept;
  /// Waits until `workers` have arrived (yielding); false if aborted.
  bool start_line(std::uint32_t workers) noexcept;
  std::uint8_t* seen() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
};

/// Owns the mapping that holds a board and its counters.
class board_map {
 public:
  explicit board_map(std::uint64_t counters);
  ~board_map();
  board_map(const board_map&) = delete;
  board_map& operator=(const board_map&) = delete;
  board& get() noexcept { return *b_; }

 private:
  board* b_ = nullptr;
  std::size_t bytes_ = 0;
};

// ---------------------------------------------------------------- crew

/// Runs worker functions as threads of this process or as forked children.
/// A worker returns its exit code: 0 success, else failure (details on the
/// board). A child that dies by signal s reads as 128 + s.
class crew {
 public:
  /// `abort` makes running workers give up (raise the board's abort flag,
  /// close the ring); called before stopping them.
  crew(mode m, std::function<void()> abort) : mode_(m), abort_(std::move(abort)) {}
  ~crew();
  crew(const crew&) = delete;
  crew& operator=(const crew&) = delete;

  void start(std::function<int()> fn);
  /// Waits for workers [first, first + n); false when the deadline came first.
  bool wait(std::size_t first, std::size_t n, clock::time_point deadline);
  /// After a missed deadline: aborts, then kills children; threads (which
  /// cannot be killed) get `grace` to return, else the test process aborts.
  void stop(std::chrono::seconds grace);
  /// Process mode: SIGKILLs worker i unless it is done, and reaps it;
  /// returns its code (128 + SIGKILL when the kill ended it).
  int kill(std::size_t i);
  /// Whether worker i still runs (process mode: reaps it if it ended).
  bool running(std::size_t i) { return !wait(i, 1, clock::time_point::min()); }
  int code(std::size_t i) const noexcept { return codes_[i].load(std::memory_order_acquire); }
  /// Process mode: worker i's process id.
  pid_t pid(std::size_t i) const noexcept { return pids_[i]; }
  std::size_t size() const noexcept { return codes_.size(); }

 private:
  mode mode_;
  std::function<void()> abort_;
  std::deque<std::atomic<int>> codes_;  // -1 while running
  std::vector<std::thread> threads_;
  std::vector<pid_t> pids_;
};

/// A failed result's message, "" on success: for REQUIRE_MESSAGE, whose
/// message doctest may print (with -s) even when the check passed.
template <class Result>
std::string why(const Result& r) {
  return r ? std::string() : r.error().message;
}

// ---------------------------------------------------------------- workers

/// Per-worker random numbers (xorshift64*): path and batch size choices.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : s_(mix64(seed) | 1) {}
  std::uint64_t next() noexcept {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }
  /// 1 .. capacity + 3: batches that fit, fill, and overflow the ring.
  std::size_t batch(std::size_t capacity) noexcept { return 1 + below(capacity + 3); }
  path pick(path p) noexcept { return p == path::mixed ? static_cast<path>(below(concrete_paths)) : p; }

 private:
  std::uint64_t s_;
};

/// Back-off for non-blocking loops: a few pause hints, then a sched_yield
/// per retry, so the thread we wait for gets the core. False once aborted.
class backoff {
 public:
  explicit backoff(const board& b) noexcept : b_(b) {}
  bool pause() noexcept {
    if (spins_ < 4) {
      ++spins_;
      ringport::detail::cpu_relax();
      return true;
    }
    ::sched_yield();
    return b_.aborted.load(std::memory_order_relaxed) == 0;
  }
  void reset() noexcept { spins_ = 0; }

 private:
  const board& b_;
  unsigned spins_ = 0;
};

/// A consumer's checks of every item it receives (see the top of this file).
class checker {
 public:
  checker(const scenario& sc, board& b, std::uint32_t consumer)
      : sc_(sc), b_(b), id_(consumer), last_(sc.producers, none) {}

  /// False (and the failure on the board) when the item is wrong.
  bool operator()(const item& v) noexcept;

 private:
  static constexpr std::uint64_t none = ~std::uint64_t{0};
  const scenario& sc_;
  board& b_;
  std::uint32_t id_;
  std::vector<std::uint64_t> last_;  // per producer: last seq seen
};

/// The wait policy of a worker's handle. Small rings, where nearly every
/// call waits, alternate adaptive (spin, yield, park) and block (park at
/// once) over the workers and scenarios, so that both meet every path and
/// parking is hammered; the large ring keeps the default, adaptive (with
/// block there, a single-item path costs a futex wake per item). Never
/// busy_spin: threads outnumber cores.
inline ringport::wait_policy policy_for(const scenario& sc, std::uint32_t worker) noexcept {
  const bool park = sc.capacity <= 4 && (sc.seed + worker) % 2 == 1;
  return park ? ringport::wait_policy::block : ringport::wait_policy::adaptive;
}

/// Pushes sc.per_producer stamped items as producer `id`, on sc.push_path.
template <class R>
int produce(const R& ring, const scenario& sc, board& b, std::uint32_t id) {
  auto h = ring.producer(policy_for(sc, id));
  if (!h) return b.fail("%s: producer %u: %s", sc.label.c_str(), id, h.error().message.c_str());
  if (!b.start_line(sc.producers + sc.consumers)) return b.fail("%s: aborted before start", sc.label.c_str());
  rng r(sc.seed * 64 + id);
  backoff idle(b);
  std::vector<item> buf(sc.capacity + 3);
  std::uint64_t seq = 0;
  while (seq < sc.per_producer) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(r.batch(sc.capacity), sc.per_producer - seq));
    ringport::status s = ringport::status::ok;
    std::size_t done = 0;
    switch (r.pick(sc.push_path)) {
      case path::single:
        s = h->try_push(make_item(id, seq));
        done = s == ringport::status::ok ? 1 : 0;
        break;
      case path::blocking:
        s = h->push(make_item(id, seq));
        done = s == ringport::status::ok ? 1 : 0;
        break;
      case path::batch:
        for (std::size_t i = 0; i < want; ++i) buf[i] = make_item(id, seq + i);
        done = h->push_n_until(buf.data(), want, forever, &s);
        break;
      case path::zero_copy: {
        const std::span<item> slots = h->claim_until(want, forever, &s);
        for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = make_item(id, seq + i);
        h->commit();
        done = slots.size();
        break;
      }
      case path::mixed:
        break;  // pick() never returns it
    }
    seq += done;
    if (s == ringport::status::ok) {
      idle.reset();
    } else if (s != ringport::status::would_block) {
      return b.fail("%s: producer %u at seq %llu: %s", sc.label.c_str(), id,
                    static_cast<unsigned long long>(seq), ringport::to_string(s));
    } else if (!idle.pause()) {
      return b.fail("%s: producer %u aborted at seq %llu", sc.label.c_str(), id,
                    static_cast<unsigned long long>(seq));
    }
  }
  return 0;
}

/// Pops and checks items as consumer `id`, on sc.pop_path, until the ring
/// is closed and drained.
template <class R>
int consume(const R& ring, const scenario& sc, board& b, std::uint32_t id) {
  auto h = ring.consumer(policy_for(sc, id + 1));
  if (!h) return b.fail("%s: consumer %u: %s", sc.label.c_str(), id, h.error().message.c_str());
  if (!b.start_line(sc.producers + sc.consumers)) return b.fail("%s: aborted before start", sc.label.c_str());
  rng r(sc.seed * 64 + 32 + id);
  backoff idle(b);
  checker check(sc, b, id);
  std::vector<item> buf(sc.capacity + 3);
  for (;;) {
    const std::size_t want = r.batch(sc.capacity);
    ringport::status s = ringport::status::ok;
    bool good = true;
    switch (r.pick(sc.pop_path)) {
      case path::single: {
        item v{};
        s = h->try_pop(v);
        if (s == ringport::status::ok) good = check(v);
        break;
      }
      case path::blocking: {
        item v{};
        s = h->pop(v);
        if (s == ringport::status::ok) good = check(v);
        break;
      }
      case path::batch: {
        const std::size_t k = h->pop_n_until(buf.data(), want, forever, &s);
        for (std::size_t i = 0; i < k && good; ++i) good = check(buf[i]);
        break;
      }
      case path::zero_copy: {
        const std::span<const item> slots = h->peek_until(want, forever, &s);
        for (std::size_t i = 0; i < slots.size() && good; ++i) good = check(slots[i]);
        h->release();
        break;
      }
      case path::mixed:
        break;
    }
    if (!good) return 1;
    if (s == ringport::status::closed) return 0;
    if (s == ringport::status::ok) {
      idle.reset();
    } else if (s != ringport::status::would_block) {
      return b.fail("%s: consumer %u: %s", sc.label.c_str(), id, ringport::to_string(s));
    } else if (!idle.pause()) {
      return b.fail("%s: consumer %u aborted", sc.label.c_str(), id);
    }
  }
}

/// Every (producer, seq) counter must be exactly 1; "" or what was wrong.
std::string count_check(board& b, const scenario& sc);

// ---------------------------------------------------------------- runner

/// Runs one scenario of ring type R in mode m; reports through doctest.
template <class R>
void run(mode m, const scenario& sc, std::size_t index) {
  INFO(sc.label << " (" << to_string(m) << " mode, " << sc.total() << " items)");
  board_map map(sc.total());
  board& b = map.get();
  const std::string name = "stress-" + std::to_string(index);
  auto made = m == mode::threads
                  ? R::create_local(sc.capacity, ringport::pages::normal)
                  : R::create(name, {.capacity = sc.capacity, .backing = ringport::pages::normal});
  REQUIRE_MESSAGE(made, why(made));
  const R& ring = *made;
  struct unlink_at_exit {
    const std::string* name;
    ~unlink_at_exit() {
      if (name) (void)R::remove(*name);
    }
  } unlink{m == mode::processes ? &name : nullptr};

  // In process mode the worker opens the ring by name in its own process and
  // takes its role there. A failing worker closes the ring so that its peers
  // stop waiting for it.
  auto worker = [&](auto body) {
    return [&, body]() -> int {
      if (m == mode::threads) {
        const int rc = body(ring);
        if (rc != 0) ring.close();
        return rc;
      }
      auto mine = R::open(name);
      if (!mine) return b.fail("%s: open: %s", sc.label.c_str(), mine.error().message.c_str());
      const int rc = body(*mine);
      if (rc != 0) mine->close();
      return rc;
    };
  };

  crew workers(m, [&] {
    b.aborted.store(1, std::memory_order_relaxed);
    ring.close();
  });
  for (std::uint32_t i = 0; i < sc.consumers; ++i)
    workers.start(worker([&sc, &b, i](const R& r) { return consume(r, sc, b, i); }));
  for (std::uint32_t i = 0; i < sc.producers; ++i)
    workers.start(worker([&sc, &b, i](const R& r) { return produce(r, sc, b, i); }));

  const auto deadline = clock::now() + watchdog_limit();
  bool in_time = workers.wait(sc.consumers, sc.producers, deadline);
  if (in_time) {
    ring.close();  // every item is pushed: let the consumers drain and stop
    in_time = workers.wait(0, sc.consumers, deadline);
  }
  if (!in_time) {
    workers.stop(std::chrono::seconds(30));
    FAIL("watchdog: not done after " << watchdog_limit().count() << " s (a hang or lost wake-up); "
                                     << b.message);
  }
  CHECK_MESSAGE(b.failures.load() == 0, "first failure: " << b.message);
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const bool producer = i >= sc.consumers;
    CHECK_MESSAGE(workers.code(i) == 0, (producer ? "producer " : "consumer ")
                                            << (producer ? i - sc.consumers : i) << " exited with "
                                            << workers.code(i));
  }
  const std::string counts = count_check(b, sc);
  CHECK_MESSAGE(counts.empty(), counts);
}

/// Runs every scenario of plan() for ring type R in mode m.
template <class R>
void run_all(mode m) {
  const std::vector<scenario> scenarios = plan(R::kind, items_per_kind());
  std::uint64_t items = 0;
  const auto t0 = clock::now();
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const auto s0 = clock::now();
    run<R>(m, scenarios[i], i);
    items += scenarios[i].total();
    if (verbose()) {
      const std::chrono::duration<double> t = clock::now() - s0;
      std::printf("  %-45s %9llu items %7.3f s\n", scenarios[i].label.c_str(),
                  static_cast<unsigned long long>(scenarios[i].total()), t.count());
    }
  }
  const std::chrono::duration<double> took = clock::now() - t0;
  std::printf("stress %s %s mode: %llu items in %zu scenarios, %.1f s\n", ringport::to_string(R::kind),
              to_string(m), static_cast<unsigned long long>(items), scenarios.size(), took.count());
  std::fflush(stdout);
}

}  // namespace ringport_test::stress
