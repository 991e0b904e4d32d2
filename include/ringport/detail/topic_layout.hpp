// ringport/detail/topic_layout.hpp — the shared-memory layout of a topic.
//
// payload of a topic segment (object_kind::topic):
//   topic_shared          control block, one field group per cache line
//   subscribers[64]       one line per subscriber entry (topic_subscriber_entry)
//   slots[capacity]       `stride` bytes each, from slots_offset (a cache line)
//
// A slot is a 16-byte header {seq u64, length u32, reserved u32} and then
// max_size payload bytes, rounded up to 8; every field and every payload
// word is accessed as an aligned 64- or 32-bit atomic (relaxed or with the
// orderings runtime/topic.cpp names), so a reader racing the publisher reads
// stale or new words, never undefined behaviour. The seqlock protocol over
// `seq` (topic.hpp, "Design") tells a reader whether the words it copied
// belong to one message.
//
// Fixed-width integers and always-lock-free atomics only; offsets, never
// pointers. The publisher's line (head; gate at rescans) is written on every publish;
// subscribers never read it on their fast path (they poll their slot's seq).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringport/detail/cpu.hpp"
#include "ringport/detail/event_count.hpp"

namespace ringport::detail {

inline constexpr std::size_t topic_max_subscribers = 64;
inline constexpr std::size_t topic_slot_header = 16;

/// Immutable after creation; openers copy it once and check the copy
/// against the segment header and the file size.
struct topic_geometry {
  std::uint64_t capacity;      // slots: a power of two
  std::uint64_t max_size;      // largest message in bytes
  std::uint64_t stride;        // bytes per slot: header + max_size rounded up to 8
  std::uint64_t slots_offset;  // from payload start
  std::uint64_t bytes;         // payload bytes the topic uses
  std::uint64_t lag_limit;     // backpressure: evict at this lag (0: never)
  std::uint32_t mode;          // topic_mode
  std::uint32_t element_size;  // topic<T>: sizeof(T); byte topics: 0
};

/// Subscriber entry states (`state`).
inline constexpr std::uint32_t sub_free = 0;     // no subscriber (or still joining)
inline constexpr std::uint32_t sub_active = 1;   // gates a back-pressured publisher
inline constexpr std::uint32_t sub_evicted = 2;  // dropped for lagging; its holder gets status::evicted

/// One subscriber: its holder (owner word: pid + start time, 0 = free), the
/// next message number it will read (written only by its holder, read by
/// the publisher and by `ringport stat`), its state. One line each: a
/// subscriber writes `cursor` after every message.
struct alignas(cache_line) topic_subscriber_entry {
  std::atomic<std::uint64_t> owner;
  std::atomic<std::uint64_t> cursor;
  std::atomic<std::uint32_t> state;
  std::atomic<std::uint32_t> from_oldest;  // how it joined (for stat); informational
};

struct alignas(cache_line) topic_shared {
  // line 0: read-mostly.
  topic_geometry geo;
  std::atomic<std::uint32_t> closed;
  // line 1: the publisher's. head = messages published (message n lives in
  // slot n % capacity, complete once head > n); gate (backpressure) = the
  // first message the publisher may not overwrite before it looks at the
  // cursors again (monotone; joiners start at or above it).
  alignas(cache_line) std::atomic<std::uint64_t> head;
  std::atomic<std::uint64_t> gate;
  std::atomic<std::uint64_t> publisher;  // owner word of the publisher role, 0 = free
  std::atomic<std::uint64_t> takeovers;  // publisher roles taken from a dead holder
  std::atomic<std::uint64_t> evictions;  // subscribers evicted for lagging
  std::atomic<std::uint64_t> reaped;     // dead subscribers' entries freed by the publisher
  // backpressure: the cursor at which a subscriber wakes the parked
  // publisher (head - capacity + a wake batch; runtime/topic.cpp, W-WAKE).
  // Written by the publisher before it parks, read by subscribers only
  // while it is registered as a waiter.
  std::atomic<std::uint64_t> wake_at;
  alignas(cache_line) unsigned char guard0[cache_line];
  // Subscribers park here when they have read everything.
  alignas(cache_line) event_count not_empty;
  // A back-pressured publisher parks here; subscribers notify after reading.
  alignas(cache_line) event_count not_full;
  alignas(cache_line) topic_subscriber_entry subscribers[topic_max_subscribers];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
              std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(topic_geometry) + sizeof(std::uint32_t) <= cache_line,
              "line 0 holds geometry and closed");
static_assert(offsetof(topic_shared, head) == cache_line, "the publisher's line is line 1");
static_assert(offsetof(topic_shared, wake_at) < 2 * cache_line, "wake_at is on the publisher's line");
static_assert(offsetof(topic_shared, not_empty) - offsetof(topic_shared, head) >= 2 * cache_line,
              "a guard line between the publisher's line and the wait words (prefetch pairs)");
static_assert(offsetof(topic_shared, not_full) - offsetof(topic_shared, not_empty) == cache_line,
              "each event count has its own line");
static_assert(sizeof(topic_subscriber_entry) == cache_line, "one line per subscriber entry");
static_assert(offsetof(topic_shared, subscribers) % cache_line == 0, "entries start on a line");
static_assert(sizeof(topic_shared) % cache_line == 0, "slots start on a line");

/// A slot's seq for message n: odd while the publisher writes it, even once
/// it is complete. Strictly increasing per slot (n grows by capacity).
constexpr std::uint64_t seq_writing(std::uint64_t n) noexcept {
  return 2 * n + 1;
}
constexpr std::uint64_t seq_done(std::uint64_t n) noexcept {
  return 2 * n + 2;
}

}  // namespace ringport::detail
