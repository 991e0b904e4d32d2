// What the workers of one measurement share: a MAP_SHARED anonymous mapping
// (made before any thread or fork, so thread and process mode run the same
// code), the start/stop control block, the per-worker reports, and the
// bounded spin-then-yield backoff every busy wait uses.
#pragma once

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>

#include "histogram.hpp"
#include "ringport/detail/cpu.hpp"

namespace bench {

inline constexpr unsigned max_workers = 8;
inline constexpr std::size_t queue_slots = 1024;         ///< capacity of the in-memory queues measured
inline constexpr std::size_t large_queue_slots = 65536;  ///< the large-capacity throughput rows
inline constexpr std::size_t batch_size = 32;            ///< messages per call in the batch rows
inline constexpr std::size_t line = ringport::detail::cache_line;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

/// CLOCK_MONOTONIC in ns: one clock for every process of a measurement.
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Spin with a pause hint up to a bound, then give the CPU away. Never spins
/// unboundedly, so a run with more threads than cores still progresses.
class backoff {
 public:
  void pause() noexcept {
    if (++spins_ < spin_limit) {
      ringport::detail::cpu_relax();
    } else {
      spins_ = 0;
      sched_yield();
    }
  }

 private:
  static constexpr unsigned spin_limit = 256;
  unsigned spins_ = 0;
};

/// One try of a non-blocking operation.
enum class step { done, again, failed };

/// Repeats `attempt` with the bounded backoff until it is done (true) or
/// fails (false): the spin-yield wait of every non-blocking transport.
template <class Attempt>
bool retry(Attempt&& attempt) noexcept {
  backoff b;
  for (;;) {
    const step s = attempt();
    if (s == step::done) return true;
    if (s == step::failed) return false;
    b.pause();
  }
}

/// What one worker found, written by that worker only, read after join.
struct alignas(line) worker_report {
  std::uint64_t messages = 0;                  ///< sent (producer) or received (consumer)
  std::uint64_t errors = 0;                    ///< torn, unknown-producer or out-of-order stamps
  std::uint64_t count_from[max_workers] = {};  ///< consumer: received per producer
  std::uint64_t seq_sum[max_workers] = {};     ///< consumer: sum of sequence numbers per producer
  std::int64_t t_begin_ns = 0;
  std::int64_t t_end_ns = 0;
  int cpu = -1;  ///< sched_getcpu() when the worker finished
};

/// Start barrier and stop flag, each on its own cache line.
struct control {
  alignas(line) std::atomic<std::uint32_t> ready{0};  ///< workers at the barrier
  alignas(line) std::atomic<std::uint32_t> go{0};     ///< released by the coordinator
  alignas(line) std::atomic<std::uint32_t> stop{0};   ///< producers: finish now
  alignas(line) std::int64_t t0_ns = 0;               ///< written before go (release)
  worker_report reports[max_workers];
  histogram rtt;  ///< ping-pong: round trips
};

/// A worker arrives and waits for the coordinator's go.
inline void arrive(control& c) noexcept {
  c.ready.fetch_add(1, std::memory_order_acq_rel);
  backoff b;
  // Pairs with the release store of go in start(): t0_ns is visible after.
  while (c.go.load(std::memory_order_acquire) == 0) b.pause();
}

/// The coordinator waits for `workers` arrivals, stamps t0 and releases them.
inline void start(control& c, unsigned workers) noexcept {
  backoff b;
  while (c.ready.load(std::memory_order_acquire) < workers) b.pause();
  c.t0_ns = now_ns();
  c.go.store(1, std::memory_order_release);
}

/// Bytes per page of the peers' shared mappings: the default huge page size
/// when the kernel can hand one out (MAP_HUGETLB), else the base page size.
/// Decided once, so every peer runs on the same pages as ringport's rings
/// (which use huge pages whenever a hugetlbfs mount offers them).
inline std::size_t peer_page_size() noexcept {
  static const std::size_t size = [] {
    std::size_t huge = 0;
    if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
      char buf[128];
      unsigned long kb = 0;
      while (std::fgets(buf, sizeof buf, f))
        if (std::sscanf(buf, "Hugepagesize: %lu kB", &kb) == 1) huge = kb * 1024;
      std::fclose(f);
    }
    if (huge != 0) {
      void* p = mmap(nullptr, huge, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
      if (p != MAP_FAILED) {
        munmap(p, huge);
        return huge;
      }
    }
    return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  }();
  return size;
}

/// A T constructed in its own MAP_SHARED anonymous mapping (huge pages when
/// peer_page_size() says so): visible to threads and to processes forked
/// after it. Destroyed by its creator only.
template <class T>
class shared_box {
 public:
  shared_box() {
    const std::size_t page = peer_page_size();
    len_ = (sizeof(T) + page - 1) / page * page;
    const int huge = page != static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) ? MAP_HUGETLB : 0;
    // Populated now, so no measurement pays for first-touch page faults.
    void* p =
        mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE | huge, -1, 0);
    if (p == MAP_FAILED && huge != 0) {  // the pool ran dry: fall back, still measurable
      len_ = sizeof(T);
      p = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    }
    if (p != MAP_FAILED) obj_ = new (p) T();
  }
  shared_box(const shared_box&) = delete;
  shared_box& operator=(const shared_box&) = delete;
  ~shared_box() {
    if (obj_ == nullptr) return;
    obj_->~T();
    munmap(obj_, len_);
  }
  explicit operator bool() const noexcept { return obj_ != nullptr; }
  T& operator*() const noexcept { return *obj_; }
  T* operator->() const noexcept { return obj_; }
  /// Bytes mapped (a whole number of pages).
  std::size_t bytes() const noexcept { return len_; }

 private:
  T* obj_ = nullptr;
  std::size_t len_ = 0;
};

}  // namespace bench
