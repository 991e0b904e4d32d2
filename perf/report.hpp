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

/// Fills r's ratios from the rows run before it (references are registered
/// before the rows that use them):
///   vs_boost  throughput/scaling: Mmsg/s over that of r.sc->boost_peer with
///             the same scenario, mode, bytes and PxC (higher is better);
///             pingpong: p50 over that row's p50 (lower is better).
///   vs_floor  throughput/scaling: GB/s over memcpy's at the same bytes;
///             pingpong: p50 over the floor's p50 at the same mode and bytes,
///             the futex floor for blocking waits (block, kernel), else the
///             spin-line floor.
void relate(row& r, const std::vector<row>& earlier);

machine_info describe_machine(const ringport::topology* topo, const std::string& placement);
void print_header(std::FILE* f, const machine_info& m, const plan& p);
void print_table_head(std::FILE* f);
void print_row(std::FILE* f, const row& r);
/// Writes every row; false (with *err) when the file cannot be written.
bool write_json(const std::string& path, const machine_info& m, const plan& p, const std::vector<row>& rows,
                double wall_seconds, std::string* err);

}  // namespace bench
