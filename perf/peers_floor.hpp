// Floors: what no transport can beat on this machine.
//   spin-line   one message in flight in a cache-line mailbox per direction
//               (payload and a publication counter on one line, the reply on
//               another); the receiver polls in the plainest loop there is:
//               load, compare, pause (no back-off, no yield). The hardware
//               round-trip floor: two cache-line transfers. Only after 2^20
//               unanswered polls (milliseconds, far beyond any round trip it
//               measures) does it yield once, so that a peer that lost its
//               CPU gets it back instead of the run spinning on.
//   futex       the same mailbox, but a receiver that finds nothing announces
//               itself (a waiter flag) and sleeps in FUTEX_WAIT; the sender
//               FUTEX_WAKEs only when the flag says someone sleeps: the
//               least a blocking hand-off can do, the floor for blocking
//               wake-ups. Shared futexes (no FUTEX_PRIVATE_FLAG), as between
//               processes.
//   memcpy      a producer copying each message into a 128 KiB ring of slots
//               (fits in L2) with nobody reading: the copy-bandwidth floor.
//   memcpy-queue  the same into a ring of 1024 messages, the size of every
//               queue measured (4 MiB at 4096 bytes): what copying alone costs
//               once the working set is the queues'.
#pragma once

#include <atomic>
#include <cstring>

#include "drivers.hpp"

namespace bench {

struct spin_waiter {
  static constexpr const char* impl = "spin-line";
  static constexpr const char* wait = "spin";
  static void wake(std::atomic<std::uint32_t>&, std::atomic<std::uint32_t>&) noexcept {}
  static std::uint32_t await_change(std::atomic<std::uint32_t>& w, std::atomic<std::uint32_t>&,
                                    std::uint32_t seen) noexcept {
    std::uint32_t v;
    for (std::uint32_t polls = 1; (v = w.load(std::memory_order_acquire)) == seen; ++polls) {
      ringport::detail::cpu_relax();
      if ((polls & ((1U << 20) - 1)) == 0) sched_yield();  // see the top of this file
    }
    return v;
  }
};

struct futex_waiter {
  static constexpr const char* impl = "futex";
  static constexpr const char* wait = "futex";
  static void wake(std::atomic<std::uint32_t>& w, std::atomic<std::uint32_t>& waiting) noexcept;
  static std::uint32_t await_change(std::atomic<std::uint32_t>& w, std::atomic<std::uint32_t>& waiting,
                                    std::uint32_t seen) noexcept;
};

/// A one-message mailbox: the sender fills the slot, then publishes it by
/// bumping `published` (release, pairs with the receiver's acquire in
/// await_change). Only valid with one message in flight (ping-pong).
template <std::size_t N, class Waiter>
struct slot_channel : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = Waiter::impl;
  static constexpr const char* wait = Waiter::wait;
  static constexpr bool streams = false;
  static constexpr row_role role = row_role::floor;

  alignas(line) std::atomic<std::uint32_t> published{0};
  std::atomic<std::uint32_t> waiting{0};  // futex: the receiver sleeps (or is about to)
  message slot{};
  alignas(line) std::uint32_t seen = 0;  // receiver-private, off the shared line

  ringport::result<void> init() { return {}; }
  bool send(const message& m) noexcept {
    slot = m;
    // Only the sender writes `published`: relaxed load of our own value.
    published.store(published.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    Waiter::wake(published, waiting);
    return true;
  }
  bool recv(message& m) noexcept {
    seen = Waiter::await_change(published, waiting, seen);
    m = slot;
    return true;
  }
};

template <std::size_t N>
using spin_line_channel = slot_channel<N, spin_waiter>;
template <std::size_t N>
using futex_channel = slot_channel<N, futex_waiter>;

/// A producer copying each message into a ring of Bytes (rounded down to
/// whole messages) that nobody reads.
template <std::size_t N, std::size_t Bytes, class Name>
struct memcpy_ring : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = Name::impl;
  static constexpr const char* wait = "none";
  static constexpr bool process_safe = false;  // one thread: nothing to share
  static constexpr row_role role = row_role::floor;
  static constexpr std::size_t slots = Bytes / N;

  message ring[slots];
  std::size_t next = 0;

  ringport::result<void> init() { return {}; }
  bool send(const message& m) noexcept {
    std::memcpy(&ring[next], &m, N);
    next = next + 1 == slots ? 0 : next + 1;
    return true;
  }
  bool recv(message&) noexcept { return false; }  // a sink has no reader
  std::string describe() const { return Name::describe; }
};

struct memcpy_name {
  static constexpr const char* impl = "memcpy";
  static constexpr const char* describe = "into a 128 KiB ring";
};
struct memcpy_queue_name {
  static constexpr const char* impl = "memcpy-queue";
  static constexpr const char* describe = "into a ring as large as the queues' (1024 messages)";
};

template <std::size_t N>
using memcpy_sink = memcpy_ring<N, 128 * 1024, memcpy_name>;
template <std::size_t N>
using memcpy_queue_sized = memcpy_ring<N, queue_slots * N, memcpy_queue_name>;

}  // namespace bench
