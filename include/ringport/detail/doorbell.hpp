// ringport/detail/doorbell.hpp — shared doorbells: wait_any() without futex_waitv.
//
// Before Linux 5.16 a thread can sleep on one futex word only, so wait_any()
// cannot sleep on every ring's event count at once. Instead each domain has
// a doorbell table: 64 futex words on their own cache lines, in one small
// file beside the domain's segments (<shm root>/ringport.<domain>/.doorbells~,
// a name no segment can have). A waiter picks a doorbell (its thread id mod
// 64), sets that doorbell's bit in the `bells` mask of every event count it
// waits on, and sleeps on the doorbell. A waker whose notify_slow() takes a
// non-zero mask rings each doorbell in it: seq += 1, FUTEX_WAKE. Threads
// that share a doorbell only see extra wake-ups, never miss one.
//
// Rings made with create_local() use one anonymous shared table per process,
// made when the first local ring is, so children forked afterwards share it.
//
// Ordering (the waiter in runtime/wait_any.cpp, the waker in futex.cpp):
//   waiter: key = bell.seq (A-BELL, acquire); bells |= bit (R-BELLS,
//           release); waiters += 1 (release); F-WAIT; re-check; sleep on
//           bell.seq if key is still current.
//   waker : publish; F-NOTIFY; registrations != 0 -> waiters.fetch_and
//           (acquire: clears them, keeps the fence mode) ... bells.exchange(0) (A-BELLS, acquire); for each
//           bit: bell.seq += 1 (R-BELL, release), FUTEX_WAKE.
// Every write to `waiters` is a read-modify-write, so a waker whose exchange
// reads any value at or after the waiter's increment synchronizes with it
// and sees the waiter's bit (or a later clear by a waker that rang for it).
// The waiter's key load happens before any ring that takes its bit, so that
// ring changes seq after the key and the futex wait cannot sleep through it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ringport/detail/cpu.hpp"

namespace ringport {
class segment;
}

namespace ringport::detail {

inline constexpr std::size_t doorbell_count = 64;
/// The table's file in the domain's tmpfs directory ('~' keeps it out of
/// segment names; the leading '.' marks it internal).
inline constexpr char doorbell_file_name[] = ".doorbells~";

struct alignas(cache_line) doorbell {
  std::atomic<std::uint32_t> seq;
};

/// The shared file's whole content (4 KiB with 64-byte lines).
struct doorbell_table {
  doorbell bells[doorbell_count];
};

/// A process-local handle on one domain's table; interned, never freed.
class doorbell_site;

/// The site of a domain's rings (maps nothing yet). `group_access`: make
/// the file 0660 if this process creates it. Null only when out of memory.
doorbell_site* doorbell_site_for(const std::string& domain, bool group_access) noexcept;
/// The site for the rings (or node) in `seg`: its domain's, with the
/// segment file's group access; local_doorbell_site() for anonymous ones.
doorbell_site* doorbell_site_of(const segment& seg) noexcept;
/// The site of this process's create_local() rings; its table exists from
/// the first call on.
doorbell_site* local_doorbell_site() noexcept;
/// The mapped table, mapping (and creating) the file on first use; null if
/// that failed (reported once on the notice handler; wait_any then polls).
doorbell_table* doorbell_table_of(doorbell_site* site) noexcept;
/// Rings every doorbell whose bit is set in `mask`.
void ring_doorbells(doorbell_site* site, std::uint64_t mask) noexcept;

/// The doorbell (index below doorbell_count) this thread sleeps on.
std::size_t own_doorbell() noexcept;

}  // namespace ringport::detail
