// runtime/mailbox_slots.hpp — private to the mailbox implementation
// (mailbox.cpp, mailbox_stream.cpp): slot headers, flags, the layout of the
// extra region, and helpers both files use. See ringport/mailbox.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstring>
#include <new>

#include "ringport/detail/mailbox_ack.hpp"
#include "ringport/detail/process.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/detail/wait.hpp"
#include "ringport/mailbox.hpp"

namespace ringport::mbx {

using detail::mailbox_ack;
using clock = std::chrono::steady_clock;

// Slot header: four 32-bit fields before the payload. They are written and
// read with relaxed atomic accesses (std::atomic_ref): a consumer may look at
// a header before it owns the slot (reserve_one_if), racing with the next
// lap's producer; the turns, not these accesses, carry the ordering.
constexpr std::size_t off_length = 0;
constexpr std::size_t off_flags = 4;
constexpr std::size_t off_ack_index = 8;
constexpr std::size_t off_ack_gen = 12;
static_assert(off_ack_gen + 4 == mailbox_header_bytes, "the header is four 32-bit words");

constexpr std::uint32_t flag_sync = 1;  // ack_index/ack_gen name a pending acknowledgement
constexpr std::uint32_t flag_void = 2;  // an aborted claim: receivers skip it
// Stream messages (longer than a slot) are cut into fragments, all flagged
// stream; the first and the last say so. One fragment that is both is a
// plain message. Fields of a fragment (see "Streams" in mailbox.hpp):
//  - first, not last: ack_index = (total >> 32) << 8 | sender slot,
//    ack_gen = total & 0xffffffff (total: the message's length, < 2^56);
//  - later ones: ack_index = sender slot, ack_gen = fragment index (1, 2...),
//    or, on a synchronous last fragment, its acknowledgement generation.
constexpr std::uint32_t flag_stream = 4;
constexpr std::uint32_t flag_first = 8;
constexpr std::uint32_t flag_last = 16;
constexpr std::uint32_t known_flags = flag_sync | flag_void | flag_stream | flag_first | flag_last;
constexpr std::uint64_t stream_total_limit = std::uint64_t{1} << 56;

// Acknowledgement word: generation << 2 | state; its protocol steps are in
// detail/mailbox_ack.hpp (model-checked in tests/model/).
using detail::ack_pending;
using detail::ack_word;
using ack_env = detail::shipped_ack_env;
constexpr std::uint32_t gen_mask = detail::ack_gen_mask;

// The extra region: the acknowledgement table, then (rendezvous mailboxes
// only) the meeting point. Its length is in the ring's geometry, so it also
// records which of the two a mailbox is (read back by mailbox::open).
constexpr std::uint32_t ack_bytes = static_cast<std::uint32_t>(sizeof(mailbox_ack) * detail::max_roles);
constexpr std::uint32_t streams_offset = ack_bytes;
constexpr std::uint32_t meeting_offset = streams_offset + sizeof(detail::mailbox_streams);
constexpr std::uint32_t buffered_extra = meeting_offset;
constexpr std::uint32_t rendezvous_extra = meeting_offset + sizeof(detail::mailbox_meeting);

// Automatic buffering (runtime/mailbox_auto.cpp): the head (generation 0)
// carries the chain's state after the stream gates. Every field is read
// once and checked; `limit` is written last at create (0: not ready yet).
struct alignas(detail::cache_line) chain_word {
  std::atomic<std::uint32_t> v;
};
struct alignas(detail::cache_line) mailbox_chain {
  // The newest generation: its number << 8 | its level (it has base << level
  // slots). The number only counts up; the level goes up one at a growth
  // and back to 0 at a shrink.
  std::atomic<std::uint64_t> newest;
  std::atomic<std::uint32_t> limit;      // levels allowed, 1..max_generations
  std::atomic<std::uint32_t> backing;    // pages of every generation
  std::atomic<std::uint32_t> group;      // 1: mode 0660
  std::atomic<std::uint64_t> max_bytes;  // the user's limit
  // The chain's id: random, nonzero, written before `limit`; every
  // generation records it (generation_tag), so that a NAME.gN not made by
  // this chain is never taken for one of its generations, nor removed.
  std::atomic<std::uint64_t> id;
  // busy[i]: 1 + the generation the sender holding head role slot i is
  // sending into (between its look at `generation` and its publish), else 0.
  chain_word busy[detail::max_roles];
};
constexpr std::uint32_t max_generations = 32;          // levels (sizes), not generations
constexpr std::uint32_t last_generation = 0xfffffffe;  // busy words hold 1 + a generation
inline std::uint64_t pack_newest(std::uint32_t g, std::uint32_t level) noexcept {
  return std::uint64_t{g} << 8 | level;
}
constexpr std::uint32_t chain_offset = buffered_extra;
constexpr std::uint32_t automatic_extra = chain_offset + sizeof(mailbox_chain);
static_assert(chain_offset % detail::cache_line == 0, "the chain state starts a cache line");

inline mailbox_chain* chain_of(detail::ring_state& st) noexcept {
  return std::launder(reinterpret_cast<mailbox_chain*>(st.extra() + chain_offset));
}

// A generation (NAME.gN, N >= 1) is a bounded mailbox whose extra region
// has, after a buffered mailbox's, the chain id and its own number. Its
// creator writes them just after the segment appears (number, then the id
// with release): an id of 0 is a generation still being made, or left
// half-made by a creator that died (runtime/mailbox_auto.cpp, "Growing").
struct alignas(detail::cache_line) generation_tag {
  std::atomic<std::uint64_t> chain;
  std::atomic<std::uint32_t> number;
  std::byte spare[detail::cache_line];  // a length no other mailbox's extra region has
};
constexpr std::uint32_t tag_offset = buffered_extra;
constexpr std::uint32_t generation_extra = tag_offset + sizeof(generation_tag);
static_assert(tag_offset % detail::cache_line == 0, "the generation tag starts a cache line");
static_assert(generation_extra != automatic_extra && generation_extra != rendezvous_extra &&
                  generation_extra != buffered_extra,
              "a generation is told from other mailboxes by its extra length");

inline generation_tag* tag_of(detail::ring_state& st) noexcept {
  return std::launder(reinterpret_cast<generation_tag*>(st.extra() + tag_offset));
}

inline std::uint64_t role_bit(std::size_t slot) noexcept {
  return std::uint64_t{1} << slot;
}

struct slot_header {
  std::uint32_t length, flags, ack_index, ack_gen;
};
static_assert(sizeof(slot_header) == mailbox_header_bytes && offsetof(slot_header, ack_gen) == off_ack_gen,
              "slot_header mirrors the slot's header words (summarize_slot copies it)");

inline std::atomic_ref<std::uint32_t> field(const std::byte* slot, std::size_t off) noexcept {
  // The slot lives in a writable shared mapping; const only says we read.
  return std::atomic_ref<std::uint32_t>(
      *std::launder(reinterpret_cast<std::uint32_t*>(const_cast<std::byte*>(slot) + off)));
}

inline slot_header load_header(const std::byte* slot) noexcept {
  // Each field is read exactly once here; callers check the copy.
  return {field(slot, off_length).load(std::memory_order_relaxed),
          field(slot, off_flags).load(std::memory_order_relaxed),
          field(slot, off_ack_index).load(std::memory_order_relaxed),
          field(slot, off_ack_gen).load(std::memory_order_relaxed)};
}

inline void store_header(std::byte* slot, const slot_header& h) noexcept {
  // relaxed: published by R-TURN-FULL in ring_engine::hand_on().
  field(slot, off_length).store(h.length, std::memory_order_relaxed);
  field(slot, off_flags).store(h.flags, std::memory_order_relaxed);
  field(slot, off_ack_index).store(h.ack_index, std::memory_order_relaxed);
  field(slot, off_ack_gen).store(h.ack_gen, std::memory_order_relaxed);
}

/// The length a first fragment announces for its whole message.
inline std::uint64_t stream_total(const slot_header& h) noexcept {
  return std::uint64_t{h.ack_index >> 8} << 32 | h.ack_gen;
}

inline mailbox_ack* ack_table(detail::ring_state& st) noexcept {
  return std::launder(reinterpret_cast<mailbox_ack*>(st.extra()));
}

// Clears the meeting bits of role slots whose holder died (or left) while
// announced. Slow (reads /proc): on attach and after a failed meeting only.
// A live holder whose bit this clears by a race re-announces itself at its
// next peer poll (wait_for_message, await_receiver).
inline void prune_meeting(const detail::ring_view& v, detail::mailbox_meeting* m) noexcept {
  if (!m) return;
  auto prune = [](std::atomic<std::uint64_t>& bits, const detail::role_table& t) noexcept {
    std::uint64_t set = bits.load(std::memory_order_relaxed);
    while (set != 0) {
      const auto i = static_cast<std::size_t>(std::countr_zero(set));
      set &= set - 1;
      const std::uint64_t owner = t.slots[i].owner.load(std::memory_order_relaxed);
      if (owner == 0 || !detail::owner_alive(owner)) bits.fetch_and(~role_bit(i), std::memory_order_relaxed);
    }
  };
  prune(m->receivers, v.shared->consumers);
  prune(m->senders, v.shared->producers);
}

inline detail::mailbox_meeting* meeting_of(detail::ring_state& st, bool rendezvous) noexcept {
  return rendezvous ? std::launder(reinterpret_cast<detail::mailbox_meeting*>(st.extra() + meeting_offset))
                    : nullptr;
}

inline detail::mailbox_streams* streams_of(detail::ring_state& st) noexcept {
  return std::launder(reinterpret_cast<detail::mailbox_streams*>(st.extra() + streams_offset));
}

/// True when role slot `slot` of table t is held by a live process.
inline bool holder_alive(const detail::role_table& t, std::size_t slot) noexcept {
  if (slot >= detail::max_roles) return false;
  const std::uint64_t owner = t.slots[slot].owner.load(std::memory_order_relaxed);
  return owner != 0 && detail::owner_alive(owner);
}

/// A gate word (0, or 1 + a role slot) whose holder died: frees it (CAS,
/// so a live taker is never undone); true when it is free afterwards.
inline bool free_if_dead(std::atomic<std::uint32_t>& gate, std::uint32_t seen,
                         const detail::role_table& t) noexcept {
  if (seen == 0) return true;
  if (holder_alive(t, seen - 1)) return false;
  return gate.compare_exchange_strong(seen, 0, std::memory_order_acq_rel) || seen == 0;
}

}  // namespace ringport::mbx

namespace ringport {

// Waits for attempt() to find a message; alive() runs at each peer poll
// (false: peer_gone). On a rendezvous, announces this receiver as waiting
// for as long as it waits, and wakes the senders that wait for one (pairs
// with mailbox_sender::await_receiver()).
template <class Attempt, class Alive>
status mailbox_receiver::wait_for_message(clock::time_point deadline, Attempt&& attempt,
                                          Alive&& alive) noexcept {
  const std::uint64_t bit = meet_ ? mbx::role_bit(role_.slot()) : 0;
  if (meet_) {
    meet_->receivers.fetch_or(bit, std::memory_order_seq_cst);
    meet_->arrivals.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake_all(&meet_->arrivals);
  }
  const status s = detail::wait_loop(e_.view().shared->not_empty, policy_, deadline, attempt, [&]() noexcept {
    e_.poll_stall();
    // Re-announce if a pruning race cleared our bit (see prune_meeting).
    if (meet_ && (meet_->receivers.fetch_or(bit, std::memory_order_seq_cst) & bit) == 0) {
      meet_->arrivals.fetch_add(1, std::memory_order_seq_cst);
      detail::futex_wake_all(&meet_->arrivals);
    }
    return alive() && role_.state().peers_alive(detail::role::producer);
  });
  if (meet_) meet_->receivers.fetch_and(~bit, std::memory_order_relaxed);
  return s;
}

}  // namespace ringport
