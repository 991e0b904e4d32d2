// Request–response rows ("pingpong", impl node-call): a node's call() to a
// server node that answers with receive_request() + reply(), 8 and 64 B
// each way, thread and process mode, adaptive waits. They are registered in
// the pingpong scenario so that they share the interleaved group of the
// mailbox ping-pong of the same size (perf/README.md, "Ratios"): the
// node-call / mailbox ratio of perf/targets.py is a same-run pair ratio.
//
// Worker 0 joins the client node and times each call() (one clock read per
// round trip, after one untimed call before the start barrier and a 10%
// warm-up, as the ping-pong driver); worker 1 joins the server node and
// echoes every request's payload as the reply. The
// client checks each reply's stamp; a final request with an end stamp stops
// the server. The coordinator removes the nodes' and calls' segments after
// the workers are done.
#include <unistd.h>

#include <atomic>
#include <string>

#include "drivers.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/node.hpp"
#include "ringport/segment.hpp"

namespace bench {

namespace {

struct rpc_state {
  control ctl;
  char client[32] = {};
  char server[32] = {};
};

ringport::node_options rpc_options(std::size_t bytes) {
  ringport::node_options o;
  o.link_capacity = queue_slots;
  o.max_message_size = bytes + 40;  // node_call.cpp's request header
  o.policy = ringport::wait_policy::adaptive;
  return o;
}

template <std::size_t N>
int rpc_client(rpc_state& st, double seconds) {
  auto me = ringport::node::join(st.client, rpc_options(N));
  if (!me) return exit_endpoint;
  worker_report& rep = st.ctl.reports[0];
  message<N> m{}, reply{};
  const auto req = [&m] { return std::as_bytes(std::span(m.w)); };
  const auto forever = ringport::node::clock::time_point::max();
  // One call before the barrier: the first call makes the reply mailbox and
  // the server's way back to it (files, mappings), which is set-up, not a
  // round trip.
  m.put(make_stamp(1, 0));
  std::size_t warm = 0;
  if (!ringport::ok(me->call(st.server, req(), std::as_writable_bytes(std::span(reply.w)), warm, forever)))
    return exit_transport;
  if (std::uint64_t got = 0; warm != N || !reply.get(got) || got != make_stamp(1, 0)) ++rep.errors;
  arrive(st.ctl);
  const auto span = static_cast<std::int64_t>(seconds * 1e9);
  const std::int64_t measure_from = st.ctl.t0_ns + span / 10;
  const std::int64_t until = st.ctl.t0_ns + span;
  std::int64_t t = now_ns();
  for (std::uint64_t seq = 0;; ++seq) {
    m.put(make_stamp(0, seq));
    std::size_t len = 0;
    if (!ringport::ok(me->call(st.server, req(), std::as_writable_bytes(std::span(reply.w)), len, forever)))
      return exit_transport;
    std::uint64_t got = 0;
    if (len != N || !reply.get(got) || got != make_stamp(0, seq)) ++rep.errors;
    const std::int64_t t2 = now_ns();
    if (t >= measure_from) {
      if (rep.messages == 0) rep.t_begin_ns = t;
      st.ctl.rtt.record(static_cast<std::uint64_t>(t2 - t));
      ++rep.messages;
    }
    t = t2;
    if (t >= until && rep.messages != 0) break;
  }
  detail::finish(rep);
  rep.t_end_ns = t;
  m.put(end_stamp(0));
  std::size_t len = 0;
  return ringport::ok(me->call(st.server, req(), std::as_writable_bytes(std::span(reply.w)), len, forever))
             ? exit_ok
             : exit_transport;
}

template <std::size_t N>
int rpc_server(rpc_state& st) {
  auto me = ringport::node::join(st.server, rpc_options(N));
  if (!me) return exit_endpoint;
  message<N> m{};
  const auto buf = std::as_writable_bytes(std::span(m.w));
  ringport::incoming_call c;
  std::size_t len = 0;
  // The client's warm-up call (see rpc_client), answered before the barrier.
  if (!ringport::ok(me->receive_request(buf, len, c)) || !ringport::ok(me->reply(c, buf.first(len))))
    return exit_transport;
  arrive(st.ctl);
  for (;;) {
    if (!ringport::ok(me->receive_request(buf, len, c))) return exit_transport;
    if (!ringport::ok(me->reply(c, buf.first(len)))) return exit_transport;
    std::uint64_t stamp = 0;
    if (m.get(stamp) && is_end(stamp)) break;
  }
  detail::finish(st.ctl.reports[1]);
  return exit_ok;
}

std::string rpc_name(const char* role) {
  static std::atomic<unsigned> n{0};
  return std::string("bc") + role + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

template <std::size_t N>
void run_rpc(const run_context& ctx, measurement& out) {
  shared_box<rpc_state> st;
  if (!detail::mapped(st, out)) return;
  const std::string client = rpc_name("c"), server = rpc_name("s");
  set_text(st->client, client);
  set_text(st->server, server);
  team workers(ctx, &*st, st.bytes());
  const double seconds = ctx.seconds;
  workers.spawn([&st, seconds] { return rpc_client<N>(*st, seconds); });
  workers.spawn([&st] { return rpc_server<N>(*st); });
  const bool ran = detail::coordinate(
      st->ctl, workers, 2, 0.0, [] {}, out);
  for (const std::string& seg : {"call." + server, "reply." + client, "node." + server, "node." + client})
    (void)ringport::segment::remove(seg);
  if (!ran) return;
  set_text(out.note, "node call: request and reply mailboxes of " + std::to_string(queue_slots) + " slots");
  detail::summarize_latency(st->ctl, 0, out);
}

template <std::size_t N>
void add_rpc(registry& r) {
  for (run_mode m : {run_mode::thread, run_mode::process}) {
    scenario s{"pingpong", "node-call",
               m,          N,
               1,          1,
               "adaptive", [](const run_context& ctx, measurement& out) { run_rpc<N>(ctx, out); }};
    s.capacity = queue_slots;
    s.role = row_role::subject;
    r.push_back(std::move(s));
  }
}

}  // namespace

void register_rpc(registry& r) {
  add_rpc<8>(r);
  add_rpc<64>(r);
}

}  // namespace bench
