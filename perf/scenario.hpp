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

/// How one repetition runs: where each worker goes and for how long.
struct run_context {
  run_mode mode = run_mode::thread;
  std::vector<unsigned> cpus;  ///< cpus[i] for worker i; empty: not pinned
  double seconds = 0.25;       ///< measured time (ping-pong adds a 10% warm-up inside it)
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
  char why[200] = {};          ///< failure reason when !ok
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
  std::string boost_peer;  ///< impl of the Boost.Lockfree row this row is compared with ("": none)
  std::string note;        ///< added to every measurement's note
  unsigned reps = 0;       ///< repetitions; 0: the plan's

  unsigned workers() const noexcept { return producers + consumers; }
  /// "name/impl/mode/bytes/PxC/wait": unique per row, what --filter matches.
  std::string key() const {
    return name + "/" + impl + "/" + to_string(mode) + "/" + std::to_string(msg_bytes) + "/" +
           std::to_string(producers) + "x" + std::to_string(consumers) + "/" + wait;
  }
  /// Rows that fill the latency histogram (measurement::rtt_ns).
  bool has_latency() const noexcept { return name == "pingpong" || name == "oneway"; }
  /// Rows whose figure is a message rate over a stream.
  bool streams() const noexcept { return name == "throughput" || name == "scaling"; }
};

using registry = std::vector<scenario>;

/// The non-ringport baselines (peers.cpp).
void register_peers(registry& r);
/// ringport's own rings (ringport_scenarios.cpp).
void register_ringport(registry& r);

}  // namespace bench
