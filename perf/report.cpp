#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

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

std::string ratio_json(double v) {
  return v > 0 ? num(v) : "null";
}
std::string ref_json(const std::string& s) {
  return s.empty() ? "null" : json_string(s);
}

std::string latency_json(const measurement& m) {
  return "{\"p50\": " + std::to_string(m.rtt_ns[0]) + ", \"p90\": " + std::to_string(m.rtt_ns[1]) +
         ", \"p99\": " + std::to_string(m.rtt_ns[2]) + ", \"p999\": " + std::to_string(m.rtt_ns[3]) +
         ", \"max\": " + std::to_string(m.rtt_ns[4]) + "}";
}

bool blocking_wait(const std::string& wait) {
  return wait == "block" || wait == "kernel" || wait == "futex";
}

}  // namespace

void relate(row& r, const std::vector<row>& earlier) {
  if (!r.ok()) return;
  const scenario& s = *r.sc;
  // The first ok row of `impl` in `name` with r's bytes (and mode, and PxC).
  auto find = [&](const std::string& impl, const std::string& name, bool same_mode,
                  bool same_shape) -> const row* {
    for (const row& e : earlier) {
      const scenario& t = *e.sc;
      if (!e.ok() || t.impl != impl || t.name != name || t.msg_bytes != s.msg_bytes) continue;
      if (same_mode && t.mode != s.mode) continue;
      if (same_shape && (t.producers != s.producers || t.consumers != s.consumers)) continue;
      return &e;
    }
    return nullptr;
  };
  const row* boost = s.boost_peer.empty() ? nullptr : find(s.boost_peer, s.name, true, true);
  if (s.streams()) {
    if (boost != nullptr) {
      r.vs_boost = r.m.mops() / boost->m.mops();
      r.boost_ref = boost->sc->impl;
    }
    // memcpy has no workers to place: its thread row is the floor of both modes.
    if (const row* f = s.impl == "memcpy" ? nullptr : find("memcpy", "throughput", false, false)) {
      r.vs_floor = gbps(r) / gbps(*f);
      r.floor_ref = f->sc->impl;
    }
  } else if (s.name == "pingpong") {
    const double p50 = static_cast<double>(r.m.rtt_ns[0]);
    if (boost != nullptr && boost->m.rtt_ns[0] > 0) {
      r.vs_boost = p50 / static_cast<double>(boost->m.rtt_ns[0]);
      r.boost_ref = boost->sc->impl;
    }
    const std::string floor = blocking_wait(s.wait) ? "futex" : "spin-line";
    if (const row* f = s.impl == floor ? nullptr : find(floor, "pingpong", true, true);
        f && f->m.rtt_ns[0] > 0) {
      r.vs_floor = p50 / static_cast<double>(f->m.rtt_ns[0]);
      r.floor_ref = f->sc->impl;
    }
  }
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
      "#           segments with pages::any (page size in each row's note); queues hold %zu messages\n",
      peer_page_size(), queue_slots);
  std::fprintf(f, "# pinning   %s\n", m.placement.c_str());
  std::fprintf(f,
               "# method    each row: median of %u repetition(s) of %.3g s, ranked by Mmsg/s; RTT columns\n"
               "#           are that repetition's (10%% warm-up excluded); watchdog %.3g s per repetition\n",
               p.reps, p.seconds, p.timeout);
  std::fprintf(
      f,
      "# units     Mmsg/s: million messages (ping-pong: round trips) per second; GB/s: 1e9 payload bytes\n"
      "#           per second; p50..max in ns: round trip (pingpong), one way (oneway); cpus: where the\n"
      "#           workers finished\n");
  std::fprintf(
      f,
      "# ratios    vs boost: throughput/scaling Mmsg/s / the Boost.Lockfree row's at the same mode, bytes\n"
      "#           and PxC (boost-spsc[-batch32] for spsc, boost-mpmc = lockfree::queue otherwise; higher\n"
      "#           is better); pingpong p50 / boost's p50 (lower is better)\n"
      "#           vs floor: throughput GB/s / memcpy's at the same bytes; pingpong p50 / the floor's p50\n"
      "#           (futex for block and kernel waits, else spin-line; same mode and bytes)\n");
}

void print_table_head(std::FILE* f) {
  std::fprintf(f, "%-10s %-21s %-7s %5s %3s %10s %9s %7s | %8s %8s %8s %8s %9s | %8s %-16s | %-5s %s\n",
               "scenario", "impl", "mode", "bytes", "PxC", "wait", "Mmsg/s", "GB/s", "p50", "p90", "p99",
               "p99.9", "max", "vs boost", "vs floor", "cpus", "note");
}

void print_row(std::FILE* f, const row& r) {
  const scenario& s = *r.sc;
  const std::string pc = std::to_string(s.producers) + "x" + std::to_string(s.consumers);
  std::fprintf(f, "%-10s %-21s %-7s %5zu %3s %10s ", s.name.c_str(), s.impl.c_str(), to_string(s.mode),
               s.msg_bytes, pc.c_str(), s.wait.c_str());
  if (!r.ok()) {
    std::fprintf(f, "FAILED: %s\n", r.m.why);
    return;
  }
  std::fprintf(f, "%9.3f ", r.m.mops());
  if (s.has_latency()) {
    std::fprintf(
        f, "%7s | %8llu %8llu %8llu %8llu %9llu | ", "-", static_cast<unsigned long long>(r.m.rtt_ns[0]),
        static_cast<unsigned long long>(r.m.rtt_ns[1]), static_cast<unsigned long long>(r.m.rtt_ns[2]),
        static_cast<unsigned long long>(r.m.rtt_ns[3]), static_cast<unsigned long long>(r.m.rtt_ns[4]));
  } else {
    std::fprintf(f, "%7.3f | %8s %8s %8s %8s %9s | ", gbps(r), "-", "-", "-", "-", "-");
  }
  if (r.vs_boost > 0) {
    std::fprintf(f, "%8.2f ", r.vs_boost);
  } else {
    std::fprintf(f, "%8s ", "-");
  }
  if (r.vs_floor > 0) {
    std::fprintf(f, "%6.2f %-9s | ", r.vs_floor, r.floor_ref.c_str());
  } else {
    std::fprintf(f, "%-16s | ", "     -");
  }
  std::fprintf(f, "%-5s %s\n", r.m.cpus, r.m.note);
}

bool write_json(const std::string& path, const machine_info& m, const plan& p, const std::vector<row>& rows,
                double wall_seconds, std::string* err) {
  std::ostringstream o;
  o << "{\n  \"machine\": {\"cpu_model\": " << json_string(m.cpu_model)
    << ", \"topology\": " << json_string(m.topology) << ", \"kernel\": " << json_string(m.kernel)
    << ", \"compiler\": " << json_string(m.compiler) << ", \"flags\": " << json_string(m.flags)
    << ", \"clocksource\": " << json_string(m.clocksource) << ", \"page_size\": " << m.page_size
    << ", \"clock_read_ns\": " << num(m.clock_read_ns) << ", \"pinning\": " << json_string(m.placement)
    << ", \"started\": " << json_string(m.started) << "},\n";
  o << "  \"config\": {\"seconds_per_rep\": " << num(p.seconds) << ", \"reps\": " << p.reps
    << ", \"reported\": \"median repetition by mops\", \"timeout_s\": " << num(p.timeout)
    << ", \"wall_seconds\": " << num(wall_seconds) << "},\n";
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
      << ", \"wait\": " << json_string(s.wait) << ", \"status\": " << json_string(r.ok() ? "ok" : "failed");
    if (!r.ok()) {
      o << ", \"error\": " << json_string(r.m.why)
        << ", \"messages\": null, \"seconds\": null, \"mops\": null, \"gbps\": null, \"rtt_ns\": null"
        << ", \"oneway_ns\": null, \"vs_boost\": null, \"vs_boost_ref\": null, \"vs_floor\": null"
        << ", \"vs_floor_ref\": null}";
      continue;
    }
    o << ", \"messages\": " << r.m.messages << ", \"seconds\": " << num(r.m.seconds)
      << ", \"mops\": " << num(r.m.mops()) << ", \"gbps\": " << (s.has_latency() ? "null" : num(gbps(r)));
    const bool rtt = r.m.has_rtt && s.name == "pingpong", oneway = r.m.has_rtt && s.name == "oneway";
    o << ", \"rtt_ns\": " << (rtt ? latency_json(r.m) : "null")
      << ", \"oneway_ns\": " << (oneway ? latency_json(r.m) : "null");
    o << ", \"vs_boost\": " << ratio_json(r.vs_boost) << ", \"vs_boost_ref\": " << ref_json(r.boost_ref)
      << ", \"vs_floor\": " << ratio_json(r.vs_floor) << ", \"vs_floor_ref\": " << ref_json(r.floor_ref);
    o << ", \"wall_seconds\": " << num(r.wall) << ", \"cpus\": " << json_string(r.m.cpus)
      << ", \"note\": " << json_string(r.m.note) << ", \"runs_mops\": [";
    for (std::size_t k = 0; k < r.runs.size(); ++k) o << (k ? ", " : "") << num(r.runs[k]);
    o << "]}";
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
