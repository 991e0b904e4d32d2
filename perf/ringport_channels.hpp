// ringport's rings as bench channels (see drivers.hpp for the contract).
//
// Thread mode: one ring from create_local(), shared by the worker threads.
// Process mode: the coordinator create()s a named ring before the workers
// fork; each worker open()s it by name, as an unrelated process would, and
// takes its role there. The name is unlinked as soon as every worker has
// attached, so a run killed by the watchdog leaves nothing behind.
// Waiting: spin-yield rows use try_push/try_pop with the same bounded backoff
// as the Boost peers; adaptive rows use the blocking push/pop with
// wait_policy::adaptive (spin, yield, then park on the ring's futex).
#pragma once

#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>

#include "drivers.hpp"
#include "ringport/ring.hpp"

namespace bench {

struct rp_spsc_kind {
  template <class T>
  using ring = ringport::spsc<T>;
  static constexpr const char* impl = "ringport-spsc";
  static constexpr bool multi = false;
};
struct rp_mpmc_kind {
  template <class T>
  using ring = ringport::mpmc<T>;
  static constexpr const char* impl = "ringport-mpmc";
  static constexpr bool multi = true;
};

struct rp_spin_yield {
  static constexpr const char* name = "spin-yield";
  static constexpr bool blocking = false;
  static constexpr ringport::wait_policy policy = ringport::wait_policy::busy_spin;  // unused by try_*
};
struct rp_adaptive {
  static constexpr const char* name = "adaptive";
  static constexpr bool blocking = true;
  static constexpr ringport::wait_policy policy = ringport::wait_policy::adaptive;
};

/// A unique segment name for this process: "bench-<pid>-<n>".
std::string bench_ring_name();

template <class Kind, class Wait, std::size_t N>
struct ringport_channel : channel_defaults {
  using message = bench::message<N>;
  using ring_t = typename Kind::template ring<message>;
  static constexpr const char* impl = Kind::impl;
  static constexpr const char* wait = Wait::name;
  static constexpr bool multi_producer = Kind::multi;
  static constexpr bool multi_consumer = Kind::multi;

  run_mode mode = run_mode::thread;
  char name[64] = {};
  bool named = false;
  std::optional<ring_t> ring;  // the coordinator's handle to the ring

  ringport_channel() = default;
  ringport_channel(const ringport_channel&) = delete;
  ringport_channel& operator=(const ringport_channel&) = delete;
  ~ringport_channel() { started(); }

  ringport::result<void> init(const run_context& ctx) {
    mode = ctx.mode;
    auto r = [&] {
      if (mode == run_mode::thread) return ring_t::create_local(queue_slots);
      set_text(name, bench_ring_name());
      named = true;
      ringport::ring_options o;
      o.capacity = queue_slots;
      return ring_t::create(name, o);
    }();
    if (!r) return r.error();
    ring.emplace(std::move(*r));
    return {};
  }
  void started() {
    if (named) (void)ring_t::remove(name);
    named = false;
  }
  std::string describe() const {
    return std::to_string(ring->capacity()) + " slots, " + std::to_string(ring->info().page_size >> 10) +
           " KiB pages";
  }

  struct producer_end {
    typename ring_t::producer_handle h;
    bool send(const message& m) noexcept {
      if constexpr (Wait::blocking) {
        return h.push(m) == ringport::status::ok;
      } else {
        backoff b;
        for (;;) {
          const ringport::status s = h.try_push(m);
          if (s == ringport::status::ok) return true;
          if (s != ringport::status::would_block) return false;
          b.pause();
        }
      }
    }
  };
  struct consumer_end {
    typename ring_t::consumer_handle h;
    bool recv(message& m) noexcept {
      if constexpr (Wait::blocking) {
        return h.pop(m) == ringport::status::ok;
      } else {
        backoff b;
        for (;;) {
          const ringport::status s = h.try_pop(m);
          if (s == ringport::status::ok) return true;
          if (s != ringport::status::would_block) return false;
          b.pause();
        }
      }
    }
  };

  ringport::result<producer_end> sender(unsigned) {
    auto r = mine();
    if (!r) return r.error();
    auto h = r->producer(Wait::policy);
    if (!h) return h.error();
    return producer_end{std::move(*h)};
  }
  ringport::result<consumer_end> receiver(unsigned) {
    auto r = mine();
    if (!r) return r.error();
    auto h = r->consumer(Wait::policy);
    if (!h) return h.error();
    return consumer_end{std::move(*h)};
  }

 private:
  // Thread mode: the shared ring. Process mode: this process's own open().
  ringport::result<ring_t> mine() const {
    if (mode == run_mode::thread) return *ring;
    return ring_t::open(name);
  }
};

template <std::size_t N>
using rp_spsc = ringport_channel<rp_spsc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_spsc_adaptive = ringport_channel<rp_spsc_kind, rp_adaptive, N>;
template <std::size_t N>
using rp_mpmc = ringport_channel<rp_mpmc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_mpmc_adaptive = ringport_channel<rp_mpmc_kind, rp_adaptive, N>;

}  // namespace bench
