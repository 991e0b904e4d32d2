// Segment file locations and hugetlbfs discovery.
#include "paths.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "ringport/segment.hpp"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

namespace ringport {

result<void> validate_name(std::string_view name, const char* what) {
  auto bad = [&](const std::string& why) {
    // Quote the name with control and non-ASCII bytes escaped, so the message
    // itself stays printable.
    std::string shown;
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) {
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned>(u));
        shown += esc;
      } else {
        shown += c;
      }
    }
    return result<void>(errc::invalid_name,
                        std::string(what) + " '" + shown + "' " + why +
                            ": use 1 to 64 characters from [A-Za-z0-9._-], not '.' or '..'");
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 64) return bad("is too long");
  if (name == "." || name == "..") return bad("is reserved");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return bad("contains a character outside the allowed set");
  }
  return {};
}

std::string effective_domain(std::string_view domain) {
  if (!domain.empty()) return std::string(domain);
  if (const char* env = std::getenv("RINGPORT_DOMAIN"); env && *env) return env;
  return "default";
}

namespace detail {

std::string shm_root() {
  if (const char* env = std::getenv("RINGPORT_SHM_DIR"); env && *env) return env;
  return "/dev/shm";
}

std::string domain_dir(const std::string& root, const std::string& domain) {
  return root + "/ringport." + domain;
}

result<void> ensure_dir(const std::string& dir, bool group_access) {
  if (::mkdir(dir.c_str(), group_access ? 0770 : 0700) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return system_failure(("stat " + dir).c_str(), errno);
    if (S_ISLNK(st.st_mode))
      return result<void>(errc::symlink_refused, dir + " is a symbolic link; remove it");
    if (!S_ISDIR(st.st_mode))
      return result<void>(errc::not_regular_file, dir + " is not a directory; remove it");
    if (st.st_uid != ::geteuid())
      return result<void>(errc::foreign_owner, dir + " belongs to uid " + std::to_string(st.st_uid) +
                                                   "; use another domain (RINGPORT_DOMAIN)");
    return {};
  }
  return system_failure(("mkdir " + dir).c_str(), errno);
}

result<fd_guard> open_domain_dir(const std::string& dir) {
  fd_guard fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.fd >= 0) return fd;
  const int err = errno;
  struct stat st {};
  // O_DIRECTORY|O_NOFOLLOW fails with ENOTDIR on a link: lstat says which it was.
  if ((err == ENOTDIR || err == ELOOP) && ::lstat(dir.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      return error(
          errc::symlink_refused,
          dir + " is a symbolic link; ringport never follows links to a domain directory: remove it");
    if (!S_ISDIR(st.st_mode)) return error(errc::not_regular_file, dir + " is not a directory; remove it");
  }
  if (err == ENOENT) return error(errc::not_found, dir + " does not exist");
  return system_failure(("open " + dir).c_str(), err);
}

namespace {

std::uint64_t default_huge_page_size() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key) {
    if (key == "Hugepagesize:") {
      in >> kb >> unit;
      return kb * 1024;
    }
    std::getline(in, unit);
  }
  return 0;
}

result<huge_mount> check_mount(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0 || fs.f_type != static_cast<decltype(fs.f_type)>(HUGETLBFS_MAGIC))
    return result<huge_mount>(errc::no_huge_pages,
                              "RINGPORT_HUGETLBFS=" + dir +
                                  " is not a hugetlbfs mount: as root run 'mount -t hugetlbfs none " + dir +
                                  "' and reserve pages with 'echo 64 > "
                                  "/proc/sys/vm/nr_hugepages', or unset RINGPORT_HUGETLBFS");
  if (::access(dir.c_str(), W_OK) != 0)
    return result<huge_mount>(errc::no_huge_pages, "hugetlbfs mount " + dir + " is not writable");
  return huge_mount{dir, static_cast<std::uint64_t>(fs.f_bsize)};
}

}  // namespace

result<huge_mount> find_huge_mount() {
  if (const char* env = std::getenv("RINGPORT_HUGETLBFS"); env && *env) return check_mount(env);
  std::ifstream in("/proc/mounts");
  std::string line;
  std::vector<huge_mount> found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    fields >> dev >> dir >> type;
    if (type != "hugetlbfs") continue;
    if (auto m = check_mount(dir)) found.push_back(*m);
  }
  if (found.empty())
    return result<huge_mount>(
        errc::no_huge_pages,
        "no writable hugetlbfs mount: as root run 'mkdir -p /dev/hugepages && mount -t hugetlbfs "
        "none /dev/hugepages' and reserve pages with 'echo 64 > /proc/sys/vm/nr_hugepages' "
        "(or set RINGPORT_HUGETLBFS=DIR)");
  const std::uint64_t def = default_huge_page_size();
  for (const auto& m : found)
    if (m.page_size == def) return m;
  return found.front();
}

std::string huge_page_summary() {
  std::string out;
  if (DIR* d = ::opendir("/sys/kernel/mm/hugepages")) {
    while (dirent* e = ::readdir(d)) {
      if (std::strncmp(e->d_name, "hugepages-", 10) != 0) continue;
      std::ifstream f(std::string("/sys/kernel/mm/hugepages/") + e->d_name + "/free_hugepages");
      std::uint64_t free_pages = 0;
      f >> free_pages;
      if (!out.empty()) out += ", ";
      out += std::string(e->d_name + 10) + ": " + std::to_string(free_pages) + " free";
    }
    ::closedir(d);
  }
  return out.empty() ? "this kernel offers no huge page sizes" : out;
}

}  // namespace detail
}  // namespace ringport
