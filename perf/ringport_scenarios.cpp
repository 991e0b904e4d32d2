// ringport's own rings as bench rows, next to the peers of peers.cpp.
#include <unistd.h>

#include <atomic>

#include "ringport_channels.hpp"

namespace bench {

std::string bench_ring_name() {
  static std::atomic<unsigned> n{0};
  return "bench-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

void register_ringport(registry& r) {
  add_throughput<rp_spsc, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<rp_spsc>(r);
  add_pingpong<rp_spsc_adaptive>(r);
  add_throughput<rp_mpmc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<rp_mpmc, 64>(r, 2, 2);
  add_pingpong<rp_mpmc>(r);
}

}  // namespace bench
