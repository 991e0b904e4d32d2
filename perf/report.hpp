// What the harness prints: the machine header, the table, and the JSON file.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "runner.hpp"

namespace ringport {
class topology;
}

namespace bench {

struct machine_info {
  std::string cpu_model;
  std::string topology;  ///< "1 package(s), 2 core(s), 2 PU(s) (2 allowed), 1 NUMA node(s)"
  std::string kernel;    ///< uname: sysname release version machine
  std::string compiler;  ///< __VERSION__
  std::string flags;     ///< CMake's flags for this build
  std::string clocksource;
  long page_size = 0;        ///< of the shared mappings the peers use
  double clock_read_ns = 0;  ///< measured cost of one steady_clock::now()
  std::string placement;     ///< how workers were pinned
  std::string started;       ///< UTC time of the run
};

/// Fills the ratios of one group's rows (runner.hpp), each from the pairs of
/// repetitions of the same round, against rows of the same group:
///   vs_boost  throughput/scaling: Mmsg/s over that of r.sc->boost_peer with
///             the same mode and PxC (higher is better); pingpong: p50 over
///             that row's p50 (lower is better).
///   vs_best   ringport's rows only: the same against the best peer (by its
///             median) with the same mode and PxC that offers at least the
///             row's producer and consumer sides (and, for one-message
///             rows, moves one message per call).
///   vs_floor  throughput: GB/s over memcpy's at the same bytes; pingpong:
///             p50 over the floor's p50 at the same mode and bytes, the futex
///             floor for blocking waits (block, kernel), else the spin-line
///             floor. A row past its floor (p50 below 0.95x the floor's, or
///             GB/s above 1.05x memcpy's) is a measurement error.
/// A pair is flagged when the floor probes beside its A and B differ by more
/// than `drift` (a fraction).
void relate(std::vector<row>& group, double drift);

/// The machine was busy: what the run saw, as lines to print (none: quiet).
struct load_report {
  double load_start = 0, load_end = 0;  ///< 1-minute load average
  unsigned cpus = 1;
  load_samples samples;
  std::vector<std::string> warnings;
};
/// /proc/loadavg's 1-minute figure (0 when unreadable).
double load_average();
/// Fills r.warnings from the load figures and the rows' spread and flags.
void judge_load(load_report& r, const std::vector<row>& rows, const plan& p);
void print_warnings(std::FILE* f, const load_report& r);

machine_info describe_machine(const ringport::topology* topo, const std::string& placement);
void print_header(std::FILE* f, const machine_info& m, const plan& p);
void print_table_head(std::FILE* f);
void print_row(std::FILE* f, const row& r);
/// Writes every row; false (with *err) when the file cannot be written.
bool write_json(const std::string& path, const machine_info& m, const plan& p, const std::vector<row>& rows,
                const load_report& load, double wall_seconds, std::string* err);

}  // namespace bench
