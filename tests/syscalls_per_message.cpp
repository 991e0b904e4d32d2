// A steady one-producer, one-consumer run: N messages (default 10 million)
// through an spsc ring, both handles with the adaptive policy and the
// blocking push()/pop(). run_syscall_count.sh runs it under `strace -f -c`
// and checks that system calls stay far below one per message: the data
// path makes none while nobody waits, and a waiter only parks (a few calls)
// after its spin and yield budgets are spent.
//
// usage: syscalls_per_message [messages] [--after-dead-waiter]
// --after-dead-waiter: first a consumer process parks in pop() on the empty
// ring and is killed there (SIGKILL), as a crash would; its role is then
// taken over. The run that follows must be as quiet as a fresh one: a
// waiter's registration may not outlive the waiter.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "ringport/ring.hpp"

using namespace ringport;

namespace {

bool parked_in_futex(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  return static_cast<bool>(in >> nr) && nr == SYS_futex;
}

// Forks a consumer that parks in pop() on the (empty) ring, SIGKILLs it
// there and reaps it. False if it never parked.
bool kill_a_parked_consumer(const spsc<std::uint64_t>& ring) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto c = ring.consumer(wait_policy::block);
    std::uint64_t v = 0;
    if (c) (void)c->pop(v);
    ::_exit(1);
  }
  bool parked = false;
  for (int i = 0; i < 20'000 && !(parked = parked_in_futex(pid)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return parked;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const bool after_dead_waiter = argc > 2 && std::strcmp(argv[2], "--after-dead-waiter") == 0;
  auto r = spsc<std::uint64_t>::create_local(1024, pages::normal);
  if (!r) {
    std::fprintf(stderr, "create_local: %s\n", r.error().message.c_str());
    return 1;
  }
  if (after_dead_waiter && !kill_a_parked_consumer(*r)) {
    std::fprintf(stderr, "FAILED: the consumer process never parked\n");
    return 1;
  }
  auto p = r->producer(wait_policy::adaptive);
  auto c = r->consumer(wait_policy::adaptive);
  if (!p || !c) return 1;

  bool pushed_all = true;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < n && pushed_all; ++i) pushed_all = p->push(i) == status::ok;
  });
  std::uint64_t received = 0;
  for (std::uint64_t v = 0; received < n; ++received)
    if (c->pop(v) != status::ok || v != received) break;
  producer.join();
  if (!pushed_all || received != n) {
    std::fprintf(stderr, "FAILED: %llu of %llu messages arrived in order\n",
                 static_cast<unsigned long long>(received), static_cast<unsigned long long>(n));
    return 1;
  }
  std::printf("%llu messages delivered in order\n", static_cast<unsigned long long>(n));
  return 0;
}
