// Runs the rows, group by group, in interleaved rounds. A group is every
// row that is compared with another (scenario::group: same scenario and
// bytes, both modes, every PxC): round i runs repetition i of each of its
// rows (thread rows first, then process rows, each in registration order;
// odd rounds backwards), so a row and its reference alternate (A B A B ...,
// or B A in odd rounds) and every ratio pairs two repetitions of the same
// round.
// Before every repetition the floor probe (the spin-line 8-byte ping-pong,
// a short run) is measured, so each pair knows the floor beside its A and
// beside its B. Each repetition runs in a forked child of its own process
// group that the harness watches: a child that outlives the limit is killed
// with its workers and the row is reported as failed, never left hanging.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace bench {

struct plan {
  double seconds = 0.15;        ///< measured time per repetition
  unsigned reps = 5;            ///< rounds: repetitions per row, pairs per ratio
  double probe_seconds = 0.03;  ///< the floor probe before each repetition
  double drift = 0.25;          ///< a pair is flagged when its two probes differ by more
  double timeout = 10;          ///< watchdog limit per repetition, seconds
  bool pin = true;
  std::vector<unsigned> cpu_order;  ///< worker i runs on cpu_order[i % size] when pinning
  unsigned allowed_cpus = 1;
};

/// One repetition of a row.
struct run_record {
  unsigned round = 0;
  double mops = 0;
  double p50_ns = 0;    ///< latency rows: that repetition's p50
  double floor_ns = 0;  ///< the probe's p50 just before it; 0: the probe failed
};

/// Two repetitions of one round: the row's (A) and its reference's (B).
struct pair_ratio {
  unsigned round = 0;
  double subject = 0, reference = 0;  ///< the figures divided (Mmsg/s, GB/s or p50 ns)
  double ratio = 0;
  double floor_a = 0, floor_b = 0;  ///< the probe beside A and beside B
  bool flagged = false;             ///< the floor moved by more than plan::drift (or a probe failed)
};

/// One ratio column of a row: the median pair with its min–max.
struct ratio {
  std::string ref;  ///< impl of the reference row
  std::vector<pair_ratio> pairs;
  double median = 0, min = 0, max = 0;
  unsigned flagged = 0;
  bool has() const noexcept { return !pairs.empty(); }
};

struct row {
  const scenario* sc = nullptr;
  measurement m;                 ///< the median repetition by Mmsg/s (when ok)
  std::vector<run_record> runs;  ///< every repetition, in round order
  double wall = 0;               ///< seconds the row took, all repetitions
  /// Ratios to rows of the same group (report.hpp says which).
  ratio vs_boost, vs_best, vs_floor;
  bool below_floor = false;  ///< beat its floor: a measurement error, not a success
  bool ok() const noexcept { return m.ok; }
  /// Not run: the machine lacks what it needs (m.why says what); not a failure.
  bool skipped() const noexcept { return !m.ok && m.skipped; }
  /// The row's figure in repetition i: Mmsg/s for streams, p50 ns for latency.
  double figure(std::size_t i) const noexcept;
  /// max / min of the figure over the repetitions (1: one repetition).
  double spread() const noexcept;
};

/// What the runner saw of the rest of the machine, sampled before each run.
struct load_samples {
  unsigned samples = 0;
  unsigned busy = 0;  ///< samples with another runnable task
  int max_others = 0;
  void take();
};

using progress_fn = std::function<void(unsigned round, const scenario& s)>;

/// Runs one group (rows in registration order) for p.reps rounds; a row that
/// fails a repetition is failed and sits out the later rounds.
std::vector<row> run_group(const std::vector<const scenario*>& members, const scenario& probe, const plan& p,
                           load_samples& load, const progress_fn& progress);

}  // namespace bench
