// ringport/status.hpp — data-path outcomes, wait policies, who is attached.
#pragma once

#include <cstdint>

namespace ringport {

/// Outcome of a data-path call. Data-path calls are noexcept and never allocate.
enum class status : std::uint8_t {
  ok = 0,       ///< done
  would_block,  ///< a non-blocking call found the ring full (push) or empty (pop)
  timed_out,    ///< a timed call reached its deadline first
  closed,       ///< the ring was closed: no more pushes; pops fail once it is drained
  too_large,    ///< a message longer than the maximum; nothing was queued
  corrupt,      ///< shared positions failed validation (a corrupt or hostile peer)
  peer_gone,    ///< every peer this call waits on died (see ring.hpp, "Peer death")
  wrong_size,   ///< a message this receive cannot take as asked (typed: another length; plain:
                ///< a stream message, see mailbox.hpp "Streams"); it stays queued
  abandoned,    ///< a stream message given up midway (its sender died or gave up): dropped, counted
  overrun,      ///< topic (lossy): lapped; the subscriber's missed() says how many messages it lost
  evicted,      ///< topic (backpressure): the subscriber lagged past the lag limit and was dropped
};

constexpr const char* to_string(status s) noexcept {
  switch (s) {
    case status::ok:
      return "ok";
    case status::would_block:
      return "would_block";
    case status::timed_out:
      return "timed_out";
    case status::closed:
      return "closed";
    case status::too_large:
      return "too_large";
    case status::corrupt:
      return "corrupt";
    case status::peer_gone:
      return "peer_gone";
    case status::wrong_size:
      return "wrong_size";
    case status::abandoned:
      return "abandoned";
    case status::overrun:
      return "overrun";
    case status::evicted:
      return "evicted";
  }
  return "unknown";
}

/// How a handle waits when a ring is full (producer) or empty (consumer).
enum class wait_policy : std::uint8_t {
  busy_spin,  ///< spin with a pause hint, never sleep: pinned, latency-critical threads only
  adaptive,   ///< default: spin briefly, then yield, then park on the futex
  block,      ///< park on the futex at once: lowest CPU use, a system call per wait
};

/// Who holds the roles of a ring or mailbox right now, judged from /proc by
/// pid + start time (a snapshot: peers come and go).
struct peer_counts {
  unsigned producers_alive = 0;  ///< mailbox: senders
  unsigned producers_dead = 0;   ///< holders that died without releasing their role
  unsigned consumers_alive = 0;  ///< mailbox: receivers
  unsigned consumers_dead = 0;
};

}  // namespace ringport
