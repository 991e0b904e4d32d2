// topology: enumeration agrees with the kernel, pinning takes effect, and the
// chosen placements exist and are allowed. Deterministic; nothing is timed.
#include <doctest/doctest.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "ringport/topology.hpp"

namespace {

std::vector<unsigned> affinity_now() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  std::vector<unsigned> out;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

ringport::topology discover() {
  auto t = ringport::topology::discover();
  REQUIRE_MESSAGE(t.has_value(), (t ? "" : t.error().message));
  return std::move(*t);
}

void check_pair(const ringport::topology& t, const ringport::cpu_pair& p) {
  const auto* a = t.find(p.first);
  const auto* b = t.find(p.second);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->allowed);
  CHECK(b->allowed);
  const std::size_t allowed = t.allowed_cpus().size();
  if (allowed >= 2) {
    CHECK(p.first != p.second);
  } else {
    CHECK(p.kind == ringport::pair_kind::same_pu);
    CHECK(p.fallback);
  }
  if (p.kind == ringport::pair_kind::different_cores) CHECK(a->core != b->core);
  if (p.kind == ringport::pair_kind::smt_siblings) CHECK(a->core == b->core);
  CHECK(p.fallback == !p.note.empty());
}

}  // namespace

TEST_CASE("enumeration agrees with the kernel and the allowed cpuset") {
  const auto before = affinity_now();
  const auto t = discover();
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  REQUIRE(online > 0);
  CHECK(t.pus().size() <= static_cast<std::size_t>(online));
  CHECK(t.allowed_cpus() == before);
  CHECK(t.core_count() >= 1);
  CHECK(t.core_count() <= t.pus().size());
  CHECK(t.package_count() >= 1);
  CHECK(t.numa_node_count() >= 1);
  std::set<unsigned> cores;
  for (const auto& p : t.pus()) {
    cores.insert(p.core);
    CHECK(p.numa_node >= 0);
    if (p.l2.id >= 0) CHECK(p.l2.size_bytes > 0);
  }
  CHECK(cores.size() == t.core_count());
  CHECK_FALSE(t.describe().empty());
}

TEST_CASE("pin_this_thread restricts the affinity to exactly that CPU") {
  const auto t = discover();
  const auto allowed = t.allowed_cpus();
  REQUIRE_FALSE(allowed.empty());
  const auto original = affinity_now();

  SUBCASE("calling thread") {
    const unsigned cpu = allowed.back();
    auto r = ringport::pin_this_thread(cpu);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK(affinity_now() == std::vector<unsigned>{cpu});
    auto mine = ringport::this_thread_cpus();
    REQUIRE(mine.has_value());
    CHECK(*mine == std::vector<unsigned>{cpu});
    CHECK(static_cast<unsigned>(sched_getcpu()) == cpu);
    REQUIRE(ringport::pin_this_thread(original).has_value());
    CHECK(affinity_now() == original);
  }
  SUBCASE("a second thread, leaving the first alone") {
    const unsigned cpu = allowed.front();
    std::vector<unsigned> seen;
    bool pinned = false;
    std::thread th([&] {
      pinned = ringport::pin_this_thread(cpu).has_value();
      seen = affinity_now();
    });
    th.join();
    CHECK(pinned);
    CHECK(seen == std::vector<unsigned>{cpu});
    CHECK(affinity_now() == original);
  }
}

TEST_CASE("pinning to a CPU outside the allowed set fails with a reason") {
  auto r = ringport::pin_this_thread(static_cast<unsigned>(CPU_SETSIZE) + 7);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == ringport::errc::invalid_argument);
  CHECK_FALSE(r.error().message.empty());
  auto none = ringport::pin_this_thread(std::vector<unsigned>{});
  CHECK_FALSE(none.has_value());
}

TEST_CASE("placements exist, are distinct and allowed") {
  const auto t = discover();
  auto closest = t.closest_pair();
  REQUIRE(closest.has_value());
  check_pair(t, *closest);
  auto apart = t.pair_on_different_cores();
  REQUIRE(apart.has_value());
  check_pair(t, *apart);
  // The closest pair shares at least as much cache as the spread one.
  const int c = closest->shared_cache_level == 0 ? 99 : closest->shared_cache_level;
  const int a = apart->shared_cache_level == 0 ? 99 : apart->shared_cache_level;
  CHECK(c <= a);

  auto numa = t.pair_on_different_numa_nodes();
  REQUIRE(numa.has_value());
  check_pair(t, *numa);
  if (t.numa_node_count() == 1) {
    CHECK(numa->fallback);
    CHECK(numa->kind != ringport::pair_kind::different_numa_nodes);
  } else if (!numa->fallback) {
    CHECK(t.find(numa->first)->numa_node != t.find(numa->second)->numa_node);
  }
}

TEST_CASE("bind_memory: node 0 accepted, unknown node refused") {
  const auto t = discover();
  const std::size_t len = 4 * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  const int node = t.pus().front().numa_node;
  auto ok = t.bind_memory(p, len, node);
  CHECK_MESSAGE(ok.has_value(), (ok ? "" : ok.error().message));
  auto bad = t.bind_memory(p, len, 4096);
  CHECK_FALSE(bad.has_value());
  CHECK(bad.error() == ringport::errc::invalid_argument);
  munmap(p, len);
}
