// Ring control path: geometry, create/open/validate, roles, liveness, close,
// reopen, reset.
#include "ringport/detail/ring_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <new>

#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/ring_recovery.hpp"

namespace ringport::detail {
namespace {

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
  return (v + to - 1) / to * to;
}
constexpr std::uint64_t max_capacity = std::uint64_t{1} << 32;
constexpr std::uint64_t max_element = std::uint64_t{1} << 24;

const char* role_name(role r) {
  return r == role::producer ? "producer" : "consumer";
}

role_table& table(ring_shared* s, role r) {
  return r == role::producer ? s->producers : s->consumers;
}

}  // namespace

bool kind_has_turns(object_kind kind) noexcept {
  return kind != object_kind::spsc;
}

bool kind_single(object_kind kind, role r) noexcept {
  if (r == role::producer) return kind == object_kind::spsc || kind == object_kind::spmc;
  return kind == object_kind::spsc || kind == object_kind::mpsc;
}

std::uint64_t extra_offset(const ring_geometry& g) noexcept {
  return round_up(g.data_offset + g.capacity * g.stride, cache_line);
}

ring_geometry make_geometry(object_kind kind, std::uint64_t capacity, std::uint64_t element_size,
                            std::uint64_t element_align, std::uint32_t extra_bytes) noexcept {
  ring_geometry g{};
  g.capacity = capacity;
  g.element_size = element_size;
  // Slots are packed exactly: push_n/pop_n copy k items at once and
  // claim/peek lend a span<T> over k slots, so a ring's stride is sizeof(T)
  // (a multiple of alignof(T)). Mailboxes ask for 8-byte alignment.
  g.stride = round_up(element_size == 0 ? 1 : element_size, element_align);
  const std::uint64_t after_control = sizeof(ring_shared);
  g.turns_offset = kind_has_turns(kind) ? after_control : 0;
  const std::uint64_t after_turns = after_control + (kind_has_turns(kind) ? capacity * 8 : 0);
  g.data_offset = round_up(after_turns, cache_line);
  g.kind = static_cast<std::uint32_t>(kind);
  g.extra_bytes = extra_bytes;
  g.bytes = extra_offset(g) + extra_bytes;
  return g;
}

static result<void> check_shape(object_kind kind, std::uint64_t capacity, std::uint64_t element_size,
                                std::uint64_t element_align) {
  if (capacity == 0 || capacity > max_capacity || !std::has_single_bit(capacity))
    return result<void>(errc::invalid_argument, "ring capacity " + std::to_string(capacity) +
                                                    " is not a power of two from 1 to 2^32: pick e.g. 1024");
  if (element_size > max_element || element_align == 0 || element_align > 4096 ||
      !std::has_single_bit(element_align))
    return result<void>(errc::invalid_argument, "ring element of " + std::to_string(element_size) +
                                                    " bytes (alignment " + std::to_string(element_align) +
                                                    ") is out of range: at most 16 MiB");
  (void)kind;
  return {};
}

result<std::shared_ptr<ring_state>> ring_state::adopt(segment seg, object_kind kind,
                                                      std::uint64_t element_size, std::uint64_t element_align,
                                                      std::uint32_t extra_bytes) {
  // Copy the geometry once, then check it against what this process would
  // lay out for the same type and capacity: any difference is corruption
  // or a mismatched type, and nothing is dereferenced before this passes.
  const auto* shared_geo = reinterpret_cast<const ring_geometry*>(seg.payload());
  ring_geometry g{};
  std::memcpy(&g, shared_geo, sizeof g);
  const std::string who = "ring '" + seg.info().name + "'";
  if (auto ok = check_shape(kind, g.capacity, element_size, element_align); !ok)
    return error(errc::corrupt, who + ": " + ok.error().message);
  if (g.capacity != seg.info().capacity)
    return error(errc::corrupt, who + ": its header records capacity " + std::to_string(seg.info().capacity) +
                                    " but its ring has " + std::to_string(g.capacity) +
                                    " slots; the segment is damaged: remove it and create it again");
  const ring_geometry want = make_geometry(kind, g.capacity, element_size, element_align, extra_bytes);
  if (std::memcmp(&g, &want, sizeof g) != 0)
    return error(errc::bad_layout, who + " has a geometry that does not match a " + to_string(kind) + " of " +
                                       std::to_string(element_size) +
                                       "-byte elements; was it made by another build or for another type?");
  if (want.bytes > seg.payload_size())
    return error(errc::truncated, who + " needs " + std::to_string(want.bytes) + " bytes, the segment has " +
                                      std::to_string(seg.payload_size()));
  init_barriers();
  auto st = std::make_shared<ring_state>();
  st->kind_ = kind;
  ring_view& v = st->view_;
  v.shared = std::launder(reinterpret_cast<ring_shared*>(seg.payload()));
  v.turns = kind_has_turns(kind)
                ? reinterpret_cast<std::atomic<std::uint64_t>*>(seg.payload() + want.turns_offset)
                : nullptr;
  v.data = seg.payload() + want.data_offset;
  v.capacity = want.capacity;
  v.mask = want.capacity - 1;
  v.stride = want.stride;
  v.shift = static_cast<unsigned>(std::countr_zero(want.capacity));
  v.bells = doorbell_site_of(seg);
  st->extra_ = extra_bytes != 0 ? seg.payload() + extra_offset(want) : nullptr;
  st->seg_ = std::move(seg);
  return st;
}

static segment::initializer ring_initializer(const ring_geometry& g) {
  return [g](std::byte* payload, std::size_t) {
    auto* s = new (payload) ring_shared{};
    s->geo = g;
    if (g.turns_offset != 0) {
      auto* turns = reinterpret_cast<std::atomic<std::uint64_t>*>(payload + g.turns_offset);
      // Turn 0 (= lap 0, free) for every slot; the mapping is zero-filled
      // already, but say it explicitly.
      for (std::uint64_t i = 0; i < g.capacity; ++i) new (&turns[i]) std::atomic<std::uint64_t>(0);
    }
  };
}

static segment_options seg_options(object_kind kind, std::uint64_t element_size, const ring_options& opt) {
  segment_options so;
  so.domain = opt.domain;
  so.backing = opt.backing;
  so.group_access = opt.group_access;
  so.lock_memory = opt.lock_memory;
  so.kind = kind;
  so.element_size = element_size;
  so.capacity = opt.capacity;
  so.if_exists = opt.if_exists;
  return so;
}

result<std::shared_ptr<ring_state>> ring_state::create(std::string_view name, object_kind kind,
                                                       std::uint64_t element_size,
                                                       std::uint64_t element_align, const ring_options& opt,
                                                       std::uint32_t extra_bytes) {
  if (auto ok = check_shape(kind, opt.capacity, element_size, element_align); !ok) return ok.error();
  const ring_geometry g = make_geometry(kind, opt.capacity, element_size, element_align, extra_bytes);
  auto seg = segment::create(name, g.bytes, seg_options(kind, element_size, opt), ring_initializer(g));
  if (!seg) return std::move(seg).error();
  return adopt(std::move(*seg), kind, element_size, element_align, extra_bytes);
}

result<std::shared_ptr<ring_state>> ring_state::create_local(object_kind kind, std::uint64_t element_size,
                                                             std::uint64_t element_align,
                                                             const ring_options& opt,
                                                             std::uint32_t extra_bytes) {
  if (auto ok = check_shape(kind, opt.capacity, element_size, element_align); !ok) return ok.error();
  const ring_geometry g = make_geometry(kind, opt.capacity, element_size, element_align, extra_bytes);
  auto seg = segment::create_anonymous(g.bytes, seg_options(kind, element_size, opt), ring_initializer(g));
  if (!seg) return std::move(seg).error();
  return adopt(std::move(*seg), kind, element_size, element_align, extra_bytes);
}

result<std::shared_ptr<ring_state>> ring_state::open(std::string_view name, object_kind kind,
                                                     std::uint64_t element_size, std::uint64_t element_align,
                                                     std::string_view domain, std::uint32_t extra_bytes) {
  segment_options so;
  so.domain = std::string(domain);
  so.kind = kind;
  so.element_size = element_size;
  auto seg = segment::open(name, so);
  if (!seg) return std::move(seg).error();
  return adopt(std::move(*seg), kind, element_size, element_align, extra_bytes);
}

// A multi side's slot changes hands with an empty claim record: the
// previous holder's claims are all finished (detach) or settled (takeover).
static void clear_record(ring_view& v, role r, std::size_t slot) noexcept {
  claim_record& rec = r == role::producer ? v.shared->producer_claims[slot] : v.shared->consumer_claims[slot];
  rec.from.store(0, std::memory_order_relaxed);
  rec.keep.store(0, std::memory_order_relaxed);
  rec.end.store(0, std::memory_order_release);
}

result<std::size_t> ring_state::attach(role r) {
  role_table& t = table(view_.shared, r);
  const std::uint64_t me = self_owner();
  // A-RESET: a reset marks the ring only once it holds every slot, so a
  // slot taken here while the mark is set was its dead resetter's (or one
  // freed by another refused attach): give it back and refuse, before and
  // after taking one, until a reset completes the rewrite.
  const auto half_reset = [this] {
    return (view_.shared->closed.load(std::memory_order_seq_cst) & state_resetting) != 0;
  };
  const auto refuse = [this] {
    return error(errc::busy,
                 "ring '" + info().name +
                     "' was being reset by a process that died: reset() it again (ringport ring reset " +
                     info().name + ")");
  };
  if (half_reset()) return refuse();
  const auto granted = [&](std::size_t i) -> result<std::size_t> {
    if (!half_reset()) return i;
    t.slots[i].owner.store(0, std::memory_order_release);
    return refuse();
  };
  const bool single = kind_single(kind_, r);
  const bool records = !single && kind_has_turns(kind_);
  const std::size_t limit = single ? 1 : max_roles;
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < limit; ++i) {
      // acq_rel: taking a slot is a claim; pairs with the release in detach()
      // so a new owner sees the previous owner's last writes.
      std::uint64_t cur = t.slots[i].owner.load(std::memory_order_acquire);
      if (cur == 0 && pass == 0) {
        if (t.slots[i].owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel)) {
          if (records) clear_record(view_, r, i);
          return granted(i);
        }
      } else if (cur != 0 && pass == 1 && !owner_alive(cur)) {
        // Take over a role whose owner died (without detaching). A multi
        // side's record must name nothing unfinished first: settle what
        // can be settled, else leave the slot to a later recovery.
        if (records) {
          recover_claims(view_, r);
          if (!claims_settled(view_, r, i)) continue;
        }
        if (t.slots[i].owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel)) {
          if (records) clear_record(view_, r, i);
          if (single) view_.shared->recovery.takeovers.fetch_add(1, std::memory_order_relaxed);
          return granted(i);
        }
      }
    }
  }
  if (single) {
    const std::uint64_t cur = t.slots[0].owner.load(std::memory_order_relaxed);
    return error(errc::role_taken, std::string(to_string(kind_)) + " '" + info().name + "' already has a " +
                                       role_name(r) + " (pid " + std::to_string(owner_pid(cur)) + "); a " +
                                       to_string(kind_) + " allows one: release that handle first");
  }
  return error(errc::too_many_roles, "ring '" + info().name + "' has " + std::to_string(max_roles) +
                                         " live " + role_name(r) + "s already");
}

result<std::size_t> ring_state::attach_keeping(role r, std::uint64_t tag, bool& inherited) {
  inherited = false;
  if (tag == 0 || !kind_has_turns(kind_) || kind_single(kind_, r))
    return error(errc::invalid_argument, "ring '" + info().name + "': keeping needs a multi " + role_name(r) +
                                             " side and a non-zero tag");
  role_table& t = table(view_.shared, r);
  claim_record* records = r == role::producer ? view_.shared->producer_claims : view_.shared->consumer_claims;
  const std::uint64_t me = self_owner();
  for (std::size_t i = 0; i < max_roles; ++i) {
    std::uint64_t cur = t.slots[i].owner.load(std::memory_order_acquire);
    if (cur == 0 || owner_alive(cur)) continue;
    if (records[i].keep.load(std::memory_order_relaxed) != tag) continue;
    // acq_rel: as attach(); the dead holder's record comes with the slot.
    if (!t.slots[i].owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel)) continue;
    if ((view_.shared->closed.load(std::memory_order_seq_cst) & state_resetting) != 0) {
      t.slots[i].owner.store(0, std::memory_order_release);  // as attach(): refuse a half-reset ring
      break;
    }
    view_.shared->recovery.takeovers.fetch_add(1, std::memory_order_relaxed);
    inherited = true;
    return i;
  }
  auto slot = attach(r);
  if (!slot) return slot;
  // Before our first claim, whose release CAS (R-CLAIM) publishes it.
  records[*slot].keep.store(tag, std::memory_order_release);
  return slot;
}

void ring_state::detach(role r, std::size_t slot) noexcept {
  if (slot >= max_roles) return;
  // R-DETACH: pairs with the acquire CAS in attach().
  table(view_.shared, r).slots[slot].owner.store(0, std::memory_order_release);
}

bool ring_state::peers_alive(role r) const noexcept {
  const role_table& t = table(view_.shared, r);
  bool any_dead = false;
  for (const auto& s : t.slots) {
    const std::uint64_t o = s.owner.load(std::memory_order_relaxed);
    if (o == 0) continue;
    if (owner_alive(o)) return true;
    any_dead = true;
  }
  return !any_dead;
}

peer_counts ring_state::peers() const noexcept {
  peer_counts c;
  auto count = [](const role_table& t, unsigned& alive, unsigned& dead) noexcept {
    for (const auto& s : t.slots)
      if (const std::uint64_t o = s.owner.load(std::memory_order_relaxed); o != 0)
        ++(owner_alive(o) ? alive : dead);
  };
  count(view_.shared->producers, c.producers_alive, c.producers_dead);
  count(view_.shared->consumers, c.consumers_alive, c.consumers_dead);
  return c;
}

void ring_state::close() noexcept {
  // R-CLOSE: pairs with A-CLOSE in closed(); an RMW so that the generation
  // bits stay as they are. Then wake every waiter so each re-checks and
  // sees the flag.
  view_.shared->closed.fetch_or(state_closed, std::memory_order_release);
  notify_slow(view_.shared->not_empty, view_.bells);
  notify_slow(view_.shared->not_full, view_.bells);
}

bool ring_state::reopen() noexcept {
  // R-REOPEN: one CAS from closed to open with the next generation, so a
  // racing close() is either before it (undone: open) or after it (closed);
  // two racing reopens reopen once. No wake-up: nobody parks on a closed
  // ring (pushes fail at once, consumers of an empty one return closed).
  auto& word = view_.shared->closed;
  std::uint32_t s = word.load(std::memory_order_relaxed);
  // Not while a reset rewrites the ring (its end opens it anyway).
  while ((s & state_closed) != 0 && (s & state_resetting) == 0)
    if (word.compare_exchange_weak(s, next_generation(s), std::memory_order_acq_rel,
                                   std::memory_order_relaxed))
      return true;
  return false;
}

namespace {

// reset(): every role slot of both sides held by this process (the reset
// lock: attach() finds no slot to take), or errc::busy naming the first
// live holder with every slot given back as it was.
struct role_lock {
  std::uint64_t before[2][max_roles] = {};
  unsigned taken[2] = {};
};

void unlock_roles(ring_shared* s, const role_lock& l) noexcept {
  for (int side = 0; side < 2; ++side) {
    role_table& t = table(s, side == 0 ? role::producer : role::consumer);
    // R-DETACH (as detach()): a later attacher sees every write before.
    for (unsigned i = 0; i < l.taken[side]; ++i)
      t.slots[i].owner.store(l.before[side][i], std::memory_order_release);
  }
}

}  // namespace

result<void> ring_state::reset() {
  const std::uint64_t me = self_owner();
  role_lock lock;
  for (int side = 0; side < 2; ++side) {
    const role r = side == 0 ? role::producer : role::consumer;
    role_table& t = table(view_.shared, r);
    for (std::size_t i = 0; i < max_roles; ++i) {
      std::uint64_t cur = t.slots[i].owner.load(std::memory_order_acquire);
      // acq_rel: as attach(); a dead holder's slot is taken over for the reset.
      while ((cur == 0 || !owner_alive(cur)) &&
             !t.slots[i].owner.compare_exchange_weak(cur, me, std::memory_order_acq_rel)) {
      }
      if (cur != 0 && owner_alive(cur)) {
        unlock_roles(view_.shared, lock);
        return error(errc::busy, "ring '" + info().name + "' has a live " + role_name(r) + " (pid " +
                                     std::to_string(owner_pid(cur)) +
                                     "): reset needs every handle released; close() and let them drain");
      }
      lock.before[side][i] = cur;
      lock.taken[side] = static_cast<unsigned>(i + 1);
    }
  }
  // Nobody can attach now. Mark the rewrite (closed too, so that a handle
  // left in another process sees a closed ring): a reset killed from here
  // on leaves the mark, attach() refuses the half-reset ring, and the next
  // reset (which takes the dead resetter's slots) redoes it all.
  ring_shared* s = view_.shared;
  s->closed.fetch_or(state_closed | state_resetting, std::memory_order_seq_cst);
  if (reset_hook != nullptr) reset_hook();
  // Back to lap 0 everywhere. relaxed: the releasing stores of the role
  // slots below publish these to the next attacher.
  s->head.store(0, std::memory_order_relaxed);
  s->tail.store(0, std::memory_order_relaxed);
  if (view_.turns != nullptr)
    for (std::uint64_t i = 0; i < view_.capacity; ++i) view_.turns[i].store(0, std::memory_order_relaxed);
  for (std::size_t i = 0; i < max_roles; ++i) {
    for (claim_record* rec : {&s->producer_claims[i], &s->consumer_claims[i]}) {
      rec->from.store(0, std::memory_order_relaxed);
      rec->end.store(0, std::memory_order_relaxed);
      rec->keep.store(0, std::memory_order_relaxed);
    }
  }
  std::uint32_t st = s->closed.load(std::memory_order_relaxed);
  while (!s->closed.compare_exchange_weak(st, next_generation(st), std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
  }
  // Every slot free again: the dead holders' slots are settled (emptied).
  for (auto& b : lock.before)
    for (auto& o : b) o = 0;
  unlock_roles(s, lock);
  return {};
}

recovery_stats ring_state::recovery() const noexcept {
  const recovery_counters& c = view_.shared->recovery;
  return {c.abandoned.load(std::memory_order_relaxed), c.reclaimed.load(std::memory_order_relaxed),
          c.takeovers.load(std::memory_order_relaxed), c.kept.load(std::memory_order_relaxed)};
}

std::uint64_t ring_state::size() const noexcept {
  // relaxed: an estimate; the two loads are not a snapshot.
  const std::uint64_t h = view_.shared->head.load(std::memory_order_relaxed);
  const std::uint64_t t = view_.shared->tail.load(std::memory_order_relaxed);
  const std::uint64_t n = t - h;
  return n > view_.capacity ? (static_cast<std::int64_t>(n) < 0 ? 0 : view_.capacity) : n;
}

const ring_view& detached_view() noexcept {
  // Static storage: never mapped, never written by an engine on it (each
  // path stops at the closed bit, the full or empty check, or the turn).
  static ring_shared shared;
  static std::atomic<std::uint64_t> turn{~std::uint64_t{0}};  // ready for no position
  alignas(cache_line) static std::byte slot[cache_line];
  static const ring_view v = [] {
    shared.closed.store(state_closed, std::memory_order_relaxed);
    ring_view d;
    d.shared = &shared;
    d.turns = &turn;
    d.data = slot;
    d.capacity = 1;
    d.mask = 0;
    d.stride = 0;
    d.shift = 0;
    return d;
  }();
  return v;
}

}  // namespace ringport::detail
