#include "options.hpp"

#include <fnmatch.h>

#include <cstdlib>
#include <string_view>

namespace bench {

const char* usage() {
  return "usage: ringport-bench [options]\n"
         "  --filter PATTERN  run scenarios whose scenario/impl/mode/bytes/PxC/wait key\n"
         "                    contains PATTERN (a glob on the whole key when it has * ? [;\n"
         "                    comma = or)\n"
         "  --list            print the scenario keys and exit\n"
         "  --quick           smoke-test timings (2 rounds of 10 ms repetitions)\n"
         "  --seconds S       measured seconds per repetition (default 0.15; the floor\n"
         "                    probe before each takes a fifth of it)\n"
         "  --reps N          interleaved rounds: repetitions per row and pairs per\n"
         "                    ratio (default 5)\n"
         "  --drift F         flag a pair whose floor probes differ by more than F\n"
         "                    (a fraction; default 0.25)\n"
         "  --timeout S       watchdog per repetition (default 10)\n"
         "  --no-pin          do not pin workers to CPUs\n"
         "  --json FILE       also write the results as JSON\n"
         "  --plot DIR        also write SVG plots into DIR: throughput.svg, latency.svg,\n"
         "                    scaling.svg (thread-mode rows)\n";
}

namespace {

bool to_double(const char* s, double& out) {
  char* end = nullptr;
  out = std::strtod(s, &end);
  return end != s && *end == '\0' && out > 0;
}

}  // namespace

ringport::result<options> parse_options(int argc, char** argv) {
  options o;
  bool seconds_given = false, reps_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    double d = 0;
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--no-pin") {
      o.pin = false;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--filter" && (v = value())) {
      o.filter = v;
    } else if (a == "--json" && (v = value())) {
      o.json = v;
    } else if (a == "--plot" && (v = value())) {
      o.plot = v;
    } else if (a == "--seconds" && (v = value()) && to_double(v, d)) {
      o.seconds = d;
      seconds_given = true;
    } else if (a == "--reps" && (v = value()) && to_double(v, d) && d < 1000) {
      o.reps = static_cast<unsigned>(d);
      reps_given = true;
    } else if (a == "--drift" && (v = value()) && to_double(v, d)) {
      o.drift = d;
    } else if (a == "--timeout" && (v = value()) && to_double(v, d)) {
      o.timeout = d;
    } else {
      return ringport::error(ringport::errc::invalid_argument,
                             "bad or incomplete option '" + std::string(a) + "'\n" + usage());
    }
  }
  if (o.reps == 0) return ringport::error(ringport::errc::invalid_argument, "--reps must be >= 1");
  if (o.quick) {
    if (!seconds_given) o.seconds = 0.01;
    if (!reps_given) o.reps = 2;
  }
  return o;
}

bool matches(const std::string& filter, const std::string& key) {
  if (filter.empty()) return true;
  std::size_t from = 0;
  while (from <= filter.size()) {
    std::size_t comma = filter.find(',', from);
    if (comma == std::string::npos) comma = filter.size();
    const std::string alt = filter.substr(from, comma - from);
    if (!alt.empty()) {
      const bool glob = alt.find_first_of("*?[") != std::string::npos;
      if (glob ? fnmatch(alt.c_str(), key.c_str(), 0) == 0 : key.find(alt) != std::string::npos) return true;
    }
    from = comma + 1;
  }
  return false;
}

}  // namespace bench
