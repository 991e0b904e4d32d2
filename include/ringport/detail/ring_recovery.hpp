// ringport/detail/ring_recovery.hpp — settling the claims of dead processes.
//
// The protocol and what each crash loses: ring_engine.hpp, "Crashes". These
// are templates over the engine's policy P (ring_engine.hpp), so that the
// model checker runs the same recovery as the library: runtime/recovery.cpp
// instantiates them with shipped_ring and adds the clock (recovery_delay);
// tests/model/ring_model.cpp with Relacy's atomics and model liveness.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "ringport/detail/ring_engine.hpp"

namespace ringport::detail {

// One role slot as a survivor judges it: whether its owner may still act,
// and the range its record names.
struct claim_holder {
  bool alive = false;
  bool kept = false;  // a keeper's record: left for its successor when it died
  std::uint64_t from = 0;
  std::uint64_t end = 0;
  bool covers(std::uint64_t p) const noexcept { return from <= p && p < end; }
};

// The member types are taken from P::shared itself: clang does not treat
// an alias template (P::atomic) as the class template it names.
template <class P>
struct claims_view {
  std::remove_reference_t<decltype(std::declval<typename P::shared&>().producers)>* roles;
  std::remove_reference_t<decltype(std::declval<typename P::shared&>().producer_claims[0])>* records;
  typename basic_ring_view<P>::atomic_u64* cursor;
};

template <class P>
claims_view<P> claims_of(const basic_ring_view<P>& v, role claimer) noexcept {
  auto* s = v.shared;
  if (claimer == role::producer) return {&s->producers, s->producer_claims, &s->tail};
  return {&s->consumers, s->consumer_claims, &s->head};
}

// Reads every holder once. The owner word is read before and after the
// record (acquire, pairing with the acq_rel CAS of attach() and R-CLAIM):
// a record read while its slot changed hands is judged alive.
template <class P>
void snapshot(const claims_view<P>& c, claim_holder (&out)[P::roles]) noexcept {
  for (std::size_t i = 0; i < P::roles; ++i) {
    const std::uint64_t o = c.roles->slots[i].owner.load(std::memory_order_acquire);
    claim_holder h;
    // A-CLAIM: pairs with R-CLAIM in ring_engine::announce().
    h.from = c.records[i].from.load(std::memory_order_acquire);
    h.end = c.records[i].end.load(std::memory_order_acquire);
    // relaxed: written by the holder before its first claim, published by
    // that claim's release CAS (R-CLAIM) with the range read above.
    h.kept = c.records[i].keep.load(std::memory_order_relaxed) != 0;
    const std::uint64_t again = c.roles->slots[i].owner.load(std::memory_order_acquire);
    // A free slot (0) has nobody who could still publish.
    h.alive = again != o || (o != 0 && P::owner_alive(o));
    if constexpr (P::mutation == ring_mutation::settle_live) h.alive = false;
    out[i] = h;
  }
}

// Positions that may still be unfinished: those claimed within the last
// lap before the cursor (older ones were finished, or the cursor could not
// have passed them by a whole lap).
struct claim_window {
  std::uint64_t lo;
  std::uint64_t hi;
};

template <class P>
claim_window open_window(const basic_ring_view<P>& v, const claims_view<P>& c) noexcept {
  // A-CURSOR: the acquire pairs with the release CAS of every claim
  // (R-CLAIM): the records of all claims before this cursor are visible.
  const std::uint64_t cur = c.cursor->load(std::memory_order_acquire);
  return {cur >= v.capacity ? cur - v.capacity : 0, cur};
}

// Whether position p, claimed by `claimer`, is still unfinished.
template <class P>
bool unfinished(const basic_ring_view<P>& v, role claimer, std::uint64_t p) noexcept {
  const std::uint64_t t = v.turn(p).load(std::memory_order_relaxed);
  if (claimer == role::producer) return t == v.lap2(p);
  return t == v.lap2(p) + 1 || t == v.void_turn(p);
}

// Settles p by CAS from its unfinished value: only a dead claimer's
// position gets here, and the CAS fails if it was finished meanwhile.
template <class P>
bool settle(const basic_ring_view<P>& v, role claimer, std::uint64_t p) noexcept {
  auto& turn = v.turn(p);
  const std::uint64_t lap2 = v.lap2(p);
  auto* s = v.shared;
  if (claimer == role::producer) {
    std::uint64_t expected = lap2;
    // R-VOID: acq_rel; consumers read nothing from a void slot.
    if (!turn.compare_exchange_strong(expected, v.void_turn(p), std::memory_order_acq_rel)) return false;
    s->recovery.abandoned.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::uint64_t expected = lap2 + 1;
  // R-TURN-FREE (as in ring_engine::hand_on()) on behalf of the dead.
  if (turn.compare_exchange_strong(expected, lap2 + 2, std::memory_order_acq_rel)) {
    s->recovery.reclaimed.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  expected = v.void_turn(p);
  return turn.compare_exchange_strong(expected, lap2 + 2, std::memory_order_acq_rel);
}

template <std::size_t N>
bool covered_by_live(const claim_holder (&hs)[N], std::uint64_t p) noexcept {
  for (const claim_holder& h : hs)
    if (h.alive && h.covers(p)) return true;
  return false;
}

/// Settles, in one pass, every position of `claimer`'s side whose claim
/// record names only dead holders. Returns how many positions it settled.
template <class P>
std::size_t recover_claims(const basic_ring_view<P>& v, role claimer) noexcept {
  const claims_view<P> c = claims_of(v, claimer);
  const claim_window w = open_window(v, c);
  claim_holder hs[P::roles];
  snapshot<P>(c, hs);
  std::size_t settled = 0;
  for (const claim_holder& h : hs) {
    // A dead keeper's positions wait for its successor (below).
    if (h.alive || (h.kept && P::mutation != ring_mutation::ignore_keep)) continue;
    // Never trust the record: clamp it to the window (at most a lap).
    const std::uint64_t lo = h.from > w.lo ? h.from : w.lo;
    const std::uint64_t hi = h.end < w.hi ? h.end : w.hi;
    for (std::uint64_t p = lo; p < hi; ++p)
      if (unfinished(v, claimer, p) && !covered_by_live(hs, p) && settle(v, claimer, p)) ++settled;
  }
  if (settled != 0)
    P::wake_all(claimer == role::producer ? v.shared->not_empty : v.shared->not_full, v.bells);
  return settled;
}

/// True when no position that role slot `slot` of `claimer` may have
/// claimed is still unfinished (so a new holder may reuse its record).
template <class P>
bool claims_settled(const basic_ring_view<P>& v, role claimer, std::size_t slot) noexcept {
  if (slot >= P::roles) return false;
  const claims_view<P> c = claims_of(v, claimer);
  const claim_window w = open_window(v, c);
  const std::uint64_t from = c.records[slot].from.load(std::memory_order_acquire);
  const std::uint64_t end = c.records[slot].end.load(std::memory_order_acquire);
  const std::uint64_t lo = from > w.lo ? from : w.lo;
  const std::uint64_t hi = end < w.hi ? end : w.hi;
  for (std::uint64_t p = lo; p < hi; ++p)
    if (unfinished(v, claimer, p)) return false;
  return true;
}

/// check_stall()'s question, without the clock: the position a side blocked
/// at `pos` waits for (written to *claimed), when the other side claimed it
/// and has not finished it; false when the side is plainly empty or full,
/// or the position is moving.
template <class P>
bool waits_on_claim(const basic_ring_view<P>& v, role blocked, std::uint64_t pos,
                    std::uint64_t* claimed) noexcept {
  const role claimer = blocked == role::consumer ? role::producer : role::consumer;
  std::uint64_t p = pos;
  if (blocked == role::producer) {
    if (pos < v.capacity) return false;
    p = pos - v.capacity;  // the slot still holds the previous lap's position
  }
  // relaxed: only a hint whether p was claimed; recover_claims() acquires.
  if (p >= claims_of(v, claimer).cursor->load(std::memory_order_relaxed) || !unfinished(v, claimer, p))
    return false;
  *claimed = p;
  return true;
}

// Kept claims. A record with a non-zero `keep` tag belongs to a keeping
// receiver or sender: when its holder dies, recover_claims() leaves the
// positions it claimed alone (a consumer's: producers wait for those slots
// a lap later; a producer's: consumers wait at it), and the next holder
// that presents the same tag takes over the dead holder's role slot,
// record and all (ring_state::attach_keeping), then calls resolve_kept():
// each position the record names is either still held (a consumer's:
// published, not released: the successor holds it, to deliver again first;
// a producer's: claimed, not published: the successor holds it, and voids
// it, so that only it can tell a published message from one that was
// never delivered), or void (a consumer's: freed here), or finished
// (nothing). A record also names a claim whose CAS failed before the
// holder retracted it, so a position counts as held only when no other
// record covers it: another live record covering it may be the real claim,
// so we wait (kept_state::wait) until that record or the turn moves; if
// only dead records cover it as well, it is settled as any dead claim
// (counted in reclaimed or abandoned). Positions of the window only: a held
// position's turn does not move, so the cursor stays within a lap of it.
enum class kept_state : std::uint8_t { none, held, wait };

struct kept_claim {
  kept_state state = kept_state::none;
  span_pos held{};  // state held: the positions we hold now
};

template <class P>
kept_claim resolve_kept(const basic_ring_view<P>& v, role side, claim_record_t<P>* mine) noexcept {
  const claims_view<P> c = claims_of(v, side);
  const claim_window w = open_window(v, c);  // A-CURSOR inside
  claim_holder hs[P::roles];
  snapshot<P>(c, hs);
  const std::uint64_t from = mine->from.load(std::memory_order_acquire);
  const std::uint64_t end = mine->end.load(std::memory_order_acquire);
  const std::uint64_t lo = from > w.lo ? from : w.lo;
  const std::uint64_t hi = end < w.hi ? end : w.hi;
  kept_claim out;
  bool settled = false;
  for (std::uint64_t p = lo; p < hi; ++p) {
    if (!unfinished(v, side, p)) continue;
    bool other_live = false, other_dead = false;
    for (std::size_t i = 0; i < P::roles; ++i) {
      if (&c.records[i] == mine || !hs[i].covers(p) || P::mutation == ring_mutation::kept_alone) continue;
      (hs[i].alive ? other_live : other_dead) = true;
    }
    if (other_live) return {kept_state::wait, {}};
    // A-TURN: pairs with the producer's R-TURN-FULL; the item is readable.
    const std::uint64_t t = v.turn(p).load(std::memory_order_acquire);
    const std::uint64_t held_turn = side == role::consumer ? v.lap2(p) + 1 : v.lap2(p);
    if (other_dead || t != held_turn) {
      settle(v, side, p);  // a void slot freed, or a dead claim of two settled
      settled = true;
      continue;
    }
    if (out.state == kept_state::none) out = {kept_state::held, {p, 0}};
    if (out.held.pos + out.held.count == p) {
      ++out.held.count;
    } else {
      settle(v, side, p);  // one claim is one run: never, but never leak a slot
      settled = true;
    }
  }
  if (settled) P::wake_all(side == role::consumer ? v.shared->not_full : v.shared->not_empty, v.bells);
  if (out.state == kept_state::held && side == role::consumer)
    v.shared->recovery.kept.fetch_add(out.held.count, std::memory_order_relaxed);
  return out;
}

inline role other_side(role r) noexcept {
  return r == role::consumer ? role::producer : role::consumer;
}

}  // namespace ringport::detail
