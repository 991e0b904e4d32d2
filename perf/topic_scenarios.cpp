// Fan-out rows ("topic"): one publisher, N subscribers that each receive
// every message, through a ringport topic (lossy and backpressure), beside
// the same fan-out done with N spsc rings and a copy per ring, in the same
// run (the report's vs_best_peer column pairs them).
//
// Every worker opens its object by name (process mode: as an unrelated
// process would; thread mode: the same calls in threads) and attaches before
// the start barrier; the coordinator unlinks the names once all are there.
// The publisher streams stamped messages (word 1: its clock at the send)
// until told to stop, then closes the topic (the rings get an end stamp
// each). Subscribers check every stamp (torn, order: exact succession
// except across a lossy overrun) and count what they received; subscriber
// 0 also records each message's one-way latency (its clock minus the
// stamp), which under a full stream includes the time spent queued.
// Figure: messages per second per subscriber (the slowest subscriber's
// count over the run); the note gives p50/p99 one-way latency and, lossy,
// how many messages subscribers missed.
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drivers.hpp"
#include "ringport/ring.hpp"
#include "ringport/topic.hpp"

namespace bench {

std::string bench_ring_name();   // ringport_scenarios.cpp
void register_rpc(registry& r);  // rpc_scenarios.cpp: node call rows beside the mailbox ping-pong

namespace {

constexpr unsigned max_subscribers = 8;
constexpr std::size_t fanout_slots = queue_slots;

struct fanout_state {
  control ctl;  // barrier, stop flag, t0 (its reports are not used: 9 workers)
  worker_report reports[1 + max_subscribers];
  std::uint64_t missed[1 + max_subscribers] = {};
  histogram latency;
  char names[max_subscribers][64] = {};  // the topic (names[0]) or one ring per subscriber
};

template <std::size_t N>
bool check_stamp(const message<N>& m, std::uint64_t& next, bool exact, worker_report& r) {
  std::uint64_t stamp = 0;
  if (!m.get(stamp)) return ++r.errors, false;
  if (is_end(stamp)) return true;
  const std::uint64_t s = seq_of(stamp);
  if (exact ? s != next : s < next) ++r.errors;
  next = s + 1;
  ++r.messages;
  return false;
}

void record_latency(fanout_state& st, unsigned sub, std::uint64_t sent) {
  if (sub != 0) return;
  const std::int64_t t = now_ns();
  st.latency.record(t > static_cast<std::int64_t>(sent) ? static_cast<std::uint64_t>(t - sent) : 0);
}

// ---- topic -----------------------------------------------------------------------

template <std::size_t N>
int topic_publisher(fanout_state& st) {
  auto t = ringport::topic<message<N>>::open(st.names[0]);
  if (!t) return exit_endpoint;
  auto p = t->publisher(ringport::wait_policy::adaptive);
  if (!p) return exit_endpoint;
  worker_report& rep = st.reports[0];
  message<N> m{};
  arrive(st.ctl);
  std::uint64_t seq = 0;
  for (;; ++seq) {
    m.put(make_stamp(0, seq));
    if constexpr (N >= 24) m.w[1] = static_cast<std::uint64_t>(now_ns());
    if (p->publish(m) != ringport::status::ok) return exit_transport;
    if ((seq & 63) == 63 && st.ctl.stop.load(std::memory_order_relaxed) != 0) break;
  }
  rep.messages = seq + 1;
  rep.t_end_ns = now_ns();
  rep.cpu = sched_getcpu();
  t->close();
  return exit_ok;
}

template <std::size_t N>
int topic_subscriber(fanout_state& st, unsigned sub, bool lossy) {
  auto t = ringport::topic<message<N>>::open(st.names[0]);
  if (!t) return exit_endpoint;
  auto s = t->subscriber(ringport::start_at::next, ringport::wait_policy::adaptive);
  if (!s) return exit_endpoint;
  worker_report& rep = st.reports[1 + sub];
  message<N> m{};
  std::uint64_t next = 0;
  arrive(st.ctl);
  for (;;) {
    const ringport::status r = s->receive(m);
    if (r == ringport::status::closed) break;
    if (r == ringport::status::overrun && lossy) {
      st.missed[1 + sub] += s->missed();
      next += s->missed();
      continue;
    }
    if (r != ringport::status::ok) return exit_transport;
    check_stamp(m, next, true, rep);
    if constexpr (N >= 24) record_latency(st, sub, m.w[1]);
  }
  rep.t_end_ns = now_ns();
  rep.cpu = sched_getcpu();
  return exit_ok;
}

// ---- N spsc rings, a copy per ring -----------------------------------------------

template <std::size_t N>
int rings_publisher(fanout_state& st, unsigned subs) {
  std::vector<ringport::spsc<message<N>>> rings;
  std::vector<typename ringport::spsc<message<N>>::producer_handle> tx;
  for (unsigned i = 0; i < subs; ++i) {
    auto r = ringport::spsc<message<N>>::open(st.names[i]);
    if (!r) return exit_endpoint;
    auto p = r->producer(ringport::wait_policy::adaptive);
    if (!p) return exit_endpoint;
    rings.push_back(std::move(*r));
    tx.push_back(std::move(*p));
  }
  worker_report& rep = st.reports[0];
  message<N> m{};
  arrive(st.ctl);
  std::uint64_t seq = 0;
  for (;; ++seq) {
    m.put(make_stamp(0, seq));
    if constexpr (N >= 24) m.w[1] = static_cast<std::uint64_t>(now_ns());
    for (auto& p : tx)
      if (p.push(m) != ringport::status::ok) return exit_transport;
    if ((seq & 63) == 63 && st.ctl.stop.load(std::memory_order_relaxed) != 0) break;
  }
  rep.messages = seq + 1;
  rep.t_end_ns = now_ns();
  rep.cpu = sched_getcpu();
  m.put(end_stamp(0));
  for (auto& p : tx)
    if (p.push(m) != ringport::status::ok) return exit_transport;
  return exit_ok;
}

template <std::size_t N>
int rings_subscriber(fanout_state& st, unsigned sub) {
  auto r = ringport::spsc<message<N>>::open(st.names[sub]);
  if (!r) return exit_endpoint;
  auto c = r->consumer(ringport::wait_policy::adaptive);
  if (!c) return exit_endpoint;
  worker_report& rep = st.reports[1 + sub];
  message<N> m{};
  std::uint64_t next = 0;
  arrive(st.ctl);
  for (;;) {
    if (c->pop(m) != ringport::status::ok) return exit_transport;
    if (check_stamp(m, next, true, rep)) break;
    if constexpr (N >= 24) record_latency(st, sub, m.w[1]);
  }
  rep.t_end_ns = now_ns();
  rep.cpu = sched_getcpu();
  return exit_ok;
}

// ---- one repetition ------------------------------------------------------------

enum class fanout_kind { lossy, backpressure, rings };

template <std::size_t N>
void summarize(const fanout_state& st, unsigned subs, fanout_kind kind, measurement& out) {
  std::uint64_t errors = 0, slowest = ~std::uint64_t{0}, missed = 0;
  std::int64_t end = st.reports[0].t_end_ns;
  std::string cpus;
  for (unsigned i = 0; i <= subs; ++i) {
    const worker_report& r = st.reports[i];
    end = std::max(end, r.t_end_ns);
    cpus += (cpus.empty() ? "" : ",") + std::to_string(r.cpu);
    if (i == 0) continue;
    errors += r.errors;
    missed += st.missed[i];
    slowest = std::min(slowest, r.messages);
    // Exactly once where nothing may be lost.
    if (kind != fanout_kind::lossy && r.messages != st.reports[0].messages)
      return out.fail("subscriber " + std::to_string(i - 1) + " received " + std::to_string(r.messages) +
                      " of " + std::to_string(st.reports[0].messages));
    if (kind == fanout_kind::lossy && r.messages + st.missed[i] != st.reports[0].messages)
      return out.fail("lossy subscriber " + std::to_string(i - 1) + ": received + missed != published");
  }
  if (errors != 0) return out.fail(std::to_string(errors) + " bad stamps (torn or out of order)");
  set_text(out.cpus, cpus);
  out.messages = slowest;
  out.seconds = static_cast<double>(end - st.ctl.t0_ns) / 1e9;
  std::string note = "per sub";
  if (N >= 24)
    note += "; one-way p50 " + std::to_string(st.latency.percentile(0.5)) + " p99 " +
            std::to_string(st.latency.percentile(0.99)) + " ns loaded";
  if (kind == fanout_kind::lossy) note += "; missed " + std::to_string(missed);
  set_text(out.note, note);
  out.ok = out.messages > 0 && out.seconds > 0;
  if (!out.ok) out.fail("no message was delivered to every subscriber");
}

template <std::size_t N>
void run_fanout(const run_context& ctx, unsigned subs, fanout_kind kind, measurement& out) {
  shared_box<fanout_state> st;
  if (!detail::mapped(st, out)) return;
  // The coordinator's objects: they make the names; unlinked once every
  // worker has opened them.
  std::optional<ringport::topic<message<N>>> topic;
  std::vector<ringport::spsc<message<N>>> rings;
  std::vector<std::string> names;
  if (kind == fanout_kind::rings) {
    for (unsigned i = 0; i < subs; ++i) {
      names.push_back(bench_ring_name());
      auto r = ringport::spsc<message<N>>::create(names.back(), {.capacity = fanout_slots});
      if (!r) return out.fail(r.error().message);
      rings.push_back(std::move(*r));
      set_text(st->names[i], names.back());
    }
  } else {
    names.push_back(bench_ring_name());
    ringport::topic_options o;
    o.capacity = fanout_slots;
    o.mode = kind == fanout_kind::lossy ? ringport::topic_mode::lossy : ringport::topic_mode::backpressure;
    auto t = ringport::topic<message<N>>::create(names.back(), o);
    if (!t) return out.fail(t.error().message);
    topic.emplace(std::move(*t));
    set_text(st->names[0], names.back());
  }
  team workers(ctx, &*st, st.bytes());
  if (kind == fanout_kind::rings)
    workers.spawn([&st, subs] { return rings_publisher<N>(*st, subs); });
  else
    workers.spawn([&st] { return topic_publisher<N>(*st); });
  for (unsigned i = 0; i < subs; ++i) {
    if (kind == fanout_kind::rings)
      workers.spawn([&st, i] { return rings_subscriber<N>(*st, i); });
    else
      workers.spawn([&st, i, kind] { return topic_subscriber<N>(*st, i, kind == fanout_kind::lossy); });
  }
  start(st->ctl, 1 + subs);
  for (const auto& n : names) (void)ringport::segment::remove(n);
  std::this_thread::sleep_for(std::chrono::duration<double>(ctx.seconds));
  st->ctl.stop.store(1, std::memory_order_relaxed);
  if (!workers.join()) return out.fail(workers.why());
  summarize<N>(*st, subs, kind, out);
}

template <std::size_t N>
void add_fanout(registry& r, unsigned subs, fanout_kind kind) {
  static const char* const impls[] = {"ringport-topic-lossy", "ringport-topic-backpressure",
                                      "spsc-rings-copy"};
  for (run_mode m : {run_mode::thread, run_mode::process}) {
    scenario s{"topic",
               impls[static_cast<int>(kind)],
               m,
               N,
               1,
               subs,
               "adaptive",
               [subs, kind](const run_context& ctx, measurement& out) { run_fanout<N>(ctx, subs, kind, out); }};
    s.capacity = fanout_slots;
    s.role = kind == fanout_kind::rings ? row_role::peer : row_role::subject;
    if (kind == fanout_kind::rings) s.note = "N spsc rings, a copy each";
    r.push_back(std::move(s));
  }
}

}  // namespace

void register_topic(registry& r) {
  for (unsigned subs : {1U, 2U, 4U, 8U}) {
    for (fanout_kind k : {fanout_kind::lossy, fanout_kind::backpressure, fanout_kind::rings}) {
      add_fanout<8>(r, subs, k);
      add_fanout<64>(r, subs, k);
    }
  }
  register_rpc(r);
}

}  // namespace bench
