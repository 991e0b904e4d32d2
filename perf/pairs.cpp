// ringport-pairs IMPL PAIRS: one thread does PAIRS try_push + try_pop pairs
// of 8-byte items on a queue of 1024 slots, then prints the sum of what it
// popped (checked, so the loop cannot be optimised away or be wrong).
// perf/callgrind_pairs.sh runs it under callgrind at two PAIRS counts and
// divides the difference: instructions per pair, set-up excluded.
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "ref_spsc.hpp"
#include "ringport/ring.hpp"
#include "ringport/segment.hpp"
#if RINGPORT_BENCH_HAVE_RWQ
#include <readerwriterqueue/readerwriterqueue.h>
#endif
#if RINGPORT_BENCH_HAVE_CQ
#include <concurrentqueue/concurrentqueue.h>
#endif

namespace {

using item = std::uint64_t;
constexpr std::size_t slots = 1024;
constexpr std::uint64_t failed = ~0ULL;

// The measured loop: push i, pop it back, add it up.
template <class Push, class Pop>
std::uint64_t pairs(std::uint64_t n, Push&& push, Pop&& pop) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    item v = 0;
    if (!push(i) || !pop(v)) return failed;
    sum += v;
  }
  return sum;
}

template <class Ring>
std::uint64_t ringport_pairs(std::uint64_t n) {
  auto r = Ring::create_local(slots);
  if (!r) return failed;
  auto p = r->producer();
  auto c = r->consumer();
  if (!p || !c) return failed;
  // The handles themselves, as a user holds them: result<>'s checked
  // operator-> in the loop would be counted as the ring's.
  auto& tx = *p;
  auto& rx = *c;
  return pairs(
      n, [&](item v) { return tx.try_push(v) == ringport::status::ok; },
      [&](item& v) { return rx.try_pop(v) == ringport::status::ok; });
}

template <class Queue>
std::uint64_t push_pop_pairs(std::uint64_t n, Queue& q) {
  return pairs(
      n, [&](item v) { return q.push(v); }, [&](item& v) { return q.pop(v); });
}

std::uint64_t run(const char* impl, std::uint64_t n) {
  if (std::strcmp(impl, "ringport-spsc") == 0) return ringport_pairs<ringport::spsc<item>>(n);
  if (std::strcmp(impl, "ringport-mpmc") == 0) return ringport_pairs<ringport::mpmc<item>>(n);
  if (std::strcmp(impl, "boost-spsc") == 0) {
    auto q = std::make_unique<boost::lockfree::spsc_queue<item, boost::lockfree::capacity<slots>>>();
    return push_pop_pairs(n, *q);
  }
  if (std::strcmp(impl, "boost-mpmc") == 0) {
    auto q = std::make_unique<boost::lockfree::queue<item, boost::lockfree::capacity<slots>>>();
    return push_pop_pairs(n, *q);
  }
  if (std::strcmp(impl, "ref-spsc") == 0) {
    auto q = std::make_unique<bench::ref_spsc_ring<item, slots>>();
    return pairs(
        n, [&](item v) { return q->try_push(v); }, [&](item& v) { return q->try_pop(v); });
  }
  if (std::strcmp(impl, "ref-spsc-turns") == 0) {
    auto q = std::make_unique<bench::ref_turn_ring<item, slots>>();
    return pairs(
        n, [&](item v) { return q->try_push(v); }, [&](item& v) { return q->try_pop(v); });
  }
#if RINGPORT_BENCH_HAVE_RWQ
  if (std::strcmp(impl, "moodycamel-rwq") == 0) {
    moodycamel::ReaderWriterQueue<item> q(slots);
    return pairs(
        n, [&](item v) { return q.try_enqueue(v); }, [&](item& v) { return q.try_dequeue(v); });
  }
#endif
#if RINGPORT_BENCH_HAVE_CQ
  if (std::strcmp(impl, "moodycamel-cq") == 0) {
    moodycamel::ConcurrentQueue<item> q(slots, 0, 1);  // token-less, as the bench uses it
    return pairs(
        n, [&](item v) { return q.try_enqueue(v); }, [&](item& v) { return q.try_dequeue(v); });
  }
#endif
  std::fprintf(stderr, "ringport-pairs: unknown or unavailable impl '%s'\n", impl);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ringport-pairs IMPL PAIRS\n");
    return 2;
  }
  ringport::set_notice_handler([](std::string_view) {});  // the huge-page fallback notice
  const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
  const std::uint64_t sum = run(argv[1], n);
  const std::uint64_t want = n == 0 ? 0 : n * (n - 1) / 2;
  std::printf("%s %llu pairs, sum %llu\n", argv[1], static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(sum));
  if (sum != want) {
    std::fprintf(stderr, "ringport-pairs: %s: wrong sum (want %llu)\n", argv[1],
                 static_cast<unsigned long long>(want));
    return 1;
  }
  return 0;
}
