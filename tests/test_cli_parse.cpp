// The ringport tool's parsers (runtime/cli/parse.hpp) on their own: strict
// digits, each option's range and its edges, overflow-free deadlines, and
// the option splitter. test_cli.sh checks the same refusals end to end.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "parse.hpp"

using namespace ringport::cli;
using clock_type = std::chrono::steady_clock;

TEST_CASE("numbers are decimal digits only") {
  for (std::string_view bad : {" 8", "+8", "-8", "8 ", "0x8", "", "8ms", "1e3", "8\n", "\xd9\xa3"}) {
    CAPTURE(bad);
    const auto p = parse_number(bad, 0, 100, "--n");
    CHECK_FALSE(p);
    CHECK(p.error.find("--n") != std::string::npos);
  }
  CHECK(*parse_number("0", 0, 100, "--n") == 0);
  CHECK(*parse_number("008", 0, 100, "--n") == 8);
  CHECK(*parse_number("100", 0, 100, "--n") == 100);
}

TEST_CASE("each range is enforced at both edges, without wrapping") {
  CHECK_FALSE(parse_number("101", 0, 100, "--n"));
  CHECK_FALSE(parse_number("4", 5, 100, "--n"));
  CHECK_FALSE(parse_number("5", 0, 0, "--n"));
  CHECK(*parse_number("18446744073709551615", 0, UINT64_MAX, "--n") == UINT64_MAX);
  CHECK_FALSE(parse_number("18446744073709551616", 0, UINT64_MAX, "--n"));
  CHECK_FALSE(parse_number("99999999999999999999999999999999", 0, UINT64_MAX, "--n"));
  // Past the range, a later non-digit still reads as "not a number".
  CHECK(parse_number("99999999999999999999999x", 0, 100, "--n").error.find("digits") != std::string::npos);
}

TEST_CASE("the options' documented ranges") {
  CHECK(parse_timeout("0")->count() == 0);
  CHECK(parse_timeout("2592000000")->count() == 2592000000);
  for (std::string_view bad : {"2592000001", "9223372036855", "18446744073709551615", " 8", "+8"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_timeout(bad));
  }
  CHECK_FALSE(parse_count("0"));
  CHECK(*parse_count("4294967295") == 4294967295u);
  CHECK_FALSE(parse_count("4294967296"));
  CHECK_FALSE(parse_capacity("0"));
  CHECK(*parse_capacity("4294967296") == (1ULL << 32));
  CHECK_FALSE(parse_capacity("4294967297"));
  CHECK_FALSE(parse_max_size("0"));
  CHECK(*parse_max_size("16777200") == 16777200u);
  CHECK_FALSE(parse_max_size("16777201"));
  CHECK(*parse_pages("huge") == ringport::pages::huge);
  CHECK_FALSE(parse_pages("Huge"));
  CHECK_FALSE(parse_pages(""));
}

TEST_CASE("deadlines never overflow") {
  const auto now = clock_type::now();
  CHECK(deadline_after(now, std::chrono::milliseconds(0)) == now);
  CHECK(deadline_after(now, std::chrono::milliseconds(-5)) == now);
  CHECK(deadline_after(now, std::chrono::milliseconds(1500)) - now == std::chrono::milliseconds(1500));
  CHECK(deadline_after(now, std::chrono::milliseconds(timeout_max_ms)) > now);
  CHECK(deadline_after(now, std::chrono::milliseconds::max()) == clock_type::time_point::max());
  CHECK(deadline_after(clock_type::time_point::max(), std::chrono::milliseconds(1)) ==
        clock_type::time_point::max());
  const auto before_max = clock_type::time_point::max() - std::chrono::milliseconds(10);
  CHECK(deadline_after(before_max, std::chrono::milliseconds(9)) ==
        before_max + std::chrono::milliseconds(9));
  CHECK(deadline_after(before_max, std::chrono::milliseconds(11)) == clock_type::time_point::max());
  CHECK(deadline_after(clock_type::time_point::min(), std::chrono::milliseconds(1)) ==
        clock_type::time_point::min() + std::chrono::milliseconds(1));
}

TEST_CASE("the option splitter") {
  const option_spec specs[] = {{"--count", "-n", true}, {"--raw", "", false}};
  auto run = [&](std::vector<std::string_view> argv) { return parse_args(argv, specs); };
  auto a = run({"box", "-n", "3", "--raw", "--domain=d", "--", "--raw"});
  REQUIRE(a);
  CHECK(a->get("--count") == "3");
  CHECK(a->has("--raw"));
  CHECK(a->get("--domain") == "d");
  CHECK(a->positional == std::vector<std::string>{"box", "--raw"});
  CHECK(run({"-"})->positional == std::vector<std::string>{"-"});
  CHECK(run({"--count"}).error.find("needs a value") != std::string::npos);
  CHECK(run({"--raw=1"}).error.find("takes no value") != std::string::npos);
  CHECK(run({"--bogus"}).error.find("unknown option") != std::string::npos);
  CHECK(run({"--count", "1", "--count", "2"})->get("--count") == "2");
}

TEST_CASE("top, ring and tap options (issue 12 item 9)") {
  CHECK_FALSE(parse_interval("0"));
  CHECK(parse_interval("1")->count() == 1);
  CHECK(parse_interval("3600000")->count() == 3600000);
  CHECK_FALSE(parse_interval("3600001"));
  CHECK(parse_interval("1s").error.find("--interval") != std::string::npos);
  CHECK(*parse_ring_kind("spsc") == ringport::object_kind::spsc);
  CHECK(*parse_ring_kind("mpsc") == ringport::object_kind::mpsc);
  CHECK(*parse_ring_kind("spmc") == ringport::object_kind::spmc);
  CHECK(*parse_ring_kind("mpmc") == ringport::object_kind::mpmc);
  for (std::string_view bad : {"mailbox", "SPSC", "", "raw", "node"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ring_kind(bad));
  }
  CHECK_FALSE(parse_slot_size("0"));
  CHECK(*parse_slot_size("1") == 1u);
  CHECK(*parse_slot_size("16777216") == (1u << 24));
  CHECK_FALSE(parse_slot_size("16777217"));
}

TEST_CASE("create --if-exists (issue 12 item 4)") {
  CHECK(*parse_if_exists("fail") == ringport::existing::fail);
  CHECK(*parse_if_exists("open") == ringport::existing::open);
  CHECK(*parse_if_exists("replace") == ringport::existing::replace);
  for (std::string_view bad : {"", "Replace", "replace-if-unused", "yes"}) {
    CAPTURE(bad);
    CHECK(parse_if_exists(bad).error.find("--if-exists") != std::string::npos);
  }
}
