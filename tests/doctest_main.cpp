// One doctest main for every test binary, plus the shared test environment:
// each test process gets its own ringport domain, removed at exit.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test_util.hpp"

int main(int argc, char** argv) {
  ringport_test::use_private_domain();
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  ringport_test::remove_private_domain();
  return rc;
}
