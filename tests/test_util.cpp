#include "test_util.hpp"

#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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

open_race race_open_against_create(const std::string& name, const ringport::segment_options& opt,
                                   std::size_t min_polls) {
  using ringport::segment;
  constexpr std::size_t payload = 4096;
  struct shared {
    std::atomic<int> stop;
    std::atomic<std::uint64_t> rounds;
  };
  void* mem = ::mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  open_race r;
  if (mem == MAP_FAILED) {
    r.first_other = "mmap failed";
    return r;
  }
  auto* sh = new (mem) shared{};
  std::fflush(nullptr);
  const pid_t creator = ::fork();
  if (creator == 0) {
    int rc = 0;
    while (rc == 0 && sh->stop.load(std::memory_order_relaxed) == 0) {
      {
        auto s =
            segment::create(name, payload, opt, [](std::byte* p, std::size_t n) { std::memset(p, 0x5a, n); });
        if (!s) {
          std::fprintf(stderr, "creator: %s\n", s.error().message.c_str());
          rc = 1;
        }
      }  // unmapped before the remove
      if (rc == 0 && !segment::remove(name, opt.domain)) rc = 2;
      sh->rounds.fetch_add(1, std::memory_order_relaxed);
    }
    ::_exit(rc);
  }
  while (r.polls < min_polls || ((r.found == 0 || r.missing == 0) && r.polls < 100 * min_polls)) {
    auto s = segment::open(name, opt);
    ++r.polls;
    if (s) {
      ++r.found;
      r.found_huge += s->info().huge_pages;
      const std::byte* p = s->payload();
      if (s->payload_size() < payload || p[0] != std::byte{0x5a} || p[payload - 1] != std::byte{0x5a})
        ++r.partial;
    } else if (s.error() == ringport::errc::not_found) {
      ++r.missing;
    } else if (r.other++ == 0) {
      r.first_other = s.error().message;
    }
  }
  sh->stop.store(1);
  r.creator_rc = creator > 0 ? wait_child(creator) : -1;
  r.rounds = sh->rounds.load();
  ::munmap(mem, sizeof(shared));
  (void)segment::remove(name, opt.domain);
  return r;
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
