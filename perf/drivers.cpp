// The non-template halves of the drivers: coordination and the final checks.
#include "drivers.hpp"

#include <chrono>
#include <set>
#include <thread>

namespace bench::detail {

std::string cpus_used(const control& ctl, unsigned workers) {
  std::set<int> cpus;
  for (unsigned i = 0; i < workers; ++i) cpus.insert(ctl.reports[i].cpu);
  std::string s;
  for (int c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

bool coordinate(control& ctl, team& workers, unsigned count, double seconds,
                const std::function<void()>& on_start, measurement& out) {
  start(ctl, count);
  on_start();
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  ctl.stop.store(1, std::memory_order_relaxed);
  if (!workers.join()) {
    out.fail(workers.why());
    return false;
  }
  set_text(out.cpus, cpus_used(ctl, count));
  return true;
}

namespace {

std::int64_t last_finish(const control& ctl, unsigned from, unsigned to) {
  std::int64_t t = 0;
  for (unsigned i = from; i < to; ++i) t = std::max(t, ctl.reports[i].t_end_ns);
  return t;
}

// Every producer's messages arrived exactly once: counts and sequence sums agree.
std::string check_delivery(const control& ctl, unsigned producers, unsigned consumers) {
  std::uint64_t errors = 0;
  for (unsigned c = 0; c < consumers; ++c) errors += ctl.reports[producers + c].errors;
  if (errors != 0) return std::to_string(errors) + " bad stamps (torn, foreign or out of order)";
  for (unsigned p = 0; p < producers; ++p) {
    const std::uint64_t sent = ctl.reports[p].messages;
    std::uint64_t got = 0, sum = 0;
    for (unsigned c = 0; c < consumers; ++c) {
      got += ctl.reports[producers + c].count_from[p];
      sum += ctl.reports[producers + c].seq_sum[p];
    }
    const std::uint64_t want_sum = sent == 0 ? 0 : sent * (sent - 1) / 2;
    if (got != sent || sum != want_sum) {
      return "producer " + std::to_string(p) + " sent " + std::to_string(sent) + ", consumers received " +
             std::to_string(got) + " (lost or duplicated)";
    }
  }
  return {};
}

}  // namespace

void summarize_throughput(const control& ctl, unsigned producers, unsigned consumers, measurement& out) {
  if (consumers > 0) {
    if (const std::string bad = check_delivery(ctl, producers, consumers); !bad.empty()) {
      out.fail(bad);
      return;
    }
  }
  for (unsigned p = 0; p < producers; ++p) out.messages += ctl.reports[p].messages;
  const std::int64_t end = last_finish(ctl, 0, producers + consumers);
  out.seconds = static_cast<double>(end - ctl.t0_ns) / 1e9;
  out.ok = out.messages > 0 && out.seconds > 0;
  if (!out.ok) out.fail("no message was delivered");
}

void summarize_latency(const control& ctl, unsigned timer, measurement& out) {
  const std::uint64_t errors = ctl.reports[0].errors + ctl.reports[1].errors;
  if (errors != 0) {
    out.fail(std::to_string(errors) + " messages with a wrong stamp");
    return;
  }
  const worker_report& r = ctl.reports[timer];
  out.messages = r.messages;
  out.seconds = static_cast<double>(r.t_end_ns - r.t_begin_ns) / 1e9;
  out.has_rtt = true;
  const double qs[] = {0.5, 0.9, 0.99, 0.999};
  for (int i = 0; i < 4; ++i) out.rtt_ns[i] = ctl.rtt.percentile(qs[i]);
  out.rtt_ns[4] = ctl.rtt.max();
  out.ok = out.messages > 0 && out.seconds > 0;
  if (!out.ok) out.fail("no message was timed after the warm-up");
}

}  // namespace bench::detail
