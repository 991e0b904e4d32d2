// ringport/segment.hpp — named shared-memory regions.
//
// A segment is a file in a per-domain directory, mapped MAP_SHARED by every
// process that opens it. Backing:
//   pages::huge   — a hugetlbfs mount (found in /proc/mounts, or the directory
//                   in RINGPORT_HUGETLBFS); the page size is read from the
//                   mount, never assumed. Fails with no_huge_pages otherwise.
//   pages::normal — tmpfs under /dev/shm (or RINGPORT_SHM_DIR), base pages.
//   pages::any    — huge if possible, else normal; the fallback is reported
//                   once per domain (stderr, or set_notice_handler: the
//                   first create that falls back leaves the marker file
//                   .huge-fallback~ in the domain's /dev/shm directory, and
//                   `ringport gc` removes it with the domain), or once per
//                   process for anonymous rings; always visible as
//                   info().page_size.
// Files live at <root>/ringport.<domain>/<name>. The domain comes from the
// options, else RINGPORT_DOMAIN, else "default". Names and domains are
// 1..64 characters of [A-Za-z0-9._-], not "." or "..".
//
// Creation takes an flock on the domain directory and builds the file under
// a temporary name that no segment can have, ".<name>~<pid>-<owner>" ('~' is
// outside the name alphabet; <owner> is the creator's pid + start time in
// hex): O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600, or 0660 with group_access),
// every page reserved with fallocate (so a shortage is an error now, never a
// SIGBUS later), mapped with MAP_POPULATE, optionally mlocked, the payload
// initialised by the caller, the header's init_state published last. Only
// then is the file link()ed to its name (EEXIST: errc::already_exists, so
// creation stays exclusive) and the temporary name unlinked. A file at a
// segment's name is therefore always complete: open() sees either nothing
// (errc::not_found) or a whole segment, never one being made, whatever the
// timing. Both backings (tmpfs, hugetlbfs) support link().
//
// A creator killed while creating leaves only its temporary file, which no
// open() or list() ever reads. The next create() in the domain (under the
// domain flock) removes temporaries whose creator is dead, and
// collect_temporaries() (used by `ringport gc`) does so on demand.
//
// open() refuses a symbolic link at the domain directory or at the name,
// non-regular files, foreign owners and modes wider than 0660. It refuses a
// file without a ringport header (too short: errc::truncated; wrong magic:
// bad_magic; other layout version: bad_version) at once, with its path. A
// real header that is not yet published (only a foreign tool or an older
// build leaves one at a segment's name) is waited for while its recorded
// creator (pid + start time) lives, up to open_timeout (errc::init_timeout);
// if that creator is dead it fails at once, saying so. Every header field is
// validated against the file's size before the file is mapped.
//
// Waiting for a segment to appear: open_wait() retries a not_found open until
// an absolute steady_clock deadline, sleeping 1 ms, doubling up to 50 ms
// (detail::appear_backoff; rings, mailboxes and nodes use the same pacing).
//
// Restarts: create() with if_exists = existing::open opens a segment that
// exists (kind and element size checked as by open()); existing::replace
// removes it and creates a new one in its place, but only when no recorded
// user of it is alive: every role holder of a ring or mailbox, a node's
// holder, and its creator are dead or gone (pid + start time; the judgement
// of `ringport ls`, runtime/inspect.hpp: state "stale"). A live user,
// this process included, or a control block that does not validate makes
// it fail with errc::already_exists, saying why. The check and the removal
// run under the domain flock that serialises creators; a process that opens
// the old segment meanwhile keeps its mapping of it, and what the old one
// held (queued messages, a closed flag) is gone with it. This is how a
// closed or crashed ring, mailbox or link is started afresh.
//
// remove() unlinks the name; like open(), create() and list(), it refuses a
// symbolic link at the domain directory. Mappings already open stay valid
// until their segment objects are destroyed; a later create() of the same
// name makes a new, unrelated segment.
//
// Trust: the file is writable by its owner (and group, if asked). A peer with
// that access can corrupt the payload — layers above validate every index
// they read — or truncate the file, which makes later accesses SIGBUS; keep
// segments owner-only (the default) when peers are not trusted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringport/result.hpp"

namespace ringport {

namespace detail {
struct segment_header;
}

/// What a segment holds; recorded in the header and checked by open().
enum class object_kind : std::uint32_t {
  raw = 1,
  spsc = 2,
  mpsc = 3,
  spmc = 4,
  mpmc = 5,
  mailbox = 6,
  node = 7,
  topic = 8,
};
const char* to_string(object_kind k) noexcept;

enum class pages : std::uint8_t { any, huge, normal };

/// What create() does when the name exists already (segment_options,
/// ring_options, mailbox_options: `if_exists`). See "Restarts" above.
enum class existing : std::uint8_t {
  fail,     ///< errc::already_exists (the default)
  open,     ///< open the existing one (as open_or_create)
  replace,  ///< remove it and create a new one, if no recorded user lives
};

/// Where one-time notices (such as the huge-page fallback) go. Default: stderr.
using notice_handler = std::function<void(std::string_view message)>;
void set_notice_handler(notice_handler h);

struct segment_options {
  std::string domain;  ///< empty: RINGPORT_DOMAIN, else "default"
  pages backing = pages::any;
  bool group_access = false;                     ///< mode 0660 instead of 0600
  bool lock_memory = false;                      ///< mlock the mapping (needs RLIMIT_MEMLOCK)
  std::chrono::milliseconds open_timeout{2000};  ///< wait for a live creator still initialising
  object_kind kind = object_kind::raw;
  std::uint64_t element_size = 0;  ///< recorded in the header, checked on open
  std::uint64_t capacity = 0;      ///< recorded in the header
  /// What create() does when the name is taken (see "Restarts" above).
  existing if_exists = existing::fail;
};

/// What a segment is, as validated at open time (process-local copy).
struct segment_info {
  std::string name;
  std::string domain;
  std::string path;
  object_kind kind = object_kind::raw;
  std::uint64_t element_size = 0;
  std::uint64_t capacity = 0;
  std::uint64_t total_size = 0;
  std::uint64_t payload_size = 0;
  std::uint64_t page_size = 0;
  bool huge_pages = false;
  std::uint32_t creator_pid = 0;
  std::uint64_t creator_owner = 0;  ///< pid + start time, as role slots record (detail::owner_alive)
  std::uint64_t created_ns = 0;
};

class segment {
 public:
  /// Called by create() with the zeroed payload before the segment is published.
  using initializer = std::function<void(std::byte* payload, std::size_t size)>;

  segment() = default;
  segment(segment&& o) noexcept;
  segment& operator=(segment&& o) noexcept;
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;
  ~segment();

  static result<segment> create(std::string_view name, std::size_t payload_size,
                                const segment_options& opt = {}, const initializer& init = {});
  /// Opens an existing segment. When opt.kind is not raw, the kind (and a
  /// non-zero opt.element_size) must match the header.
  static result<segment> open(std::string_view name, const segment_options& opt = {});
  /// open(), retrying while the name does not exist until `deadline`
  /// (then errc::not_found). Any other error returns at once.
  static result<segment> open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                   const segment_options& opt = {});
  /// create(), or open() if another process created it first.
  static result<segment> open_or_create(std::string_view name, std::size_t payload_size,
                                        const segment_options& opt = {}, const initializer& init = {});
  static result<void> remove(std::string_view name, std::string_view domain = {});
  /// An unnamed segment for threads of this process (and children forked
  /// after it): MAP_SHARED|MAP_ANONYMOUS, MAP_HUGETLB when backing allows.
  static result<segment> create_anonymous(std::size_t payload_size, const segment_options& opt = {},
                                          const initializer& init = {});

  /// Every segment in a domain, as far as it validates (for `ringport ls`);
  /// temporaries of creators at work are not segments and never listed.
  static result<std::vector<segment_info>> list(std::string_view domain = {});
  /// Removes the temporary files of creators that died while creating (both
  /// backings), under the domain flock; returns their paths. dry_run: only
  /// names them. A domain that does not exist has none.
  static result<std::vector<std::string>> collect_temporaries(std::string_view domain = {},
                                                              bool dry_run = false);

  bool valid() const noexcept { return base_ != nullptr; }
  std::byte* payload() const noexcept;
  std::size_t payload_size() const noexcept { return payload_size_; }
  const segment_info& info() const noexcept { return info_; }

 private:
  friend struct segment_access;
  std::byte* base_ = nullptr;
  std::size_t map_size_ = 0;
  std::size_t payload_size_ = 0;
  segment_info info_;
};

namespace detail {
/// Paces the retries of an open_wait(): sleeps 1 ms, doubling up to 50 ms,
/// never past the deadline. One per wait.
class appear_backoff {
 public:
  explicit appear_backoff(std::chrono::steady_clock::time_point deadline) noexcept : deadline_(deadline) {}
  /// Sleeps one step; false (without sleeping) once the deadline has passed.
  bool sleep() noexcept;
  /// After a failed open: true (having slept) when it may be retried, that
  /// is when it is errc::not_found and the deadline has not passed.
  bool retry(const error& e) noexcept { return e == errc::not_found && sleep(); }

 private:
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds step_{1};
};
}  // namespace detail

/// Checks a segment or domain name against the documented rules.
result<void> validate_name(std::string_view name, const char* what = "name");
/// The effective domain: `domain` if non-empty, else RINGPORT_DOMAIN, else "default".
std::string effective_domain(std::string_view domain);

}  // namespace ringport
