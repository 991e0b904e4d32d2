// Chaos (issue 10, item 3): ten processes on one mailbox and one mpmc ring,
// three senders and two receivers each, while the test SIGKILLs a random
// one after a random delay and starts it again, over and over.
//
// Roles and incarnations. A role (object, side, logical id) is played by a
// sequence of processes, its incarnations: a killed one is replaced at once
// by a new process that opens the object by name and takes a new handle
// (a new role slot). Every sender incarnation has a record of its own; the
// record's index is the stamp's producer field (stress_harness.hpp), so
// every message carries (sender id, incarnation) through the record, its
// seq and a checksum. Mailbox messages are 40..4000 bytes, unpaced; a
// quarter of the sends of either object go through claim/commit; receivers
// take with peek/release. One in 16 of the claims and peeks yields while it
// holds its slot (standing for work done in place), so that kills land
// inside those windows often, not only in the nanoseconds a copy takes.
//
// Accounting. After each send that returned ok a sender stores its count of
// messages sent (`acked`) in its record, alone on a cache line: a message is
// acknowledged once its send returned ok and that store happened. So a
// killed sender has `acked` acknowledged messages and at most one more in
// flight (seq == acked). A receiver takes one message at a time (peek),
// checks it and logs it in the board's seen table (the stress checker: torn,
// order per receiver, duplicate) before it releases it: one killed after the
// log harms nothing; one killed between taking and logging loses that one,
// whichever sender sent it (the engine frees a dead receiver's slot; it does
// not hand it to a successor). So that such a loss is told from a lost
// message, a receiver notes the stamp of the message it holds (`holding`,
// alone on a cache line) from the moment its peek returns until it logged
// it; the parent reads the note of every receiver it killed, after the
// kill. The checks:
//   - on receipt: seq <= the sender's acked at that moment (nothing beyond
//     the acknowledged messages and the one in flight ever arrives);
//   - every acknowledged message arrived at most once;
//   - an acknowledged message that never arrived was held by a receiver
//     when it was killed, or is one of at most as many as the receiver
//     kills that found no note (killed inside peek, before its note);
//   - a sender never killed: its seq == acked did not arrive.
//
// Phases: chaos (the kills); settle (no more kills; senders send on until
// each object delivered 4 x capacity more, which a wedged one cannot);
// stopping (senders stop); draining (objects closed, receivers drain).
//
// Watchdog. The parent samples each object's deliveries every few ms. One
// that delivers nothing for RINGPORT_CHAOS_WATCHDOG_S (default 10 s) while
// its senders send (chaos, settle), or a stopping or draining phase that
// lasts as long, fails the test with what the parent knows (for a stall:
// the kills of that object just before it); every child is killed (also if
// the test process dies: PR_SET_PDEATHSIG) and the names are removed. The
// worst stall (the longest time without a delivery while senders were
// sending) is reported, never asserted on: tests are not timed.
//
// Volume: RINGPORT_CHAOS_KILLS kills (default 80) after random delays,
// uniform in 0 .. 2 x RINGPORT_CHAOS_SECONDS / kills (default 15 s in all);
// RINGPORT_CHAOS_SEED replays the choices of victims and delays (not the
// timing). Long mode: RINGPORT_CHAOS_KILLS=500 RINGPORT_CHAOS_SECONDS=300.
#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringport/detail/cpu.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"
#include "stress_harness.hpp"

namespace {

namespace st = ringport_test::stress;
using ringport::status;
using st::clock;
using namespace std::chrono_literals;

enum class object : std::uint32_t { none = 0, mailbox = 1, ring = 2 };
constexpr std::size_t objects = 2;
std::size_t slot_of(object o) noexcept {
  return static_cast<std::size_t>(o) - 1;
}
const char* to_string(object o) noexcept {
  return o == object::mailbox ? "mailbox" : "mpmc ring";
}
constexpr object all_objects[objects] = {object::mailbox, object::ring};

constexpr std::uint32_t senders_per_object = 3;
constexpr std::uint32_t receivers_per_object = 2;
constexpr std::size_t capacity = 64;  // small: full and empty both happen
constexpr std::size_t max_message = 4000;
constexpr std::uint64_t quota = std::uint64_t{1} << 20;  // messages per sender incarnation
constexpr int quota_done = 3;      // exit code of a sender incarnation that sent its quota
constexpr auto call_limit = 50ms;  // deadline of each waiting call: workers watch stop and abort
constexpr auto tick = 2ms;         // the parent's sampling period
// Deliveries each object must make after the last kill: more than a wedged
// object can make (a dead producer's unpublished slot lets through at most
// the `capacity` messages before it; a dead consumer's unreleased slot lets
// producers fill at most `capacity` more), so that a stall that begins just
// before the kills end meets the watchdog too.
constexpr std::uint64_t settle_messages = 4 * capacity;

const char* const mailbox_name = "chaos-mailbox";
const char* const ring_name = "chaos-ring";
using ring_t = ringport::mpmc<st::item>;

struct settings {
  std::uint64_t kills;
  std::uint64_t seconds;
  std::uint64_t watchdog_s;
  std::uint64_t seed;
  std::size_t records;  // sender incarnations there is room for
};

settings read_settings() {
  settings s{};
  s.kills = st::env_number("RINGPORT_CHAOS_KILLS", 80);
  s.seconds = st::env_number("RINGPORT_CHAOS_SECONDS", 15);
  s.watchdog_s = st::env_number("RINGPORT_CHAOS_WATCHDOG_S", 10);
  const auto now = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  s.seed = st::env_number("RINGPORT_CHAOS_SEED", st::mix64(now) | 1);
  // The first incarnations, one per kill, and room for senders that send
  // their quota (at 200k messages/s, one each per 5 s). Only the pages of
  // the seen table that get used cost memory.
  s.records = 2 * senders_per_object + s.kills + 64 + 4 * s.seconds;
  return s;
}

// One sender incarnation's record, alone on its cache line.
struct alignas(ringport::detail::cache_line) record {
  std::atomic<std::uint64_t> acked{0};    // its sender's messages acknowledged; only it writes
  std::atomic<object> obj{object::none};  // set by the parent before the sender starts
};
struct alignas(ringport::detail::cache_line) counter {
  std::atomic<std::uint64_t> n{0};
};

// A receiver's note of the message it holds: 0, or 1 + record x quota + seq.
std::uint64_t holding_note(const st::item& it) noexcept {
  return 1 + std::uint64_t{it.producer} * quota + it.seq;
}

// What the parent and every child share (MAP_SHARED, mapped before the forks).
struct control {
  alignas(ringport::detail::cache_line) std::atomic<std::uint32_t> stop{
      0};                                          // senders: stop after the current call
  counter delivered[objects];                      // messages logged by receivers
  counter holding[objects][receivers_per_object];  // holding_note() of what each receiver holds
  record* records() noexcept { return reinterpret_cast<record*>(this + 1); }
};

class control_map {
 public:
  explicit control_map(std::size_t records) : bytes_(sizeof(control) + records * sizeof(record)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw std::runtime_error(std::string("mmap of the chaos control: ") + std::strerror(errno));
    c_ = new (p) control;
    for (std::size_t i = 0; i < records; ++i) new (c_->records() + i) record;
  }
  ~control_map() { ::munmap(c_, bytes_); }
  control_map(const control_map&) = delete;
  control_map& operator=(const control_map&) = delete;
  control& get() const noexcept { return *c_; }

 private:
  control* c_ = nullptr;
  std::size_t bytes_;
};

// What every worker needs; forked children inherit it.
struct shared_view {
  st::board& b;
  control& c;
  const settings& cfg;
  std::array<st::scenario, objects> sc;  // per object: the checker's view of the seen table
};

// Work done on a slot in place (the point of claim and peek) takes time:
// now and then a yield stands for it, so that kills land between claim and
// commit, and between peek and release, not only in the nanoseconds a bare
// copy takes.
void work_in_place(std::uint64_t seq) noexcept {
  if (seq % 16 == 0) ::sched_yield();
}

bool transient(status s) noexcept {
  // peer_gone: the receivers of the moment were killed; new ones come.
  return s == status::would_block || s == status::timed_out || s == status::peer_gone;
}

// ---------------------------------------------------------------- senders

// Sends (rec, 0), (rec, 1), ... with send(seq, zero_copy) until told to
// stop (0), the quota is sent (quota_done), or a call fails (1).
template <class Send>
int send_loop(shared_view& v, object o, std::uint32_t rec, Send&& send) {
  record& r = v.c.records()[rec];
  st::rng pick(v.cfg.seed ^ st::mix64(rec + 1));
  for (std::uint64_t seq = 0; seq < quota;) {
    if (v.c.stop.load(std::memory_order_acquire) != 0) return 0;
    if (v.b.aborted.load(std::memory_order_relaxed) != 0) return 1;
    const status s = send(seq, pick.below(4) == 0);
    if (s == status::ok) {
      // Stored before the next message is sent: a receiver that gets seq
      // finds acked >= seq (through the ring's publication).
      r.acked.store(++seq, std::memory_order_release);
    } else if (!transient(s)) {
      return v.b.fail("%s sender (record %u) at seq %llu: %s", to_string(o), rec,
                      static_cast<unsigned long long>(seq), ringport::to_string(s));
    }
  }
  return quota_done;
}

int mailbox_sender(shared_view& v, std::uint32_t rec) {
  auto box = ringport::mailbox::open(mailbox_name);
  if (!box) return v.b.fail("mailbox sender (record %u): open: %s", rec, box.error().message.c_str());
  auto tx = box->sender();
  if (!tx) return v.b.fail("mailbox sender (record %u): %s", rec, tx.error().message.c_str());
  std::vector<std::byte> buf(max_message);
  return send_loop(v, object::mailbox, rec, [&](std::uint64_t seq, bool zero_copy) {
    const auto deadline = clock::now() + call_limit;
    if (!zero_copy) {
      const std::size_t n = st::write_message(buf, rec, seq, max_message);
      return tx->send_until({buf.data(), n}, deadline);
    }
    const std::size_t n = st::message_length(rec, seq, max_message);
    std::span<std::byte> slot;
    if (const status s = tx->claim_until(n, slot, deadline); s != status::ok) return s;
    st::write_message(slot, rec, seq, max_message);
    work_in_place(seq);
    return tx->commit(n);
  });
}

int ring_producer(shared_view& v, std::uint32_t rec) {
  auto ring = ring_t::open(ring_name);
  if (!ring) return v.b.fail("ring producer (record %u): open: %s", rec, ring.error().message.c_str());
  auto tx = ring->producer();
  if (!tx) return v.b.fail("ring producer (record %u): %s", rec, tx.error().message.c_str());
  return send_loop(v, object::ring, rec, [&](std::uint64_t seq, bool zero_copy) {
    const auto deadline = clock::now() + call_limit;
    if (!zero_copy) return tx->push_until(st::make_item(rec, seq), deadline);
    status s = status::ok;
    const std::span<st::item> slot = tx->claim_until(1, deadline, &s);
    if (slot.empty()) return s == status::ok ? status::would_block : s;
    work_in_place(seq);
    slot[0] = st::make_item(rec, seq);
    tx->commit();
    return status::ok;
  });
}

// ---------------------------------------------------------------- receivers

// Checks and logs one message of object o (its stamp it); false, with the
// failure on the board, when it is wrong.
bool take(shared_view& v, object o, st::checker& check, const st::item& it) {
  const bool stamped =
      it.producer < v.cfg.records && it.pad == ~it.producer && it.check == st::stamp(it.producer, it.seq);
  if (stamped) {  // else the checker reports it as torn
    const record& r = v.c.records()[it.producer];
    if (r.obj.load(std::memory_order_relaxed) != o) {
      v.b.fail("%s: a message of record %u, which is no sender of it", to_string(o), it.producer);
      return false;
    }
    const std::uint64_t acked = r.acked.load(std::memory_order_acquire);
    if (it.seq > acked) {
      v.b.fail("%s: record %u seq %llu arrived while only %llu were acknowledged", to_string(o), it.producer,
               static_cast<unsigned long long>(it.seq), static_cast<unsigned long long>(acked));
      return false;
    }
  }
  if (!check(it)) return false;  // torn, out of order, duplicate; else logged in the seen table
  v.c.delivered[slot_of(o)].n.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Takes messages with peek(deadline), which checks, logs and releases one,
// until the object is closed and drained (0) or something is wrong (1).
template <class Peek>
int receive_loop(shared_view& v, object o, std::uint32_t id, Peek&& peek) {
  for (;;) {
    if (v.b.aborted.load(std::memory_order_relaxed) != 0) return 1;
    const status s = peek(clock::now() + call_limit);
    if (v.b.failures.load(std::memory_order_relaxed) != 0) return 1;  // this one's, or another's
    if (s == status::closed) return 0;
    if (s != status::ok && !transient(s))
      return v.b.fail("%s receiver %u: %s", to_string(o), id, ringport::to_string(s));
  }
}

int mailbox_receiver(shared_view& v, std::uint32_t id) {
  auto box = ringport::mailbox::open(mailbox_name);
  if (!box) return v.b.fail("mailbox receiver %u: open: %s", id, box.error().message.c_str());
  auto rx = box->receiver();
  if (!rx) return v.b.fail("mailbox receiver %u: %s", id, rx.error().message.c_str());
  st::checker check(v.sc[slot_of(object::mailbox)], v.b, id);
  return receive_loop(v, object::mailbox, id, [&](clock::time_point deadline) {
    std::span<const std::byte> msg;
    const status s = rx->peek_until(msg, deadline);
    if (s != status::ok) return s;
    std::atomic<std::uint64_t>& note = v.c.holding[slot_of(object::mailbox)][id].n;
    if (msg.size() >= sizeof(st::item)) {  // the stamp as it stands; verified below
      st::item stamp{};
      std::memcpy(&stamp, msg.data(), sizeof stamp);
      note.store(holding_note(stamp), std::memory_order_relaxed);
    }
    st::message_header h{};
    if (const char* bad = st::verify_message(msg, max_message, &h)) {
      v.b.fail("mailbox receiver %u: %s: %zu bytes, record %u, seq %llu", id, bad, msg.size(),
               h.stamp.producer, static_cast<unsigned long long>(h.stamp.seq));
      return status::corrupt;
    }
    if (!take(v, object::mailbox, check, h.stamp)) return status::corrupt;
    note.store(0, std::memory_order_relaxed);
    work_in_place(h.stamp.seq);
    rx->release();
    return status::ok;
  });
}

int ring_consumer(shared_view& v, std::uint32_t id) {
  auto ring = ring_t::open(ring_name);
  if (!ring) return v.b.fail("ring consumer %u: open: %s", id, ring.error().message.c_str());
  auto rx = ring->consumer();
  if (!rx) return v.b.fail("ring consumer %u: %s", id, rx.error().message.c_str());
  st::checker check(v.sc[slot_of(object::ring)], v.b, id);
  return receive_loop(v, object::ring, id, [&](clock::time_point deadline) {
    status s = status::ok;
    const std::span<const st::item> got = rx->peek_until(1, deadline, &s);
    if (got.empty()) return s == status::ok ? status::would_block : s;
    std::atomic<std::uint64_t>& note = v.c.holding[slot_of(object::ring)][id].n;
    note.store(holding_note(got[0]), std::memory_order_relaxed);
    if (!take(v, object::ring, check, got[0])) return status::corrupt;
    note.store(0, std::memory_order_relaxed);
    work_in_place(got[0].seq);
    rx->release();
    return status::ok;
  });
}

// ---------------------------------------------------------------- the parent

enum class side : std::uint8_t { sender, receiver };
// chaos: kills; settle: no more kills, senders send on until every object
// delivered settle_messages more; stopping: senders stop; draining: the
// objects are closed, receivers drain.
enum class phase : std::uint8_t { chaos, settle, stopping, draining };

struct role {
  object obj;
  side sd;
  std::uint32_t id;  // logical id within (obj, sd)
  std::uint32_t incarnation = 0;
  std::uint32_t rec = 0;   // senders: the record of the current incarnation
  std::size_t worker = 0;  // crew index of the current process
  bool running = false;
};

struct record_note {  // what the parent knows of a sender incarnation
  object obj;
  std::uint32_t sender;
  std::uint32_t incarnation;
  bool killed = false;
};

struct flow {  // one object's deliveries, as sampled
  std::uint64_t seen = 0;
  clock::time_point since;  // of the last change
  clock::duration worst{};  // the longest stall while senders were sending
};

struct tally {  // one object's figures
  std::uint64_t sender_kills = 0;
  std::uint64_t receiver_kills = 0;
  std::uint64_t acked = 0;                  // acknowledged messages, all incarnations
  std::uint64_t arrived = 0;                // of those, arrived
  std::uint64_t in_flight = 0;              // killed senders' unacknowledged last messages that arrived
  std::uint64_t lost = 0;                   // acknowledged, never arrived
  std::uint64_t unnoted_kills = 0;          // receiver kills that found no holding note
  std::uint64_t unexplained = 0;            // lost, and held by no killed receiver
  std::vector<std::uint64_t> held_at_kill;  // holding notes read after receiver kills
  std::string first_unexplained;            // for the report
};

double ms(clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

class chaos_run {
 public:
  chaos_run(const settings& cfg, const ringport::mailbox& box, const ring_t& ring)
      : cfg_(cfg),
        box_(box),
        ring_(ring),
        board_(cfg.records * quota),
        control_(cfg.records),
        view_{
            board_.get(), control_.get(), cfg_, {scenario_for("chaos mailbox"), scenario_for("chaos mpmc")}},
        crew_(st::mode::processes, [this] { abort(); }),
        pick_(cfg.seed) {}

  /// Chaos, then stop the senders, then close and drain. False when it
  /// failed: failure() says why, and every child is gone.
  bool run();
  /// After run(): "" or every violation of the contract found.
  std::string check();
  std::string summary() const;
  const std::string& failure() const noexcept { return failure_; }

 private:
  st::scenario scenario_for(const char* label) const {
    st::scenario sc;
    sc.capacity = capacity;
    sc.producers = static_cast<std::uint32_t>(cfg_.records);
    sc.consumers = receivers_per_object;
    sc.per_producer = quota;
    sc.label = label;
    return sc;
  }
  void abort() noexcept {
    board_.get().aborted.store(1, std::memory_order_relaxed);
    box_.close();
    ring_.close();
  }
  bool start(role& r);
  bool ended(role& r, int code);
  bool kill_random();
  bool step();
  bool sample();
  bool wait_for(side sd);
  bool fail(const std::string& why);
  bool sending() const noexcept { return phase_ == phase::chaos || phase_ == phase::settle; }
  std::string stalled(object o, clock::time_point now) const;
  std::string describe(const role& r) const;
  std::string still_running() const;
  clock::duration delay() {
    const std::uint64_t mean_us = cfg_.seconds * 1'000'000 / cfg_.kills;
    return std::chrono::microseconds(pick_.below(2 * mean_us + 1));
  }

  const settings& cfg_;
  const ringport::mailbox& box_;
  const ring_t& ring_;
  st::board_map board_;
  control_map control_;
  shared_view view_;
  st::crew crew_;  // after what its workers and abort() use: destroyed (children killed) first
  st::rng pick_;
  std::vector<role> roles_;
  std::vector<record_note> notes_;  // per record
  std::array<flow, objects> flows_{};
  std::array<tally, objects> tallies_{};
  phase phase_ = phase::chaos;
  clock::time_point started_, phase_since_;
  clock::duration chaos_time_{};
  std::uint64_t kills_ = 0;
  struct kill_entry {
    clock::time_point when;
    object obj;
    std::string who;
  };
  std::vector<kill_entry> kill_log_;
  std::string failure_;
  bool checked_ = false;
};

bool chaos_run::run() {
  started_ = phase_since_ = clock::now();
  for (object o : all_objects) {
    for (std::uint32_t i = 0; i < senders_per_object; ++i) roles_.push_back({o, side::sender, i});
    for (std::uint32_t i = 0; i < receivers_per_object; ++i) roles_.push_back({o, side::receiver, i});
  }
  for (flow& f : flows_) f.since = started_;
  for (role& r : roles_)
    if (!start(r)) return false;
  auto next = clock::now() + delay();
  while (kills_ < cfg_.kills) {
    if (!step()) return false;
    if (clock::now() >= next) {
      if (!kill_random()) return false;
      next = clock::now() + delay();
    }
  }
  chaos_time_ = clock::now() - started_;
  phase_ = phase::settle;
  phase_since_ = clock::now();
  std::array<std::uint64_t, objects> base{};
  for (object o : all_objects) base[slot_of(o)] = flows_[slot_of(o)].seen;
  for (object o : all_objects)
    while (flows_[slot_of(o)].seen - base[slot_of(o)] < settle_messages)
      if (!step()) return false;
  phase_ = phase::stopping;
  phase_since_ = clock::now();
  control_.get().stop.store(1, std::memory_order_release);
  if (!wait_for(side::sender)) return false;
  phase_ = phase::draining;
  phase_since_ = clock::now();
  box_.close();  // receivers drain what is queued, then see closed
  ring_.close();
  return wait_for(side::receiver);
}

bool chaos_run::start(role& r) {
  if (r.sd == side::sender) {
    if (notes_.size() == cfg_.records)
      return fail("no record left for a new sender incarnation (the table holds " +
                  std::to_string(cfg_.records) +
                  "; it grows with RINGPORT_CHAOS_KILLS and RINGPORT_CHAOS_SECONDS)");
    r.rec = static_cast<std::uint32_t>(notes_.size());
    notes_.push_back({r.obj, r.id, r.incarnation});
    // Before the fork, which orders it before everything the sender does.
    control_.get().records()[r.rec].obj.store(r.obj, std::memory_order_relaxed);
  }
  shared_view& v = view_;
  const object o = r.obj;
  const std::uint32_t who = r.sd == side::sender ? r.rec : r.id;
  if (r.sd == side::sender)
    crew_.start(
        [&v, o, who] { return o == object::mailbox ? mailbox_sender(v, who) : ring_producer(v, who); });
  else
    crew_.start(
        [&v, o, who] { return o == object::mailbox ? mailbox_receiver(v, who) : ring_consumer(v, who); });
  r.worker = crew_.size() - 1;
  r.running = true;
  ++r.incarnation;
  return true;
}

// A worker ended on its own with `code`: fine (or restarted) when the phase
// allows it, else the test fails.
bool chaos_run::ended(role& r, int code) {
  r.running = false;
  const bool sender = r.sd == side::sender;
  if (sender && code == quota_done) return sending() ? start(r) : true;
  if (code == 0 && (sender ? !sending() : phase_ == phase::draining)) return true;
  const char* msg = board_.get().message;
  return fail(describe(r) + " exited with code " + std::to_string(code) +
              (*msg ? std::string(": ") + msg : ""));
}

bool chaos_run::kill_random() {
  role& r = roles_[pick_.below(roles_.size())];
  const std::string who = describe(r);
  const int code = crew_.kill(r.worker);
  if (code != 128 + SIGKILL) return ended(r, code);  // it had ended on its own
  r.running = false;
  ++kills_;
  tally& t = tallies_[slot_of(r.obj)];
  if (r.sd == side::sender) {
    ++t.sender_kills;
    notes_[r.rec].killed = true;
  } else {
    ++t.receiver_kills;
    // The child is dead (crew_.kill waited for it): its note is final.
    std::atomic<std::uint64_t>& note = control_.get().holding[slot_of(r.obj)][r.id].n;
    if (const std::uint64_t held = note.exchange(0, std::memory_order_acq_rel); held != 0)
      t.held_at_kill.push_back(held);
    else
      ++t.unnoted_kills;
  }
  kill_log_.push_back({clock::now(), r.obj, who});
  return start(r);
}

// One tick: failures on the board, workers that ended, the watchdog.
bool chaos_run::step() {
  std::this_thread::sleep_for(tick);
  if (board_.get().failures.load(std::memory_order_acquire) != 0)
    return fail(std::string("a worker failed: ") + board_.get().message);
  for (role& r : roles_)
    if (r.running && !crew_.running(r.worker) && !ended(r, crew_.code(r.worker))) return false;
  return sample();
}

bool chaos_run::sample() {
  const auto now = clock::now();
  const auto limit = std::chrono::seconds(cfg_.watchdog_s);
  for (object o : all_objects) {
    flow& f = flows_[slot_of(o)];
    const std::uint64_t n = control_.get().delivered[slot_of(o)].n.load(std::memory_order_relaxed);
    if (n != f.seen) {
      f.seen = n;
      f.since = now;
    }
    if (!sending()) continue;
    f.worst = std::max(f.worst, now - f.since);
    if (now - f.since >= limit) return fail(stalled(o, now));
  }
  // Stopping takes one call (call_limit) per sender, draining at most a
  // ring's worth per object: the watchdog's limit is ample for either.
  if (sending() || now - phase_since_ < limit) return true;
  std::ostringstream why;
  why << "watchdog: "
      << (phase_ == phase::stopping ? "the senders did not stop" : "the receivers did not drain")
      << " within " << cfg_.watchdog_s
      << " s (a call hung past its deadline, or closed never came); still running: " << still_running();
  return fail(why.str());
}

bool chaos_run::wait_for(side sd) {
  for (;;) {
    bool any = false;
    for (const role& r : roles_) any = any || (r.sd == sd && r.running);
    if (!any) return true;
    if (!step()) return false;
  }
}

bool chaos_run::fail(const std::string& why) {
  if (failure_.empty()) failure_ = why;
  if (phase_ == phase::chaos) chaos_time_ = clock::now() - started_;
  crew_.stop(std::chrono::seconds(1));  // abort(), then SIGKILL every child
  for (role& r : roles_) r.running = false;
  return false;
}

// The watchdog's diagnostic for object o, which last delivered at f.since.
std::string chaos_run::stalled(object o, clock::time_point now) const {
  const flow& f = flows_[slot_of(o)];
  std::uint64_t acked = 0;
  for (std::size_t rec = 0; rec < notes_.size(); ++rec)
    if (notes_[rec].obj == o) acked += control_.get().records()[rec].acked.load(std::memory_order_relaxed);
  std::ostringstream why;
  why << "watchdog: the " << to_string(o) << " delivered nothing for " << ms(now - f.since) / 1000
      << " s while its senders had messages to send" << (phase_ == phase::settle ? " (kills are over)" : "")
      << ": a survivor stalled. " << acked << " messages acknowledged, " << f.seen
      << " delivered, the last at " << static_cast<long long>(ms(f.since - started_))
      << " ms. Its last kills before that:";
  // The culprit died before the last delivery: a wedged object still lets
  // through at most a ring's worth, which takes milliseconds.
  std::vector<const kill_entry*> before;
  std::size_t after = 0;
  for (const kill_entry& k : kill_log_) {
    if (k.obj != o) continue;
    if (k.when <= f.since)
      before.push_back(&k);
    else
      ++after;
  }
  const std::size_t first = before.size() > 3 ? before.size() - 3 : 0;
  for (std::size_t i = first; i < before.size(); ++i)
    why << (i == first ? " " : "; ") << before[i]->who << " at "
        << static_cast<long long>(ms(before[i]->when - started_)) << " ms";
  if (before.empty()) why << " none";
  why << "; " << after << " kills of it since.";
  return why.str();
}

std::string chaos_run::describe(const role& r) const {
  std::ostringstream s;
  s << to_string(r.obj) << (r.sd == side::sender ? " sender " : " receiver ") << r.id << " (incarnation "
    << r.incarnation - 1;
  if (r.sd == side::sender) s << ", record " << r.rec;
  s << ", pid " << crew_.pid(r.worker) << ")";
  return s.str();
}

std::string chaos_run::still_running() const {
  std::string out;
  for (const role& r : roles_)
    if (r.running) out += (out.empty() ? "" : ", ") + describe(r);
  return out;
}

std::string chaos_run::check() {
  checked_ = true;
  std::ostringstream problems;
  const std::uint8_t* seen = board_.get().seen();
  for (std::size_t rec = 0; rec < notes_.size(); ++rec) {
    const record_note& n = notes_[rec];
    tally& t = tallies_[slot_of(n.obj)];
    const std::uint64_t acked = control_.get().records()[rec].acked.load(std::memory_order_acquire);
    const std::uint8_t* s = seen + rec * quota;
    const std::string who = std::string(to_string(n.obj)) + " sender " + std::to_string(n.sender) +
                            " incarnation " + std::to_string(n.incarnation) +
                            (n.killed ? " (killed)" : " (never killed)");
    std::uint64_t lost = 0, doubled = 0, first = 0, unexplained = 0, first_unexplained = 0;
    for (std::uint64_t q = 0; q < acked; ++q) {
      if (s[q] == 1) continue;
      if (lost + doubled == 0) first = q;
      (s[q] == 0 ? lost : doubled) += 1;
      if (s[q] == 0 && std::count(t.held_at_kill.begin(), t.held_at_kill.end(), 1 + rec * quota + q) == 0) {
        if (unexplained == 0) first_unexplained = q;
        ++unexplained;
      }
    }
    if (unexplained != 0 && t.unexplained == 0)
      t.first_unexplained = who + " seq " + std::to_string(first_unexplained);
    t.unexplained += unexplained;
    const bool in_flight = acked < quota && s[acked] != 0;
    t.acked += acked;
    t.arrived += acked - lost;
    t.lost += lost;
    t.in_flight += in_flight ? 1 : 0;
    if (doubled != 0)
      problems << who << ": " << doubled << " messages arrived more than once (first: seq " << first << ")\n";
    if (!n.killed && in_flight)
      problems << who << ": its seq " << acked << " arrived, but no send of it returned ok\n";
  }
  for (object o : all_objects) {
    const tally& t = tallies_[slot_of(o)];
    if (t.acked == 0) problems << to_string(o) << ": no message was acknowledged at all\n";
    if (t.lost > t.receiver_kills)
      problems << to_string(o) << ": " << t.lost << " acknowledged messages lost, more than its "
               << t.receiver_kills << " receiver kills allow (one each)\n";
    // A receiver killed inside peek, before its note, may lose one that no
    // note names: at most one per such kill.
    if (t.unexplained > t.unnoted_kills)
      problems << to_string(o) << ": " << t.unexplained
               << " lost messages held by no killed receiver (first: " << t.first_unexplained
               << "), more than its " << t.unnoted_kills << " receiver kills without a note allow\n";
  }
  return problems.str();
}

std::string chaos_run::summary() const {
  std::ostringstream s;
  s << "chaos: " << kills_ << " kills in " << ms(chaos_time_) / 1000 << " s (seed " << cfg_.seed << ")";
  for (object o : all_objects) {
    const tally& t = tallies_[slot_of(o)];
    s << "; " << to_string(o) << ": " << t.sender_kills << " sender + " << t.receiver_kills
      << " receiver kills, ";
    if (checked_)
      s << t.acked << " messages acknowledged, " << t.arrived << " arrived (+" << t.in_flight
        << " in flight), " << t.lost << " lost (" << t.lost - t.unexplained
        << " held by a receiver when it was killed)";
    else
      s << control_.get().delivered[slot_of(o)].n.load() << " delivered (run failed: not checked)";
    s << ", worst stall " << ms(flows_[slot_of(o)].worst) << " ms";
  }
  return s.str();
}

// Removes the test's names on the way out, whatever happened.
struct remove_names {
  ~remove_names() {
    (void)ringport::mailbox::remove(mailbox_name);
    (void)ring_t::remove(ring_name);
  }
};

}  // namespace

TEST_CASE("chaos: random SIGKILLs of mailbox and mpmc ring senders and receivers; survivors never stall") {
  const settings cfg = read_settings();
  remove_names cleanup;
  ringport::mailbox_options mo;
  mo.capacity = capacity;
  mo.max_message_size = max_message;
  mo.backing = ringport::pages::normal;
  auto box = ringport::mailbox::create(mailbox_name, mo);
  REQUIRE_MESSAGE(box, st::why(box));
  auto ring = ring_t::create(ring_name, {.capacity = capacity, .backing = ringport::pages::normal});
  REQUIRE_MESSAGE(ring, st::why(ring));

  chaos_run chaos(cfg, *box, *ring);
  const bool finished = chaos.run();
  const std::string problems = finished ? chaos.check() : std::string();
  std::printf("%s\n", chaos.summary().c_str());
  std::fflush(stdout);
  REQUIRE_MESSAGE(finished, chaos.failure());
  CHECK_MESSAGE(problems.empty(), problems);
}
