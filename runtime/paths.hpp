// Private: where segment files live, and which hugetlbfs mount backs them.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ringport/result.hpp"

namespace ringport::detail {

struct huge_mount {
  std::string dir;
  std::uint64_t page_size = 0;
};

/// The tmpfs root (RINGPORT_SHM_DIR, else /dev/shm).
std::string shm_root();
/// The hugetlbfs mount to use: RINGPORT_HUGETLBFS if set (must be a hugetlbfs
/// mount), else the first writable hugetlbfs mount in /proc/mounts whose page
/// size is the kernel's default huge page size, else any writable one.
result<huge_mount> find_huge_mount();
/// <root>/ringport.<domain>
std::string domain_dir(const std::string& root, const std::string& domain);
/// mkdir -p for the domain directory (mode 0700, or 0770 with group access).
result<void> ensure_dir(const std::string& dir, bool group_access);
/// Closes a file descriptor on scope exit. Move-only: a copy would close the
/// descriptor twice, and for the domain lock release the flock early.
struct fd_guard {
  int fd = -1;
  fd_guard() = default;
  explicit fd_guard(int f) noexcept : fd(f) {}
  fd_guard(fd_guard&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

/// Opens a domain directory (O_DIRECTORY, for *at() calls and flock) without
/// following a symbolic link at it: errc::symlink_refused for a link,
/// not_regular_file for something else that is not a directory, not_found
/// when it does not exist. (The root above it is the user's choice and may
/// be a link.)
result<fd_guard> open_domain_dir(const std::string& dir);

/// Reports a notice on the handler set by set_notice_handler (stderr by default).
void notice(std::string_view msg);
/// In a domain's /dev/shm directory: made by the first create that fell back
/// from huge pages to base pages, so that the notice is said once per domain
/// (segment.cpp); `ringport gc` removes it with the doorbell table.
inline constexpr const char* huge_fallback_marker_name = ".huge-fallback~";
/// Huge page sizes the kernel offers, in bytes (from /sys/kernel/mm/hugepages).
std::string huge_page_summary();

}  // namespace ringport::detail
