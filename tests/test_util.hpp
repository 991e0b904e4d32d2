// Helpers shared by the tests: private domains, forked children, huge pages.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

namespace ringport_test {

/// Sets RINGPORT_DOMAIN to a name unique to this process ("test-<pid>").
void use_private_domain();
/// Removes every file of the private domain (both backings).
void remove_private_domain();
/// The private domain's name.
const std::string& domain();

/// Runs fn in a forked child; returns the child's exit status (0 = success).
/// fn returns the exit code; an escaped doctest failure cannot happen there,
/// so children report failures through the code.
int run_in_child(const std::function<int()>& fn);
/// Waits for a child started with fork(); returns its exit code, or 128+signal.
int wait_child(pid_t pid);

/// A /proc/meminfo field (e.g. "HugePages_Free:"), 0 when absent.
std::uint64_t meminfo(const char* key);
/// The kernel's default huge page size in bytes (0: none).
std::uint64_t default_huge_page_bytes();

/// Tries to arrange huge pages: as root makes sure at least `pages` huge pages
/// of the default size are free (raising /proc/sys/vm/nr_hugepages if needed)
/// and mounts a private hugetlbfs, setting RINGPORT_HUGETLBFS to it. Returns an
/// empty string on success, else the reason it could not.
std::string arrange_huge_pages(unsigned pages);
/// Undoes arrange_huge_pages().
void release_huge_pages();

}  // namespace ringport_test
