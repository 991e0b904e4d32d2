// ringport's rings and mailboxes as bench channels (see drivers.hpp for the
// contract).
//
// Rings. Thread mode: one ring from create_local(), shared by the worker
// threads. Process mode: the coordinator create()s a named ring before the
// workers fork; each worker open()s it by name, as an unrelated process
// would, and takes its role there. The name is unlinked as soon as every
// worker has attached, so a run killed by the watchdog leaves nothing behind.
// Mailboxes are always named (there is no local mailbox): the coordinator
// creates one, thread-mode workers share its handle, process-mode workers
// open it by name; unlinked the same way.
//
// Waiting: spin-yield rows use the non-blocking calls (try_push, push_n,
// try_send...) with the same bounded backoff as the Boost peers; busy_spin,
// adaptive and block rows use the blocking calls with that wait_policy
// (busy_spin never sleeps; adaptive spins, yields, then parks on the futex;
// block parks at once).
// Batch kinds move `batch_size` messages per push_n/pop_n call.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <span>
#include <string>

#include "drivers.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"

namespace bench {

// ---- ring kinds ----------------------------------------------------------------

struct rp_spsc_kind {
  template <class T>
  using ring = ringport::spsc<T>;
  static constexpr const char* impl = "ringport-spsc";
  static constexpr bool multi_producer = false, multi_consumer = false;
  static constexpr std::size_t batch = 1;
  static constexpr const char* boost_peer = "boost-spsc";
};
struct rp_mpsc_kind {
  template <class T>
  using ring = ringport::mpsc<T>;
  static constexpr const char* impl = "ringport-mpsc";
  static constexpr bool multi_producer = true, multi_consumer = false;
  static constexpr std::size_t batch = 1;
  static constexpr const char* boost_peer = "boost-mpmc";
};
struct rp_spmc_kind {
  template <class T>
  using ring = ringport::spmc<T>;
  static constexpr const char* impl = "ringport-spmc";
  static constexpr bool multi_producer = false, multi_consumer = true;
  static constexpr std::size_t batch = 1;
  static constexpr const char* boost_peer = "boost-mpmc";
};
struct rp_mpmc_kind {
  template <class T>
  using ring = ringport::mpmc<T>;
  static constexpr const char* impl = "ringport-mpmc";
  static constexpr bool multi_producer = true, multi_consumer = true;
  static constexpr std::size_t batch = 1;
  static constexpr const char* boost_peer = "boost-mpmc";
};
static_assert(batch_size == 32, "the batch impl names say the batch size");
struct rp_spsc_batch_kind : rp_spsc_kind {
  static constexpr const char* impl = "ringport-spsc-batch32";
  static constexpr std::size_t batch = batch_size;
  static constexpr const char* boost_peer = "boost-spsc-batch32";
};
struct rp_mpmc_batch_kind : rp_mpmc_kind {
  static constexpr const char* impl = "ringport-mpmc-batch32";
  static constexpr std::size_t batch = batch_size;
  static constexpr const char* boost_peer = "";  // boost::lockfree::queue has no batch calls
};

// ---- wait styles -----------------------------------------------------------------

struct rp_spin_yield {
  static constexpr const char* name = "spin-yield";
  static constexpr bool blocking = false;
  static constexpr ringport::wait_policy policy = ringport::wait_policy::busy_spin;  // unused by try_*
};
template <ringport::wait_policy P>
struct rp_policy {
  static constexpr const char* name = P == ringport::wait_policy::busy_spin ? "busy_spin"
                                      : P == ringport::wait_policy::block   ? "block"
                                                                            : "adaptive";
  static constexpr bool blocking = true;
  static constexpr ringport::wait_policy policy = P;
};
using rp_busy_spin = rp_policy<ringport::wait_policy::busy_spin>;
using rp_adaptive = rp_policy<ringport::wait_policy::adaptive>;
using rp_block = rp_policy<ringport::wait_policy::block>;

/// A unique segment name for this process: "bench-<pid>-<n>".
std::string bench_ring_name();

/// The named segment of one measurement (ring or mailbox Obj): made by the
/// coordinator, opened by name in each process-mode worker, unlinked once
/// every worker has attached (started()) or when the channel goes away.
template <class Obj>
struct named_object {
  run_mode mode = run_mode::thread;
  char name[64] = {};
  bool named = false;
  std::optional<Obj> obj;  // the coordinator's handle

  named_object() = default;
  named_object(const named_object&) = delete;
  named_object& operator=(const named_object&) = delete;
  ~named_object() { started(); }

  /// Keeps the coordinator's object; `create` is called with a fresh name.
  template <class Create>
  ringport::result<void> make(const run_context& ctx, Create&& create) {
    mode = ctx.mode;
    set_text(name, bench_ring_name());
    auto r = create(std::string_view(name));
    if (!r) return r.error();
    named = true;
    obj.emplace(std::move(*r));
    return {};
  }
  void started() {
    if (named) (void)Obj::remove(name);
    named = false;
  }
  /// Thread mode: the shared object. Process mode: this process's own open().
  ringport::result<Obj> mine() const {
    if (mode == run_mode::thread) return *obj;
    return Obj::open(name);
  }
};

// ---- rings -------------------------------------------------------------------------

template <class Kind, class Wait, std::size_t N, std::size_t Cap = queue_slots>
struct ringport_channel : channel_defaults {
  using message = bench::message<N>;
  using ring_t = typename Kind::template ring<message>;
  static constexpr const char* impl = Kind::impl;
  static constexpr const char* wait = Wait::name;
  static constexpr bool multi_producer = Kind::multi_producer;
  static constexpr bool multi_consumer = Kind::multi_consumer;
  static constexpr std::size_t batch = Kind::batch;
  static constexpr const char* boost_peer = Kind::boost_peer;
  static constexpr std::size_t capacity = Cap;
  static constexpr row_role role = row_role::subject;
  static constexpr auto forever = std::chrono::steady_clock::time_point::max();

  named_object<ring_t> seg;

  ringport::result<void> init(const run_context& ctx) {
    if (ctx.mode == run_mode::thread) {
      auto r = ring_t::create_local(Cap);
      if (!r) return r.error();
      seg.obj.emplace(std::move(*r));
      return {};
    }
    return seg.make(ctx, [](std::string_view name) {
      ringport::ring_options o;
      o.capacity = Cap;
      return ring_t::create(name, o);
    });
  }
  void started() { seg.started(); }
  std::string describe() const {
    std::string d = std::to_string(seg.obj->capacity()) + " slots, " +
                    std::to_string(seg.obj->info().page_size >> 10) + " KiB pages";
    if (batch > 1) d += ", batch " + std::to_string(batch);
    return d;
  }

  struct producer_end {
    typename ring_t::producer_handle h;
    bool send(const message& m) noexcept {
      if constexpr (Wait::blocking) {
        return h.push(m) == ringport::status::ok;
      } else {
        return retry([&]() noexcept { return step_of(h.try_push(m)); });
      }
    }
    bool send_n(const message* m, std::size_t n) noexcept {
      if constexpr (Wait::blocking) {
        return h.push_n_until(m, n, forever) == n;
      } else {
        std::size_t done = 0;
        return retry([&]() noexcept {
          done += h.push_n(m + done, n - done);
          return done == n ? step::done : step::again;
        });
      }
    }
  };
  struct consumer_end {
    typename ring_t::consumer_handle h;
    bool recv(message& m) noexcept {
      if constexpr (Wait::blocking) {
        return h.pop(m) == ringport::status::ok;
      } else {
        return retry([&]() noexcept { return step_of(h.try_pop(m)); });
      }
    }
    std::size_t recv_n(message* m, std::size_t n) noexcept {
      if constexpr (Wait::blocking) {
        return h.pop_n_until(m, n, forever);
      } else {
        std::size_t got = 0;
        retry([&]() noexcept {
          got = h.pop_n(m, n);
          return got != 0 ? step::done : step::again;
        });
        return got;
      }
    }
  };

  ringport::result<producer_end> sender(unsigned) {
    auto r = seg.mine();
    if (!r) return r.error();
    auto h = r->producer(Wait::policy);
    if (!h) return h.error();
    return producer_end{std::move(*h)};
  }
  ringport::result<consumer_end> receiver(unsigned) {
    auto r = seg.mine();
    if (!r) return r.error();
    auto h = r->consumer(Wait::policy);
    if (!h) return h.error();
    return consumer_end{std::move(*h)};
  }

  static step step_of(ringport::status s) noexcept {
    if (s == ringport::status::ok) return step::done;
    return s == ringport::status::would_block ? step::again : step::failed;
  }
};

template <std::size_t N>
using rp_spsc = ringport_channel<rp_spsc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_spsc_64k = ringport_channel<rp_spsc_kind, rp_spin_yield, N, large_queue_slots>;
template <std::size_t N>
using rp_spsc_busy_spin = ringport_channel<rp_spsc_kind, rp_busy_spin, N>;
template <std::size_t N>
using rp_spsc_adaptive = ringport_channel<rp_spsc_kind, rp_adaptive, N>;
template <std::size_t N>
using rp_spsc_block = ringport_channel<rp_spsc_kind, rp_block, N>;
template <std::size_t N>
using rp_spsc_batch = ringport_channel<rp_spsc_batch_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_mpsc = ringport_channel<rp_mpsc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_mpsc_block = ringport_channel<rp_mpsc_kind, rp_block, N>;
template <std::size_t N>
using rp_spmc = ringport_channel<rp_spmc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_spmc_block = ringport_channel<rp_spmc_kind, rp_block, N>;
template <std::size_t N>
using rp_mpmc = ringport_channel<rp_mpmc_kind, rp_spin_yield, N>;
template <std::size_t N>
using rp_mpmc_64k = ringport_channel<rp_mpmc_kind, rp_spin_yield, N, large_queue_slots>;
template <std::size_t N>
using rp_mpmc_block = ringport_channel<rp_mpmc_kind, rp_block, N>;
template <std::size_t N>
using rp_mpmc_batch = ringport_channel<rp_mpmc_batch_kind, rp_spin_yield, N>;

// ---- mailboxes ---------------------------------------------------------------------

/// ringport::mailbox with max_message_size = N and queue_slots messages;
/// asynchronous sends, blocking calls with the library's default policy.
template <std::size_t N>
struct mailbox_channel : channel_defaults {
  using message = bench::message<N>;
  static constexpr const char* impl = "mailbox";
  static constexpr const char* wait = "adaptive";
  static constexpr bool multi_producer = true;
  static constexpr bool multi_consumer = true;
  static constexpr const char* boost_peer = "boost-mpmc";
  static constexpr std::size_t capacity = queue_slots;
  static constexpr row_role role = row_role::subject;

  named_object<ringport::mailbox> seg;

  ringport::result<void> init(const run_context& ctx) {
    return seg.make(ctx, [](std::string_view name) {
      ringport::mailbox_options o;
      o.capacity = queue_slots;
      o.max_message_size = N;
      return ringport::mailbox::create(name, o);
    });
  }
  void started() { seg.started(); }
  std::string describe() const {
    return std::to_string(seg.obj->capacity()) + " slots of " +
           std::to_string(N + ringport::mailbox_header_bytes) + " B, " +
           std::to_string(seg.obj->info().page_size >> 10) + " KiB pages";
  }

  struct sender_end {
    ringport::mailbox_sender h;
    bool send(const message& m) noexcept {
      return h.send(std::as_bytes(std::span(m.w))) == ringport::status::ok;
    }
  };
  struct receiver_end {
    ringport::mailbox_receiver h;
    bool recv(message& m) noexcept {
      std::size_t len = 0;
      return h.receive(std::as_writable_bytes(std::span(m.w)), len) == ringport::status::ok && len == N;
    }
  };

  ringport::result<sender_end> sender(unsigned) {
    auto b = seg.mine();
    if (!b) return b.error();
    auto h = b->sender(ringport::wait_policy::adaptive);
    if (!h) return h.error();
    return sender_end{std::move(*h)};
  }
  ringport::result<receiver_end> receiver(unsigned) {
    auto b = seg.mine();
    if (!b) return b.error();
    auto h = b->receiver(ringport::wait_policy::adaptive);
    if (!h) return h.error();
    return receiver_end{std::move(*h)};
  }
};

}  // namespace bench
