// ringport-bench: ringport's rings and their peers, measured in one run.
// See runner.hpp (repetitions, watchdog), drivers.hpp (what is measured) and
// report.hpp (what is printed).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "options.hpp"
#include "plot.hpp"
#include "report.hpp"
#include "ringport/segment.hpp"
#include "ringport/topology.hpp"
#include "runner.hpp"
#include "scenario.hpp"
#include "shared.hpp"

namespace {

// Worker CPUs: the closest pair first, then the other allowed CPUs.
std::string choose_cpus(const std::optional<ringport::topology>& topo, bench::plan& p) {
  if (!topo) return "not pinned (topology unavailable)";
  p.allowed_cpus = static_cast<unsigned>(topo->allowed_cpus().size());
  if (!p.pin) return "not pinned (--no-pin)";
  auto pair = topo->closest_pair();
  if (!pair) return "not pinned: " + pair.error().message;
  p.cpu_order = {pair->first};
  if (pair->second != pair->first) p.cpu_order.push_back(pair->second);
  for (unsigned c : topo->allowed_cpus())
    if (c != pair->first && c != pair->second) p.cpu_order.push_back(c);
  std::string s = "closest_pair: producer/pinger on CPU " + std::to_string(pair->first) +
                  ", consumer/ponger on CPU " + std::to_string(pair->second) + " (" + to_string(pair->kind);
  s += pair->shared_cache_level > 0 ? ", share L" + std::to_string(pair->shared_cache_level) + ")"
                                    : ", no shared cache reported)";
  if (pair->fallback) s += "; " + pair->note;
  return s;
}

void progress(const std::string& line) {
  static const bool tty = isatty(STDERR_FILENO) != 0;
  if (!tty) return;
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

// The chosen rows by group (scenario::group), groups in order of first appearance.
std::vector<std::vector<const bench::scenario*>> by_group(const std::vector<const bench::scenario*>& chosen) {
  std::vector<std::vector<const bench::scenario*>> groups;
  std::vector<std::string> names;
  for (const auto* s : chosen) {
    const std::string g = s->group(bench::queue_slots);
    std::size_t i = 0;
    while (i < names.size() && names[i] != g) ++i;
    if (i == names.size()) {
      names.push_back(g);
      groups.emplace_back();
    }
    groups[i].push_back(s);
  }
  return groups;
}

}  // namespace

int main(int argc, char** argv) {
  auto opt = bench::parse_options(argc, argv);
  if (!opt) {
    std::fprintf(stderr, "ringport-bench: %s\n", opt.error().message.c_str());
    return 2;
  }
  if (opt->help) {
    std::fputs(bench::usage(), stdout);
    return 0;
  }
  bench::registry all;
  bench::register_peers(all);
  bench::register_ringport(all);
  bench::register_large_messages(all);
  bench::register_topic(all);
#if RINGPORT_BENCH_HAVE_IO
  bench::register_io(all);
#endif
  std::vector<const bench::scenario*> chosen;
  for (const auto& s : all)
    if (bench::matches(opt->filter, s.key())) chosen.push_back(&s);
  if (opt->list) {
    for (const auto* s : chosen) std::printf("%s\n", s->key().c_str());
    return 0;
  }
  if (chosen.empty()) {
    std::fprintf(stderr, "ringport-bench: no scenario matches '%s' (see --list)\n", opt->filter.c_str());
    return 2;
  }

  // Segment notices (e.g. the huge-page fallback) would repeat in every
  // measuring process; each ringport row's note shows its page size instead.
  ringport::set_notice_handler([](std::string_view) {});

  bench::plan p;
  p.seconds = opt->seconds;
  p.reps = opt->reps;
  p.probe_seconds = std::max(opt->seconds / 5, 0.005);
  p.drift = opt->drift;
  p.timeout = std::max(opt->timeout, opt->seconds * 4);
  p.pin = opt->pin;
  std::optional<ringport::topology> topo;
  if (auto t = ringport::topology::discover()) {
    topo.emplace(std::move(*t));
  } else {
    std::fprintf(stderr, "ringport-bench: topology: %s\n", t.error().message.c_str());
  }
  const std::string placement = choose_cpus(topo, p);
  const bench::machine_info machine = bench::describe_machine(topo ? &*topo : nullptr, placement);

  bench::load_report load;
  load.cpus = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  load.load_start = bench::load_average();
  bench::print_header(stdout, machine, p);
  const double per_rep = p.seconds + p.probe_seconds + 0.01;  // 10 ms: fork, set-up, checks
  std::printf("# rows      %zu in %zu group(s); about %.0f s\n", chosen.size(), by_group(chosen).size(),
              static_cast<double>(chosen.size()) * p.reps * per_rep);
  bench::print_table_head(stdout);
  std::fflush(stdout);
  const bench::scenario probe = bench::floor_probe();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<bench::row> rows;
  std::size_t failed = 0, skipped = 0, done = 0;
  for (const auto& members : by_group(chosen)) {
    auto show = [&](unsigned round, const bench::scenario& s) {
      progress("[" + std::to_string(done + 1) + "-" + std::to_string(done + members.size()) + "/" +
               std::to_string(chosen.size()) + "] round " + std::to_string(round + 1) + "/" +
               std::to_string(p.reps) + " " + s.key());
    };
    std::vector<bench::row> group = bench::run_group(members, probe, p, load.samples, show);
    progress({});
    bench::relate(group, p.drift);
    for (bench::row& r : group) {
      bench::print_row(stdout, r);
      if (r.skipped())
        ++skipped;
      else if (!r.ok())
        ++failed;
      rows.push_back(std::move(r));
    }
    done += members.size();
    std::fflush(stdout);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  load.load_end = bench::load_average();
  bench::judge_load(load, rows, p);
  std::printf("# %zu scenario(s), %zu failed, %zu skipped, %.1f s\n", rows.size(), failed, skipped, wall);
  bench::print_warnings(stdout, load);
  if (!opt->json.empty()) {
    std::string err;
    if (!bench::write_json(opt->json, machine, p, rows, load, wall, &err)) {
      std::fprintf(stderr, "ringport-bench: %s\n", err.c_str());
      return 1;
    }
  }
  if (!opt->plot.empty()) {
    std::string err;
    const std::string subtitle = machine.cpu_model + ", " + machine.topology + ", " + machine.started;
    if (!bench::write_plots(opt->plot, rows, subtitle, &err)) {
      std::fprintf(stderr, "ringport-bench: %s\n", err.c_str());
      return 1;
    }
    std::printf("# plots in %s: throughput.svg latency.svg scaling.svg\n", opt->plot.c_str());
  }
  return failed == 0 ? 0 : 1;
}
