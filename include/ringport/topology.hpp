// ringport/topology.hpp — which CPUs share which caches, pinning, placement.
//
// topology::discover() asks hwloc once and keeps a plain, process-local
// snapshot: every hardware thread (PU) with its core, package, NUMA node and
// the L1d/L2/L3 caches it shares (ids and sizes; -1 / 0 where the machine does
// not report a level, as on many VMs). Nothing from hwloc appears in this
// header; the hwloc handle lives behind a pointer and serves bind_memory().
//
// Allowed CPUs. hwloc already leaves out PUs and NUMA nodes outside the
// cgroup cpuset. A PU is also marked `allowed` only when it is in the process's
// CPU binding at discovery time (the union of every thread's affinity, i.e.
// taskset). Placement helpers pick allowed PUs only. Discover before pinning
// the only thread of a process, or the snapshot sees that one CPU.
//
// Placements for a producer–consumer pair:
//   closest_pair()                  two PUs on different cores sharing the
//                                   deepest cache (L2 before L3 before the same
//                                   NUMA node) — the low-latency placement.
//   pair_on_different_cores()       two PUs on different cores sharing as
//                                   little as possible while on one NUMA node
//                                   (e.g. across L3 slices / CCXs).
//   pair_on_different_numa_nodes()  two PUs on different NUMA nodes.
// When the machine cannot give what was asked (only SMT siblings, a single PU,
// a single NUMA node), the helper returns the best it can with `fallback` set
// and `note` saying why, so a benchmark can print what it really measured.
// It fails only when no PU at all is allowed.
//
// pin_this_thread(cpu) sets the calling thread's affinity to exactly that CPU
// (sched_setaffinity; no hwloc needed). bind_memory() places pages on a NUMA
// node with hwloc_set_area_membind (bind + migrate); on a single-node machine
// it is a documented no-op success, since there is nowhere else to put them.
//
// Control path only: nothing here is meant for a hot loop. No exceptions are
// needed; every fallible call returns result<T>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringport/result.hpp"

namespace ringport {

/// One cache level as seen from a PU. id: hwloc logical index of that cache
/// (PUs with the same id share it); -1 when the level is not reported.
struct cache_ref {
  int id = -1;
  std::uint64_t size_bytes = 0;
};

/// A hardware thread (what Linux calls a CPU).
struct processing_unit {
  unsigned cpu = 0;      ///< OS index: what sched_setaffinity and /proc use
  unsigned core = 0;     ///< logical index of its core (SMT siblings share it)
  unsigned package = 0;  ///< logical index of its package (socket)
  int numa_node = -1;    ///< OS index of its NUMA node; -1 when unknown
  cache_ref l1d, l2, l3;
  bool allowed = false;  ///< in the cgroup cpuset and the process's binding
};

/// How far apart a chosen pair of PUs is.
enum class pair_kind : std::uint8_t {
  different_cores,       ///< two cores (what the caller asked for, or close to it)
  different_numa_nodes,  ///< two NUMA nodes
  smt_siblings,          ///< fallback: two hardware threads of one core
  same_pu,               ///< fallback: only one PU is allowed; both roles share it
};
const char* to_string(pair_kind k) noexcept;

/// A producer–consumer placement.
struct cpu_pair {
  unsigned first = 0;   ///< OS index (e.g. the producer)
  unsigned second = 0;  ///< OS index (e.g. the consumer)
  pair_kind kind = pair_kind::different_cores;
  int shared_cache_level = 0;  ///< deepest cache level both share (1..3), 0: none
  bool fallback = false;       ///< true when the request could not be met
  std::string note;            ///< why, when fallback; empty otherwise
};

class topology {
 public:
  /// Loads the machine's topology through hwloc.
  static result<topology> discover();

  topology(topology&&) noexcept;
  topology& operator=(topology&&) noexcept;
  ~topology();

  /// Every PU hwloc reports (cgroup-allowed), ordered by OS index.
  const std::vector<processing_unit>& pus() const noexcept { return pus_; }
  /// OS indexes of the allowed PUs, ascending.
  std::vector<unsigned> allowed_cpus() const;
  /// The PU with this OS index, or nullptr.
  const processing_unit* find(unsigned cpu) const noexcept;

  unsigned package_count() const noexcept { return packages_; }
  unsigned core_count() const noexcept { return cores_; }
  unsigned numa_node_count() const noexcept { return numa_nodes_; }

  result<cpu_pair> closest_pair() const;
  result<cpu_pair> pair_on_different_cores() const;
  result<cpu_pair> pair_on_different_numa_nodes() const;

  /// Deepest cache level that PUs a and b share (1..3), 0 when none.
  int shared_cache_level(const processing_unit& a, const processing_unit& b) const noexcept;

  /// Binds [addr, addr+len) to NUMA node `numa_node` (OS index) and migrates
  /// pages already there. No-op success on a single-node machine.
  result<void> bind_memory(void* addr, std::size_t len, int numa_node) const;

  /// Multi-line human summary (packages, cores, PUs, caches, NUMA nodes).
  std::string describe() const;

 private:
  struct hw;  // the hwloc handle, runtime/topology.cpp
  topology() = default;
  std::unique_ptr<hw> hw_;
  std::vector<processing_unit> pus_;
  unsigned packages_ = 0, cores_ = 0, numa_nodes_ = 0;
  friend struct topology_builder;
};

/// Pins the calling thread to exactly one CPU (OS index).
result<void> pin_this_thread(unsigned cpu);
/// Pins the calling thread to a set of CPUs (e.g. to undo pin_this_thread).
result<void> pin_this_thread(const std::vector<unsigned>& cpus);
/// The calling thread's current affinity, ascending OS indexes.
result<std::vector<unsigned>> this_thread_cpus();

}  // namespace ringport
