// Example 1: a producer and a consumer process through a named shared-memory
// ring (ringport::spsc<T>). The producer pushes 1,000,000 readings; the
// consumer pops them in order and checks the running total.
#include <cstdint>
#include <cstdio>

#include "example_util.hpp"
#include "ringport/ring.hpp"

namespace {

struct reading {
  std::uint64_t seq;
  double value;
};

constexpr std::uint64_t count = 1000000;

int consume() {
  auto ring = ringport::spsc<reading>::open("pipeline");
  if (!ring) return std::fprintf(stderr, "consumer: %s\n", ring.error().message.c_str()), 1;
  auto in = ring->consumer();
  if (!in) return std::fprintf(stderr, "consumer: %s\n", in.error().message.c_str()), 1;
  double total = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    reading r{};
    if (in->pop(r) != ringport::status::ok || r.seq != i)
      return std::fprintf(stderr, "consumer: lost order\n"), 1;
    total += r.value;
  }
  const double want = static_cast<double>(count) * (count - 1) / 2 * 0.5;
  std::printf("consumer: %llu readings, total %.1f\n", static_cast<unsigned long long>(count), total);
  return total == want ? 0 : 1;
}

}  // namespace

int main() {
  const std::string domain = example::private_domain();
  ringport::ring_options opt;
  opt.capacity = 4096;
  opt.backing = ringport::pages::normal;
  auto ring = ringport::spsc<reading>::create("pipeline", opt);
  if (!ring) return std::fprintf(stderr, "producer: %s\n", ring.error().message.c_str()), 1;
  const pid_t consumer = example::spawn(consume);
  auto out = ring->producer();
  if (!out) return std::fprintf(stderr, "producer: %s\n", out.error().message.c_str()), 1;
  for (std::uint64_t i = 0; i < count; ++i)
    if (out->push(reading{i, static_cast<double>(i) * 0.5}) != ringport::status::ok) return 1;
  const bool ok = example::succeeded(consumer);
  example::remove_domain(domain);
  std::printf("ring_pipeline: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
