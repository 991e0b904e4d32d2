// What an emulator (qemu-user, make test-arm64) or an older kernel lacks,
// and the library's answer to each:
//  - membarrier(2) missing: wakers and waiters use seq_cst fences;
//  - futex_waitv(2) missing (before Linux 5.16; qemu-user): wait_any()
//    sleeps on the shared doorbells instead;
//  - qemu-user makes up /proc/<own pid>/stat: process identities are still
//    the ones every other process reads.
// CTest runs it twice: as it is (under qemu the calls are really missing)
// and with RINGPORT_TEST_DENY_SYSCALLS=1, where a seccomp filter makes
// membarrier and futex_waitv fail with ENOSYS before any test runs (exit 77
// where no filter can be installed: qemu-user refuses them).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/process.hpp"
#include "ringport/detail/wait.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"
#include "ringport/wait.hpp"
#include "test_util.hpp"
#include "wait_harness.hpp"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

using namespace ringport;
using namespace wait_test;

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t audit_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t audit_arch = AUDIT_ARCH_AARCH64;
#endif

// A seccomp filter: membarrier and futex_waitv fail with ENOSYS, every other
// call (and every call of another ABI) goes through. "" or why not.
std::string deny_syscalls() {
  constexpr auto nr = static_cast<std::uint32_t>(offsetof(seccomp_data, nr));
  constexpr auto arch = static_cast<std::uint32_t>(offsetof(seccomp_data, arch));
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex_waitv, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "prctl(PR_SET_NO_NEW_PRIVS) failed";
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    return "no seccomp filter can be installed here (qemu-user refuses them)";
  return "";
}

bool kernel_has_membarrier() {
  const long mask = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0u, 0);
  const long need = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
  return mask > 0 && (mask & need) == need;
}

}  // namespace

// cpu.hpp's choices for this build's architecture, and the layouts built on
// them (each layout also asserts its own offsets at compile time).
TEST_CASE("architecture: line size, spin hint, tick counter, layouts") {
#if defined(__aarch64__)
  CHECK(detail::cache_line == 128);
  CHECK(std::string(detail::arch_name) == "arm64");
  CHECK(detail::ticks_per_second() > 0);  // CNTFRQ_EL0
#elif defined(__x86_64__)
  CHECK(detail::cache_line == 64);
  CHECK(std::string(detail::arch_name) == "x86-64");
  CHECK(detail::ticks_per_second() == 0);  // not architectural
#endif
  MESSAGE(std::string(detail::arch_name)
          << ": cache_line " << detail::cache_line << ", ticks_per_second " << detail::ticks_per_second());
  // The spin hint returns; the counter never goes back and moves across a sleep.
  const std::uint64_t t0 = detail::ticks();
  for (int i = 0; i < 1000; ++i) detail::cpu_relax();
  const std::uint64_t t1 = detail::ticks();
  std::this_thread::sleep_for(2ms);
  const std::uint64_t t2 = detail::ticks();
  CHECK(t1 >= t0);
  CHECK(t2 > t1);
  CHECK(alignof(detail::ring_shared) == detail::cache_line);
  CHECK(sizeof(detail::claim_record) == detail::cache_line);
  CHECK(sizeof(detail::mailbox_ack) == detail::cache_line);
  CHECK(sizeof(detail::doorbell) == detail::cache_line);
}

TEST_CASE("a process's identity is the one every other process reads") {
  const std::uint64_t parent = detail::self_owner();
  CHECK(detail::owner_alive(parent));
  int to_child[2];
  int from_child[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(from_child) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: its own identity to the parent, then judges the parent's.
    const std::uint64_t me = detail::self_owner();
    char go = 0;
    const bool sent = ::write(from_child[1], &me, sizeof me) == sizeof me;
    const bool told = ::read(to_child[0], &go, 1) == 1;
    ::_exit(sent && told && detail::owner_alive(parent) ? 0 : 1);
  }
  std::uint64_t child = 0;
  CHECK(::read(from_child[0], &child, sizeof child) == sizeof child);
  CHECK(detail::owner_pid(child) == static_cast<std::uint32_t>(pid));
  CHECK_MESSAGE(detail::owner_alive(child), "the parent judges its live child dead");
  CHECK(::write(to_child[1], "g", 1) == 1);
  CHECK_MESSAGE(ringport_test::wait_child(pid) == 0, "the child judges its live parent dead");
  CHECK_FALSE(detail::owner_alive(child));
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
}

TEST_CASE("membarrier: light wakers only where the waiters' membarrier exists") {
  const bool has = kernel_has_membarrier();
  MESSAGE(std::string(has ? "membarrier(GLOBAL_EXPEDITED) here: wakers use a compiler fence"
                          : "no membarrier here (ENOSYS): wakers and waiters use seq_cst fences"));
  auto a = spsc<std::uint64_t>::create_local(1, pages::normal);
  auto b = spsc<std::uint64_t>::create_local(1, pages::normal);
  REQUIRE((a && b));
  CHECK((detail::notify_fence_due.load() == 0) == has);
  // Ping-pong over two one-slot rings with parking waits: every wake-up must
  // arrive (a lost one shows as a time-out).
  constexpr std::uint64_t rounds = 2000;
  std::thread echo([&] {
    auto rx = a->consumer(wait_policy::block);
    auto tx = b->producer(wait_policy::block);
    if (!rx || !tx) return;
    for (std::uint64_t i = 0, v = 0; i < rounds; ++i)
      if (rx->pop_until(v, clock::now() + 20s) != status::ok || tx->push(v + 1) != status::ok) return;
  });
  auto tx = a->producer(wait_policy::block);
  auto rx = b->consumer(wait_policy::block);
  REQUIRE((tx && rx));
  std::uint64_t done = 0;
  for (std::uint64_t v = 0; done < rounds; ++done)
    if (tx->push(done) != status::ok || rx->pop_until(v, clock::now() + 20s) != status::ok || v != done + 1)
      break;
  echo.join();
  CHECK(done == rounds);
}

TEST_CASE("futex_waitv: wait_any sleeps on the doorbells where it is missing") {
  const bool has = kernel_has_futex_waitv();
  MESSAGE(std::string(has ? "futex_waitv here: wait_any uses it"
                          : "no futex_waitv here (ENOSYS): wait_any falls back to the doorbells"));
  detail::set_wait_any_slice(30s);  // a lost wake-up hangs until the deadline, no slice hides it
  auto a = spsc<std::uint64_t>::create_local(4, pages::normal);
  auto b = spsc<std::uint64_t>::create_local(4, pages::normal);
  REQUIRE((a && b));
  auto ca = a->consumer(wait_policy::block);
  auto cb = b->consumer(wait_policy::block);
  auto pb = b->producer(wait_policy::block);
  REQUIRE((ca && cb && pb));
  const waitable targets[] = {ca->readable(), cb->readable()};
  std::atomic<pid_t> waiter{0};
  std::atomic<int> got{-2};
  std::thread t([&] {
    waiter = this_tid();
    got = wait_any(targets, clock::now() + 20s, wait_policy::block);
  });
  while (waiter.load() == 0) std::this_thread::yield();
  CHECK(wait_until_in_syscall(waiter.load(), has ? SYS_futex_waitv : SYS_futex, 20s));
  REQUIRE(pb->push(7) == status::ok);
  t.join();
  CHECK(got.load() == 1);
  CHECK(detail::futex_waitv_enabled() == has);
  detail::set_wait_any_slice(detail::peer_poll);
}

int main(int argc, char** argv) {
  if (const char* deny = std::getenv("RINGPORT_TEST_DENY_SYSCALLS"); deny && deny[0] == '1') {
    if (const std::string why = deny_syscalls(); !why.empty()) {
      std::printf("test_portability: SKIPPED: %s\n", why.c_str());
      return 77;
    }
    std::printf("test_portability: membarrier and futex_waitv fail with ENOSYS (seccomp filter)\n");
  }
  ringport_test::use_private_domain();
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  ringport_test::remove_private_domain();
  return rc;
}
