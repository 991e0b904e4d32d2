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
  // spsc: 1P/1C, one message per call and batches, next to boost spsc_queue.
  add_throughput<rp_spsc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<rp_spsc_batch, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<rp_spsc_64k, 8>(r, 1, 1);
  add_pingpong<rp_spsc>(r);

  // Wait policies (the spin-yield rows above use try_push/try_pop).
  add_throughput<rp_spsc_busy_spin, 8>(r, 1, 1);
  add_throughput<rp_spsc_adaptive, 8>(r, 1, 1);
  add_throughput<rp_spsc_block, 8>(r, 1, 1);
  add_pingpong<rp_spsc_busy_spin>(r);
  add_pingpong<rp_spsc_adaptive>(r);
  add_pingpong<rp_spsc_block>(r);

  // mpmc 1P/1C next to boost::lockfree::queue; mpsc and spmc.
  add_throughput<rp_mpmc, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<rp_mpmc_batch, 8, 64, 512, 4096>(r, 1, 1);
  add_throughput<rp_mpmc_64k, 8>(r, 1, 1);
  add_pingpong<rp_mpmc>(r);
  add_throughput<rp_mpsc, 64>(r, 1, 1);
  add_throughput<rp_mpsc, 64>(r, 4, 1);
  add_throughput<rp_mpsc_block, 64>(r, 4, 1);
  add_throughput<rp_spmc, 64>(r, 1, 1);
  add_throughput<rp_spmc, 64>(r, 1, 4);
  add_throughput<rp_spmc_block, 64>(r, 1, 4);

  // MPMC scaling, P x C = 1x1, 2x2, 4x4 (boost's rows are in peers.cpp).
  const row_options scaling{"scaling"};
  for (unsigned n : {1U, 2U, 4U}) add_throughput<rp_mpmc_block, 64>(r, n, n, scaling);
  for (unsigned n : {2U, 4U}) add_throughput<rp_mpmc, 64>(r, n, n, scaling);

  // Mailboxes: throughput, round trip, and one-way latency (next to mq and
  // uds, whose oneway rows are in peers.cpp).
  add_throughput<mailbox_channel, 8, 64, 512, 4096>(r, 1, 1);
  add_pingpong<mailbox_channel, 8, 64, 512, 4096>(r);
  add_oneway<mailbox_channel, 64, 4096>(r);
}

}  // namespace bench
