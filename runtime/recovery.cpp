// Crash recovery of rings: settling the claims of dead processes.
// The protocol and what each crash loses: ring_engine.hpp, "Crashes".
#include <time.h>

#include <cstdlib>

#include "ringport/detail/ring_state.hpp"

namespace ringport {
namespace {

std::int64_t delay_from_env() noexcept {
  const char* e = std::getenv("RINGPORT_RECOVERY_MS");
  if (e == nullptr || *e == '\0') return 100;
  char* end = nullptr;
  const long long ms = std::strtoll(e, &end, 10);
  if (*end != '\0' || ms < 0 || ms > 3600 * 1000) return 100;
  return ms;
}

std::atomic<std::int64_t>& delay_ms() noexcept {
  static std::atomic<std::int64_t> ms{delay_from_env()};
  return ms;
}

}  // namespace

void set_recovery_delay(std::chrono::milliseconds d) noexcept {
  delay_ms().store(d.count() < 0 ? 0 : d.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds recovery_delay() noexcept {
  return std::chrono::milliseconds(delay_ms().load(std::memory_order_relaxed));
}

namespace detail {
namespace {

std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One role slot as a survivor judges it: its owner word, whether that owner
// may still act, and the range its record names.
struct holder {
  bool alive = false;
  std::uint64_t from = 0;
  std::uint64_t end = 0;
  bool covers(std::uint64_t p) const noexcept { return from <= p && p < end; }
};

struct claims_view {
  role_table* roles;
  claim_record* records;
  std::atomic<std::uint64_t>* cursor;
};

claims_view claims_of(const ring_view& v, role claimer) noexcept {
  ring_shared* s = v.shared;
  if (claimer == role::producer) return {&s->producers, s->producer_claims, &s->tail};
  return {&s->consumers, s->consumer_claims, &s->head};
}

// Reads every holder once. The owner word is read before and after the
// record (acquire, pairing with the acq_rel CAS of attach() and R-CLAIM):
// a record read while its slot changed hands is judged alive.
void snapshot(const claims_view& c, holder (&out)[max_roles]) noexcept {
  for (std::size_t i = 0; i < max_roles; ++i) {
    const std::uint64_t o = c.roles->slots[i].owner.load(std::memory_order_acquire);
    holder h;
    // A-CLAIM: pairs with R-CLAIM in engine_base::announce().
    h.from = c.records[i].from.load(std::memory_order_acquire);
    h.end = c.records[i].end.load(std::memory_order_acquire);
    const std::uint64_t again = c.roles->slots[i].owner.load(std::memory_order_acquire);
    // A free slot (0) has nobody who could still publish.
    h.alive = again != o || (o != 0 && owner_alive(o));
    out[i] = h;
  }
}

// Positions that may still be unfinished: those claimed within the last
// lap before the cursor (older ones were finished, or the cursor could not
// have passed them by a whole lap).
struct window {
  std::uint64_t lo;
  std::uint64_t hi;
};

window open_window(const ring_view& v, const claims_view& c) noexcept {
  // A-CURSOR: the acquire pairs with the release CAS of every claim
  // (R-CLAIM): the records of all claims before this cursor are visible.
  const std::uint64_t cur = c.cursor->load(std::memory_order_acquire);
  return {cur >= v.capacity ? cur - v.capacity : 0, cur};
}

// Whether position p, claimed by `claimer`, is still unfinished.
bool unfinished(const ring_view& v, role claimer, std::uint64_t p) noexcept {
  const std::uint64_t t = v.turn(p).load(std::memory_order_relaxed);
  if (claimer == role::producer) return t == v.lap2(p);
  return t == v.lap2(p) + 1 || t == v.void_turn(p);
}

// Settles p by CAS from its unfinished value: only a dead claimer's
// position gets here, and the CAS fails if it was finished meanwhile.
bool settle(const ring_view& v, role claimer, std::uint64_t p) noexcept {
  auto& turn = v.turn(p);
  const std::uint64_t lap2 = v.lap2(p);
  ring_shared* s = v.shared;
  if (claimer == role::producer) {
    std::uint64_t expected = lap2;
    // R-VOID: acq_rel; consumers read nothing from a void slot.
    if (!turn.compare_exchange_strong(expected, v.void_turn(p), std::memory_order_acq_rel)) return false;
    s->recovery.abandoned.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::uint64_t expected = lap2 + 1;
  // R-TURN-FREE (as in consumer_engine::publish()) on behalf of the dead.
  if (turn.compare_exchange_strong(expected, lap2 + 2, std::memory_order_acq_rel)) {
    s->recovery.reclaimed.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  expected = v.void_turn(p);
  return turn.compare_exchange_strong(expected, lap2 + 2, std::memory_order_acq_rel);
}

bool covered_by_live(const holder (&hs)[max_roles], std::uint64_t p) noexcept {
  for (const holder& h : hs)
    if (h.alive && h.covers(p)) return true;
  return false;
}

}  // namespace

std::size_t recover_claims(const ring_view& v, role claimer) noexcept {
  const claims_view c = claims_of(v, claimer);
  const window w = open_window(v, c);
  holder hs[max_roles];
  snapshot(c, hs);
  std::size_t settled = 0;
  for (const holder& h : hs) {
    if (h.alive) continue;
    // Never trust the record: clamp it to the window (at most a lap).
    const std::uint64_t lo = h.from > w.lo ? h.from : w.lo;
    const std::uint64_t hi = h.end < w.hi ? h.end : w.hi;
    for (std::uint64_t p = lo; p < hi; ++p)
      if (unfinished(v, claimer, p) && !covered_by_live(hs, p) && settle(v, claimer, p)) ++settled;
  }
  if (settled != 0)
    notify_slow(claimer == role::producer ? v.shared->not_empty : v.shared->not_full, v.bells);
  return settled;
}

bool claims_settled(const ring_view& v, role claimer, std::size_t slot) noexcept {
  if (slot >= max_roles) return false;
  const claims_view c = claims_of(v, claimer);
  const window w = open_window(v, c);
  const std::uint64_t from = c.records[slot].from.load(std::memory_order_acquire);
  const std::uint64_t end = c.records[slot].end.load(std::memory_order_acquire);
  const std::uint64_t lo = from > w.lo ? from : w.lo;
  const std::uint64_t hi = end < w.hi ? end : w.hi;
  for (std::uint64_t p = lo; p < hi; ++p)
    if (unfinished(v, claimer, p)) return false;
  return true;
}

void check_stall(const ring_view& v, role blocked, std::uint64_t pos, stall_watch& w) noexcept {
  // The position this side waits for, and the side that claimed it.
  const role claimer = blocked == role::consumer ? role::producer : role::consumer;
  std::uint64_t p = pos;
  if (blocked == role::producer) {
    if (pos < v.capacity) return;
    p = pos - v.capacity;  // the slot still holds the previous lap's position
  }
  const claims_view c = claims_of(v, claimer);
  // relaxed: only a hint whether p was claimed; recover_claims() acquires.
  if (p >= c.cursor->load(std::memory_order_relaxed) || !unfinished(v, claimer, p)) {
    w.pos = ~std::uint64_t{0};  // plainly empty (or full of unread items), or moving
    return;
  }
  const std::int64_t now = now_ns();
  if (w.pos != p) {
    w = {p, now};
    return;
  }
  if (now - w.since_ns < recovery_delay().count() * 1'000'000) return;
  w.since_ns = now;
  recover_claims(v, claimer);
}

}  // namespace detail
}  // namespace ringport
