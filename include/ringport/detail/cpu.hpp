// ringport/detail/cpu.hpp — the only place that knows the instruction set.
//
// cpu_relax(): the spin-loop hint (x86 PAUSE, ARM64 YIELD). ticks(): a cheap
// monotonic cycle-ish counter for spin budgets (x86 RDTSC, ARM64 CNTVCT_EL0);
// never used for measured results, which use steady_clock.
// cache_line: the destructive-interference size ringport lays shared data out
// by. 64 on x86-64; 128 on ARM64 (Apple cores and adjacent-line prefetchers
// pair 64-byte lines, so 128 keeps producer and consumer apart there too).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace ringport::detail {

#if defined(__x86_64__)
inline constexpr std::size_t cache_line = 64;
inline constexpr std::uint32_t arch_id = 1;  // recorded in segment headers
inline constexpr const char* arch_name = "x86-64";
inline void cpu_relax() noexcept {
  _mm_pause();
}
inline std::uint64_t ticks() noexcept {
  return __rdtsc();
}
#elif defined(__aarch64__)
inline constexpr std::size_t cache_line = 128;
inline constexpr std::uint32_t arch_id = 2;
inline constexpr const char* arch_name = "arm64";
inline void cpu_relax() noexcept {
  asm volatile("yield" ::: "memory");
}
inline std::uint64_t ticks() noexcept {
  std::uint64_t v;
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
  return v;
}
#else
#error "ringport supports x86-64 and ARM64; add the port to ringport/detail/cpu.hpp"
#endif

// ThreadSanitizer cannot model std::atomic_thread_fence (g++ rejects it
// under -fsanitize=thread): TSan builds order through read-modify-writes
// instead, which TSan understands and which are correct on their own.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool tsan_build = true;
#else
inline constexpr bool tsan_build = false;
#endif

}  // namespace ringport::detail
