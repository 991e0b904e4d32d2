// The packaging tests' user of the topology library (ringport::topology,
// pkg-config ringport-topology): it must link, with hwloc, from the
// installed files, and find at least one CPU to pin to.
#include <cstdio>
#include <ringport/topology.hpp>

int main() {
  auto topo = ringport::topology::discover();
  if (!topo) return std::fprintf(stderr, "topology consumer: %s\n", topo.error().message.c_str()), 1;
  auto pair = topo->closest_pair();
  if (!pair) return std::fprintf(stderr, "topology consumer: %s\n", pair.error().message.c_str()), 1;
  if (auto pinned = ringport::pin_this_thread(pair->first); !pinned)
    return std::fprintf(stderr, "topology consumer: %s\n", pinned.error().message.c_str()), 1;
  std::printf("topology consumer: ok (CPUs %u and %u)\n", pair->first, pair->second);
  return 0;
}
