// no_uring_exec PROGRAM [ARGS...]: runs PROGRAM with io_uring refused, as a
// container's seccomp profile or io_uring_disabled=2 refuses it:
// io_uring_setup(2) fails with EPERM (a seccomp filter inherited across
// exec; every other call, and every call of another ABI, goes through).
// Exits 77 with the reason when no filter can be installed (qemu-user).
// (test_portability.cpp builds a filter of the same shape for its own calls.)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

#if defined(__x86_64__)
constexpr std::uint32_t audit_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t audit_arch = AUDIT_ARCH_AARCH64;
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: no_uring_exec PROGRAM [ARGS...]\n");
    return 2;
  }
  constexpr auto nr = static_cast<std::uint32_t>(offsetof(seccomp_data, nr));
  constexpr auto arch = static_cast<std::uint32_t>(offsetof(seccomp_data, arch));
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::printf("SKIP: no seccomp filter can be installed here (errno %d)\n", errno);
    return 77;
  }
  ::execvp(argv[1], argv + 1);
  std::perror("execvp");
  return 127;
}
