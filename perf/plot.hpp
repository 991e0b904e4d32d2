// ringport-bench --plot DIR: the results as SVG line charts, written by the
// program itself (no plotting dependency). Three files, thread-mode rows:
//   throughput.svg  Mmsg/s against message size, one line per implementation
//                   (1x1 rows of the default capacity);
//   latency.svg     round-trip percentiles p50 .. max of the 8-byte
//                   ping-pong rows, one line per implementation;
//   scaling.svg     Mmsg/s against producers = consumers (mpmc scaling rows).
// Both axes that span decades are logarithmic. Failed rows are left out.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runner.hpp"

namespace bench {

/// One line of a chart: (x, y) points in x order.
struct plot_series {
  std::string label;
  std::vector<std::pair<double, double>> points;
};

struct plot_chart {
  std::string title, subtitle, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<std::pair<double, std::string>> x_ticks;  ///< empty: ticks at the points' x values
  std::vector<plot_series> series;
};

/// The chart as a standalone SVG document (the series in a legend).
std::string render_svg(const plot_chart& c);

/// Writes the three charts into dir (made if missing); false with *err when
/// a file cannot be written. `subtitle` names the machine and the run.
bool write_plots(const std::string& dir, const std::vector<row>& rows, const std::string& subtitle,
                 std::string* err);

}  // namespace bench
