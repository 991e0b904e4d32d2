// ringport/detail/cpu.hpp — the only place that knows the instruction set.
//
// cpu_relax(): the spin-loop hint. x86-64: PAUSE (tens of cycles, and it
// tells a hyper-threaded core to give the sibling the pipeline). ARM64:
// ISB SY rather than YIELD: YIELD is a no-op on most cores (Cortex-A,
// Neoverse, Apple), so a YIELD loop hammers the line it polls; ISB drains the
// pipeline, a pause of a few tens of nanoseconds, much like PAUSE (Rust's
// spin_loop hint and OpenJDK's spin waits on ARM64 chose it for that reason).
//
// ticks(): a cheap monotonic counter for spin budgets, never for measured
// results (those use steady_clock). x86-64: RDTSC (cycles at a constant
// rate the architecture does not report: ticks_per_second() is 0). ARM64:
// CNTVCT_EL0, the virtual generic timer readable at EL0, at CNTFRQ_EL0 Hz
// (commonly 24 MHz to 1 GHz; not CPU cycles): ticks_per_second() reads it.
//
// prefetch_read(p): asks for p's line without waiting for it (x86-64
// PREFETCHT0, ARM64 PRFM PLDL1KEEP, through the compiler's builtin). A hint:
// it never faults, so any address may be given; ringport gives only slots
// inside a mapping.
//
// cache_line: the destructive-interference size ringport lays shared data
// out by (guards between producer and consumer words, claim records, event
// counts, doorbells; recorded in every segment header, so builds of another
// value refuse each other's segments). x86-64: 64 (the spatial prefetcher
// pairs lines into 128-byte chunks, which ring_layout.hpp answers with guard
// lines). ARM64: 128: Apple's cores have 128-byte lines, and the 64-byte
// lines of Cortex-A and Neoverse cores are fetched in adjacent pairs by
// their L2 prefetchers, so two hot words 64 bytes apart still contend. Not
// 256 (GCC's hardware_destructive_interference_size for generic ARM64, for
// A64FX's 256-byte lines): that would double every per-role structure for
// one family of HPC cores.
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
inline std::uint64_t ticks_per_second() noexcept {
  return 0;  // not architectural
}
#elif defined(__aarch64__)
inline constexpr std::size_t cache_line = 128;
inline constexpr std::uint32_t arch_id = 2;
inline constexpr const char* arch_name = "arm64";
inline void cpu_relax() noexcept {
  asm volatile("isb sy" ::: "memory");
}
inline std::uint64_t ticks() noexcept {
  std::uint64_t v;
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
  return v;
}
inline std::uint64_t ticks_per_second() noexcept {
  std::uint64_t v;
  asm volatile("mrs %0, cntfrq_el0" : "=r"(v));
  return v;
}
#else
#error "ringport supports x86-64 and ARM64; add the port to ringport/detail/cpu.hpp"
#endif

inline void prefetch_read(const void* p) noexcept {
  __builtin_prefetch(p, 0, 3);
}

// What the layouts built on cache_line assume (each layout asserts its own
// offsets as well: ring_layout.hpp, mailbox.hpp, doorbell.hpp, node_layout.hpp).
static_assert(cache_line >= 64 && (cache_line & (cache_line - 1)) == 0,
              "a power of two no smaller than any real line: alignas and masks use it");
static_assert(4096 % cache_line == 0,
              "mappings are page-aligned (4 KiB at least): a line-aligned offset in a segment is a "
              "line-aligned address");
static_assert(sizeof(void*) == 8, "owner words, positions and mapped offsets are 64-bit");

// ThreadSanitizer cannot model std::atomic_thread_fence (g++ rejects it
// under -fsanitize=thread): TSan builds order through read-modify-writes
// instead, which TSan understands and which are correct on their own.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool tsan_build = true;
#else
inline constexpr bool tsan_build = false;
#endif

}  // namespace ringport::detail
