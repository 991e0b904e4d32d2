// topology: the hwloc snapshot, placement choices, pinning, memory binding.
#include "ringport/topology.hpp"

#include <hwloc.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <optional>
#include <utility>

namespace ringport {

struct topology::hw {
  hwloc_topology_t topo = nullptr;
  ~hw() {
    if (topo != nullptr) hwloc_topology_destroy(topo);
  }
};

topology::topology(topology&&) noexcept = default;
topology& topology::operator=(topology&&) noexcept = default;
topology::~topology() = default;

const char* to_string(pair_kind k) noexcept {
  switch (k) {
    case pair_kind::different_cores:
      return "different cores";
    case pair_kind::different_numa_nodes:
      return "different NUMA nodes";
    case pair_kind::smt_siblings:
      return "SMT siblings";
    case pair_kind::same_pu:
      return "same PU";
  }
  return "unknown";
}

namespace {

// Owns an hwloc bitmap for the length of a scope.
struct bitmap {
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  bitmap() = default;
  bitmap(const bitmap&) = delete;
  bitmap& operator=(const bitmap&) = delete;
  ~bitmap() { hwloc_bitmap_free(b); }
};

unsigned count_of(hwloc_topology_t t, hwloc_obj_type_t type) {
  const int n = hwloc_get_nbobjs_by_type(t, type);
  return n > 0 ? static_cast<unsigned>(n) : 0U;
}

cache_ref cache_above(hwloc_topology_t t, hwloc_obj_t pu, hwloc_obj_type_t level) {
  hwloc_obj_t c = hwloc_get_ancestor_obj_by_type(t, level, pu);
  if (c == nullptr || c->attr == nullptr) return {};
  return {static_cast<int>(c->logical_index), c->attr->cache.size};
}

unsigned logical_above(hwloc_topology_t t, hwloc_obj_t pu, hwloc_obj_type_t type) {
  hwloc_obj_t o = hwloc_get_ancestor_obj_by_type(t, type, pu);
  return o != nullptr ? o->logical_index : 0U;
}

// The process's binding (every thread's affinity, united) within the
// cgroup-allowed CPUs. Falls back to the allowed set when hwloc cannot tell.
void allowed_set(hwloc_topology_t t, hwloc_bitmap_t out) {
  hwloc_bitmap_copy(out, hwloc_topology_get_allowed_cpuset(t));
  bitmap bound;
  if (hwloc_get_cpubind(t, bound.b, HWLOC_CPUBIND_PROCESS) == 0) {
    hwloc_bitmap_and(out, out, bound.b);
  }
}

std::vector<processing_unit> read_pus(hwloc_topology_t t) {
  bitmap allowed;
  allowed_set(t, allowed.b);
  std::vector<processing_unit> pus;
  const unsigned n = count_of(t, HWLOC_OBJ_PU);
  for (unsigned i = 0; i < n; ++i) {
    hwloc_obj_t o = hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, i);
    processing_unit p;
    p.cpu = o->os_index;
    // A PU with no core above it (rare, odd firmware) is its own core.
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, o);
    p.core = core != nullptr ? core->logical_index : count_of(t, HWLOC_OBJ_CORE) + i;
    p.package = logical_above(t, o, HWLOC_OBJ_PACKAGE);
    const int node = o->nodeset != nullptr ? hwloc_bitmap_first(o->nodeset) : -1;
    p.numa_node = node;
    p.l1d = cache_above(t, o, HWLOC_OBJ_L1CACHE);
    p.l2 = cache_above(t, o, HWLOC_OBJ_L2CACHE);
    p.l3 = cache_above(t, o, HWLOC_OBJ_L3CACHE);
    p.allowed = hwloc_bitmap_isset(allowed.b, o->os_index) != 0;
    pus.push_back(p);
  }
  std::sort(pus.begin(), pus.end(),
            [](const processing_unit& a, const processing_unit& b) { return a.cpu < b.cpu; });
  return pus;
}

bool shares(const cache_ref& a, const cache_ref& b) {
  return a.id >= 0 && a.id == b.id;
}

// How close two PUs are: 5 shared L1, 4 L2, 3 L3, 2 NUMA node, 1 package, 0 none.
int closeness(const processing_unit& a, const processing_unit& b) {
  if (shares(a.l1d, b.l1d)) return 5;
  if (shares(a.l2, b.l2)) return 4;
  if (shares(a.l3, b.l3)) return 3;
  if (a.numa_node >= 0 && a.numa_node == b.numa_node) return 2;
  return a.package == b.package ? 1 : 0;
}

bool same_node(const processing_unit& a, const processing_unit& b) {
  return a.numa_node >= 0 && a.numa_node == b.numa_node;
}

// The allowed pair (on different cores) with the highest score, if any.
template <class Score>
std::optional<std::pair<processing_unit, processing_unit>> best_pair(const std::vector<processing_unit>& pus,
                                                                     Score score) {
  std::optional<std::pair<processing_unit, processing_unit>> best;
  int best_score = INT_MIN;
  for (std::size_t i = 0; i < pus.size(); ++i) {
    for (std::size_t j = i + 1; j < pus.size(); ++j) {
      const auto& a = pus[i];
      const auto& b = pus[j];
      if (!a.allowed || !b.allowed || a.core == b.core) continue;
      const std::optional<int> s = score(a, b);
      if (s && *s > best_score) {
        best_score = *s;
        best = std::pair{a, b};
      }
    }
  }
  return best;
}

std::string kib(std::uint64_t bytes) {
  if (bytes >= (1ULL << 20) && bytes % (1ULL << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

struct topology_builder {
  static result<topology> load() {
    topology t;
    t.hw_ = std::make_unique<topology::hw>();
    if (hwloc_topology_init(&t.hw_->topo) != 0) {
      t.hw_->topo = nullptr;
      return system_failure("hwloc_topology_init", errno);
    }
    if (hwloc_topology_load(t.hw_->topo) != 0) return system_failure("hwloc_topology_load", errno);
    hwloc_topology_t h = t.hw_->topo;
    t.pus_ = read_pus(h);
    t.packages_ = std::max(1U, count_of(h, HWLOC_OBJ_PACKAGE));
    t.cores_ = std::max(1U, count_of(h, HWLOC_OBJ_CORE));
    t.numa_nodes_ = std::max(1U, count_of(h, HWLOC_OBJ_NUMANODE));
    if (t.pus_.empty()) return error(errc::unsupported, "hwloc reported no processing units");
    return t;
  }
};

result<topology> topology::discover() {
  return topology_builder::load();
}

std::vector<unsigned> topology::allowed_cpus() const {
  std::vector<unsigned> out;
  for (const auto& p : pus_)
    if (p.allowed) out.push_back(p.cpu);
  return out;
}

const processing_unit* topology::find(unsigned cpu) const noexcept {
  for (const auto& p : pus_)
    if (p.cpu == cpu) return &p;
  return nullptr;
}

int topology::shared_cache_level(const processing_unit& a, const processing_unit& b) const noexcept {
  if (shares(a.l1d, b.l1d)) return 1;
  if (shares(a.l2, b.l2)) return 2;
  if (shares(a.l3, b.l3)) return 3;
  return 0;
}

namespace {

cpu_pair make_pair(const topology& t, const processing_unit& a, const processing_unit& b, pair_kind kind) {
  cpu_pair p;
  p.first = a.cpu;
  p.second = b.cpu;
  p.kind = kind;
  p.shared_cache_level = t.shared_cache_level(a, b);
  return p;
}

// When no two allowed PUs sit on different cores: SMT siblings, else one PU.
result<cpu_pair> without_two_cores(const topology& t) {
  const std::vector<unsigned> cpus = t.allowed_cpus();
  if (cpus.empty()) {
    return error(errc::unsupported, "no CPU is allowed to this process (cgroup cpuset / taskset)");
  }
  const processing_unit& a = *t.find(cpus[0]);
  if (cpus.size() >= 2) {
    cpu_pair p = make_pair(t, a, *t.find(cpus[1]), pair_kind::smt_siblings);
    p.fallback = true;
    p.note = "only SMT siblings of one core are allowed; both share its pipeline";
    return p;
  }
  cpu_pair p = make_pair(t, a, a, pair_kind::same_pu);
  p.fallback = true;
  p.note = "only CPU " + std::to_string(a.cpu) + " is allowed; both roles share it";
  return p;
}

}  // namespace

result<cpu_pair> topology::closest_pair() const {
  auto best = best_pair(pus_, [](const processing_unit& a, const processing_unit& b) {
    return std::optional<int>(closeness(a, b));
  });
  if (!best) return without_two_cores(*this);
  return make_pair(*this, best->first, best->second, pair_kind::different_cores);
}

result<cpu_pair> topology::pair_on_different_cores() const {
  // Prefer one NUMA node, then as little shared cache as possible.
  auto best = best_pair(pus_, [](const processing_unit& a, const processing_unit& b) {
    return std::optional<int>((same_node(a, b) ? 100 : 0) - closeness(a, b));
  });
  if (!best) return without_two_cores(*this);
  return make_pair(*this, best->first, best->second, pair_kind::different_cores);
}

result<cpu_pair> topology::pair_on_different_numa_nodes() const {
  auto best = best_pair(pus_, [](const processing_unit& a, const processing_unit& b) {
    if (a.numa_node < 0 || b.numa_node < 0 || a.numa_node == b.numa_node) {
      return std::optional<int>();
    }
    return std::optional<int>(closeness(a, b));
  });
  if (best) return make_pair(*this, best->first, best->second, pair_kind::different_numa_nodes);
  auto alt = pair_on_different_cores();
  if (!alt) return alt;
  const std::string why = numa_nodes_ <= 1 ? "one NUMA node" : "no allowed CPUs on two NUMA nodes";
  alt->note =
      why + "; using " + to_string(alt->kind) + (alt->note.empty() ? std::string() : " (" + alt->note + ")");
  alt->fallback = true;
  return alt;
}

result<void> topology::bind_memory(void* addr, std::size_t len, int numa_node) const {
  hwloc_topology_t h = hw_->topo;
  hwloc_obj_t node = nullptr;
  for (unsigned i = 0; i < count_of(h, HWLOC_OBJ_NUMANODE); ++i) {
    hwloc_obj_t o = hwloc_get_obj_by_type(h, HWLOC_OBJ_NUMANODE, i);
    if (numa_node >= 0 && o->os_index == static_cast<unsigned>(numa_node)) node = o;
  }
  if (node == nullptr) {
    return error(errc::invalid_argument, "no NUMA node " + std::to_string(numa_node) + " on this machine");
  }
  if (numa_nodes_ <= 1 || len == 0) return {};  // nowhere else to put the pages
  const int rc = hwloc_set_area_membind(h, addr, len, node->nodeset, HWLOC_MEMBIND_BIND,
                                        HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_MIGRATE);
  if (rc != 0) return system_failure("hwloc_set_area_membind", errno);
  return {};
}

std::string topology::describe() const {
  std::string s = std::to_string(packages_) + " package(s), " + std::to_string(cores_) + " core(s), " +
                  std::to_string(pus_.size()) + " PU(s) (" + std::to_string(allowed_cpus().size()) +
                  " allowed), " + std::to_string(numa_nodes_) + " NUMA node(s)\n";
  const std::size_t shown = std::min<std::size_t>(pus_.size(), 64);
  for (std::size_t i = 0; i < shown; ++i) {
    const processing_unit& p = pus_[i];
    s += "  cpu " + std::to_string(p.cpu) + ": core " + std::to_string(p.core) + ", package " +
         std::to_string(p.package) + ", node " + std::to_string(p.numa_node);
    const std::pair<const char*, const cache_ref*> caches[] = {{"L1d", &p.l1d}, {"L2", &p.l2}, {"L3", &p.l3}};
    for (const auto& [name, c] : caches) {
      if (c->id >= 0) s += std::string(", ") + name + "#" + std::to_string(c->id) + " " + kib(c->size_bytes);
    }
    s += p.allowed ? "\n" : " (not allowed)\n";
  }
  if (shown < pus_.size()) s += "  ... " + std::to_string(pus_.size() - shown) + " more\n";
  return s;
}

// ---- pinning (sched_setaffinity; no hwloc) ----------------------------------

namespace {

struct cpu_mask {
  std::size_t count;
  cpu_set_t* set;
  explicit cpu_mask(std::size_t n) : count(std::max<std::size_t>(n, CPU_SETSIZE)), set(CPU_ALLOC(count)) {
    CPU_ZERO_S(bytes(), set);
  }
  cpu_mask(const cpu_mask&) = delete;
  cpu_mask& operator=(const cpu_mask&) = delete;
  ~cpu_mask() { CPU_FREE(set); }
  std::size_t bytes() const { return CPU_ALLOC_SIZE(count); }
};

}  // namespace

result<void> pin_this_thread(const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return error(errc::invalid_argument, "pin_this_thread: no CPU given");
  const unsigned top = *std::max_element(cpus.begin(), cpus.end());
  cpu_mask m(std::size_t{top} + 1);
  for (unsigned c : cpus) CPU_SET_S(c, m.bytes(), m.set);
  if (sched_setaffinity(0, m.bytes(), m.set) != 0) {
    const int err = errno;
    if (err == EINVAL) {
      return error(errc::invalid_argument,
                   "CPU " + std::to_string(top) +
                       " (or another of the set) is not allowed to this process: check the "
                       "cgroup cpuset and taskset, or pick from topology::allowed_cpus()");
    }
    return system_failure("sched_setaffinity", err);
  }
  return {};
}

result<void> pin_this_thread(unsigned cpu) {
  return pin_this_thread(std::vector<unsigned>{cpu});
}

result<std::vector<unsigned>> this_thread_cpus() {
  for (std::size_t n = CPU_SETSIZE; n <= (1U << 20); n *= 2) {
    cpu_mask m(n);
    if (sched_getaffinity(0, m.bytes(), m.set) != 0) {
      if (errno == EINVAL) continue;  // the kernel's mask is wider: grow
      return system_failure("sched_getaffinity", errno);
    }
    std::vector<unsigned> out;
    for (std::size_t c = 0; c < m.count; ++c)
      if (CPU_ISSET_S(c, m.bytes(), m.set)) out.push_back(static_cast<unsigned>(c));
    return out;
  }
  return error(errc::unsupported, "sched_getaffinity: CPU mask wider than 2^20 CPUs");
}

}  // namespace ringport
