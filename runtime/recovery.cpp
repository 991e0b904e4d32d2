// Crash recovery of rings: when a blocked side looks for dead claimers.
// The protocol and what each crash loses: ring_engine.hpp, "Crashes"; the
// settling itself: detail/ring_recovery.hpp.
#include <time.h>

#include <cstdlib>

#include "ringport/detail/ring_recovery.hpp"
#include "ringport/detail/ring_state.hpp"

namespace ringport {
namespace {

std::int64_t delay_from_env() noexcept {
  const char* e = std::getenv("RINGPORT_RECOVERY_MS");
  if (e == nullptr || *e == '\0') return 100;
  char* end = nullptr;
  const long long ms = std::strtoll(e, &end, 10);
  if (*end != '\0' || ms < 0 || ms > 3600 * 1000) return 100;
  return ms;
}

std::atomic<std::int64_t>& delay_ms() noexcept {
  static std::atomic<std::int64_t> ms{delay_from_env()};
  return ms;
}

}  // namespace

void set_recovery_delay(std::chrono::milliseconds d) noexcept {
  delay_ms().store(d.count() < 0 ? 0 : d.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds recovery_delay() noexcept {
  return std::chrono::milliseconds(delay_ms().load(std::memory_order_relaxed));
}

namespace detail {
namespace {

std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void check_stall(const ring_view& v, role blocked, std::uint64_t pos, stall_watch& w) noexcept {
  std::uint64_t p = 0;
  if (!waits_on_claim(v, blocked, pos, &p)) {
    w.pos = ~std::uint64_t{0};  // plainly empty (or full of unread items), or moving
    return;
  }
  const std::int64_t now = now_ns();
  if (w.pos != p) {
    w = {p, now};
    return;
  }
  if (now - w.since_ns < recovery_delay().count() * 1'000'000) return;
  w.since_ns = now;
  recover_claims(v, other_side(blocked));
}

}  // namespace detail
}  // namespace ringport
