// ringport/detail/ring_layout.hpp — the shared-memory layout of every ring.
//
// payload of a ring segment:
//   ring_shared   control block, one field group per cache line (below)
//   turns[cap]    uint64 per slot, only for kinds with a multi-producer or
//                 multi-consumer side (absent for spsc); see ring_engine.hpp
//   data[cap]     cap slots of `stride` bytes; starts on a cache line
//   extra         extra_bytes for the layer above (e.g. a mailbox's
//                 synchronous-send table); starts on a cache line
//
// Everything here is fixed-width integers and always-lock-free atomics;
// offsets, never pointers. Fields written by producers and by consumers live
// on different cache lines with a guard line between them, so the adjacent-
// line prefetcher (which pairs 64-byte lines on x86) cannot couple them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringport/detail/cpu.hpp"
#include "ringport/detail/event_count.hpp"

namespace ringport::detail {

inline constexpr std::size_t max_roles = 64;

/// Immutable after creation. Readers copy it once and validate the copy.
struct ring_geometry {
  std::uint64_t capacity;      // power of two, >= 1
  std::uint64_t stride;        // bytes per slot: element size rounded up to its alignment
  std::uint64_t element_size;  // bytes the user's type occupies
  std::uint64_t turns_offset;  // from payload start; 0 when the kind has no turns
  std::uint64_t data_offset;   // from payload start
  std::uint64_t bytes;         // payload bytes the ring uses
  std::uint32_t kind;          // object_kind
  std::uint32_t extra_bytes;   // bytes for the layer above (mailbox tables), after the data
};

// The layout is a template over the atomic type (`Atomic`, std::atomic in
// the library), the event count and the number of role slots, so that the
// model checker (tests/model/ring_model.cpp) runs the engine on the same
// structure with its own atomics and fewer slots. The library's layout is
// `ring_shared` below; the static_asserts pin it.

/// One attached producer or consumer, as one word so that claiming and
/// taking over are single CASes: bits 0..23 pid, bits 24..63 the process's
/// start time in clock ticks since boot (tells a dead owner from a reused
/// pid). 0 = free slot.
template <template <class> class Atomic>
struct basic_role_slot {
  Atomic<std::uint64_t> owner;
};

template <template <class> class Atomic, std::size_t Roles>
struct basic_role_table {
  basic_role_slot<Atomic> slots[Roles];
};

/// What the holder of one multi-side role slot may have claimed: positions
/// [from, end). Written (release) by the holder before every claiming CAS
/// and emptied when that CAS fails, so that a claimed position is covered by
/// its claimer's record from the CAS until the claimer published it. A
/// survivor that finds a claimed position unpublished and every record that
/// covers it held by a dead process abandons the position (ring_engine.hpp,
/// "Crashes"). One line per slot: only its holder writes it.
template <template <class> class Atomic>
struct alignas(cache_line) basic_claim_record {
  Atomic<std::uint64_t> from;
  Atomic<std::uint64_t> end;
  // Consumers: non-zero for a keeping receiver (ring_recovery.hpp, "Kept
  // claims"): when its holder dies, what it claimed waits for the next
  // holder that presents the same tag. Zero in every other record.
  Atomic<std::uint64_t> keep;
};

/// Counters of crash recovery, for `ringport stat`; written only by
/// survivors that recover, so the line is cold.
template <template <class> class Atomic>
struct alignas(cache_line) basic_recovery_counters {
  Atomic<std::uint64_t> abandoned;  // positions of dead producers skipped (messages lost)
  Atomic<std::uint64_t> reclaimed;  // positions a dead consumer held, handed back (messages lost)
  Atomic<std::uint64_t> takeovers;  // single roles taken over from a dead holder
  Atomic<std::uint64_t> kept;       // positions a dead keeping consumer held, given to its successor
};

template <template <class> class Atomic, class EventCount, std::size_t Roles>
struct alignas(cache_line) basic_ring_shared {
  static constexpr std::size_t roles = Roles;
  // line 0: read-mostly. Geometry, and the state word (read by every push,
  // so it lives with data nobody writes; written by close, reopen, reset):
  // bit 0 closed (state_closed), bits 1..30 the generation, bumped by each
  // reopen or reset (mod 2^30), bit 31 set while a reset rewrites the ring
  // (state_resetting: a reset that died there is refused by attach() until
  // another reset completes it). One word, so close and reopen are single
  // atomic steps on it (ring_state.cpp).
  ring_geometry geo;
  Atomic<std::uint32_t> closed;
  // line 1: producers' position (multi-producer: the reservation cursor).
  alignas(cache_line) Atomic<std::uint64_t> tail;
  alignas(cache_line) unsigned char guard0[cache_line];
  // line 3: consumers' position.
  alignas(cache_line) Atomic<std::uint64_t> head;
  alignas(cache_line) unsigned char guard1[cache_line];
  // Consumers park here when empty; producers check `waiters` after publishing.
  alignas(cache_line) EventCount not_empty;
  // Producers park here when full; consumers check `waiters` after releasing.
  alignas(cache_line) EventCount not_full;
  alignas(cache_line) basic_role_table<Atomic, Roles> producers;
  alignas(cache_line) basic_role_table<Atomic, Roles> consumers;
  // Claim records of multi sides, one per role slot (index = slot).
  basic_claim_record<Atomic> producer_claims[Roles];
  basic_claim_record<Atomic> consumer_claims[Roles];
  basic_recovery_counters<Atomic> recovery;
};

// The library's layout.
using role_slot = basic_role_slot<std::atomic>;
using role_table = basic_role_table<std::atomic, max_roles>;
using claim_record = basic_claim_record<std::atomic>;
using recovery_counters = basic_recovery_counters<std::atomic>;
using ring_shared = basic_ring_shared<std::atomic, event_count, max_roles>;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "64-bit atomics must be lock-free");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words must be lock-free");
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<std::uint32_t>) == 4,
              "atomics must have the size of their integers in shared memory");
static_assert(offsetof(ring_shared, tail) == cache_line, "tail starts line 1");
static_assert(offsetof(ring_shared, head) - offsetof(ring_shared, tail) >= 2 * cache_line,
              "a guard line must separate the producer and consumer positions");
static_assert(offsetof(ring_shared, not_empty) - offsetof(ring_shared, head) >= 2 * cache_line,
              "consumer position and the wait words must not share a prefetch pair");
static_assert(offsetof(ring_shared, not_full) - offsetof(ring_shared, not_empty) == cache_line,
              "each event count has its own line");
static_assert(sizeof(ring_geometry) + sizeof(std::uint32_t) <= cache_line, "line 0 fits");
static_assert(sizeof(ring_shared) % cache_line == 0, "turns start on a cache line");
static_assert(sizeof(claim_record) == cache_line && offsetof(ring_shared, producer_claims) % cache_line == 0,
              "each claim record has its own line: its holder writes it on every claim");

/// The state word (basic_ring_shared::closed): the closed bit, and one
/// generation step (the generation is state >> 1).
inline constexpr std::uint32_t state_closed = 1;
inline constexpr std::uint32_t state_generation_step = 2;
inline constexpr std::uint32_t state_generation_mask = 0x7FFFFFFEu;
inline constexpr std::uint32_t state_resetting = 0x80000000u;
/// The state word of the next generation: open, not resetting.
constexpr std::uint32_t next_generation(std::uint32_t state) noexcept {
  return ((state & state_generation_mask) + state_generation_step) & state_generation_mask;
}

/// Turn bit set by a survivor on a position whose dead producer never
/// published it: consumers take and skip the slot (ring_engine.hpp).
inline constexpr std::uint64_t turn_void = std::uint64_t{1} << 63;

}  // namespace ringport::detail
