// Private to ringport::bridge: small pieces both directions share.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "ringport/bridge.hpp"

namespace ringport::bridge::detail {

/// The tag of a bridge's keeping receiver or sender (mailbox.hpp, "Keeping
/// receivers"): FNV-1a of its state file's path, never 0, so that the next
/// bridge on the same file, and only it, inherits what a killed one held.
inline std::uint64_t keep_tag(const std::string& path) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : path) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h != 0 ? h : 1;
}

/// The domain a mailbox lives in: `given`, else RINGPORT_DOMAIN, else "default".
inline std::string domain_of(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("RINGPORT_DOMAIN");
  return env != nullptr && *env != '\0' ? env : "default";
}

/// Test hook: RINGPORT_BRIDGE_CRASH=POINT:N makes the bridge SIGKILL itself
/// the Nth time (1-based) it passes `point` (tests/test_bridge.sh, case
/// crash_points). Points: out-taken (a message lent by the mailbox, not yet
/// in the journal: kept for the next bridge), out-journaled (in the journal,
/// not yet released: kept, then only released),
/// in-claimed (its slot claimed, written and the sending recorded, not yet
/// published), in-queued (published, its sequence not yet stored),
/// in-recorded (stored, not yet acknowledged). Unset: one load and a compare.
inline void crash_point(const char* point) noexcept {
  static const char* env = std::getenv("RINGPORT_BRIDGE_CRASH");
  static unsigned long passes = 0;
  if (env == nullptr) return;
  const std::string_view e(env), p(point);
  if (e.size() <= p.size() || e.substr(0, p.size()) != p || e[p.size()] != ':') return;
  if (++passes == std::strtoul(env + p.size() + 1, nullptr, 10)) ::raise(SIGKILL);
}

inline bool stopping(const common_options& o) noexcept {
  return o.stop != nullptr && o.stop->load(std::memory_order_relaxed);
}

/// Retry pacing after a NATS failure: 50 ms doubling to 2 s.
class backoff {
 public:
  void wait() {
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::milliseconds(2000));
  }
  void reset() noexcept { delay_ = std::chrono::milliseconds(50); }

 private:
  std::chrono::milliseconds delay_{50};
};

}  // namespace ringport::bridge::detail
