// Runs a scenario's repetitions, each in a forked child that the harness
// watches: a child that outlives the per-repetition limit is killed with its
// whole process group (its own forked workers included) and the scenario is
// reported as failed, never left hanging. The child writes its measurement
// into a shared mapping; the harness keeps the median repetition.
#pragma once

#include <string>
#include <vector>

#include "scenario.hpp"

namespace bench {

struct plan {
  double seconds = 0.25;  ///< measured time per repetition
  unsigned reps = 3;      ///< repetitions; the median (by Mmsg/s) is reported
  double timeout = 10;    ///< watchdog limit per repetition, seconds
  bool pin = true;
  std::vector<unsigned> cpu_order;  ///< worker i runs on cpu_order[i % size] when pinning
  unsigned allowed_cpus = 1;
};

struct row {
  const scenario* sc = nullptr;
  measurement m;             ///< the median repetition (when ok)
  std::vector<double> runs;  ///< Mmsg/s of every repetition, in run order
  double wall = 0;           ///< seconds the scenario took, all repetitions
  /// Ratios to reference rows of the same run (0: no such row), see report.hpp.
  double vs_boost = 0;
  std::string boost_ref;  ///< impl of the row vs_boost divides by
  double vs_floor = 0;
  std::string floor_ref;  ///< impl of the row vs_floor divides by
  bool ok() const noexcept { return m.ok; }
};

row run_scenario(const scenario& sc, const plan& p);

}  // namespace bench
