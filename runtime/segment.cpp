// ringport::segment — create, open, remove and list named shared-memory files.
#include "ringport/segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <utility>

#include "inspect.hpp"
#include "paths.hpp"
#include "ringport/detail/cpu.hpp"
#include "ringport/detail/process.hpp"
#include "ringport/detail/segment_header.hpp"

namespace ringport {

using detail::fd_guard;
using detail::header_bytes;
using detail::segment_header;

const char* to_string(object_kind k) noexcept {
  switch (k) {
    case object_kind::raw:
      return "raw";
    case object_kind::spsc:
      return "spsc";
    case object_kind::mpsc:
      return "mpsc";
    case object_kind::spmc:
      return "spmc";
    case object_kind::mpmc:
      return "mpmc";
    case object_kind::mailbox:
      return "mailbox";
    case object_kind::node:
      return "node";
    case object_kind::topic:
      return "topic";
  }
  return "unknown";
}

namespace {
std::mutex notice_mutex;
notice_handler& notice_sink() {
  static notice_handler h;
  return h;
}
}  // namespace

void detail::notice(std::string_view msg) {
  std::lock_guard lock(notice_mutex);
  if (notice_sink()) {
    notice_sink()(msg);
  } else {
    std::fprintf(stderr, "ringport: %.*s\n", static_cast<int>(msg.size()), msg.data());
  }
}

namespace {

void notice_once(std::string_view msg) {
  static std::atomic<bool> said{false};
  if (said.exchange(true, std::memory_order_relaxed)) return;
  detail::notice(msg);
}

// Holds an exclusive flock on the /dev/shm domain directory for the whole of
// a create (both backings), so that name checks across the two backings are
// atomic and every temporary file seen under it belongs to a dead creator.
struct domain_lock {
  fd_guard dir;
  static result<domain_lock> take(const std::string& dir_path) {
    auto fd = detail::open_domain_dir(dir_path);
    if (!fd) return std::move(fd).error();
    domain_lock l{std::move(*fd)};
    while (::flock(l.dir.fd, LOCK_EX) != 0)
      if (errno != EINTR) return system_failure(("flock " + dir_path).c_str(), errno);
    return l;
  }
};

// --- temporary names: ".<name>~<pid>-<owner word in hex>" ------------------
// '~' is outside the name alphabet, so no segment can have such a name; the
// owner word (pid + start time) tells a dead creator from a reused pid.

std::string temp_name(const std::string& name) {
  char tail[64];
  std::snprintf(tail, sizeof tail, "~%u-%llx", static_cast<unsigned>(::getpid()),
                static_cast<unsigned long long>(detail::self_owner()));
  return "." + name + tail;
}

// The creator's owner word recorded in a temporary name; nullopt for any
// other name (a segment, the doorbell table ".doorbells~", anything else).
std::optional<std::uint64_t> temp_creator(std::string_view entry) {
  const std::size_t mark = entry.rfind('~');
  if (entry.size() < 2 || entry[0] != '.' || mark == std::string_view::npos || mark < 2) return std::nullopt;
  if (!validate_name(entry.substr(1, mark - 1))) return std::nullopt;
  const char* end = entry.data() + entry.size();
  std::uint32_t pid = 0;
  const auto p = std::from_chars(entry.data() + mark + 1, end, pid);
  if (p.ec != std::errc() || p.ptr == entry.data() + mark + 1 || p.ptr == end || *p.ptr != '-')
    return std::nullopt;
  std::uint64_t owner = 0;
  const auto o = std::from_chars(p.ptr + 1, end, owner, 16);
  if (o.ec != std::errc() || o.ptr == p.ptr + 1 || o.ptr != end) return std::nullopt;
  return owner;
}

// Calls fn(entry name) for every entry of an open directory but "." and "..".
template <class Fn>
result<void> for_each_entry(int dir_fd, const std::string& dir, Fn&& fn) {
  const int fd = ::dup(dir_fd);  // fdopendir owns (and closes) its descriptor
  if (fd < 0) return system_failure(("dup " + dir).c_str(), errno);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    const int err = errno;
    ::close(fd);
    return system_failure(("opendir " + dir).c_str(), err);
  }
  ::rewinddir(d);  // the dup shares its offset with dir_fd
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      fn(std::string_view(e->d_name));
  ::closedir(d);
  return {};
}

// Removes (or with dry_run only names) the temporaries in dir whose creator
// is dead, appending their paths to out. The caller holds the domain lock.
result<void> collect_in(const std::string& dir, bool dry_run, std::vector<std::string>& out) {
  auto fd = detail::open_domain_dir(dir);
  if (!fd) return fd.error() == errc::not_found ? result<void>() : result<void>(std::move(fd).error());
  return for_each_entry(fd->fd, dir, [&](std::string_view entry) {
    const auto owner = temp_creator(entry);
    if (!owner || detail::owner_alive(*owner)) return;
    const std::string e(entry);
    if (dry_run || ::unlinkat(fd->fd, e.c_str(), 0) == 0 || errno == ENOENT) out.push_back(dir + "/" + e);
  });
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
  return (v + to - 1) / to * to;
}

struct location {
  std::string dir;
  std::uint64_t page_size;
  bool huge;
};

bool exists_at(const std::string& dir, const std::string& name) {
  struct stat st {};
  return ::fstatat(AT_FDCWD, (dir + "/" + name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace

void set_notice_handler(notice_handler h) {
  std::lock_guard lock(notice_mutex);
  notice_sink() = std::move(h);
}

struct segment_access {
  static result<segment> map_file(int fd, std::size_t size, const location& loc, const std::string& name,
                                  const std::string& domain, bool populate, bool lock_memory) {
    const int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED) return system_failure("mmap segment", errno);
    if (lock_memory && ::mlock(p, size) != 0) {
      const int err = errno;
      ::munmap(p, size);
      return error(errc::out_of_memory, std::string("mlock failed (") + std::strerror(err) +
                                            "): raise RLIMIT_MEMLOCK (ulimit -l) or drop lock_memory");
    }
    segment s;
    s.base_ = static_cast<std::byte*>(p);
    s.map_size_ = size;
    s.info_.name = name;
    s.info_.domain = domain;
    s.info_.path = loc.dir + "/" + name;
    s.info_.page_size = loc.page_size;
    s.info_.huge_pages = loc.huge;
    return s;
  }

  static void fill_info(segment& s, const segment_header& h) {
    s.info_.kind = static_cast<object_kind>(h.kind);
    s.info_.element_size = h.element_size;
    s.info_.capacity = h.capacity;
    s.info_.total_size = h.total_size;
    s.info_.payload_size = h.payload_size;
    s.info_.creator_pid = h.creator_pid;
    s.info_.creator_owner = h.creator_owner;
    s.info_.created_ns = h.created_ns;
    s.payload_size_ = h.payload_size;
  }

  // Writes the header of a new mapping, lets the caller initialise the
  // payload, then marks the segment ready.
  static void publish(segment& s, const segment_options& opt, std::uint64_t total, std::uint64_t page_size,
                      const segment::initializer& init) {
    auto* h = new (s.base_) segment_header{};
    h->magic = detail::segment_magic;
    h->version = detail::layout_version;
    h->kind = static_cast<std::uint32_t>(opt.kind);
    h->element_size = opt.element_size;
    h->capacity = opt.capacity;
    h->total_size = total;
    h->payload_offset = header_bytes;
    h->payload_size = total - header_bytes;
    h->cache_line = detail::cache_line;
    h->arch = detail::arch_id;
    h->creator_pid = static_cast<std::uint32_t>(::getpid());
    h->creator_owner = detail::self_owner();
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns =
        static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
    h->page_size = page_size;
    fill_info(s, *h);
    if (init) init(s.payload(), s.payload_size_);
    // R-INIT: publishes the header and payload; pairs with A-INIT in open_at().
    h->state.store(static_cast<std::uint32_t>(detail::init_state::ready), std::memory_order_release);
  }

  // Creates the segment at loc: builds it under a temporary name, then links
  // it to its name (the caller holds the domain lock and checked that the
  // name is free in every backing).
  static result<segment> create_at(const location& loc, const std::string& name, const std::string& domain,
                                   std::size_t payload_size, const segment_options& opt,
                                   const segment::initializer& init) {
    const std::uint64_t total = round_up(header_bytes + payload_size, loc.page_size);
    const std::string path = loc.dir + "/" + name;
    const std::string temp = loc.dir + "/" + temp_name(name);
    const mode_t mode = opt.group_access ? 0660 : 0600;
    const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    fd_guard fd(::open(temp.c_str(), flags, mode));
    if (fd.fd < 0 && errno == EEXIST && ::unlink(temp.c_str()) == 0)
      fd.fd = ::open(temp.c_str(), flags, mode);  // a leftover of this very process: redo it
    if (fd.fd < 0) return system_failure(("create " + temp).c_str(), errno);
    // fchmod: the umask must not narrow group access the caller asked for.
    ::fchmod(fd.fd, mode);
    auto fail = [&](error e) {
      ::unlink(temp.c_str());
      return result<segment>(std::move(e));
    };
    // Reserve every page now: a shortage is an error here, never SIGBUS later.
    if (int rc = ::posix_fallocate(fd.fd, 0, static_cast<off_t>(total)); rc != 0) {
      if (loc.huge && (rc == ENOSPC || rc == ENOMEM))
        return fail(
            error(errc::no_huge_pages, "not enough free huge pages for " + std::to_string(total) +
                                           " bytes (" + detail::huge_page_summary() +
                                           "): reserve more with 'echo N > /proc/sys/vm/nr_hugepages'"));
      if (rc == ENOSPC || rc == ENOMEM)
        return fail(error(errc::out_of_memory, "no space for " + std::to_string(total) + " bytes in " +
                                                   loc.dir + ": free memory or enlarge the tmpfs"));
      return fail(system_failure(("fallocate " + temp).c_str(), rc));
    }
    if (!loc.huge && ::ftruncate(fd.fd, static_cast<off_t>(total)) != 0)
      return fail(system_failure(("ftruncate " + temp).c_str(), errno));
    auto mapped = map_file(fd.fd, total, loc, name, domain, true, opt.lock_memory);
    if (!mapped) return fail(std::move(mapped).error());
    segment s = std::move(*mapped);
    publish(s, opt, total, loc.page_size, init);
    // Only a complete, published segment ever appears at the name.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST)
        return fail(error(errc::already_exists,
                          "segment '" + name + "' already exists in domain '" + domain + "' (" + path + ")"));
      return fail(system_failure(("link " + temp + " to " + path).c_str(), err));
    }
    ::unlink(temp.c_str());
    return s;
  }

  // Magic, version and architecture: whether this is a ringport segment of
  // this build at all. Checked before anything else, so that a foreign file
  // is refused at once.
  static result<void> check_identity(const segment_header& h, const std::string& who) {
    if (h.magic != detail::segment_magic)
      return result<void>(errc::bad_magic, who + " is not a ringport segment (wrong magic); remove it");
    if (h.version != detail::layout_version)
      return result<void>(errc::bad_version,
                          who + " has layout version " + std::to_string(h.version) + ", this build reads " +
                              std::to_string(detail::layout_version) + "; recreate it with this version");
    if (h.arch != detail::arch_id || h.cache_line != detail::cache_line)
      return result<void>(errc::wrong_arch, who + " was made for another architecture or cache-line size");
    return {};
  }

  static result<void> check_header(const segment_header& h, std::uint64_t file_size,
                                   const segment_options& opt, const std::string& who) {
    if (auto ok = check_identity(h, who); !ok) return ok;
    if (h.total_size != file_size)
      return result<void>(h.total_size > file_size ? errc::truncated : errc::bad_layout,
                          who + " header says " + std::to_string(h.total_size) + " bytes but the file has " +
                              std::to_string(file_size) + "; remove and recreate it");
    if (h.payload_offset != header_bytes || h.payload_size > h.total_size - header_bytes ||
        h.page_size == 0 || (h.page_size & (h.page_size - 1)) != 0 || h.total_size % h.page_size != 0)
      return result<void>(errc::bad_layout, who + " has an inconsistent header; remove and recreate it");
    if (opt.kind != object_kind::raw && h.kind != static_cast<std::uint32_t>(opt.kind))
      return result<void>(errc::wrong_kind, who + " holds a " + to_string(static_cast<object_kind>(h.kind)) +
                                                ", not a " + to_string(opt.kind));
    if (opt.element_size != 0 && h.element_size != opt.element_size)
      return result<void>(errc::wrong_kind, who + " has " + std::to_string(h.element_size) +
                                                "-byte elements, expected " +
                                                std::to_string(opt.element_size));
    return {};
  }

  // Reads the header with pread (nothing is mapped before it validates). A
  // foreign file is refused at once; an unpublished header is waited for
  // (bounded) only while its recorded creator is alive.
  static result<void> read_header(int fd, segment_header& h, const std::string& path, const std::string& who,
                                  const segment_options& opt) {
    const auto deadline = std::chrono::steady_clock::now() + opt.open_timeout;
    for (;;) {
      if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h))
        return system_failure(("read header of " + path).c_str(), errno ? errno : EIO);
      if (auto ok = check_identity(h, who); !ok) return ok;
      if (h.state.load(std::memory_order_relaxed) == static_cast<std::uint32_t>(detail::init_state::ready))
        return {};
      const std::string pid = std::to_string(h.creator_pid);
      if (!detail::owner_alive(h.creator_owner))
        return result<void>(errc::init_timeout, who + " was never finished: its creator (pid " + pid +
                                                    ") died while making it; remove it with 'ringport gc' or "
                                                    "'ringport rm'");
      if (std::chrono::steady_clock::now() >= deadline)
        return result<void>(errc::init_timeout, who + " is still initialising after " +
                                                    std::to_string(opt.open_timeout.count()) +
                                                    " ms (its creator, pid " + pid +
                                                    ", is alive); retry later, or raise open_timeout");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Opens `name` in the domain directory open at dir_fd (loc.dir names it).
  static result<segment> open_at(const location& loc, int dir_fd, const std::string& name,
                                 const std::string& domain, const segment_options& opt) {
    const std::string path = loc.dir + "/" + name;
    const std::string who = "segment '" + name + "' (" + path + ")";
    // O_NONBLOCK: opening a fifo planted at the name must not hang; it is
    // refused below as not a regular file. It changes nothing for regular files.
    fd_guard fd(::openat(dir_fd, name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.fd < 0) {
      if (errno == ELOOP)
        return error(errc::symlink_refused, path +
                                                " is a symbolic link; ringport never follows "
                                                "links: remove it");
      if (errno == ENOENT) return error(errc::not_found, "no segment '" + name + "'");
      if (errno == EISDIR)
        return error(errc::not_regular_file, path + " is a directory, not a segment; remove it");
      return system_failure(("open " + path).c_str(), errno);
    }
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) return system_failure(("fstat " + path).c_str(), errno);
    if (!S_ISREG(st.st_mode))
      return error(errc::not_regular_file, path + " is not a regular file; remove it");
    if (st.st_uid != ::geteuid())
      return error(errc::foreign_owner, path + " belongs to uid " + std::to_string(st.st_uid) +
                                            ", not to this user; refusing to map it");
    if ((st.st_mode & 07777 & ~0660u) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return error(errc::bad_mode,
                   path + " has mode " + mode + ", wider than 0660; refusing it: chmod 600 it or remove it");
    }
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    // Creators link a file to its name only once it is complete, so a short
    // file is never one being made.
    if (file_size < header_bytes)
      return error(errc::truncated, path + " is " + std::to_string(file_size) +
                                        " bytes, shorter than a segment header: not a ringport segment, "
                                        "or a damaged one; remove it");
    segment_header h{};
    if (auto ok = read_header(fd.fd, h, path, who, opt); !ok) return ok.error();
    if (auto ok = check_header(h, file_size, opt, who); !ok) return ok.error();
    const location real{loc.dir, h.page_size, loc.huge};
    auto mapped = map_file(fd.fd, file_size, real, name, domain, false, opt.lock_memory);
    if (!mapped) return mapped;
    segment s = std::move(*mapped);
    const auto* mh = reinterpret_cast<const segment_header*>(s.base_);
    // A-INIT: pairs with R-INIT in publish(); makes the payload visible.
    (void)mh->state.load(std::memory_order_acquire);
    // Validate once more from the mapping (the file could have changed since
    // the pread), and keep only process-local copies.
    segment_header copy{};
    std::memcpy(static_cast<void*>(&copy), mh, sizeof copy);
    if (auto ok = check_header(copy, file_size, opt, who); !ok) return ok.error();
    fill_info(s, copy);
    return s;
  }

  // open_at() in loc.dir, opened without following a link at it.
  static result<segment> open_in(const location& loc, const std::string& name, const std::string& domain,
                                 const segment_options& opt) {
    auto dir = detail::open_domain_dir(loc.dir);
    if (!dir) {
      if (dir.error() == errc::not_found) return error(errc::not_found, "no segment '" + name + "'");
      return std::move(dir).error();
    }
    return open_at(loc, dir->fd, name, domain, opt);
  }
};

segment::segment(segment&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      map_size_(std::exchange(o.map_size_, 0)),
      payload_size_(std::exchange(o.payload_size_, 0)),
      info_(std::move(o.info_)) {}

segment& segment::operator=(segment&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, map_size_);
    base_ = std::exchange(o.base_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    payload_size_ = std::exchange(o.payload_size_, 0);
    info_ = std::move(o.info_);
  }
  return *this;
}

segment::~segment() {
  if (base_) ::munmap(base_, map_size_);
}

std::byte* segment::payload() const noexcept {
  return base_ ? base_ + header_bytes : nullptr;
}

namespace {

struct domain_paths {
  std::string domain;
  std::string shm_dir;
  result<detail::huge_mount> huge{errc::no_huge_pages, "not looked up"};
  std::string huge_dir() const { return huge ? detail::domain_dir(huge->dir, domain) : std::string(); }
};

result<domain_paths> resolve(std::string_view name, std::string_view domain_in) {
  if (auto ok = validate_name(name, "segment name"); !ok) return ok.error();
  domain_paths p;
  p.domain = effective_domain(domain_in);
  if (auto ok = validate_name(p.domain, "domain"); !ok) return ok.error();
  p.shm_dir = detail::domain_dir(detail::shm_root(), p.domain);
  p.huge = detail::find_huge_mount();
  return p;
}

long base_page_size() {
  return ::sysconf(_SC_PAGESIZE);
}

result<void> check_payload_size(std::size_t payload_size) {
  if (payload_size == 0 || payload_size > (std::size_t{1} << 40))
    return result<void>(errc::invalid_argument, "segment payload size must be 1 byte to 1 TiB");
  return {};
}

location shm_location(const domain_paths& p) {
  return {p.shm_dir, static_cast<std::uint64_t>(base_page_size()), false};
}

result<segment> open_resolved(const domain_paths& p, const std::string& name, const segment_options& opt) {
  if (p.huge) {
    auto s = segment_access::open_in({p.huge_dir(), p.huge->page_size, true}, name, p.domain, opt);
    if (s || !(s.error() == errc::not_found)) return s;
  }
  auto s = segment_access::open_in(shm_location(p), name, p.domain, opt);
  if (!s && s.error() == errc::not_found)
    return error(errc::not_found, "no segment '" + name + "' in domain '" + p.domain + "' (looked in " +
                                      p.shm_dir + (p.huge ? " and " + p.huge_dir() : std::string()) + ")");
  return s;
}

// Removes temporaries of dead creators in both backings (caller holds the
// domain lock).
result<void> collect_locked(const domain_paths& p, bool dry_run, std::vector<std::string>& out) {
  if (p.huge)
    if (auto ok = collect_in(p.huge_dir(), dry_run, out); !ok) return ok;
  return collect_in(p.shm_dir, dry_run, out);
}

// pages::huge failed for want of huge pages: say how pages::any differs.
error with_any_advice(error e) {
  e.message += " (or pass pages::any to fall back to base pages)";
  return e;
}

// The huge-page fallback of pages::any is said once per domain, not by every
// process: the first create that falls back makes the marker file in the
// domain's /dev/shm directory (O_EXCL under the domain lock, so exactly one
// create does; a symbolic link there counts as made) and says it, later ones
// find it and stay quiet until `ringport gc` removes it with the domain's
// doorbell table. If the marker cannot be made, once per process.
void notice_fallback(const domain_paths& p, const std::string& reason) {
  const std::string marker = p.shm_dir + "/" + detail::huge_fallback_marker_name;
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) return;
  const std::string msg = "huge pages unavailable (" + reason + "); segments of domain '" + p.domain +
                          "' use " + std::to_string(base_page_size()) +
                          "-byte pages (said once per domain; pages::normal asks for them without this "
                          "notice, pages::huge makes the shortage an error)";
  if (fd < 0) return notice_once(msg);
  ::close(fd);
  detail::notice(msg);
}

// existing::replace, under the domain lock: removes the segment at `name`
// when none of its recorded users lives (inspect.hpp); otherwise says why not.
result<void> replace_unused(const domain_paths& p, const std::string& name) {
  const std::string who = "segment '" + name + "' in domain '" + p.domain + "'";
  segment_options so;
  so.domain = p.domain;
  so.open_timeout = std::chrono::milliseconds(0);
  auto old = open_resolved(p, name, so);
  if (!old)
    return result<void>(errc::already_exists, who + " exists and cannot be opened (" + old.error().message +
                                                  "): not replaced; remove it");
  const detail::segment_usage u = detail::inspect(old->info());
  if (u.state == detail::usage::unknown)
    return result<void>(errc::already_exists, who + " exists and its users cannot be read (" + u.reason +
                                                  "): not replaced; remove it");
  if (u.state != detail::usage::stale) {
    const detail::user_count c = u.users();
    return result<void>(errc::already_exists,
                        who + " is in use (" + std::to_string(c.alive) + " live recorded user(s), creator " +
                            (u.creator_alive ? "alive" : "gone") +
                            (u.link_nodes_alive ? ", a node of the link lives" : "") + "): not replaced");
  }
  for (const std::string& dir : {p.huge ? p.huge_dir() : std::string(), p.shm_dir}) {
    if (dir.empty()) continue;
    if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT)
      return system_failure(("unlink " + dir + "/" + name).c_str(), errno);
  }
  return {};
}

result<segment> create_locked(const domain_paths& p, const std::string& name, std::size_t payload_size,
                              const segment_options& opt, const segment::initializer& init) {
  // Best effort: a failure to sweep must not fail the create.
  std::vector<std::string> swept;
  (void)collect_locked(p, false, swept);
  if (exists_at(p.shm_dir, name) || (p.huge && exists_at(p.huge_dir(), name))) {
    if (opt.if_exists != existing::replace)
      return error(errc::already_exists,
                   "segment '" + name + "' already exists in domain '" + p.domain + "'");
    if (auto ok = replace_unused(p, name); !ok) return ok.error();
  }
  if (opt.backing != pages::normal) {
    if (p.huge) {
      if (auto ok = detail::ensure_dir(p.huge_dir(), opt.group_access); !ok) return ok.error();
      auto s = segment_access::create_at({p.huge_dir(), p.huge->page_size, true}, name, p.domain,
                                         payload_size, opt, init);
      if (s || !(s.error() == errc::no_huge_pages)) return s;
      if (opt.backing == pages::huge) return with_any_advice(s.error());
      notice_fallback(p, s.error().message);
    } else if (opt.backing == pages::huge) {
      return with_any_advice(p.huge.error());
    } else {
      notice_fallback(p, p.huge.error().message);
    }
  }
  return segment_access::create_at(shm_location(p), name, p.domain, payload_size, opt, init);
}

}  // namespace

result<segment> segment::create(std::string_view name_in, std::size_t payload_size,
                                const segment_options& opt, const initializer& init) {
  auto p = resolve(name_in, opt.domain);
  if (!p) return p.error();
  if (auto ok = check_payload_size(payload_size); !ok) return ok.error();
  if (auto ok = detail::ensure_dir(p->shm_dir, opt.group_access); !ok) return ok.error();
  const std::string name(name_in);
  {
    auto lock = domain_lock::take(p->shm_dir);
    if (!lock) return lock.error();
    auto s = create_locked(*p, name, payload_size, opt, init);
    if (s || opt.if_exists != existing::open || !(s.error() == errc::already_exists)) return s;
  }
  // existing::open: outside the lock, as open_or_create does.
  return open_resolved(*p, name, opt);
}

result<segment> segment::open(std::string_view name_in, const segment_options& opt) {
  auto p = resolve(name_in, opt.domain);
  if (!p) return p.error();
  return open_resolved(*p, std::string(name_in), opt);
}

result<segment> segment::open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                   const segment_options& opt) {
  for (detail::appear_backoff wait(deadline);;)
    if (auto s = open(name, opt); s || !wait.retry(s.error())) return s;
}

bool detail::appear_backoff::sleep() noexcept {
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) return false;
  std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(step_, deadline_ - now));
  step_ = std::min(step_ * 2, std::chrono::milliseconds(50));
  return true;
}

result<segment> segment::open_or_create(std::string_view name_in, std::size_t payload_size,
                                        const segment_options& opt, const initializer& init) {
  auto p = resolve(name_in, opt.domain);
  if (!p) return p.error();
  if (auto ok = detail::ensure_dir(p->shm_dir, opt.group_access); !ok) return ok.error();
  const std::string name(name_in);
  {
    auto lock = domain_lock::take(p->shm_dir);
    if (!lock) return lock.error();
    if (!exists_at(p->shm_dir, name) && !(p->huge && exists_at(p->huge_dir(), name))) {
      if (auto ok = check_payload_size(payload_size); !ok) return ok.error();
      return create_locked(*p, name, payload_size, opt, init);
    }
  }
  // Opened outside the lock: the creator published init_state before unlocking.
  return open_resolved(*p, name, opt);
}

result<segment> segment::create_anonymous(std::size_t payload_size, const segment_options& opt,
                                          const initializer& init) {
  if (auto ok = check_payload_size(payload_size); !ok) return ok.error();
  void* p = MAP_FAILED;
  location loc{"(anonymous)", static_cast<std::uint64_t>(base_page_size()), false};
  if (opt.backing != pages::normal) {
    auto huge = detail::find_huge_mount();
    const std::uint64_t hp = huge ? huge->page_size : 0;
    if (hp != 0) {
      const std::uint64_t total = round_up(header_bytes + payload_size, hp);
      p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
      if (p != MAP_FAILED) loc = {"(anonymous)", hp, true};
    }
    if (p == MAP_FAILED && opt.backing == pages::huge)
      return error(errc::no_huge_pages,
                   "no free huge pages for an anonymous ring (" + detail::huge_page_summary() +
                       "): reserve some with 'echo N > /proc/sys/vm/nr_hugepages' or pass pages::any");
    if (p == MAP_FAILED)
      notice_once("huge pages unavailable (" + detail::huge_page_summary() +
                  "); anonymous rings of this process use base pages (said once per process; "
                  "pages::normal asks for them without this notice)");
  }
  const std::uint64_t total = round_up(header_bytes + payload_size, loc.page_size);
  if (p == MAP_FAILED) {
    p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return system_failure("mmap anonymous segment", errno);
  }
  if (opt.lock_memory && ::mlock(p, total) != 0) {
    const int err = errno;
    ::munmap(p, total);
    return error(errc::out_of_memory, std::string("mlock failed (") + std::strerror(err) +
                                          "): raise RLIMIT_MEMLOCK (ulimit -l) or drop lock_memory");
  }
  segment s;
  s.base_ = static_cast<std::byte*>(p);
  s.map_size_ = total;
  s.info_.name = "(anonymous)";
  s.info_.page_size = loc.page_size;
  s.info_.huge_pages = loc.huge;
  segment_access::publish(s, opt, total, loc.page_size, init);
  return s;
}

result<void> segment::remove(std::string_view name_in, std::string_view domain) {
  auto p = resolve(name_in, domain);
  if (!p) return p.error();
  const std::string name(name_in);
  bool removed = false;
  for (const std::string& dir : {p->huge_dir(), p->shm_dir}) {
    if (dir.empty()) continue;
    auto fd = detail::open_domain_dir(dir);  // never through a link
    if (!fd && fd.error() == errc::not_found) continue;
    if (!fd) return std::move(fd).error();
    if (::unlinkat(fd->fd, name.c_str(), 0) == 0) {
      removed = true;
    } else if (errno != ENOENT) {
      return system_failure(("unlink " + dir + "/" + name).c_str(), errno);
    }
  }
  if (!removed)
    return result<void>(errc::not_found, "no segment '" + name + "' in domain '" + p->domain + "'");
  return {};
}

result<std::vector<segment_info>> segment::list(std::string_view domain_in) {
  const std::string domain = effective_domain(domain_in);
  if (auto ok = validate_name(domain, "domain"); !ok) return ok.error();
  std::vector<segment_info> out;
  auto huge = detail::find_huge_mount();
  std::vector<location> dirs{
      {detail::domain_dir(detail::shm_root(), domain), static_cast<std::uint64_t>(base_page_size()), false}};
  if (huge) dirs.insert(dirs.begin(), {detail::domain_dir(huge->dir, domain), huge->page_size, true});
  segment_options opt;
  opt.domain = domain;
  opt.open_timeout = std::chrono::milliseconds(0);
  for (const auto& loc : dirs) {
    auto dir = detail::open_domain_dir(loc.dir);
    if (!dir && dir.error() == errc::not_found) continue;
    if (!dir) return std::move(dir).error();
    // Only segment names: never temporaries ('~'), the doorbell table, or
    // anything else a name cannot be.
    auto ok = for_each_entry(dir->fd, loc.dir, [&](std::string_view entry) {
      if (!validate_name(entry)) return;
      if (auto s = segment_access::open_at(loc, dir->fd, std::string(entry), domain, opt))
        out.push_back(s->info());
    });
    if (!ok) return ok.error();
  }
  return out;
}

result<std::vector<std::string>> segment::collect_temporaries(std::string_view domain_in, bool dry_run) {
  auto p = resolve("x", domain_in);  // any valid name: only the domain matters here
  if (!p) return p.error();
  auto lock = domain_lock::take(p->shm_dir);
  if (!lock && lock.error() == errc::not_found) return std::vector<std::string>{};
  if (!lock) return lock.error();
  std::vector<std::string> out;
  if (auto ok = collect_locked(*p, dry_run, out); !ok) return ok.error();
  return out;
}

}  // namespace ringport
