#include "test_util.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ringport/segment.hpp"

namespace ringport_test {
namespace {
std::string g_domain;
std::string g_mount;
long g_added_pages = 0;

long read_long(const char* path) {
  std::ifstream f(path);
  long v = -1;
  f >> v;
  return v;
}
bool write_long(const char* path, long v) {
  std::ofstream f(path);
  f << v;
  f.flush();
  return static_cast<bool>(f);
}
}  // namespace

void use_private_domain() {
  g_domain = "test-" + std::to_string(::getpid());
  ::setenv("RINGPORT_DOMAIN", g_domain.c_str(), 1);
}

const std::string& domain() {
  return g_domain;
}

void remove_private_domain() {
  std::error_code ec;
  std::filesystem::remove_all("/dev/shm/ringport." + g_domain, ec);
  if (!g_mount.empty()) std::filesystem::remove_all(g_mount + "/ringport." + g_domain, ec);
  release_huge_pages();
}

int wait_child(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return 255;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

int run_in_child(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  return wait_child(pid);
}

std::uint64_t meminfo(const char* key) {
  std::ifstream in("/proc/meminfo");
  std::string k;
  std::uint64_t v = 0;
  std::string rest;
  while (in >> k >> v) {
    if (k == key) return v;
    std::getline(in, rest);
  }
  return 0;
}

std::uint64_t default_huge_page_bytes() {
  return meminfo("Hugepagesize:") * 1024;
}

std::string arrange_huge_pages(unsigned pages) {
  if (::geteuid() != 0) return "not root: cannot reserve huge pages or mount hugetlbfs";
  if (default_huge_page_bytes() == 0) return "this kernel reports no Hugepagesize in /proc/meminfo";
  // nr_hugepages and HugePages_Free both count pages of the default size,
  // which is also what a hugetlbfs mount without pagesize= uses.
  const char* nr = "/proc/sys/vm/nr_hugepages";
  const long before = read_long(nr);
  if (before < 0) return "this kernel has no /proc/sys/vm/nr_hugepages";
  const auto free_before = static_cast<long>(meminfo("HugePages_Free:"));
  if (free_before < static_cast<long>(pages)) {
    const long want = before + static_cast<long>(pages) - free_before;
    const bool wrote = write_long(nr, want);
    const long now = read_long(nr);
    if (now > before) g_added_pages = now - before;  // undo even a partial reservation
    if (!wrote || now < want) {
      release_huge_pages();
      return "could not reserve " + std::to_string(pages) + " huge pages via " + nr + " (got " +
             std::to_string(now) + " of " + std::to_string(want) + "; memory too fragmented?)";
    }
  }
  char tmpl[] = "/tmp/ringport-hugetlbfs-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    const int err = errno;
    release_huge_pages();
    return std::string("mkdtemp failed: ") + std::strerror(err);
  }
  if (::mount("none", tmpl, "hugetlbfs", 0, "mode=0700") != 0) {
    const int err = errno;
    ::rmdir(tmpl);
    release_huge_pages();
    return std::string("mount -t hugetlbfs failed: ") + std::strerror(err);
  }
  g_mount = tmpl;
  ::setenv("RINGPORT_HUGETLBFS", tmpl, 1);
  return {};
}

void release_huge_pages() {
  if (!g_mount.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_mount + "/ringport." + g_domain, ec);
    ::umount2(g_mount.c_str(), MNT_DETACH);
    ::rmdir(g_mount.c_str());
    g_mount.clear();
    ::unsetenv("RINGPORT_HUGETLBFS");
  }
  if (g_added_pages > 0) {
    const char* nr = "/proc/sys/vm/nr_hugepages";
    write_long(nr, read_long(nr) - g_added_pages);
    g_added_pages = 0;
  }
}

}  // namespace ringport_test
