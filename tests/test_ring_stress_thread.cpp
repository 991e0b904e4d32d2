// Stress, thread mode: every ring kind on every path and capacity, with the
// producers and consumers as threads of this process (a create_local ring).
// Runs under ThreadSanitizer too (ctest label "tsan"). See stress_harness.hpp.
#include <doctest/doctest.h>

#include "ringport/ring.hpp"
#include "stress_harness.hpp"

using ringport_test::stress::item;

TEST_CASE_TEMPLATE("stress, thread mode: exactly once, in order, untorn", R, ringport::spsc<item>,
                   ringport::mpsc<item>, ringport::spmc<item>, ringport::mpmc<item>) {
  ringport_test::stress::run_all<R>(ringport_test::stress::mode::threads);
}
