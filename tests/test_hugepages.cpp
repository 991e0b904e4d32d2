// Segments on real huge pages. This binary brings its own main: it arranges
// huge pages first (root: reserve pages, mount a private hugetlbfs), skips with
// exit 77 and the reason when it cannot, runs the doctest suite in a forked
// child, and releases what it arranged whatever the child did (even a crash).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "ringport/segment.hpp"
#include "test_util.hpp"

using namespace ringport;

namespace {

constexpr unsigned arranged_pages = 4;

// KernelPageSize (bytes) of the mapping in /proc/self/smaps that contains
// addr; 0 when not found.
std::uint64_t kernel_page_size(const void* addr) {
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= a && a < hi;
      continue;
    }
    std::istringstream field(line);
    std::string key;
    std::uint64_t kb = 0;
    if (inside && field >> key >> kb && key == "KernelPageSize:") return kb * 1024;
  }
  return 0;
}

segment_options huge_pages() {
  segment_options opt;
  opt.backing = pages::huge;
  return opt;
}

}  // namespace

TEST_CASE("a pages::huge segment is mapped with huge pages") {
  const std::uint64_t huge = ringport_test::default_huge_page_bytes();
  REQUIRE(huge > 0);
  auto s = segment::create("huge", 4096, huge_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(s->info().huge_pages);
  CHECK(s->info().page_size == huge);
  CHECK(s->info().total_size % huge == 0);
  CHECK(kernel_page_size(s->payload()) == huge);
  CHECK(segment::remove("huge"));
}

TEST_CASE("a huge-page segment carries data both ways across fork") {
  const std::uint64_t huge = ringport_test::default_huge_page_bytes();
  auto s = segment::create("shared", 4096, huge_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  std::memcpy(s->payload(), "from parent", 12);
  // Exit codes: 1 open failed, 2 not on huge pages, 3 wrong data.
  const int rc = ringport_test::run_in_child([huge] {
    auto c = segment::open("shared");
    if (!c) return 1;
    if (!c->info().huge_pages || c->info().page_size != huge || kernel_page_size(c->payload()) != huge)
      return 2;
    if (std::memcmp(c->payload(), "from parent", 12) != 0) return 3;
    std::memcpy(c->payload(), "from child", 11);
    return 0;
  });
  CHECK(rc == 0);
  CHECK(std::memcmp(s->payload(), "from child", 11) == 0);
  CHECK(segment::remove("shared"));
}

TEST_CASE("a segment larger than the free huge pages fails at create, not with SIGBUS later") {
  const std::uint64_t huge = ringport_test::default_huge_page_bytes();
  std::ifstream overcommit("/proc/sys/vm/nr_overcommit_hugepages");
  long surplus = 0;
  overcommit >> surplus;
  if (surplus != 0) {
    MESSAGE("SKIP: nr_overcommit_hugepages is " << surplus << ": the kernel may hand out surplus pages");
    return;
  }
  const std::uint64_t free_pages = ringport_test::meminfo("HugePages_Free:");
  const auto size = static_cast<std::size_t>((free_pages + 1) * huge);
  auto s = segment::create("too-big", size, huge_pages());
  REQUIRE_FALSE(s);
  INFO(s.error().message);
  CHECK(s.error() == errc::no_huge_pages);
  CHECK(s.error().message.find("nr_hugepages") != std::string::npos);
  // The failed create leaves neither a file nor reserved pages behind.
  auto gone = segment::open("too-big");
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == errc::not_found);
  CHECK(ringport_test::meminfo("HugePages_Free:") == free_pages);
}

TEST_CASE("pages::any falls back to base pages when the huge pages run out") {
  const std::uint64_t free_pages = ringport_test::meminfo("HugePages_Free:");
  const std::uint64_t huge = ringport_test::default_huge_page_bytes();
  // Exit codes: 1 create failed, 2 landed on huge pages, 3 no notice.
  const int rc = ringport_test::run_in_child([&] {
    int notices = 0;
    set_notice_handler([&](std::string_view) { ++notices; });
    segment_options opt;
    opt.backing = pages::any;
    auto s = segment::create("spill", static_cast<std::size_t>((free_pages + 1) * huge), opt);
    if (!s) return 1;
    const bool on_huge = s->info().huge_pages || kernel_page_size(s->payload()) == huge;
    (void)segment::remove("spill");
    if (on_huge) return 2;
    return notices == 1 ? 0 : 3;
  });
  CHECK(rc == 0);
}

TEST_CASE("on hugetlbfs too, an opener racing a creator sees only not_found or a whole segment") {
  // Creation links the finished file into place on hugetlbfs as on tmpfs.
  const auto r = ringport_test::race_open_against_create("racing", huge_pages(), 2000);
  MESSAGE("polls ", r.polls, ": found ", r.found, " (", r.found_huge, " on huge pages), not_found ",
          r.missing, ", other ", r.other, "; creator rounds ", r.rounds);
  INFO("first other outcome: ", r.first_other);
  CHECK(r.creator_rc == 0);
  CHECK(r.other == 0);
  CHECK(r.partial == 0);
  CHECK(r.found > 0);
  CHECK(r.found_huge == r.found);
  CHECK(r.missing > 0);
  // No temporary is left behind in the hugetlbfs domain directory.
  auto left = segment::collect_temporaries({}, true);
  REQUIRE_MESSAGE(left, left.error().message);
  CHECK(left->empty());
}

int main(int argc, char** argv) {
  ringport_test::use_private_domain();
  const std::string why = ringport_test::arrange_huge_pages(arranged_pages);
  if (!why.empty()) {
    std::printf("SKIP: %s\n", why.c_str());
    ringport_test::remove_private_domain();
    return 77;
  }
  const int rc = ringport_test::run_in_child([&] {
    doctest::Context ctx(argc, argv);
    return ctx.run();
  });
  ringport_test::remove_private_domain();  // also releases the huge pages
  if (rc > 128) std::printf("test child died from signal %d\n", rc - 128);
  return rc;
}
