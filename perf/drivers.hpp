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
// Batch channels set `static constexpr std::size_t batch` > 1 and give their
// endpoints bool send_n(const message*, n) (all n, waiting for room) and
// std::size_t recv_n(message*, max) (waits for at least one; 0 = failed).
// `boost_peer` names the Boost.Lockfree row the report compares a row with;
// `capacity` says how many messages the queue holds (0: not a queue); `role`
// says whether the row is a floor, a peer or one of ringport's (scenario.hpp);
// `peer` names the row `vs best peer` divides by instead of the best peer.
// A channel that cannot run on this machine says why in a static
// `const char* unavailable()` (nullptr: it can): the row is then skipped.
//
// throughput (also the scaling rows): P producers stream stamped messages
// (in blocks of `batch`) until the coordinator says stop (checked every 64
// messages); then every producer sends one end marker per consumer, and a consumer stops at its P-th end
// marker. A consumer that stops has taken P markers and none more, so when all have stopped all P x C
// markers were taken, and every message, sent before its own producer's markers, went before them: this
// needs per-producer order only, not FIFO across producers (moodycamel-cq). Consumers check every stamp: torn
// copies, unknown producers, and per-producer order (exact succession with one consumer, strictly increasing
// with several). Afterwards every producer's count and sequence sum must match what the consumers saw, or the
// run fails. Time: from the coordinator's go to the last worker's finish. With zero consumers (a sink such as
// memcpy) producers are timed alone.
//
// pingpong: worker 0 sends a stamped message over one channel, worker 1
// echoes it over a second; each round trip is timed with one clock read and
// recorded in the histogram after a 10% warm-up.
//
// oneway: as pingpong, but worker 0 writes steady_clock time into the
// message just before sending it and worker 1 records (its own clock read
// minus that) in the histogram, then acknowledges over the second channel.
// The next message leaves only after the acknowledgement came back, so no
// message ever waits behind another: the figure is transfer latency, not
// queueing.
#pragma once

#include <sched.h>

#include <algorithm>
#include <array>
#include <functional>
#include <stdexcept>
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
  static constexpr bool streams = true;          ///< false: one message in flight (ping-pong only)
  static constexpr std::size_t batch = 1;        ///< messages per send_n / recv_n
  static constexpr const char* boost_peer = "";  ///< Boost.Lockfree row to compare with
  static constexpr std::size_t capacity = 0;     ///< queue slots; 0: no queue
  static constexpr row_role role = row_role::peer;
  static constexpr const char* peer = "";  ///< the reference of `vs best peer` ("": the best peer)
};

namespace detail {

/// A channel used directly as its own endpoint.
template <class C>
struct self_endpoint {
  using message = typename C::message;
  C* c;
  bool send(const message& m) noexcept { return c->send(m); }
  bool recv(message& m) noexcept { return c->recv(m); }
  bool send_n(const message* m, std::size_t n) noexcept requires requires { c->send_n(m, n); }
  { return c->send_n(m, n); }
  std::size_t recv_n(message* m, std::size_t n) noexcept requires requires { c->recv_n(m, n); }
  { return c->recv_n(m, n); }
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
void summarize_throughput(const control& ctl, unsigned producers, unsigned consumers, measurement& out);
/// Latency rows: the histogram and report of worker `timer`; errors of both.
void summarize_latency(const control& ctl, unsigned timer, measurement& out);
/// Runs the coordinator's part: start, on_start(), sleep, stop, join; false
/// when a worker failed.
bool coordinate(control& ctl, team& workers, unsigned count, double seconds,
                const std::function<void()>& on_start, measurement& out);

template <class S>
struct throughput_state {
  control ctl;
  S chan;
};

// Sends the block m[0..C::batch) through endpoint e, one call per block.
template <class C, class E>
bool send_block(E& e, const typename C::message* m) noexcept {
  if constexpr (C::batch > 1) {
    return e.send_n(m, C::batch);
  } else {
    return e.send(*m);
  }
}

// Receives up to C::batch messages into m; how many (0: transport failed).
template <class C, class E>
std::size_t recv_block(E& e, typename C::message* m) noexcept {
  if constexpr (C::batch > 1) {
    return e.recv_n(m, C::batch);
  } else {
    return e.recv(*m) ? 1 : 0;
  }
}

template <class C>
int produce(throughput_state<C>& st, unsigned p, unsigned consumers) {
  constexpr std::size_t block = C::batch;
  static_assert(block >= 1 && 64 % block == 0, "the stop flag is read every 64 messages");
  auto ep = sender_for(st.chan, p);
  if (!ep) return exit_endpoint;
  worker_report& rep = st.ctl.reports[p];
  std::array<typename C::message, block> m{};
  arrive(st.ctl);
  std::uint64_t seq = 0;
  // Stop is read after sending, so that a producer the scheduler kept off
  // its CPU for the whole run still delivers something to check.
  for (;;) {
    for (std::size_t i = 0; i < block; ++i) m[i].put(make_stamp(p, seq + i));
    if (!send_block<C>(*ep, m.data())) return exit_transport;
    seq += block;
    if ((seq & 63) < block && st.ctl.stop.load(std::memory_order_relaxed) != 0) break;
  }
  rep.messages = seq;
  finish(rep);
  m[0].put(end_stamp(p));
  for (unsigned c = 0; c < consumers; ++c)
    if (!ep->send(m[0])) return exit_transport;
  return exit_ok;
}

template <class C>
int consume(throughput_state<C>& st, unsigned index, unsigned producers, unsigned consumers) {
  auto ep = receiver_for(st.chan, index);
  if (!ep) return exit_endpoint;
  worker_report tally;
  std::array<std::uint64_t, max_workers> next{};
  const bool exact = consumers == 1;
  std::array<typename C::message, C::batch> m{};
  arrive(st.ctl);
  unsigned ends = 0;  // end markers taken; the P-th ends this consumer
  for (bool ended = false; !ended;) {
    const std::size_t got = recv_block<C>(*ep, m.data());
    if (got == 0) return exit_transport;
    for (std::size_t i = 0; i < got; ++i) {
      std::uint64_t stamp = 0;
      if (!m[i].get(stamp)) {
        ++tally.errors;
        continue;
      }
      if (is_end(stamp)) {
        // Batch rows have one producer and one consumer (see add_throughput):
        // the end marker is the last message sent, nothing follows it.
        ended = ++ends == producers;
        if (ended && i + 1 != got) ++tally.errors;
        if (ended) break;
        continue;
      }
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
    if (t >= until && rep.messages != 0) break;  // at least one round trip timed
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

// oneway, worker 0: stamps the send time into word 1, waits for the ack.
template <class C>
int stamp_and_send(pingpong_state<C>& st, double seconds) {
  static_assert(C::message::bytes >= 24, "oneway needs a word between the two stamps");
  auto out = sender_for(st.there, 0);
  auto in = receiver_for(st.back, 0);
  if (!out || !in) return exit_endpoint;
  worker_report& rep = st.ctl.reports[0];
  typename C::message m{}, ack{};
  arrive(st.ctl);
  const auto span = static_cast<std::int64_t>(seconds * 1e9);
  const std::int64_t measure_from = st.ctl.t0_ns + span / 10;  // as receive_and_time's
  const std::int64_t until = st.ctl.t0_ns + span;
  bool timed = false;  // one message at least left after the warm-up
  for (std::uint64_t seq = 0;; ++seq) {
    m.put(make_stamp(0, seq));
    const std::int64_t t = now_ns();
    m.w[1] = static_cast<std::uint64_t>(t);
    if (!out->send(m) || !in->recv(ack)) return exit_transport;
    timed = timed || t >= measure_from;
    std::uint64_t got = 0;
    if (!ack.get(got) || got != make_stamp(0, seq)) ++rep.errors;
    if (timed && now_ns() >= until) break;
  }
  finish(rep);
  m.put(end_stamp(0));
  return out->send(m) ? exit_ok : exit_transport;
}

// oneway, worker 1: records arrival time minus send time, then acknowledges.
template <class C>
int receive_and_time(pingpong_state<C>& st, double seconds) {
  auto in = receiver_for(st.there, 1);
  auto out = sender_for(st.back, 1);
  if (!out || !in) return exit_endpoint;
  worker_report& rep = st.ctl.reports[1];
  typename C::message m{};
  arrive(st.ctl);
  const std::int64_t measure_from = st.ctl.t0_ns + static_cast<std::int64_t>(seconds * 1e9) / 10;
  std::uint64_t expect = 0;
  for (;;) {
    if (!in->recv(m)) return exit_transport;
    const std::int64_t t = now_ns();
    std::uint64_t stamp = 0;
    if (!m.get(stamp)) {
      ++rep.errors;
    } else if (is_end(stamp)) {
      break;
    } else if (seq_of(stamp) != expect++) {
      ++rep.errors;
    }
    const auto sent = static_cast<std::int64_t>(m.w[1]);
    if (sent >= measure_from) {
      if (rep.messages == 0) rep.t_begin_ns = sent;
      rep.t_end_ns = t;
      st.ctl.rtt.record(t > sent ? static_cast<std::uint64_t>(t - sent) : 0);
      ++rep.messages;
    }
    if (!out->send(m)) return exit_transport;
  }
  rep.cpu = sched_getcpu();
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
  if constexpr (requires { C::unavailable(); }) {
    if (const char* why = C::unavailable()) {
      out.skip(why);
      return false;
    }
  }
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
    workers.spawn([&st, p, consumers] { return detail::produce(*st, p, consumers); });
  for (unsigned c = 0; c < consumers; ++c) {
    const unsigned index = producers + c;
    workers.spawn(
        [&st, index, producers, consumers] { return detail::consume(*st, index, producers, consumers); });
  }
  const auto on_start = [&st] { detail::started(st->chan); };
  if (!detail::coordinate(st->ctl, workers, producers + consumers, ctx.seconds, on_start, out)) return;
  detail::summarize_throughput(st->ctl, producers, consumers, out);
}

namespace detail {

/// One repetition of a two-worker latency scenario over a pair of channels
/// (there and back): `first` and `second` run as the two workers, each
/// given the shared state and the measured seconds; `timer` says which
/// worker's timings summarize_latency() reports.
template <class C, class First, class Second>
void run_pair(const run_context& ctx, measurement& out, First first, Second second, unsigned timer) {
  shared_box<pingpong_state<C>> st;
  if (!mapped(st, out) || !init_one(st->there, ctx, out) || !init_one(st->back, ctx, out)) return;
  set_text(out.note, describe(st->there));
  team workers(ctx, &*st, st.bytes());
  const double seconds = ctx.seconds;
  workers.spawn([&st, seconds, first] { return first(*st, seconds); });
  workers.spawn([&st, seconds, second] { return second(*st, seconds); });
  const auto on_start = [&st] {
    started(st->there);
    started(st->back);
  };
  if (!coordinate(st->ctl, workers, 2, 0.0, on_start, out)) return;
  summarize_latency(st->ctl, timer, out);
}

}  // namespace detail

/// One ping-pong repetition of channel C.
template <class C>
void run_pingpong(const run_context& ctx, measurement& out) {
  detail::run_pair<C>(
      ctx, out, [](detail::pingpong_state<C>& st, double seconds) { return detail::ping(st, seconds); },
      [](detail::pingpong_state<C>& st, double) { return detail::pong(st); }, 0);
}

/// One oneway repetition of channel C (see the top of this file).
template <class C>
void run_oneway(const run_context& ctx, measurement& out) {
  detail::run_pair<C>(
      ctx, out,
      [](detail::pingpong_state<C>& st, double seconds) { return detail::stamp_and_send(st, seconds); },
      [](detail::pingpong_state<C>& st, double seconds) { return detail::receive_and_time(st, seconds); }, 1);
}

// ---- registration -----------------------------------------------------------

inline constexpr std::size_t pingpong_bytes = 8;

/// Optional settings of the rows one add_* call registers.
struct row_options {
  const char* scenario = nullptr;  ///< default: the driver's own name
  std::string note;                ///< added to the row's note
};

namespace detail {
/// One row of channel `chan` per mode it supports.
template <class chan>
void add_rows(registry& r, const char* name, std::size_t bytes, unsigned producers, unsigned consumers,
              const row_options& o, const std::function<void(const run_context&, measurement&)>& run) {
  for (run_mode m : {run_mode::thread, run_mode::process}) {
    if (m == run_mode::process && !chan::process_safe) continue;
    scenario s{o.scenario ? o.scenario : name, chan::impl, m, bytes, producers, consumers, chan::wait, run};
    s.boost_peer = chan::boost_peer;
    s.note = o.note;
    s.capacity = chan::capacity;
    s.role = chan::role;
    s.multi_producer = chan::multi_producer;
    s.multi_consumer = chan::multi_consumer;
    s.batch = chan::batch;
    s.peer = chan::peer;
    r.push_back(std::move(s));
  }
}
}  // namespace detail

/// Adds throughput rows of channel template C for every size in Sizes, in
/// thread mode and (when C is process-safe) process mode.
template <template <std::size_t> class C, std::size_t... Sizes>
void add_throughput(registry& r, unsigned producers, unsigned consumers, const row_options& o = {}) {
  auto one = [&]<std::size_t N>() {
    using chan = C<N>;
    static_assert(chan::streams, "a single-slot channel cannot stream");
    // A batch consumer could take another consumer's end marker, or read
    // past its last one.
    if (chan::batch > 1 && (consumers > 1 || producers > 1)) throw std::logic_error("batch rows are 1x1");
    detail::add_rows<chan>(r, "throughput", N, producers, consumers, o,
                           [producers, consumers](const run_context& ctx, measurement& out) {
                             run_throughput<chan>(ctx, producers, consumers, out);
                           });
  };
  (one.template operator()<Sizes>(), ...);
}

/// Adds ping-pong rows of channel template C for every size in Sizes (8
/// when none) in both modes.
template <template <std::size_t> class C, std::size_t... Sizes>
void add_pingpong(registry& r, const row_options& o = {}) {
  auto one = [&]<std::size_t N>() {
    detail::add_rows<C<N>>(r, "pingpong", N, 1, 1, o,
                           [](const run_context& ctx, measurement& out) { run_pingpong<C<N>>(ctx, out); });
  };
  if constexpr (sizeof...(Sizes) == 0) {
    one.template operator()<pingpong_bytes>();
  } else {
    (one.template operator()<Sizes>(), ...);
  }
}

/// Adds one-way latency rows of channel template C for every size in Sizes.
template <template <std::size_t> class C, std::size_t... Sizes>
void add_oneway(registry& r, const row_options& o = {}) {
  auto one = [&]<std::size_t N>() {
    detail::add_rows<C<N>>(r, "oneway", N, 1, 1, o,
                           [](const run_context& ctx, measurement& out) { run_oneway<C<N>>(ctx, out); });
  };
  (one.template operator()<Sizes>(), ...);
}

}  // namespace bench
