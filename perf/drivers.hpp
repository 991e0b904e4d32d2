// The two measurement drivers, generic over a one-way channel.
//
// A channel type C (peers_*.hpp, ringport_channels.hpp) is constructed in a
// shared_box before any worker starts and provides:
//   using message = bench::message<N>;
//   static constexpr const char* impl, *wait;      names for the report
//   static constexpr bool process_safe, multi_producer, multi_consumer, streams;
//   ringport::result<void> init();                  in the coordinator, before workers
//                                                   (or init(const run_context&))
//   bool send(const message&) / bool recv(message&) blocking; false = transport failed
// A channel whose ends need per-worker state (role handles) instead provides
// sender(i) / receiver(i) returning result<endpoint> with send / recv; they are
// called inside the worker, after its thread or process started. Optional:
// std::string describe() const, copied into the report's note, and
// void started(), called once every worker has attached (e.g. to unlink a name).
//
// throughput: P producers stream stamped messages until the coordinator says
// stop (checked every 64 sends); the last producer to finish sends one end
// marker per consumer. Consumers check every stamp: torn copies, unknown
// producers, and per-producer order (exact succession with one consumer,
// strictly increasing with several). Afterwards every producer's count and
// sequence sum must match what the consumers saw, or the run fails.
// Time: from the coordinator's go to the last worker's finish.
// With zero consumers (a sink such as memcpy) producers are timed alone.
//
// pingpong: worker 0 sends a stamped message over one channel, worker 1
// echoes it over a second; each round trip is timed with one clock read and
// recorded in the histogram after a 10% warm-up.
#pragma once

#include <sched.h>

#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <utility>

#include "message.hpp"
#include "ringport/result.hpp"
#include "scenario.hpp"
#include "shared.hpp"
#include "workers.hpp"

namespace bench {

/// Defaults a channel type can inherit and override.
struct channel_defaults {
  static constexpr bool process_safe = true;
  static constexpr bool multi_producer = false;
  static constexpr bool multi_consumer = false;
  static constexpr bool streams = true;  ///< false: one message in flight (ping-pong only)
};

namespace detail {

/// A channel used directly as its own endpoint.
template <class C>
struct self_endpoint {
  C* c;
  bool send(const typename C::message& m) noexcept { return c->send(m); }
  bool recv(typename C::message& m) noexcept { return c->recv(m); }
};

template <class C>
auto sender_for(C& c, unsigned worker) {
  if constexpr (requires { c.sender(worker); }) {
    return c.sender(worker);
  } else {
    return ringport::result<self_endpoint<C>>(self_endpoint<C>{&c});
  }
}

template <class C>
auto receiver_for(C& c, unsigned worker) {
  if constexpr (requires { c.receiver(worker); }) {
    return c.receiver(worker);
  } else {
    return ringport::result<self_endpoint<C>>(self_endpoint<C>{&c});
  }
}

template <class C>
void started(C& c) {
  if constexpr (requires { c.started(); }) c.started();
}

template <class C>
std::string describe(const C& c) {
  if constexpr (requires { c.describe(); }) {
    return c.describe();
  } else {
    return {};
  }
}

inline void finish(worker_report& r) noexcept {
  r.t_end_ns = now_ns();
  r.cpu = sched_getcpu();
}

/// "0,1": the distinct CPUs the workers finished on.
std::string cpus_used(const control& ctl, unsigned workers);
/// Checks the consumers' tallies against the producers' counts; fills `out`.
void summarize_throughput(const control& ctl, unsigned producers, unsigned consumers,
                          measurement& out);
void summarize_pingpong(const control& ctl, measurement& out);
/// Runs the coordinator's part: start, on_start(), sleep, stop, join; false
/// when a worker failed.
bool coordinate(control& ctl, team& workers, unsigned count, double seconds,
                const std::function<void()>& on_start, measurement& out);

template <class S>
struct throughput_state {
  control ctl;
  S chan;
};

template <class C>
int produce(throughput_state<C>& st, unsigned p, unsigned producers, unsigned consumers) {
  auto ep = sender_for(st.chan, p);
  if (!ep) return exit_endpoint;
  worker_report& rep = st.ctl.reports[p];
  typename C::message m{};
  arrive(st.ctl);
  std::uint64_t seq = 0;
  for (;; ++seq) {
    if ((seq & 63) == 0 && st.ctl.stop.load(std::memory_order_relaxed) != 0) break;
    m.put(make_stamp(p, seq));
    if (!ep->send(m)) return exit_transport;
  }
  rep.messages = seq;
  finish(rep);
  // acq_rel: the last producer sees every other producer's sends completed.
  if (st.ctl.producers_done.fetch_add(1, std::memory_order_acq_rel) + 1 == producers) {
    m.put(end_stamp(p));
    for (unsigned c = 0; c < consumers; ++c)
      if (!ep->send(m)) return exit_transport;
  }
  return exit_ok;
}

template <class C>
int consume(throughput_state<C>& st, unsigned index, unsigned producers, unsigned consumers) {
  auto ep = receiver_for(st.chan, index);
  if (!ep) return exit_endpoint;
  worker_report tally;
  std::array<std::uint64_t, max_workers> next{};
  const bool exact = consumers == 1;
  typename C::message m{};
  arrive(st.ctl);
  for (;;) {
    if (!ep->recv(m)) return exit_transport;
    std::uint64_t stamp = 0;
    if (!m.get(stamp)) {
      ++tally.errors;
      continue;
    }
    if (is_end(stamp)) break;
    const unsigned p = producer_of(stamp);
    const std::uint64_t s = seq_of(stamp);
    if (p >= producers) {
      ++tally.errors;
      continue;
    }
    if (exact ? s != next[p] : s < next[p]) ++tally.errors;
    next[p] = s + 1;
    tally.seq_sum[p] += s;
    ++tally.count_from[p];
    ++tally.messages;
  }
  finish(tally);
  st.ctl.reports[index] = tally;
  return exit_ok;
}

template <class S>
struct pingpong_state {
  control ctl;
  S there;  ///< worker 0 -> worker 1
  S back;   ///< worker 1 -> worker 0
};

template <class C>
int ping(pingpong_state<C>& st, double seconds) {
  auto out = sender_for(st.there, 0);
  auto in = receiver_for(st.back, 0);
  if (!out || !in) return exit_endpoint;
  worker_report& rep = st.ctl.reports[0];
  typename C::message m{}, reply{};
  arrive(st.ctl);
  const auto span = static_cast<std::int64_t>(seconds * 1e9);
  const std::int64_t measure_from = st.ctl.t0_ns + span / 10;
  const std::int64_t until = st.ctl.t0_ns + span;
  std::int64_t t = now_ns();
  for (std::uint64_t seq = 0;; ++seq) {
    m.put(make_stamp(0, seq));
    if (!out->send(m) || !in->recv(reply)) return exit_transport;
    std::uint64_t got = 0;
    if (!reply.get(got) || got != make_stamp(0, seq)) ++rep.errors;
    const std::int64_t t2 = now_ns();
    if (t >= measure_from) {
      if (rep.messages == 0) rep.t_begin_ns = t;
      st.ctl.rtt.record(static_cast<std::uint64_t>(t2 - t));
      ++rep.messages;
    }
    t = t2;
    if (t >= until) break;
  }
  finish(rep);
  rep.t_end_ns = t;
  m.put(end_stamp(0));
  return out->send(m) ? exit_ok : exit_transport;
}

template <class C>
int pong(pingpong_state<C>& st) {
  auto out = sender_for(st.back, 1);
  auto in = receiver_for(st.there, 1);
  if (!out || !in) return exit_endpoint;
  typename C::message m{};
  arrive(st.ctl);
  for (;;) {
    if (!in->recv(m)) return exit_transport;
    std::uint64_t stamp = 0;
    if (m.get(stamp) && is_end(stamp)) break;
    if (!out->send(m)) return exit_transport;
  }
  finish(st.ctl.reports[1]);
  return exit_ok;
}

template <class Box>
bool mapped(const Box& box, measurement& out) {
  if (!box) {
    out.fail("mmap of the shared state failed");
    return false;
  }
  return true;
}

template <class C>
bool init_one(C& c, const run_context& ctx, measurement& out) {
  auto r = [&] {
    if constexpr (requires { c.init(ctx); }) {
      return c.init(ctx);
    } else {
      return c.init();
    }
  }();
  if (!r) out.fail(std::string(C::impl) + ": " + r.error().message);
  return static_cast<bool>(r);
}

}  // namespace detail

/// One throughput repetition of channel C with P producers and Q consumers.
template <class C>
void run_throughput(const run_context& ctx, unsigned producers, unsigned consumers, measurement& out) {
  shared_box<detail::throughput_state<C>> st;
  if (!detail::mapped(st, out) || !detail::init_one(st->chan, ctx, out)) return;
  set_text(out.note, detail::describe(st->chan));
  team workers(ctx, &*st, st.bytes());
  for (unsigned p = 0; p < producers; ++p)
    workers.spawn([&st, p, producers, consumers] { return detail::produce(*st, p, producers, consumers); });
  for (unsigned c = 0; c < consumers; ++c) {
    const unsigned index = producers + c;
    workers.spawn([&st, index, producers, consumers] { return detail::consume(*st, index, producers, consumers); });
  }
  const auto on_start = [&st] { detail::started(st->chan); };
  if (!detail::coordinate(st->ctl, workers, producers + consumers, ctx.seconds, on_start, out)) return;
  detail::summarize_throughput(st->ctl, producers, consumers, out);
}

/// One ping-pong repetition of channel C.
template <class C>
void run_pingpong(const run_context& ctx, measurement& out) {
  shared_box<detail::pingpong_state<C>> st;
  if (!detail::mapped(st, out) || !detail::init_one(st->there, ctx, out) ||
      !detail::init_one(st->back, ctx, out))
    return;
  set_text(out.note, detail::describe(st->there));
  team workers(ctx, &*st, st.bytes());
  const double seconds = ctx.seconds;
  workers.spawn([&st, seconds] { return detail::ping(*st, seconds); });
  workers.spawn([&st] { return detail::pong(*st); });
  const auto on_start = [&st] {
    detail::started(st->there);
    detail::started(st->back);
  };
  if (!detail::coordinate(st->ctl, workers, 2, 0.0, on_start, out)) return;
  detail::summarize_pingpong(st->ctl, out);
}

// ---- registration -----------------------------------------------------------

inline constexpr std::size_t pingpong_bytes = 8;

/// Adds throughput rows of channel template C for every size in Sizes, in
/// thread mode and (when C is process-safe) process mode.
template <template <std::size_t> class C, std::size_t... Sizes>
void add_throughput(registry& r, unsigned producers, unsigned consumers) {
  auto one = [&]<std::size_t N>() {
    using chan = C<N>;
    static_assert(chan::streams, "a single-slot channel cannot stream");
    for (run_mode m : {run_mode::thread, run_mode::process}) {
      if (m == run_mode::process && !chan::process_safe) continue;
      r.push_back({"throughput", chan::impl, m, N, producers, consumers, chan::wait,
                   [producers, consumers](const run_context& ctx, measurement& out) {
                     run_throughput<chan>(ctx, producers, consumers, out);
                   }});
    }
  };
  (one.template operator()<Sizes>(), ...);
}

/// Adds ping-pong rows of channel template C (one size) in both modes.
template <template <std::size_t> class C, std::size_t N = pingpong_bytes>
void add_pingpong(registry& r) {
  using chan = C<N>;
  for (run_mode m : {run_mode::thread, run_mode::process}) {
    if (m == run_mode::process && !chan::process_safe) continue;
    r.push_back({"pingpong", chan::impl, m, N, 1, 1, chan::wait,
                 [](const run_context& ctx, measurement& out) { run_pingpong<chan>(ctx, out); }});
  }
}

}  // namespace bench
