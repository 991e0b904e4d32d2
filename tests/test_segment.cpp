#include <doctest/doctest.h>

#include <cstring>

#include "ringport/segment.hpp"
#include "test_util.hpp"

using namespace ringport;

TEST_CASE("segment round trip across fork") {
  segment_options opt;
  opt.backing = pages::normal;
  auto s = segment::create("rt", 4096, opt);
  REQUIRE_MESSAGE(s, s.error().message);
  std::memcpy(s->payload(), "parent", 7);
  const int rc = ringport_test::run_in_child([] {
    auto c = segment::open("rt");
    if (!c || std::memcmp(c->payload(), "parent", 7) != 0) return 1;
    std::memcpy(c->payload(), "child", 6);
    return 0;
  });
  CHECK(rc == 0);
  CHECK(std::memcmp(s->payload(), "child", 6) == 0);
  CHECK(segment::remove("rt"));
}
