#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "build_info.hpp"
#include "ringport/topology.hpp"
#include "shared.hpp"

namespace bench {
namespace {

std::string first_line_with(const char* path, const std::string& prefix) {
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) {
    if (l.compare(0, prefix.size(), prefix) != 0) continue;
    const auto colon = l.find(':');
    return colon == std::string::npos ? l : l.substr(l.find_first_not_of(" \t", colon + 1));
  }
  return "unknown";
}

std::string read_word(const char* path) {
  std::ifstream f(path);
  std::string w;
  f >> w;
  return w.empty() ? "unknown" : w;
}

double measure_clock_read() {
  constexpr int n = 200000;
  std::int64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) sink += now_ns() & 1;
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n + static_cast<double>(sink & 0);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

double gbps(const row& r) {
  return r.m.mops() * 1e6 * static_cast<double>(r.sc->msg_bytes) / 1e9;
}

std::string ratio_json(const ratio& q) {
  return q.has() ? num(q.median) : "null";
}
std::string ref_json(const ratio& q) {
  return q.has() ? json_string(q.ref) : "null";
}

std::string latency_json(const measurement& m) {
  return "{\"p50\": " + std::to_string(m.rtt_ns[0]) + ", \"p90\": " + std::to_string(m.rtt_ns[1]) +
         ", \"p99\": " + std::to_string(m.rtt_ns[2]) + ", \"p999\": " + std::to_string(m.rtt_ns[3]) +
         ", \"max\": " + std::to_string(m.rtt_ns[4]) + "}";
}

bool blocking_wait(const std::string& wait) {
  return wait == "block" || wait == "kernel" || wait == "futex";
}

// The pairs of rows a (subject) and b (reference): one per round both ran.
ratio pair_up(const row& a, const row& b, double drift) {
  ratio out;
  out.ref = b.sc->impl;
  for (std::size_t i = 0; i < a.runs.size(); ++i) {
    for (std::size_t j = 0; j < b.runs.size(); ++j) {
      if (b.runs[j].round != a.runs[i].round || b.figure(j) <= 0) continue;
      pair_ratio pr;
      pr.round = a.runs[i].round;
      pr.subject = a.figure(i);
      pr.reference = b.figure(j);
      pr.ratio = pr.subject / pr.reference;
      pr.floor_a = a.runs[i].floor_ns;
      pr.floor_b = b.runs[j].floor_ns;
      const double lo = std::min(pr.floor_a, pr.floor_b), hi = std::max(pr.floor_a, pr.floor_b);
      pr.flagged = lo <= 0 || hi / lo - 1 > drift;
      out.flagged += pr.flagged ? 1 : 0;
      out.pairs.push_back(pr);
    }
  }
  if (out.pairs.empty()) return out;
  std::vector<double> v;
  for (const pair_ratio& pr : out.pairs) v.push_back(pr.ratio);
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  out.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  out.min = v.front();
  out.max = v.back();
  return out;
}

double median_figure(const row& r) {
  std::vector<double> v;
  for (std::size_t i = 0; i < r.runs.size(); ++i) v.push_back(r.figure(i));
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[(v.size() - 1) / 2];
}

// Can peer c stand in for subject s (same mode and shape, at least its sides)?
bool stands_in(const scenario& c, const scenario& s) {
  if (c.role != row_role::peer || c.mode != s.mode || c.producers != s.producers ||
      c.consumers != s.consumers)
    return false;
  if ((s.multi_producer && !c.multi_producer) || (s.multi_consumer && !c.multi_consumer)) return false;
  return s.batch > 1 || c.batch == 1;
}

const row* best_peer(const row& r, const std::vector<row>& group) {
  const bool lower = r.sc->has_latency();
  const row* best = nullptr;
  double best_fig = 0;
  for (const row& c : group) {
    if (!c.ok() || &c == &r || !stands_in(*c.sc, *r.sc)) continue;
    const double f = median_figure(c);
    if (f > 0 && (best == nullptr || (lower ? f < best_fig : f > best_fig))) {
      best = &c;
      best_fig = f;
    }
  }
  return best;
}

}  // namespace

void relate(std::vector<row>& group, double drift) {
  for (row& r : group) {
    if (!r.ok()) continue;
    const scenario& s = *r.sc;
    // The first ok row of `impl` in the group (with r's mode and PxC when asked).
    auto find = [&](const std::string& impl, bool same_mode, bool same_shape) -> const row* {
      for (const row& e : group) {
        const scenario& t = *e.sc;
        if (!e.ok() || &e == &r || t.impl != impl) continue;
        if (same_mode && t.mode != s.mode) continue;
        if (same_shape && (t.producers != s.producers || t.consumers != s.consumers)) continue;
        return &e;
      }
      return nullptr;
    };
    if (!s.boost_peer.empty())
      if (const row* b = find(s.boost_peer, true, true)) r.vs_boost = pair_up(r, *b, drift);
    if (s.peer == "-") {
      // no peer does this row's job (journal replay)
    } else if (!s.peer.empty()) {
      if (const row* b = find(s.peer, true, true)) r.vs_best = pair_up(r, *b, drift);
    } else if (s.role == row_role::subject) {
      if (const row* b = best_peer(r, group)) r.vs_best = pair_up(r, *b, drift);
    }
    const row* f = nullptr;
    if (s.streams()) {
      // memcpy has no workers to place: its thread row is the floor of both modes.
      if (s.impl != "memcpy") f = find("memcpy", false, false);
    } else if (s.name == "pingpong" || s.name == "wakefd") {
      // wakefd rows all sleep in the kernel: the futex ping-pong is their floor.
      const std::string floor = s.name == "wakefd" || blocking_wait(s.wait) ? "futex" : "spin-line";
      if (s.impl != floor) f = find(floor, true, true);
    }
    if (f != nullptr) r.vs_floor = pair_up(r, *f, drift);
    if (r.vs_floor.has() && s.role != row_role::floor)
      r.below_floor = s.streams() ? r.vs_floor.median > 1.05 : r.vs_floor.median < 0.95;
  }
}

double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

void judge_load(load_report& r, const std::vector<row>& rows, const plan& p) {
  char b[240];
  auto warn = [&](const char* fmt, auto... args) {
    std::snprintf(b, sizeof b, fmt, args...);
    r.warnings.emplace_back(b);
  };
  if (r.load_start > 0.25 * r.cpus)
    warn("load average %.2f at the start on %u CPU(s): something else was running", r.load_start, r.cpus);
  if (r.load_end > r.cpus + 0.5)
    warn("load average %.2f at the end on %u CPU(s): more than the bench's own workers", r.load_end, r.cpus);
  const auto& s = r.samples;
  if (s.samples > 0 && s.busy * 10 > s.samples)
    warn("another task was runnable in %u of %u samples between repetitions (up to %d)", s.busy, s.samples,
         s.max_others);
  unsigned wide = 0, checked = 0, pairs = 0, flagged = 0;
  for (const row& x : rows) {
    if (!x.ok() || x.runs.size() < 2) continue;
    ++checked;
    if (x.spread() > 1.5) ++wide;
    for (const ratio* q : {&x.vs_boost, &x.vs_best, &x.vs_floor}) {
      pairs += static_cast<unsigned>(q->pairs.size());
      flagged += q->flagged;
    }
  }
  if (checked > 0 && wide * 10 > checked)
    warn("%u of %u rows spread more than 1.5x (max/min) over their %u repetitions", wide, checked, p.reps);
  if (pairs > 0 && flagged * 4 > pairs)
    warn("%u of %u pairs flagged: the floor moved by more than %.0f%% between their A and B", flagged, pairs,
         p.drift * 100);
}

void print_warnings(std::FILE* f, const load_report& r) {
  std::fprintf(f,
               "# load      average %.2f at the start, %.2f at the end, %u CPU(s); %u of %u samples saw "
               "another runnable task\n",
               r.load_start, r.load_end, r.cpus, r.samples.busy, r.samples.samples);
  for (const std::string& w : r.warnings) std::fprintf(f, "# WARNING   machine busy? %s\n", w.c_str());
  if (!r.warnings.empty())
    std::fprintf(f, "#           compare figures with care; rerun on a quiet machine for figures to quote\n");
}

machine_info describe_machine(const ringport::topology* topo, const std::string& placement) {
  machine_info m;
  m.cpu_model = first_line_with("/proc/cpuinfo", "model name");
  if (topo != nullptr) {
    const std::string d = topo->describe();
    m.topology = d.substr(0, d.find('\n'));
  } else {
    m.topology = std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPU(s) online (no topology)";
  }
  utsname u{};
  if (uname(&u) == 0) {
    m.kernel = std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
  }
  m.compiler = __VERSION__;
  m.flags = std::string(RINGPORT_BENCH_CXX_FLAGS) + " (" + RINGPORT_BENCH_BUILD_TYPE +
            (std::string(RINGPORT_BENCH_SANITIZE).empty() ? "" : ", sanitize=" RINGPORT_BENCH_SANITIZE) + ")";
  m.clocksource = read_word("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  m.page_size = static_cast<long>(peer_page_size());
  m.clock_read_ns = measure_clock_read();
  m.placement = placement;
  m.started = utc_now();
  return m;
}

void print_header(std::FILE* f, const machine_info& m, const plan& p) {
  std::fprintf(f, "# ringport-bench  %s\n", m.started.c_str());
  std::fprintf(f, "# cpu       %s; %s\n", m.cpu_model.c_str(), m.topology.c_str());
  std::fprintf(f, "# kernel    %s\n", m.kernel.c_str());
  std::fprintf(f, "# compiler  g++ %s; flags %s\n", m.compiler.c_str(), m.flags.c_str());
  std::fprintf(
      f,
      "# clock     steady_clock via %s, %.1f ns per read; pingpong: one read per round trip, included\n"
      "#           in RTT; oneway: sender and receiver read it once each, about one read's cost included\n",
      m.clocksource.c_str(), m.clock_read_ns);
  std::fprintf(
      f,
      "# memory    peers share a MAP_SHARED anonymous mapping, %zu-byte pages; ringport rings use\n"
      "#           segments with pages::any (page size in each row's note); queues hold %zu messages\n"
      "#           (cap column; %zu in the large-capacity rows); moodycamel-* and tbb-bounded allocate on\n"
      "#           the heap (thread mode only)\n",
      peer_page_size(), queue_slots, large_queue_slots);
  std::fprintf(f, "# pinning   %s\n", m.placement.c_str());
  std::fprintf(
      f,
      "# method    rows run in groups (same scenario and bytes, both modes; streams also by capacity), %u\n"
      "#           interleaved rounds of %.3g s repetitions: round i runs repetition i of every row of the\n"
      "#           group, so a row and its reference alternate; each row shows its median repetition (by\n"
      "#           Mmsg/s); watchdog %.3g s per repetition\n"
      "# floor     before every repetition a %.3g s spin-line 8 B ping-pong probe (thread mode) measures\n"
      "#           the floor; a pair whose two probes differ by more than %.0f%% is flagged (flag column:\n"
      "#           pairs flagged / pairs)\n",
      p.reps, p.seconds, p.timeout, p.probe_seconds, p.drift * 100);
  if (p.reps < 5)
    std::fprintf(f,
                 "# NOTE      %u round(s): ratios from fewer than 5 pairs are for smoke tests, not figures\n",
                 p.reps);
  std::fprintf(
      f,
      "# units     Mmsg/s: million messages (ping-pong: round trips) per second; GB/s: 1e9 payload bytes\n"
      "#           per second; p50..max in ns: round trip (pingpong), one way (oneway); cap: queue slots\n"
      "#           (- no queue); cpus: where the workers finished\n");
  std::fprintf(
      f,
      "# ratios    median pair ratio (min-max over the pairs), each pair two repetitions of one round\n"
      "#           vs boost: Mmsg/s / the Boost.Lockfree row's at the same mode and PxC "
      "(boost-spsc[-batch32]\n"
      "#           for spsc, boost-mpmc = lockfree::queue otherwise; higher is better); pingpong p50 /\n"
      "#           boost's p50 (lower is better)\n"
      "#           vs best peer: the same against the best peer row (named) that can do the row's job\n"
      "#           vs floor: throughput GB/s / memcpy's at the same bytes; pingpong p50 / the floor's p50\n"
      "#           (futex for block and kernel waits, else spin-line; same mode and bytes); past the floor\n"
      "#           (< 0.95x, or > 1.05x memcpy) is a measurement error: BELOW FLOOR in the note\n");
}

void print_table_head(std::FILE* f) {
  std::fprintf(f,
               "%-10s %-21s %-7s %5s %3s %10s %5s %9s %7s | %7s %7s %7s %8s | %-15s %-30s %-25s %5s | %s\n",
               "scenario", "impl", "mode", "bytes", "PxC", "wait", "cap", "Mmsg/s", "GB/s", "p50", "p90",
               "p99", "max", "vs boost", "vs best peer", "vs floor", "flag", "cpus note");
}

namespace {

std::string ratio_cell(const ratio& q, bool named) {
  if (!q.has()) return "-";
  char b[96];
  std::snprintf(b, sizeof b, "%.2f (%.2f-%.2f)%s%s", q.median, q.min, q.max, named ? " " : "",
                named ? q.ref.c_str() : "");
  return b;
}

}  // namespace

void print_row(std::FILE* f, const row& r) {
  const scenario& s = *r.sc;
  const std::string pc = std::to_string(s.producers) + "x" + std::to_string(s.consumers);
  const std::string cap = s.capacity == 0       ? "-"
                          : s.capacity >= 65536 ? std::to_string(s.capacity >> 10) + "K"
                                                : std::to_string(s.capacity);
  std::fprintf(f, "%-10s %-21s %-7s %5zu %3s %10s %5s ", s.name.c_str(), s.impl.c_str(), to_string(s.mode),
               s.msg_bytes, pc.c_str(), s.wait.c_str(), cap.c_str());
  if (!r.ok()) {
    std::fprintf(f, "%s: %s\n", r.skipped() ? "skipped" : "FAILED", r.m.why);
    return;
  }
  std::fprintf(f, "%9.3f ", r.m.mops());
  if (s.has_latency()) {
    std::fprintf(f, "%7s | %7llu %7llu %7llu %8llu | ", "-", static_cast<unsigned long long>(r.m.rtt_ns[0]),
                 static_cast<unsigned long long>(r.m.rtt_ns[1]),
                 static_cast<unsigned long long>(r.m.rtt_ns[2]),
                 static_cast<unsigned long long>(r.m.rtt_ns[4]));
  } else {
    std::fprintf(f, "%7.3f | %7s %7s %7s %8s | ", gbps(r), "-", "-", "-", "-");
  }
  unsigned pairs = 0, flagged = 0;
  for (const ratio* q : {&r.vs_boost, &r.vs_best, &r.vs_floor}) {
    pairs += static_cast<unsigned>(q->pairs.size());
    flagged += q->flagged;
  }
  const std::string flag = pairs == 0 ? "-" : std::to_string(flagged) + "/" + std::to_string(pairs);
  std::fprintf(f, "%-15s %-30s %-25s %5s | %s ", ratio_cell(r.vs_boost, false).c_str(),
               ratio_cell(r.vs_best, true).c_str(), ratio_cell(r.vs_floor, true).c_str(), flag.c_str(),
               r.m.cpus);
  if (r.below_floor) std::fprintf(f, "BELOW FLOOR: measurement error; ");
  if (r.spread() > 1.5) std::fprintf(f, "repetitions spread %.2fx; ", r.spread());
  std::fprintf(f, "%s\n", r.m.note);
}

namespace {

std::string ratio_object(const ratio& q) {
  if (!q.has()) return "null";
  std::string o = "{\"ref\": " + json_string(q.ref) + ", \"median\": " + num(q.median) +
                  ", \"min\": " + num(q.min) + ", \"max\": " + num(q.max) +
                  ", \"flagged\": " + std::to_string(q.flagged) + ", \"pairs\": [";
  for (std::size_t i = 0; i < q.pairs.size(); ++i) {
    const pair_ratio& pr = q.pairs[i];
    o += (i ? ", " : "") + std::string("{\"round\": ") + std::to_string(pr.round) +
         ", \"subject\": " + num(pr.subject) + ", \"reference\": " + num(pr.reference) +
         ", \"ratio\": " + num(pr.ratio) + ", \"floor_a_ns\": " + num(pr.floor_a) +
         ", \"floor_b_ns\": " + num(pr.floor_b) + ", \"flagged\": " + (pr.flagged ? "true" : "false") + "}";
  }
  return o + "]}";
}

std::string runs_json(const row& r) {
  std::string o = "[";
  for (std::size_t k = 0; k < r.runs.size(); ++k) {
    const run_record& x = r.runs[k];
    o += (k ? ", " : "") + std::string("{\"round\": ") + std::to_string(x.round) +
         ", \"mops\": " + num(x.mops) + ", \"p50_ns\": " + (r.sc->has_latency() ? num(x.p50_ns) : "null") +
         ", \"floor_ns\": " + num(x.floor_ns) + "}";
  }
  return o + "]";
}

std::string role_name(row_role r) {
  return r == row_role::floor ? "floor" : r == row_role::peer ? "peer" : "subject";
}

}  // namespace

bool write_json(const std::string& path, const machine_info& m, const plan& p, const std::vector<row>& rows,
                const load_report& load, double wall_seconds, std::string* err) {
  std::ostringstream o;
  o << "{\n  \"machine\": {\"cpu_model\": " << json_string(m.cpu_model)
    << ", \"topology\": " << json_string(m.topology) << ", \"kernel\": " << json_string(m.kernel)
    << ", \"compiler\": " << json_string(m.compiler) << ", \"flags\": " << json_string(m.flags)
    << ", \"clocksource\": " << json_string(m.clocksource) << ", \"page_size\": " << m.page_size
    << ", \"clock_read_ns\": " << num(m.clock_read_ns) << ", \"pinning\": " << json_string(m.placement)
    << ", \"started\": " << json_string(m.started) << "},\n";
  o << "  \"config\": {\"seconds_per_rep\": " << num(p.seconds) << ", \"reps\": " << p.reps
    << ", \"reported\": \"median repetition by mops; ratios: median pair ratio\", \"probe_seconds\": "
    << num(p.probe_seconds) << ", \"drift\": " << num(p.drift) << ", \"timeout_s\": " << num(p.timeout)
    << ", \"wall_seconds\": " << num(wall_seconds) << "},\n";
  o << "  \"load\": {\"cpus\": " << load.cpus << ", \"load_start\": " << num(load.load_start)
    << ", \"load_end\": " << num(load.load_end) << ", \"samples\": " << load.samples.samples
    << ", \"busy_samples\": " << load.samples.busy << ", \"max_other_runnable\": " << load.samples.max_others
    << ", \"warnings\": [";
  for (std::size_t i = 0; i < load.warnings.size(); ++i)
    o << (i ? ", " : "") << json_string(load.warnings[i]);
  o << "]},\n";
  o << "  \"units\": {\"mops\": \"million messages (ping-pong: round trips) per second\", "
       "\"gbps\": \"1e9 payload bytes per second\", \"rtt_ns\": \"nanoseconds\"},\n";
  o << "  \"results\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    const scenario& s = *r.sc;
    o << (i == 0 ? "\n" : ",\n") << "    {\"key\": " << json_string(s.key())
      << ", \"scenario\": " << json_string(s.name) << ", \"impl\": " << json_string(s.impl)
      << ", \"mode\": " << json_string(to_string(s.mode)) << ", \"msg_bytes\": " << s.msg_bytes
      << ", \"producers\": " << s.producers << ", \"consumers\": " << s.consumers
      << ", \"wait\": " << json_string(s.wait)
      << ", \"capacity\": " << (s.capacity == 0 ? std::string("null") : std::to_string(s.capacity))
      << ", \"role\": " << json_string(role_name(s.role))
      << ", \"group\": " << json_string(s.group(queue_slots)) << ", \"status\": "
      << json_string(r.ok()        ? "ok"
                     : r.skipped() ? "skipped"
                                   : "failed");
    if (!r.ok()) {
      o << ", \"error\": " << json_string(r.m.why)
        << ", \"messages\": null, \"seconds\": null, \"mops\": null, \"gbps\": null, \"rtt_ns\": null"
        << ", \"oneway_ns\": null, \"vs_boost\": null, \"vs_boost_ref\": null, \"vs_floor\": null"
        << ", \"vs_floor_ref\": null, \"vs_best_peer\": null, \"vs_best_peer_ref\": null"
        << ", \"ratios\": null, \"runs\": []}";
      continue;
    }
    o << ", \"messages\": " << r.m.messages << ", \"seconds\": " << num(r.m.seconds)
      << ", \"mops\": " << num(r.m.mops()) << ", \"gbps\": " << (s.has_latency() ? "null" : num(gbps(r)));
    const bool rtt = r.m.has_rtt && (s.name == "pingpong" || s.name == "wakefd"),
               oneway = r.m.has_rtt && s.name == "oneway";
    o << ", \"rtt_ns\": " << (rtt ? latency_json(r.m) : "null")
      << ", \"oneway_ns\": " << (oneway ? latency_json(r.m) : "null");
    o << ", \"vs_boost\": " << ratio_json(r.vs_boost) << ", \"vs_boost_ref\": " << ref_json(r.vs_boost)
      << ", \"vs_best_peer\": " << ratio_json(r.vs_best) << ", \"vs_best_peer_ref\": " << ref_json(r.vs_best)
      << ", \"vs_floor\": " << ratio_json(r.vs_floor) << ", \"vs_floor_ref\": " << ref_json(r.vs_floor)
      << ", \"below_floor\": " << (r.below_floor ? "true" : "false") << ", \"spread\": " << num(r.spread())
      << ", \"ratios\": {\"vs_boost\": " << ratio_object(r.vs_boost)
      << ", \"vs_best_peer\": " << ratio_object(r.vs_best) << ", \"vs_floor\": " << ratio_object(r.vs_floor)
      << "}";
    o << ", \"wall_seconds\": " << num(r.wall) << ", \"cpus\": " << json_string(r.m.cpus)
      << ", \"note\": " << json_string(r.m.note) << ", \"runs_mops\": [";
    for (std::size_t k = 0; k < r.runs.size(); ++k) o << (k ? ", " : "") << num(r.runs[k].mops);
    o << "], \"runs\": " << runs_json(r) << "}";
  }
  o << "\n  ]\n}\n";
  std::ofstream f(path);
  f << o.str();
  f.flush();
  if (!f) {
    *err = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace bench
