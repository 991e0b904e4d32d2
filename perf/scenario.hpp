// The scenario registry: what can be measured, and what one measurement
// returns. A scenario is one row of the report; its run function performs one
// repetition in the current process (the runner forks it, see runner.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

enum class run_mode { thread, process };
inline const char* to_string(run_mode m) {
  return m == run_mode::thread ? "thread" : "process";
}

/// What a row is in the comparisons (report.hpp): ringport's own rows are
/// the subjects; peers are what a user would pick instead; floors are what
/// no transport can beat (the ratios' denominators, never a "best peer").
enum class row_role { floor, peer, subject };

/// How one repetition runs: where each worker goes and for how long.
struct run_context {
  run_mode mode = run_mode::thread;
  std::vector<unsigned> cpus;  ///< cpus[i] for worker i; empty: not pinned
  double seconds = 0.25;       ///< measured time (ping-pong adds a 10% warm-up inside it)
  unsigned producers = 1;      ///< the row's P (a queue sized per producer needs it)
};

/// Copies text into a fixed array (NUL-terminated, truncated).
template <std::size_t N>
void set_text(char (&dst)[N], std::string_view s) noexcept {
  const std::size_t n = std::min(s.size(), N - 1);
  for (std::size_t i = 0; i < n; ++i) dst[i] = s[i];  // not memcpy: GCC 12 misreads SSO bounds
  dst[n] = '\0';
}

/// The outcome of one repetition. Plain data: the measuring child writes it
/// into memory shared with the harness.
struct measurement {
  bool ok = false;
  bool skipped = false;        ///< !ok because the machine lacks what the row needs (why says what)
  char why[200] = {};          ///< failure (or skip) reason when !ok
  std::uint64_t messages = 0;  ///< messages delivered (ping-pong: round trips)
  double seconds = 0;
  bool has_rtt = false;
  std::uint64_t rtt_ns[5] = {};  ///< p50, p90, p99, p99.9, max: round trip, or one way (oneway rows)
  char cpus[64] = {};            ///< CPUs the workers ended on, e.g. "0,1"
  char note[120] = {};           ///< what the reader should know (capacity, fallback...)

  void fail(std::string_view reason) noexcept {
    ok = false;
    set_text(why, reason);
  }
  /// The row cannot run here (e.g. io_uring refused): reported, not failed.
  void skip(std::string_view reason) noexcept {
    fail(reason);
    skipped = true;
  }
  double mops() const noexcept { return seconds > 0 ? static_cast<double>(messages) / seconds / 1e6 : 0; }
};

struct scenario {
  std::string name;  ///< throughput | scaling | pingpong | oneway
  std::string impl;  ///< boost-spsc, pipe, ringport-spsc, ...
  run_mode mode = run_mode::thread;
  std::size_t msg_bytes = 0;
  unsigned producers = 1;
  unsigned consumers = 1;
  std::string wait;  ///< spin-yield, busy_spin, adaptive, block, kernel, futex, ...
  std::function<void(const run_context&, measurement&)> run;
  std::string boost_peer;    ///< impl of the Boost.Lockfree row this row is compared with ("": none)
  std::string note;          ///< added to every measurement's note
  std::size_t capacity = 0;  ///< slots of the queue measured; 0: no queue (floors, kernel transports)
  row_role role = row_role::peer;
  bool multi_producer = false;  ///< the transport takes several producers (what a peer must offer)
  bool multi_consumer = false;
  std::size_t batch = 1;  ///< messages per call
  /// impl of the row (same group, mode and PxC) that `vs best peer` divides
  /// by instead of the best peer, e.g. the write(2) loop with the same fsync
  /// policy beside a journal row ("": the best peer; "-": none).
  std::string peer;

  unsigned workers() const noexcept { return producers + consumers; }
  /// "name/impl/mode/bytes/PxC/wait/capacity" ("-" when there is no queue):
  /// unique per row, what --filter matches.
  std::string key() const {
    return name + "/" + impl + "/" + to_string(mode) + "/" + std::to_string(msg_bytes) + "/" +
           std::to_string(producers) + "x" + std::to_string(consumers) + "/" + wait + "/" +
           (capacity == 0 ? std::string("-") : std::to_string(capacity));
  }
  /// The rows measured together, round by round (runner.hpp): same scenario
  /// and bytes (and queue capacity for streams, where rows without a queue
  /// join the default capacity's group), both modes, every PxC.
  std::string group(std::size_t default_capacity) const {
    std::string g = name + "/" + std::to_string(msg_bytes);
    if (streams()) g += "/" + std::to_string(capacity == 0 ? default_capacity : capacity);
    return g;
  }
  /// Rows that fill the latency histogram (measurement::rtt_ns).
  bool has_latency() const noexcept { return name == "pingpong" || name == "oneway" || name == "wakefd"; }
  /// Rows whose figure is a message rate over a stream.
  bool streams() const noexcept { return name == "throughput" || name == "scaling"; }
};

using registry = std::vector<scenario>;

/// The non-ringport baselines (peers.cpp).
void register_peers(registry& r);
/// ringport's own rings (ringport_scenarios.cpp).
void register_ringport(registry& r);
/// 1 MiB / 64 MiB / 1 GiB messages: a streamed mailbox, a pipe, a socket (large_messages.cpp).
void register_large_messages(registry& r);
/// Topic fan-out rows beside N spsc rings (topic_scenarios.cpp).
void register_topic(registry& r);
/// io_uring rows (issue 14): journal record/replay, pumps, readable_fd wake-ups (io_scenarios.cpp).
void register_io(registry& r);
/// The spin-line 8-byte ping-pong in thread mode (peers.cpp): the probe the
/// runner measures before every repetition, to see the floor move.
scenario floor_probe();

}  // namespace bench
