// ringport gc: removes what nobody uses any more from a domain.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "cli.hpp"
#include "inspect.hpp"
#include "paths.hpp"

namespace ringport::cli {
namespace {

const char* help_gc = R"(usage: ringport gc [--domain D] [--dry-run] [--force]
Removes from the domain what nobody uses any more:
  - stale segments (every recorded user is dead or gone; see `ringport ls
    --help`) that hold no unread messages; with --force also those that
    do, saying how many messages each removal drops. This covers rings,
    mailboxes, the link mailboxes of nodes that are gone, node segments
    nobody holds, and raw segments whose creator is gone;
  - the doorbell table (.doorbells~) and the marker that the huge-page
    fallback was reported (.huge-fallback~) when nothing in the domain is
    in use;
  - temporary files of creators that died while creating (".NAME~PID-...");
  - with --force, files at segment names that cannot be opened at all
    (another layout version, damaged or foreign; `ringport ls` shows them
    as invalid, with the reason);
  - the domain's directories once they are empty.
Never a segment with a live user, one whose state is unknown, or any other
internal file (names starting with '.'). Each segment is checked again just
before it is removed; a process that opens it in between keeps its mapping
but loses the name. Run gc in the pid namespace of the segments' users.
--dry-run prints what would be removed and removes nothing.
Output: one line per segment acted on or kept for a reason:
  removed|would remove|kept NAME (why)
exit: 0 ok (also when nothing was stale), 1 error (no such domain, a
removal failed), 2 usage.
)";

struct gc_run {
  bool dry = false;
  bool force = false;
  bool live_remains = false;
  unsigned removed = 0;
  std::uint64_t dropped = 0;
  int rc = exit_ok;
  std::map<std::string, std::size_t> gone_in;  // dir -> entries removed (or that would be)
};

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string messages(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " unread message" : " unread messages");
}

// Acts on one segment: nothing unless stale, and unread messages only with --force.
void collect(gc_run& run, const segment_info& info) {
  detail::segment_usage u = detail::inspect(info);
  if (u.state == detail::usage::unknown) {
    run.live_remains = true;
    std::printf("kept %s (state unknown: %s)\n", info.name.c_str(), u.reason.c_str());
    return;
  }
  if (u.state != detail::usage::stale) {
    run.live_remains = true;
    return;
  }
  if (u.unread != 0 && !run.force) {
    std::printf("kept %s (stale, but %s; --force drops them)\n", info.name.c_str(),
                messages(u.unread).c_str());
    return;
  }
  const std::string what = std::string(to_string(info.kind)) + ", stale" +
                           (u.unread != 0 ? ", " + messages(u.unread) + " dropped" : std::string());
  if (run.dry) {
    std::printf("would remove %s (%s)\n", info.name.c_str(), what.c_str());
  } else {
    // Once more, right before the unlink: a process may have attached since.
    u = detail::inspect(info);
    if (u.state != detail::usage::stale || (u.unread != 0 && !run.force)) {
      run.live_remains = run.live_remains || u.state != detail::usage::stale;
      std::printf("kept %s (it changed while gc ran)\n", info.name.c_str());
      return;
    }
    if (auto ok = segment::remove(info.name, info.domain); !ok) {
      run.rc = fail("gc", ok.error());
      return;
    }
    std::printf("removed %s (%s)\n", info.name.c_str(), what.c_str());
  }
  ++run.removed;
  run.dropped += u.unread;
  ++run.gone_in[dir_of(info.path)];
}

void remove_file(gc_run& run, const std::string& path, const char* why) {
  if (run.dry) {
    std::printf("would remove %s (%s)\n", path.c_str(), why);
  } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    run.rc = fail("gc", "unlink " + path + ": " + std::strerror(errno));
    return;
  } else {
    std::printf("removed %s (%s)\n", path.c_str(), why);
  }
  ++run.gone_in[dir_of(path)];
}

// The marker that the huge-page fallback notice was said (segment.cpp): goes
// with the doorbell table, so that a domain made again hears it again.
void remove_fallback_marker(gc_run& run, const detail::domain_contents& dom) {
  if (run.live_remains) return;
  for (const std::string& dir : dom.dirs) {
    const std::string marker = dir + "/" + detail::huge_fallback_marker_name;
    struct stat st {};
    if (::lstat(marker.c_str(), &st) == 0)
      remove_file(run, marker, "huge-page notice said; nothing in the domain is in use");
  }
}

void remove_empty_dir(gc_run& run, const std::string& dir) {
  const std::size_t left = detail::dir_entries(dir).size();
  if (run.dry) {
    if (left == run.gone_in[dir]) std::printf("would remove %s (empty domain directory)\n", dir.c_str());
    return;
  }
  if (left != 0) return;
  if (::rmdir(dir.c_str()) == 0)
    std::printf("removed %s (empty domain directory)\n", dir.c_str());
  else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
    run.rc = fail("gc", "rmdir " + dir + ": " + std::strerror(errno));
}

}  // namespace

int cmd_gc(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "gc", {{"--dry-run", "", false}, {"--force", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_gc, stdout), exit_ok;
  if (!a->positional.empty()) return fail("gc", "takes no arguments (see --help)", exit_usage);
  auto dom = detail::read_domain(a->get("--domain"));
  if (!dom) return fail("gc", dom.error());
  gc_run run;
  run.dry = a->has("--dry-run");
  run.force = a->has("--force");
  for (const segment_info& info : dom->segments) collect(run, info);
  // Files this build cannot open at all: only with --force.
  for (const auto& f : dom->unreadable) {
    if (!run.force) {
      run.live_remains = true;
      std::printf("kept %s (cannot be opened: %s; --force removes it)\n", f.name.c_str(), f.reason.c_str());
      continue;
    }
    remove_file(run, f.path, "cannot be opened; --force");
  }
  if (!dom->doorbell_file.empty() && !run.live_remains)
    remove_file(run, dom->doorbell_file, "doorbell table; nothing in the domain is in use");
  remove_fallback_marker(run, *dom);
  // Half-made files of creators killed while creating (segment.hpp).
  if (auto temps = segment::collect_temporaries(dom->domain, run.dry); !temps) {
    run.rc = fail("gc", temps.error());
  } else {
    for (const std::string& path : *temps) {
      std::printf("%s %s (temporary file of a creator that died while creating)\n",
                  run.dry ? "would remove" : "removed", path.c_str());
      ++run.gone_in[dir_of(path)];
    }
  }
  for (const std::string& dir : dom->dirs) remove_empty_dir(run, dir);
  std::printf("gc: %s %u segment%s in domain '%s'", run.dry ? "would remove" : "removed", run.removed,
              run.removed == 1 ? "" : "s", dom->domain.c_str());
  if (run.dropped != 0)
    std::printf(", %s %s", run.dry ? "dropping" : "dropped", messages(run.dropped).c_str());
  std::printf("\n");
  return run.rc;
}

}  // namespace ringport::cli
