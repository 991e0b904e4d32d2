// ringport/wait.hpp — waiting on several rings at once.
//
// wait_any() sleeps until one of up to 128 consumers has data (or its ring
// closed), or the deadline passes. It registers as a waiter on every ring's
// "not empty" event count, re-checks each, then sleeps on all of their futex
// words with one futex_waitv (Linux >= 5.16). On older kernels it falls back
// to the shared doorbells of detail/doorbell.hpp: when every target is in the
// same domain (or all are create_local() rings), it sleeps on one doorbell
// that each target's wakers ring. Targets from different domains fall back
// to polling: a FUTEX_WAIT on the first target, re-checking all of them every
// millisecond. RINGPORT_FUTEX_WAITV=0 forces the doorbell path on any kernel.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>

#include "ringport/status.hpp"

namespace ringport {

namespace detail {
struct event_count;
class doorbell_site;
}  // namespace detail

/// Something wait_any() can wait on; get one from consumer_handle::readable().
struct waitable {
  detail::event_count* event = nullptr;
  bool (*ready)(const void* ctx) noexcept = nullptr;
  const void* ctx = nullptr;
  /// The doorbells of event's domain, for the fallback without futex_waitv.
  detail::doorbell_site* bells = nullptr;
  /// Called (when set) before each park while nothing is ready: lets the
  /// target look for a dead process that stalls it (crash recovery).
  void (*idle)(const void* ctx) noexcept = nullptr;
};

inline constexpr std::size_t wait_any_max = 128;

/// Index of a ready target, or -1 when the deadline passed first. Targets
/// beyond wait_any_max are ignored (-1 at once if given none).
int wait_any(std::span<const waitable> targets, std::chrono::steady_clock::time_point deadline,
             wait_policy policy = wait_policy::adaptive) noexcept;

}  // namespace ringport
