#include "plot.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

namespace bench {
namespace {

// Plot area inside the SVG; the legend sits to the right of it.
constexpr double width = 960, height = 520;
constexpr double left = 80, top = 60, plot_w = 560, plot_h = 380;
constexpr const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
                                   "#8c6d31", "#843c39", "#7b4173", "#3182bd"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A short label for a value on an axis: 10M, 20k, 4096, 0.25.
std::string tick_label(double v) {
  char buf[32];
  if (v >= 1e6 && std::fmod(v, 1e6) == 0)
    std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  else if (v >= 1e3 && std::fmod(v, 1e3) == 0)
    std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Maps data values to pixels along one axis.
struct axis {
  bool log = false;
  double lo = 0, hi = 1;
  double pos(double v) const {
    if (log) v = std::log10(std::max(v, 1e-12));
    return hi > lo ? (v - lo) / (hi - lo) : 0.5;
  }
};

axis make_axis(const std::vector<double>& values, bool log) {
  axis a;
  a.log = log;
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (log) {
    a.lo = std::floor(std::log10(std::max(lo, 1e-12)));
    a.hi = std::ceil(std::log10(std::max(hi, 1e-12)));
    if (a.hi <= a.lo) a.hi = a.lo + 1;
  } else {
    a.lo = std::min(0.0, lo);
    a.hi = hi > a.lo ? hi * 1.05 : a.lo + 1;
  }
  return a;
}

// Decades of a log axis, or five steps of a linear one.
std::vector<double> y_ticks(const axis& a) {
  std::vector<double> t;
  if (a.log) {
    for (double e = a.lo; e <= a.hi + 1e-9; e += 1) t.push_back(std::pow(10.0, e));
  } else {
    for (int i = 0; i <= 5; ++i) t.push_back(a.lo + (a.hi - a.lo) * i / 5);
  }
  return t;
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor = "middle",
          int size = 12, const char* extra = "") {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\"" + extra + ">" + escape(s) + "</text>\n";
}

}  // namespace

std::string render_svg(const plot_chart& c) {
  std::vector<double> xs, ys;
  for (const auto& s : c.series)
    for (const auto& [x, y] : s.points) xs.push_back(x), ys.push_back(y);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" font-family=\"sans-serif\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(out, left, 24, c.title, "start", 16, " font-weight=\"bold\"");
  text(out, left, 44, c.subtitle, "start", 11, " fill=\"#555\"");
  if (xs.empty()) {
    text(out, left + plot_w / 2, top + plot_h / 2, "no rows of this kind in the run");
    return out + "</svg>\n";
  }
  const axis ax = make_axis(xs, c.log_x), ay = make_axis(ys, c.log_y);
  auto px = [&](double x) { return left + ax.pos(x) * plot_w; };
  auto py = [&](double y) { return top + plot_h - ay.pos(y) * plot_h; };

  out += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(plot_w) + "\" height=\"" +
         num(plot_h) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double v : y_ticks(ay)) {
    out += "<line x1=\"" + num(left) + "\" x2=\"" + num(left + plot_w) + "\" y1=\"" + num(py(v)) +
           "\" y2=\"" + num(py(v)) + "\" stroke=\"#ddd\"/>\n";
    text(out, left - 6, py(v) + 4, tick_label(v), "end", 11);
  }
  std::vector<std::pair<double, std::string>> xt = c.x_ticks;
  if (xt.empty())
    for (double x : std::set<double>(xs.begin(), xs.end())) xt.emplace_back(x, tick_label(x));
  for (const auto& [v, label] : xt) {
    out += "<line x1=\"" + num(px(v)) + "\" x2=\"" + num(px(v)) + "\" y1=\"" + num(top) + "\" y2=\"" +
           num(top + plot_h) + "\" stroke=\"#eee\"/>\n";
    text(out, px(v), top + plot_h + 16, label, "middle", 11);
  }
  text(out, left + plot_w / 2, top + plot_h + 40, c.x_label);
  text(out, 18, top + plot_h / 2, c.y_label, "middle", 12,
       (" transform=\"rotate(-90 18 " + num(top + plot_h / 2) + ")\"").c_str());

  for (std::size_t i = 0; i < c.series.size(); ++i) {
    const plot_series& s = c.series[i];
    const std::string color = palette[i % std::size(palette)];
    std::string pts;
    for (const auto& [x, y] : s.points) pts += num(px(x)) + "," + num(py(y)) + " ";
    out += "<g class=\"series\" data-label=\"" + escape(s.label) + "\">\n";
    out += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    for (const auto& [x, y] : s.points)
      out += "<circle cx=\"" + num(px(x)) + "\" cy=\"" + num(py(y)) + "\" r=\"3\" fill=\"" + color + "\"/>\n";
    const double ly = top + 8 + 18 * static_cast<double>(i);
    const double lx = left + plot_w + 20;
    out += "<line x1=\"" + num(lx) + "\" x2=\"" + num(lx + 20) + "\" y1=\"" + num(ly) + "\" y2=\"" + num(ly) +
           "\" stroke=\"" + color + "\" stroke-width=\"2\"/>\n";
    text(out, lx + 26, ly + 4, s.label, "start", 11);
    out += "</g>\n";
  }
  return out + "</svg>\n";
}

namespace {

// The label of a row's line: its implementation, plus the wait when that
// implementation has rows with several waits in the chart.
std::string series_label(const scenario& s, const std::map<std::string, std::set<std::string>>& waits) {
  auto it = waits.find(s.impl);
  return it != waits.end() && it->second.size() > 1 ? s.impl + " (" + s.wait + ")" : s.impl;
}

template <class Pick, class Point>
plot_chart chart_of(const std::vector<row>& rows, Pick pick, Point point) {
  std::map<std::string, std::set<std::string>> waits;
  for (const row& r : rows)
    if (r.ok() && pick(*r.sc)) waits[r.sc->impl].insert(r.sc->wait);
  std::map<std::string, plot_series> lines;
  for (const row& r : rows) {
    if (!r.ok() || !pick(*r.sc)) continue;
    plot_series& s = lines[series_label(*r.sc, waits)];
    s.label = series_label(*r.sc, waits);
    point(r, s.points);
  }
  plot_chart c;
  for (auto& [label, s] : lines) {
    std::sort(s.points.begin(), s.points.end());
    if (!s.points.empty()) c.series.push_back(std::move(s));
  }
  return c;
}

bool write_file(const std::string& path, const std::string& body, std::string* err) {
  std::ofstream f(path, std::ios::trunc);
  f << body;
  f.close();
  if (f) return true;
  if (err) *err = "cannot write " + path;
  return false;
}

}  // namespace

bool write_plots(const std::string& dir, const std::vector<row>& rows, const std::string& subtitle,
                 std::string* err) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    if (err) *err = "mkdir " + dir + ": " + std::strerror(errno);
    return false;
  }
  const std::size_t default_capacity = 1024;
  auto mops = [](const row& r, std::vector<std::pair<double, double>>& pts) {
    pts.emplace_back(static_cast<double>(r.sc->msg_bytes), r.m.mops());
  };
  plot_chart tp = chart_of(
      rows,
      [&](const scenario& s) {
        return s.name == "throughput" && s.mode == run_mode::thread && s.producers == 1 && s.consumers == 1 &&
               (s.capacity == 0 || s.capacity == default_capacity);
      },
      mops);
  tp.title = "Throughput by message size (thread mode, 1 producer, 1 consumer)";
  tp.x_label = "message size (bytes)";
  tp.y_label = "million messages per second";
  tp.log_x = tp.log_y = true;

  static const char* pct[] = {"p50", "p90", "p99", "p99.9", "max"};
  plot_chart lat = chart_of(
      rows,
      [](const scenario& s) {
        return s.name == "pingpong" && s.mode == run_mode::thread && s.msg_bytes == 8;
      },
      [](const row& r, std::vector<std::pair<double, double>>& pts) {
        if (!r.m.has_rtt) return;
        for (int i = 0; i < 5; ++i) pts.emplace_back(i, static_cast<double>(r.m.rtt_ns[i]));
      });
  lat.title = "Round-trip latency percentiles (thread mode, 8-byte ping-pong)";
  lat.x_label = "percentile";
  lat.y_label = "round trip (ns)";
  lat.log_y = true;
  for (int i = 0; i < 5; ++i) lat.x_ticks.emplace_back(i, pct[i]);

  plot_chart sc = chart_of(
      rows, [](const scenario& s) { return s.name == "scaling" && s.mode == run_mode::thread; },
      [](const row& r, std::vector<std::pair<double, double>>& pts) {
        pts.emplace_back(static_cast<double>(r.sc->producers), r.m.mops());
      });
  sc.title = "MPMC scaling (thread mode, 64-byte messages, P producers x P consumers)";
  sc.x_label = "producers = consumers";
  sc.y_label = "million messages per second";
  sc.log_x = true;

  for (plot_chart* c : {&tp, &lat, &sc}) c->subtitle = subtitle;
  return write_file(dir + "/throughput.svg", render_svg(tp), err) &&
         write_file(dir + "/latency.svg", render_svg(lat), err) &&
         write_file(dir + "/scaling.svg", render_svg(sc), err);
}

}  // namespace bench
