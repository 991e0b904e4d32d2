// Doorbell tables for wait_any() on kernels without futex_waitv
// (detail/doorbell.hpp).
#include "ringport/detail/doorbell.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "paths.hpp"
#include "ringport/detail/wait.hpp"
#include "ringport/segment.hpp"

namespace ringport::detail {

class doorbell_site {
 public:
  doorbell_site(std::string dir, bool group) : dir_(std::move(dir)), group_(group) {}
  explicit doorbell_site(doorbell_table* t) noexcept : failed_(t == nullptr), table_(t) {}

  const std::string& dir() const noexcept { return dir_; }

  doorbell_table* table() noexcept {
    // A-TABLE: pairs with R-TABLE; the mapping is complete before its
    // address is published.
    if (doorbell_table* t = table_.load(std::memory_order_acquire)) return t;
    std::lock_guard lock(map_mutex_);
    if (doorbell_table* t = table_.load(std::memory_order_relaxed)) return t;
    if (failed_) return nullptr;
    doorbell_table* t = map_file();
    failed_ = t == nullptr;
    // R-TABLE: pairs with A-TABLE.
    table_.store(t, std::memory_order_release);
    return t;
  }

 private:
  doorbell_table* map_file() noexcept;
  doorbell_table* fail(const char* what, int err) noexcept;

  std::string dir_;
  bool group_ = false;
  bool failed_ = false;
  std::mutex map_mutex_;
  std::atomic<doorbell_table*> table_{nullptr};
};

namespace {

constexpr const char* file_name = doorbell_file_name;

}  // namespace

doorbell_table* doorbell_site::fail(const char* what, int err) noexcept {
  try {
    notice(std::string("wait_any: cannot use the doorbell file ") + dir_ + "/" + file_name + " (" + what +
           (err != 0 ? std::string(": ") + std::strerror(err) : std::string()) +
           "); on this kernel (no futex_waitv) wait_any() will poll every millisecond instead. Remove the "
           "file if it is damaged; it is re-made on next use");
  } catch (...) {
  }
  return nullptr;
}

doorbell_table* doorbell_site::map_file() noexcept {
  const std::string path = dir_ + "/" + file_name;
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) {
    if (auto ok = ensure_dir(dir_, group_); !ok) return fail(ok.error().message.c_str(), 0);
    const mode_t mode = group_ ? 0660 : 0600;
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
    if (fd >= 0)
      (void)::fchmod(fd, mode);  // undo the umask
    else if (errno == EEXIST)
      fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) return fail("open", errno);
  const fd_guard guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("fstat", errno);
  if (!S_ISREG(st.st_mode)) return fail("not a regular file", 0);
  if ((st.st_mode & S_IWOTH) != 0) return fail("writable by others", 0);
  // A creator that has not sized it yet: size it ourselves (same size, so
  // the race is harmless). posix_fallocate also reserves the tmpfs pages, so
  // touching the mapping later cannot fail for lack of memory.
  if (st.st_size == 0) {
    if (int e = ::posix_fallocate(fd, 0, sizeof(doorbell_table)); e != 0) return fail("posix_fallocate", e);
    if (::fstat(fd, &st) != 0) return fail("fstat", errno);
  }
  if (st.st_size != static_cast<off_t>(sizeof(doorbell_table))) return fail("wrong size", 0);
  void* p = ::mmap(nullptr, sizeof(doorbell_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail("mmap", errno);
  return static_cast<doorbell_table*>(p);
}

doorbell_site* doorbell_site_for(const std::string& domain, bool group_access) noexcept {
  static std::mutex m;
  static std::vector<std::unique_ptr<doorbell_site>> sites;  // never freed: handles keep raw pointers
  try {
    const std::string dir = domain_dir(shm_root(), domain);
    std::lock_guard lock(m);
    for (auto& s : sites)
      if (s->dir() == dir) return s.get();
    sites.push_back(std::make_unique<doorbell_site>(dir, group_access));
    return sites.back().get();
  } catch (...) {
    return nullptr;
  }
}

doorbell_site* doorbell_site_of(const segment& seg) noexcept {
  if (seg.info().path.empty()) return local_doorbell_site();
  struct stat st {};
  const bool group = ::stat(seg.info().path.c_str(), &st) == 0 && (st.st_mode & S_IRWXG) != 0;
  return doorbell_site_for(seg.info().domain, group);
}

doorbell_site* local_doorbell_site() noexcept {
  static doorbell_site* site = [] {
    void* p =
        ::mmap(nullptr, sizeof(doorbell_table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return new (std::nothrow) doorbell_site(p == MAP_FAILED ? nullptr : static_cast<doorbell_table*>(p));
  }();
  return site;
}

doorbell_table* doorbell_table_of(doorbell_site* site) noexcept {
  return site ? site->table() : nullptr;
}

void ring_doorbells(doorbell_site* site, std::uint64_t mask) noexcept {
  doorbell_table* t = doorbell_table_of(site);
  if (!t) return;  // the waiter's slice bounds its wait instead
  for (std::size_t b = 0; mask != 0; ++b, mask >>= 1) {
    if ((mask & 1) == 0) continue;
    // R-BELL: pairs with A-BELL in wait_any(): our publish is visible to a
    // waiter whose key already includes this ring.
    t->bells[b].seq.fetch_add(1, std::memory_order_release);
    futex_wake_all(&t->bells[b].seq);
  }
}

std::size_t own_doorbell() noexcept {
  thread_local const std::size_t mine = static_cast<std::size_t>(::syscall(SYS_gettid)) % doorbell_count;
  return mine;
}

}  // namespace ringport::detail
