// The ring engine (ringport/detail/ring_engine.hpp, and the crash recovery
// of detail/ring_recovery.hpp) under the Relacy model checker: the engine
// templates that ship, instantiated with the model's atomics, event count
// and process liveness (ring_policy below). Small systems of producers and
// consumers on rings of capacity 1 and 2, of every kind, wait with the
// event count as the library's wait loop does and check:
//  - exactly once and per-producer order;
//  - no torn read and no reuse of a slot before it is released: the slots
//    are rl::var, so Relacy reports a data race when a read is not ordered
//    after the write of its item, or a write not after the read of the
//    slot's previous item;
//  - no lost wake-up: a waiter parks without a deadline, so a wake-up the
//    protocol loses is a deadlock (Relacy fails the execution);
//  - crashes: a process may die before any of its atomic operations (the
//    kernel model of relacy_env.hpp); survivors still get every message of
//    every live producer (a dead producer's claimed position is skipped, a
//    dead consumer's slot handed back), only the dead process's in-flight
//    message may be lost, and a process that takes over a single role
//    continues without a wedge.
// Then every mutant must fail a check. README.md beside this file gives the
// model and its argument. Exit 0: as expected; 1: a check failed on the
// shipped protocol or a mutant survived.
//
// Usage: ring_model [--long] [--only CONFIG] [--check CHECK]
//   --long   the bounded search for every check, then 200000 random schedules
//   --random N   only N random schedules per check (a quick look)
#include <cstdlib>
#include <cstring>
#include <string>

#include "relacy_env.hpp"
#include "ringport/detail/ring_engine.hpp"
#include "ringport/detail/ring_recovery.hpp"

namespace model {
namespace {

namespace rd = ringport::detail;
using rd::ring_mutation;

// ---------------------------------------------------------------------------
// Configurations: the event count's Env settings (relacy_env.hpp) and the
// ring mutation.
template <ring_mutation M, bool Tsan = false>
struct ring_cfg {
  static constexpr bool rmw_pairing = Tsan;
  static constexpr rd::ec_mutation mutation = rd::ec_mutation::none;
  static constexpr bool no_wait_fence = false;
  static constexpr bool light_unregistered = false;
  static constexpr ring_mutation ring_mut = M;
};

/// The engine's policy under the model (see ring_engine.hpp for what a
/// policy supplies). Three role slots per side; a blocked side looks for
/// dead claimers at every failed try (the library: every 1024th, and at its
/// peer checks) and settles at once (the library waits recovery_delay: a
/// matter of cost, not of correctness, since liveness decides).
template <class Cfg>
struct ring_policy {
  template <class T>
  using atomic = model::atomic<T>;
  using event_count = model::event_count;
  static constexpr std::size_t roles = 3;
  using shared = rd::basic_ring_shared<atomic, event_count, roles>;
  static constexpr bool rmw_pairing = Cfg::rmw_pairing;
  static constexpr std::uint32_t stall_check_mask = 0;
  static constexpr ring_mutation mutation = Cfg::ring_mut;
  using ec_env = env<Cfg>;

  static void acquire_fence(const where& w = where::current()) { the_kernel->acquire_fence(w); }
  static void notify(event_count& ec, rd::doorbell_site*, std::size_t k) {
    if (rd::must_wake<ec_env>(ec)) rd::wake_waiters<ec_env>(ec, static_cast<std::uint32_t>(k));
  }
  static void wake_all(event_count& ec, rd::doorbell_site*) { rd::wake_waiters<ec_env>(ec); }
  static bool owner_alive(std::uint64_t o) { return the_kernel->owner_alive(o); }
  static void check_stall(const rd::basic_ring_view<ring_policy>& v, rd::role blocked, std::uint64_t pos,
                          rd::stall_watch&) {
    std::uint64_t p = 0;
    if (rd::waits_on_claim(v, blocked, pos, &p)) rd::recover_claims(v, rd::other_side(blocked));
  }
};

// ---------------------------------------------------------------------------
// Checks.
enum class part : std::uint8_t { none, producer, consumer };

struct actor {
  part r = part::none;
  unsigned items = 0;    // producer: items it pushes; consumer: unused
  bool victim = false;   // may die (once) at any of its operations
  bool restart = false;  // after dying, starts again and takes over its role
  bool keep = false;     // a keeping receiver / sender (its successor inherits what it claimed)
};

struct check {
  const char* name;
  const char* what;
  bool multi_producer, multi_consumer;
  unsigned capacity;
  unsigned threads;
  actor actors[kernel::max_threads];
  bool slow_restart = false;  // a restarted process yields a few times before it takes over (take_over)
};

constexpr actor prod(unsigned n, bool victim = false, bool restart = false, bool keep = false) {
  return {part::producer, n, victim, restart, keep};
}
constexpr actor cons(bool victim = false, bool restart = false, bool keep = false) {
  return {part::consumer, 0, victim, restart, keep};
}

const check checks[] = {
    {"spsc_c1", "spsc, capacity 1: 3 items", false, false, 1, 2, {prod(3), cons()}},
    {"spsc_c2", "spsc, capacity 2: 3 items (wrap)", false, false, 2, 2, {prod(3), cons()}},
    {"mpmc_1p1c", "mpmc, capacity 1: 1 producer x 2 items, 1 consumer", true, true, 1, 2, {prod(2), cons()}},
    {"mpmc_2p1c",
     "mpmc, capacity 1: 2 producers x 2 items, 1 consumer",
     true,
     true,
     1,
     3,
     {prod(2), prod(2), cons()}},
    {"mpmc_1p2c",
     "mpmc, capacity 2: 1 producer x 3 items, 2 consumers",
     true,
     true,
     2,
     3,
     {prod(3), cons(), cons()}},
    {"mpsc_2p1c", "mpsc, capacity 2: 2 producers x 2 items", true, false, 2, 3, {prod(2), prod(2), cons()}},
    {"spmc_1p2c",
     "spmc, capacity 1: 1 producer x 3 items, 2 consumers",
     false,
     true,
     1,
     3,
     {prod(3), cons(), cons()}},
    {"crash_mpmc_producer",
     "mpmc, capacity 1: a producer dies anywhere in its push; 1 live producer",
     true,
     true,
     1,
     3,
     {prod(1, true), prod(2), cons()}},
    {"crash_mpmc_consumer",
     "mpmc, capacity 1: a consumer dies anywhere in its pops; 1 live consumer",
     true,
     true,
     1,
     3,
     {prod(3), cons(true), cons()}},
    {"crash_mpsc_producer",
     "mpsc, capacity 2: a producer dies anywhere in its pushes",
     true,
     false,
     2,
     3,
     {prod(2, true), prod(2), cons()}},
    {"crash_spmc_consumer",
     "spmc, capacity 1: a consumer dies anywhere in its pops",
     false,
     true,
     1,
     3,
     {prod(3), cons(true), cons()}},
    {"takeover_mpsc_consumer",
     "mpsc, capacity 2: the consumer dies and a new one takes over",
     true,
     false,
     2,
     2,
     {prod(3), cons(true, true)}},
    {"takeover_spmc_producer",
     "spmc, capacity 2: the producer dies and a new one takes over",
     false,
     true,
     2,
     2,
     {prod(3, true, true), cons()}},
    {"keep_mpmc_producer",
     "mpmc, capacity 2: a keeping producer dies anywhere, its successor settles and pushes what was not "
     "delivered; 1 live producer",
     true,
     true,
     2,
     3,
     {prod(2, true, true, true), prod(2), cons()}},
    {"keep_mpmc_producer_slow",
     "as keep_mpmc_producer, the successor slow to start (survivors look for dead claimers first)",
     true,
     true,
     2,
     3,
     {prod(2, true, true, true), prod(2), cons()},
     true},
    {"keep_mpmc_consumer",
     "mpmc, capacity 1: a keeping consumer dies anywhere and its successor inherits; 1 live consumer",
     true,
     true,
     1,
     3,
     {prod(3), cons(true, true, true), cons()}},
    {"keep_mpmc_consumer_c2",
     "mpmc, capacity 2: as keep_mpmc_consumer, with room for a claim to fail",
     true,
     true,
     2,
     3,
     {prod(3), cons(true, true, true), cons()}},
};

const check* current = nullptr;

// How often the shipped engine's executions reached each case.
struct coverage {
  unsigned long long deaths, lost, abandoned, reclaimed, duplicates, kept;
} seen;

constexpr unsigned max_items = 8;     // per producer, restarts included
constexpr unsigned kill_window = 48;  // a victim dies before one of its first 48 operations, or lives

// The stamp of item n of producer p (restart r): never 0.
constexpr std::uint64_t stamp(unsigned p, unsigned r, unsigned n) {
  return (std::uint64_t{p + 1} << 16) | (r << 8) | (n + 1);
}

template <class Cfg, bool MP, bool MC, unsigned N>
struct ring_test : rl::test_suite<ring_test<Cfg, MP, MC, N>, N> {
  using P = ring_policy<Cfg>;
  using view = rd::basic_ring_view<P>;
  using producer = rd::producer_engine<MP, MC, P>;
  using consumer = rd::consumer_engine<MP, MC, P>;
  static constexpr unsigned cap_max = 2;
  static constexpr bool has_turns = MP || MC;

  kernel k;
  typename P::shared shared;
  atomic<std::uint64_t> turns[cap_max];
  alignas(8) std::byte dummy[cap_max * sizeof(std::uint64_t)];  // the engine's data pointer; never touched
  rl::var<std::uint64_t> slots[cap_max];                        // the items, by slot
  view v;

  // The harness's bookkeeping (plain: Relacy runs every thread in one OS
  // thread, and no scheduling point separates an update from its event).
  bool pushed[N][4][max_items];   // item (p, r, n): its push returned ok
  unsigned restarts[N];           // how often thread t started again
  bool finished[N];               // thread t's producer or consumer loop ended
  unsigned got[N][4][max_items];  // times item (p, r, n) was received
  std::uint64_t last_seen[N][N];  // consumer c: the last stamp it got from producer p
  bool done;                      // every item owed arrived: the consumers closed the ring
  bool victim_holding;            // the victim consumer died holding a claimed item
  std::uint64_t inflight;         // the item the victim producer was pushing when it died
  std::uint64_t recorded[N];      // consumer t: 1 + the position of the last item it recorded (0: none)
  unsigned confirmed[N];          // keeping producer t: its items before this one are delivered
  std::uint64_t sending[N];       // keeping producer t: 1 + the position of the item it wrote last (0: none)
  bool keeping;                   // the check has a keeping consumer

  void before() {
    const check& c = *current;
    kernel::options o;
    o.threads = N;
    o.registered = ~0u;
    k.reset(o);
    the_kernel = &k;
    shared.closed.init(0);
    shared.tail.init(0);
    shared.head.init(0);
    // A dead thread reads its cursors as 0 and everything else as all ones:
    // no turn of position 0 is all ones, so its claim loops end at once.
    shared.tail.set_ghost(0);
    shared.head.set_ghost(0);
    shared.not_empty.init(rd::fences_light);
    shared.not_full.init(rd::fences_light);
    for (unsigned i = 0; i < P::roles; ++i) {
      shared.producers.slots[i].owner.init(0);
      shared.consumers.slots[i].owner.init(0);
      shared.producer_claims[i].from.init(0);
      shared.producer_claims[i].end.init(0);
      shared.consumer_claims[i].from.init(0);
      shared.consumer_claims[i].end.init(0);
      shared.producer_claims[i].keep.init(0);
      shared.consumer_claims[i].keep.init(0);
    }
    shared.recovery.kept.init(0);
    shared.recovery.abandoned.init(0);
    shared.recovery.reclaimed.init(0);
    shared.recovery.takeovers.init(0);
    for (unsigned i = 0; i < cap_max; ++i) turns[i].init(0);  // lap 0: free for producers
    v = view{};
    v.shared = &shared;
    v.turns = has_turns ? turns : nullptr;
    v.data = dummy;
    v.capacity = c.capacity;
    v.mask = c.capacity - 1;
    v.stride = sizeof(std::uint64_t);
    v.shift = c.capacity == 1 ? 0 : 1;
    // Role slots: thread t holds slot (its index among its side's actors).
    unsigned np = 0, nc = 0;
    for (unsigned t = 0; t < N; ++t) {
      auto& table = c.actors[t].r == part::producer ? shared.producers : shared.consumers;
      const unsigned slot = c.actors[t].r == part::producer ? np++ : nc++;
      table.slots[slot].owner.init(k.owner(t));
      // ring_state::attach_keeping() tags the record before the first claim.
      if (c.actors[t].keep)
        (c.actors[t].r == part::producer ? shared.producer_claims : shared.consumer_claims)[slot].keep.init(
            0x6b656570);
      if (c.actors[t].victim) k.arm_kill(t, kill_window);
    }
    done = victim_holding = false;
    inflight = 0;
    std::memset(pushed, 0, sizeof pushed);
    std::memset(restarts, 0, sizeof restarts);
    std::memset(finished, 0, sizeof finished);
    std::memset(got, 0, sizeof got);
    std::memset(last_seen, 0, sizeof last_seen);
    std::memset(recorded, 0, sizeof recorded);
    std::memset(confirmed, 0, sizeof confirmed);
    std::memset(sending, 0, sizeof sending);
    keeping = false;
    for (unsigned t = 0; t < N; ++t) keeping |= c.actors[t].keep;
  }

  unsigned slot_of(unsigned t) const {
    unsigned i = 0;
    for (unsigned u = 0; u < t; ++u) i += current->actors[u].r == current->actors[t].r;
    return i;
  }
  unsigned index_of(const std::byte* slot) const {
    return static_cast<unsigned>((slot - dummy) / static_cast<std::ptrdiff_t>(sizeof(std::uint64_t)));
  }

  void thread(unsigned t) {
    if (current->actors[t].r == part::producer)
      produce(t);
    else
      consume(t);
    k.exit();
  }

  // ---- waiting: the parked part of detail::wait_loop (the spin and yield
  // phases only add attempts): look for dead claimers (the peer check),
  // then one park_round, counted as ring<T>'s waits are; a sleep ends on a
  // wake-up, or when a process died (its 50 ms slice runs out: kernel,
  // "process death").
  template <class Engine, class Attempt>
  status wait(Engine& e, typename P::event_count& ec, Attempt&& attempt) {
    rd::park_state parked;
    for (;;) {
      if (status s = attempt(); s != status::would_block || k.me_dead()) return s;
      e.poll_stall();
      if (k.me_dead()) return status::would_block;
      const status s =
          rd::park_round<typename P::ec_env>(ec, parked, rd::wake_share::counted, attempt, futex_sleep{});
      if (s != status::would_block || k.me_dead()) return s;
    }
  }

  bool closed() { return shared.closed.load(std::memory_order_acquire) != 0; }

  // ring_state::close(), when the consumers got everything: wakes both sides.
  void close() {
    shared.closed.store(1, std::memory_order_release);
    P::wake_all(shared.not_empty, nullptr);
    P::wake_all(shared.not_full, nullptr);
  }

  // ---- producers: try_push (transfer_one: reserve, write, publish), waiting on
  // not_full when full, as producer_handle::push does.
  void produce(unsigned t) {
    const actor& a = current->actors[t];
    const unsigned slot = slot_of(t);
    for (unsigned r = 0;; ++r) {
      producer e(v, slot);
      if constexpr (MP)
        if (r != 0 && a.keep) settle_kept(t, e);
      push_all(t, r, e, a.items);
      if (!k.me_dead() || !a.restart) break;
      // Died: the process is gone; a new process takes over its role.
      ++restarts[t];
      take_over(shared.producers, slot, k.restart());
    }
    finished[t] = true;
    check_done();
  }

  // A keeping producer's successor (ringport bridge in's settle_left()):
  // settles the inherited record (a claim held is voided: never
  // delivered), then judges the item its predecessor recorded as written:
  // delivered unless that claim was the one voided.
  // resolve_kept() until no other live record covers the inherited
  // positions (that side moves on meanwhile), then inherit() what it holds.
  template <class Engine>
  rd::kept_claim resolve_waiting(rd::role side, Engine& e) {
    for (;;) {
      const rd::kept_claim kc = rd::resolve_kept(v, side, e.claims());
      if (kc.state != rd::kept_state::wait) {
        e.inherit(kc.held);
        return kc;
      }
      rl::yield(1, $);
    }
  }

  void settle_kept(unsigned t, producer& e) {
    const rd::kept_claim kc = resolve_waiting(rd::role::producer, e);
    bool voided_sending = false;
    if (kc.state == rd::kept_state::held) {
      RL_ASSERT(kc.held.count == 1);  // transfer_one claims one position
      voided_sending = sending[t] == kc.held.pos + 1;
      e.abandon();
      seen.kept++;
    }
    if (sending[t] != 0 && !voided_sending) ++confirmed[t];  // the written item was published
    sending[t] = 0;
  }

  void push_all(unsigned t, unsigned r, producer& e, unsigned items) {
    const bool keep = current->actors[t].keep;
    for (unsigned n = keep ? confirmed[t] : 0; n < items; ++n) {
      const std::uint64_t item = stamp(t, r, n);
      auto attempt = [&]() -> status {
        if (closed()) return status::closed;
        bool wrote = false;  // a dead thread writes nothing (its publication is then a no-op)
        const bool ok = e.transfer_one([&](std::byte* s) {
          if (!k.live(where::current())) return;  // a kill point: dead holding its reserved slot
          slots[index_of(s)]($) = item;
          wrote = true;
          if (keep) sending[t] = e.pos() + 1;  // recorded after the write, before the publish
        });
        return ok && wrote ? status::ok : status::would_block;
      };
      const status s = wait(e, shared.not_full, attempt);
      if (k.me_dead()) {
        inflight = item;
        return;
      }
      RL_ASSERT(s == status::ok);  // the consumers close only when every owed item arrived
      pushed[t][r][n] = true;
      if (keep) {
        confirmed[t] = n + 1;  // the seen store
        sending[t] = 0;
      }
    }
  }

  // ---- consumers: try_pop (transfer_one: reserve, read, release), waiting on
  // not_empty when empty, until every owed item arrived.
  void consume(unsigned t) {
    const actor& a = current->actors[t];
    const unsigned slot = slot_of(t);
    for (unsigned r = 0;; ++r) {
      consumer e(v, slot);
      if constexpr (MC)
        if (r != 0 && a.keep) deliver_kept(t, e);
      pop_all(t, e);
      if (!k.me_dead()) break;
      if (!a.restart) break;
      ++restarts[t];
      take_over(shared.consumers, slot, k.restart());
    }
    finished[t] = true;
    check_done();
  }

  void pop_all(unsigned t, consumer& e) {
    for (;;) {
      auto attempt = [&]() -> status {
        check_done();
        if (done) return status::closed;
        bool read = false;  // read and recorded before the release, as try_pop copies before it
        const bool ok = e.transfer_one([&](const std::byte* s) {
          if (k.me_dead()) return;          // died before the claim: holds nothing
          if (!k.live(where::current())) {  // a kill point: dead holding the item it claimed
            victim_holding = true;
            return;
          }
          record(t, slots[index_of(s)]($));
          recorded[t] = e.pos() + 1;
          read = true;
        });
        return ok && read ? status::ok : status::would_block;
      };
      const status s = wait(e, shared.not_empty, attempt);
      if (k.me_dead() || s == status::closed) return;
      RL_ASSERT(s == status::ok);
    }
  }

  // A keeping consumer's successor (mailbox_receiver::take_kept): resolves
  // the inherited record, then delivers what it holds first, unless its
  // predecessor recorded that position already (the bridge's journal origin).
  void deliver_kept(unsigned t, consumer& e) {
    const rd::kept_claim kc = resolve_waiting(rd::role::consumer, e);
    if (kc.state != rd::kept_state::held) return;
    RL_ASSERT(kc.held.count == 1);  // transfer_one claims one position
    seen.kept++;
    if (recorded[t] != kc.held.pos + 1) {
      record(t, slots[index_of(v.slot(kc.held.pos))]($));
      recorded[t] = kc.held.pos + 1;
    }
    e.publish();
  }

  void record(unsigned c, std::uint64_t item) {
    const unsigned p = static_cast<unsigned>(item >> 16) - 1, r = (item >> 8) & 0xff, n = (item & 0xff) - 1;
    RL_ASSERT(p < N && r < 4 && n < max_items);  // an item some producer wrote
    ++got[p][r][n];
    // Per-producer order, for each consumer; a consumer that took over a
    // single role may get again the item its predecessor was reading.
    RL_ASSERT(item > last_seen[c][p] || (restarts[c] != 0 && item == last_seen[c][p]));
    last_seen[c][p] = item;
  }

  // Whether item (p, r, n) must reach the consumers: every item of a live
  // producer and of a restarted process; of the victim's first process,
  // those whose push returned ok.
  bool owed(unsigned p, unsigned r, unsigned n) const {
    return !current->actors[p].victim || r > 0 || pushed[p][r][n];
  }
  // A keeping producer's item n, over its restarts (its successor pushes
  // again only what was not delivered): must arrive exactly once.
  unsigned delivered(unsigned p, unsigned n) const {
    unsigned times = 0;
    for (unsigned r = 0; r <= restarts[p]; ++r) times += got[p][r][n];
    return times;
  }

  // Every item owed has arrived (but for the one a dead consumer held), and
  // no producer may still push one: close, so that every waiter stops.
  // Called by consumers before each try, and by every thread as it ends (a
  // sleeper also wakes when a process dies: kernel, "process death").
  void check_done() {
    if (done) return;
    const check& c = *current;
    unsigned missing = 0;
    for (unsigned p = 0; p < N; ++p) {
      if (c.actors[p].r != part::producer) continue;
      if (c.actors[p].victim && !finished[p] && !k.dead(p)) return;  // may still push an owed item
      if (c.actors[p].keep) {
        for (unsigned n = 0; n < c.actors[p].items; ++n) missing += delivered(p, n) == 0;
        continue;
      }
      for (unsigned r = 0; r <= restarts[p]; ++r)
        for (unsigned n = 0; n < c.actors[p].items; ++n) missing += owed(p, r, n) && got[p][r][n] == 0;
    }
    const unsigned excused = victim_holding && c.multi_consumer && !keeping ? 1 : 0;
    if (missing > excused) return;
    done = true;
    close();
  }

  // attach() taking over a dead holder's role slot: the new process's owner
  // word replaces the dead one (acq_rel CAS, as in ring_state::attach). A
  // slow restart yields first, so that survivors get to run (and look for
  // dead claimers) before the new process attaches.
  void take_over(rd::basic_role_table<atomic, P::roles>& table, unsigned slot, std::uint64_t me) {
    if (current->slow_restart)
      for (int i = 0; i < 4; ++i) rl::yield(1, $);
    std::uint64_t cur = table.slots[slot].owner.load(std::memory_order_acquire);
    RL_ASSERT(cur != 0 && !k.owner_alive(cur));
    RL_ASSERT(table.slots[slot].owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel));
  }

  void after() {
    const check& c = *current;
    bool died = false;
    for (unsigned t = 0; t < N; ++t) died |= c.actors[t].victim && (k.dead(t) || restarts[t] != 0);
    seen.deaths += died;
    RL_ASSERT(done);  // every owed item arrived
    unsigned missing = 0;
    for (unsigned p = 0; p < N; ++p) {
      if (c.actors[p].r != part::producer) continue;
      if (c.actors[p].keep) {
        for (unsigned n = 0; n < c.actors[p].items; ++n) {
          RL_ASSERT(delivered(p, n) == 1);  // neither lost nor pushed twice across the crash
          seen.duplicates += delivered(p, n) > 1;
        }
        continue;
      }
      for (unsigned r = 0; r <= restarts[p]; ++r)
        for (unsigned n = 0; n < c.actors[p].items; ++n) {
          const unsigned times = got[p][r][n];
          // At most once, but for the item a dead single consumer was
          // reading (delivered again to its successor: ring_engine.hpp,
          // "Crashes").
          RL_ASSERT(times <= 1 || (times == 2 && died && !c.multi_consumer));
          seen.duplicates += times > 1;
          // Exactly once for what is owed, but for the one item a dead
          // multi consumer held; anything else is the in-flight item of a
          // dead producer (lost or delivered).
          if (owed(p, r, n) && times == 0) ++missing;
          if (!owed(p, r, n) && times != 0) RL_ASSERT(stamp(p, r, n) == inflight);
          seen.lost += times == 0 && (owed(p, r, n) || stamp(p, r, n) == inflight);
        }
    }
    // A keeping consumer's successor delivers what it held: nothing excused.
    RL_ASSERT(missing <= (victim_holding && c.multi_consumer && !keeping ? 1u : 0u));
    seen.abandoned += shared.recovery.abandoned.raw().load(rl::mo_relaxed, $) != 0;
    seen.reclaimed += shared.recovery.reclaimed.raw().load(rl::mo_relaxed, $) != 0;
  }
};

// ---------------------------------------------------------------------------
template <class Cfg, bool MP, bool MC>
outcome run_kind(const check& c, rl::scheduler_type_e type, unsigned bound, unsigned long long iterations) {
  if (c.threads == 2) return run_search<ring_test<Cfg, MP, MC, 2>>(type, bound, iterations, 6000);
  return run_search<ring_test<Cfg, MP, MC, 3>>(type, bound, iterations, 6000);
}

template <class Cfg>
outcome run(const check& c, rl::scheduler_type_e type, unsigned bound, unsigned long long iterations) {
  current = &c;
  if (c.multi_producer && c.multi_consumer) return run_kind<Cfg, true, true>(c, type, bound, iterations);
  if (c.multi_producer) return run_kind<Cfg, true, false>(c, type, bound, iterations);
  if (c.multi_consumer) return run_kind<Cfg, false, true>(c, type, bound, iterations);
  return run_kind<Cfg, false, false>(c, type, bound, iterations);
}

struct config {
  const char* name;
  const char* what;
  outcome (*run)(const check&, rl::scheduler_type_e, unsigned, unsigned long long);
  const char* kills;  // mutants: the checks that must fail (space-separated); null: shipped
};

const config configs[] = {
    {"shipped", "the engine as the library builds it", run<ring_cfg<ring_mutation::none>>, nullptr},
    {"shipped-tsan", "the engine as ThreadSanitizer builds build it (RMW for F-ACCEPT, RMW event count)",
     run<ring_cfg<ring_mutation::none, true>>, nullptr},
    {"relaxed-turn-full", "a producer publishes its turn relaxed",
     run<ring_cfg<ring_mutation::relaxed_turn_full>>, "mpmc_2p1c mpmc_1p2c"},
    {"relaxed-turn-free", "a consumer frees its turn relaxed",
     run<ring_cfg<ring_mutation::relaxed_turn_free>>, "mpmc_2p1c spmc_1p2c"},
    {"relaxed-ready", "the turn check (A-TURN) relaxed", run<ring_cfg<ring_mutation::relaxed_ready>>,
     "mpmc_2p1c mpmc_1p2c"},
    {"relaxed-tail", "spsc: the producer's tail store relaxed", run<ring_cfg<ring_mutation::relaxed_tail>>,
     "spsc_c1 spsc_c2"},
    {"relaxed-head", "spsc: the producer's head load relaxed", run<ring_cfg<ring_mutation::relaxed_head>>,
     "spsc_c1 spsc_c2"},
    {"no-announce", "claims are not recorded", run<ring_cfg<ring_mutation::no_announce>>,
     "crash_mpmc_producer crash_mpmc_consumer"},
    {"no-retract", "a failed claim keeps its record", run<ring_cfg<ring_mutation::no_retract>>,
     "crash_mpmc_producer"},
    {"settle-live", "recovery ignores liveness", run<ring_cfg<ring_mutation::settle_live>>, "mpmc_1p1c"},
    {"exact-resume",
     "a new single consumer resumes only over slots freed, not refilled (the engine before the model found "
     "it)",
     run<ring_cfg<ring_mutation::exact_resume>>, "takeover_mpsc_consumer"},
    {"ignore-keep", "recovery settles a dead keeper's claim (its item is lost, or taken for delivered)",
     run<ring_cfg<ring_mutation::ignore_keep>>, "keep_mpmc_producer_slow keep_mpmc_consumer"},
    {"kept-alone", "a keeper's successor takes a position another live record covers",
     run<ring_cfg<ring_mutation::kept_alone>>, "keep_mpmc_producer keep_mpmc_consumer_c2"},
};

}  // namespace
}  // namespace model

int main(int argc, char** argv) {
  using namespace model;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const model_args args = parse_model_args(argc, argv);
  bool all_good = true;
  for (const config& cfg : configs) {
    if (args.only && std::strcmp(args.only, cfg.name) != 0) continue;
    const bool is_mutant = cfg.kills != nullptr;
    std::printf("%s: %s\n", cfg.name, cfg.what);
    for (const check& c : checks) {
      if (args.only_check && std::strcmp(args.only_check, c.name) != 0) continue;
      const bool must_fail = is_mutant && listed(cfg.kills, c.name);
      if (is_mutant && !args.long_mode && !must_fail) continue;
      bool failed = false;
      // Short mode: every schedule with at most 1 preemption for the
      // two-thread checks without a death, then 2,000 random schedules. --long: at most 1
      // preemption for every check, then 200,000 random schedules. Mutants
      // stop at their first failure.
      const unsigned bound = 1;
      bool victim = false;
      for (const actor& a : c.actors) victim = victim || a.victim;
      const bool bounded = args.random == 0 && (args.long_mode || (c.threads == 2 && !victim));
      const unsigned long long randoms = args.random != 0 ? args.random : args.long_mode ? 200000 : 2000;
      for (int pass = bounded ? 0 : 1; pass < 2 && !failed; ++pass) {
        seen = {};
        const outcome o =
            pass == 0 ? cfg.run(c, rl::sched_bound, bound, 0) : cfg.run(c, rl::sched_random, 0, randoms);
        failed = !o.passed;
        char label[16];
        std::snprintf(label, sizeof label, pass == 1 ? "random" : "bound %u", bound);
        std::printf("  %-22s %-8s %-4s %9llu executions  %s\n", c.name, label, o.passed ? "pass" : "FAIL",
                    o.iterations, c.what);
        if (!is_mutant)
          std::printf(
              "  %-22s reached: %llu deaths, %llu lost, %llu abandoned, %llu reclaimed, %llu redelivered, "
              "%llu kept\n",
              "", seen.deaths, seen.lost, seen.abandoned, seen.reclaimed, seen.duplicates, seen.kept);
        if (failed && !is_mutant) std::printf("%s\n", o.report.c_str());
        if (failed && is_mutant && std::getenv("MODEL_VERBOSE")) std::printf("%s\n", o.report.c_str());
      }
      if (!is_mutant && failed) all_good = false;
      if (must_fail && !failed) {
        std::printf("  MUTANT NOT CAUGHT by %s\n", c.name);
        all_good = false;
      }
    }
  }
  std::printf("%s\n", all_good ? "model: all as expected" : "model: UNEXPECTED RESULTS");
  return all_good ? 0 : 1;
}
