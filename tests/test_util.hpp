// Helpers shared by the tests: private domains, forked children, huge pages.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "ringport/segment.hpp"

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

/// What an opener saw while polling a name that a child process created and
/// removed in a loop (issue 12: open() racing create()).
struct open_race {
  std::size_t polls = 0;
  std::size_t found = 0;       ///< opens that succeeded
  std::size_t found_huge = 0;  ///< of which on huge pages
  std::size_t partial = 0;     ///< of which the payload was not wholly initialised
  std::size_t missing = 0;     ///< opens that failed with not_found
  std::size_t other = 0;       ///< any other outcome
  std::string first_other;     ///< the message of the first other outcome
  int creator_rc = -1;         ///< the creator's exit code: 0 when every create and remove succeeded
  std::uint64_t rounds = 0;    ///< the creator's create + remove rounds
};
/// Polls segment::open(name) at least min_polls times, and on until both
/// outcomes were seen (at most 100 * min_polls), while a forked child creates
/// `name` with `opt` (its initializer fills the payload with 0x5a, so a whole
/// segment is recognisable) and removes it, in a loop.
open_race race_open_against_create(const std::string& name, const ringport::segment_options& opt,
                                   std::size_t min_polls);

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
