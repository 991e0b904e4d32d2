// Stamped, checksummed topic messages for the topic tests: a torn or mixed
// message (words of two messages) fails check().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace ringport_test {

struct topic_stamp {
  std::uint64_t seq;
  std::uint64_t words[6];
  std::uint64_t sum;

  static std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  static topic_stamp make(std::uint64_t seq) noexcept {
    topic_stamp s{};
    s.seq = seq;
    std::uint64_t sum = mix(seq);
    for (int i = 0; i < 6; ++i) {
      s.words[i] = mix(seq * 7 + static_cast<std::uint64_t>(i) + 1);
      sum ^= mix(s.words[i] + static_cast<std::uint64_t>(i));
    }
    s.sum = sum;
    return s;
  }
  /// True when every word belongs to one message made by make().
  bool check() const noexcept {
    const topic_stamp want = make(seq);
    for (int i = 0; i < 6; ++i)
      if (words[i] != want.words[i]) return false;
    return sum == want.sum;
  }
};
static_assert(sizeof(topic_stamp) == 64);

/// Messages for the long-running tests: `name` from the environment, else
/// the default (smaller under sanitizers, which slow every access).
inline std::uint64_t topic_count(const char* name, std::uint64_t fast, std::uint64_t sanitized) {
  if (const char* v = std::getenv(name)) return std::strtoull(v, nullptr, 10);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  (void)fast;
  return sanitized;
#else
  (void)sanitized;
  return fast;
#endif
}

}  // namespace ringport_test
