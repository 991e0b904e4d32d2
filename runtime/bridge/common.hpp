// Private to ringport::bridge: small pieces both directions share.
#pragma once

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "ringport/bridge.hpp"

namespace ringport::bridge::detail {

/// The domain a mailbox lives in: `given`, else RINGPORT_DOMAIN, else "default".
inline std::string domain_of(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("RINGPORT_DOMAIN");
  return env != nullptr && *env != '\0' ? env : "default";
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
