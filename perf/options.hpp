// ringport-bench command line.
#pragma once

#include <string>

#include "ringport/result.hpp"

namespace bench {

struct options {
  std::string filter;  ///< substring, or glob when it has * ? [, on scenario::key()
  std::string json;    ///< write results here too
  std::string plot;    ///< write SVG plots into this directory too (plot.hpp)
  bool quick = false;  ///< smoke-test timings: the whole suite in seconds
  bool list = false;   ///< print the scenario keys and exit
  bool pin = true;
  bool help = false;
  double seconds = 0.15;  ///< per repetition
  unsigned reps = 5;      ///< interleaved rounds (pairs per ratio)
  double drift = 0.25;    ///< floor change that flags a pair
  double timeout = 10;    ///< per repetition
};

ringport::result<options> parse_options(int argc, char** argv);
const char* usage();
/// Does `key` pass the filter? Comma-separated alternatives; an empty filter passes all.
bool matches(const std::string& filter, const std::string& key);

}  // namespace bench
