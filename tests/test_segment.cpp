// Tests of ringport::segment: the round trip, every refusal open() and
// create() document, races between processes, and the huge-page fallback.
//
// Every test works in the process's private domain (test_util) and, unless it
// is about huge pages, asks for pages::normal so that a hugetlbfs mount on the
// machine cannot change what it exercises. Header fields are corrupted by
// pwrite() through the file, as a hostile or broken peer would.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ringport/detail/ring_state.hpp"
#include "ringport/detail/segment_header.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/node.hpp"
#include "ringport/ring.hpp"
#include "ringport/segment.hpp"
#include "test_util.hpp"

using namespace ringport;
using detail::segment_header;

namespace {

segment_options normal_pages() {
  segment_options opt;
  opt.backing = pages::normal;
  return opt;
}

// Asserts that r failed with `code` and that its message names `needle`.
template <class T>
void expect_error(const result<T>& r, errc code, const std::string& needle) {
  REQUIRE_FALSE(r.has_value());
  const std::string& msg = r.error().message;
  INFO("error: ", r.error().code.message(), ": ", msg);
  CHECK(r.error() == code);
  CHECK_FALSE(msg.empty());
  CHECK(msg.find(needle) != std::string::npos);
}

// Creates `name` on normal pages, drops the mapping, returns the file's path.
std::string make_file(const char* name, segment_options opt = normal_pages()) {
  auto s = segment::create(name, 4096, opt);
  REQUIRE_MESSAGE(s, s.error().message);
  return s->info().path;
}

template <class T>
void patch(const std::string& path, std::size_t offset, T value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const auto n = ::pwrite(fd, &value, sizeof value, static_cast<off_t>(offset));
  ::close(fd);
  REQUIRE(n == static_cast<ssize_t>(sizeof value));
}

mode_t file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets an environment variable for one scope, restoring the old value.
struct env_override {
  std::string key;
  std::optional<std::string> old;
  env_override(const char* k, const std::string& value) : key(k) {
    if (const char* v = std::getenv(k)) old = v;
    ::setenv(k, value.c_str(), 1);
  }
  ~env_override() {
    if (old)
      ::setenv(key.c_str(), old->c_str(), 1);
    else
      ::unsetenv(key.c_str());
  }
};

// A fresh directory under /tmp, removed at scope exit. /tmp is never a
// hugetlbfs mount, so RINGPORT_HUGETLBFS pointing here means "no huge pages".
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/ringport-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Forks n children that block on a pipe until all exist, then run fn(i)
// together; returns their exit codes.
std::vector<int> fork_after_barrier(int n, const std::function<int(int)>& fn) {
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::fflush(nullptr);
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
      }
      ::_exit(fn(i));
    }
    if (pid < 0) break;
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // end of file on the pipe: every child starts now
  std::vector<int> codes;
  for (pid_t pid : pids) codes.push_back(ringport_test::wait_child(pid));
  REQUIRE(pids.size() == static_cast<std::size_t>(n));
  return codes;
}

// Forks a child running fn (its return value is the exit code); returns its pid.
pid_t spawn(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  REQUIRE(pid > 0);
  return pid;
}

// Kills and reaps a child still running at scope exit (a failed REQUIRE must
// not leave it behind).
struct child_guard {
  pid_t pid;
  int reap() { return ringport_test::wait_child(std::exchange(pid, -1)); }
  ~child_guard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ringport_test::wait_child(pid);
  }
};

// The names in a directory.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// The directory entries that are temporaries of segment `name`.
std::vector<std::string> temporaries_of(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : entries(dir))
    if (e.rfind("." + name + "~", 0) == 0) out.push_back(e);
  return out;
}

bool listed(const std::string& name) {
  auto all = segment::list();
  REQUIRE_MESSAGE(all, all.error().message);
  return std::any_of(all->begin(), all->end(), [&](const segment_info& i) { return i.name == name; });
}

void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const auto n = ::write(fd, bytes.data(), bytes.size());
  ::close(fd);
  REQUIRE(n == static_cast<ssize_t>(bytes.size()));
}

void check_bad_name(const std::string& name) {
  const auto opt = normal_pages();
  expect_error(segment::create(name, 4096, opt), errc::invalid_name, "segment name");
  expect_error(segment::open(name, opt), errc::invalid_name, "[A-Za-z0-9._-]");
  expect_error(segment::open_or_create(name, 4096, opt), errc::invalid_name, "segment name");
  expect_error(segment::remove(name), errc::invalid_name, "segment name");
}

void check_bad_domain(const std::string& domain) {
  auto opt = normal_pages();
  opt.domain = domain;
  expect_error(segment::create("ok", 4096, opt), errc::invalid_name, "domain");
  expect_error(segment::open("ok", opt), errc::invalid_name, "[A-Za-z0-9._-]");
  expect_error(segment::open_or_create("ok", 4096, opt), errc::invalid_name, "domain");
  expect_error(segment::remove("ok", domain), errc::invalid_name, "domain");
  expect_error(segment::list(domain), errc::invalid_name, "domain");
}

const std::string long_name(65, 'n');

}  // namespace

TEST_CASE("segment round trip across fork") {
  auto s = segment::create("rt", 4096, normal_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  std::memcpy(s->payload(), "parent", 7);
  const std::uint64_t creator = detail::self_owner();
  CHECK(s->info().creator_owner == creator);
  const int rc = ringport_test::run_in_child([creator] {
    auto c = segment::open("rt");
    if (!c || std::memcmp(c->payload(), "parent", 7) != 0) return 1;
    if (c->info().creator_owner != creator || c->info().creator_pid != (creator & 0xffffff)) return 2;
    std::memcpy(c->payload(), "child", 6);
    return 0;
  });
  CHECK(rc == 0);
  CHECK(std::memcmp(s->payload(), "child", 6) == 0);
  CHECK(segment::remove("rt"));
}

// --- names -----------------------------------------------------------------

TEST_CASE("name '/' is refused") {
  check_bad_name("/");
}
TEST_CASE("name '..' is refused") {
  check_bad_name("..");
}
TEST_CASE("name '.' is refused") {
  check_bad_name(".");
}
TEST_CASE("empty name is refused") {
  check_bad_name("");
}
TEST_CASE("65-character name is refused, 64 accepted") {
  check_bad_name(long_name);
  const std::string max(64, 'n');
  auto s = segment::create(max, 4096, normal_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(segment::remove(max));
}
TEST_CASE("name with a control character is refused, escaped in the message") {
  check_bad_name("a\nb");
  expect_error(segment::open("a\nb"), errc::invalid_name, "'a\\x0ab'");
}
TEST_CASE("name with a space is refused") {
  check_bad_name("a b");
}

TEST_CASE("domain '/' is refused") {
  check_bad_domain("/");
}
TEST_CASE("domain '..' is refused") {
  check_bad_domain("..");
}
TEST_CASE("domain '.' is refused") {
  check_bad_domain(".");
}
TEST_CASE("empty domain means the effective domain, never a directory named ''") {
  // An empty domain in the options is documented to mean RINGPORT_DOMAIN;
  // the validator itself refuses "" so it can never reach a path.
  expect_error(validate_name("", "domain"), errc::invalid_name, "is empty");
  CHECK(effective_domain("") == ringport_test::domain());
  {
    env_override env("RINGPORT_DOMAIN", "");
    CHECK(effective_domain("") == "default");
  }
  auto opt = normal_pages();
  opt.domain = "";
  auto s = segment::create("empty-domain", 4096, opt);
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(s->info().domain == ringport_test::domain());
  CHECK(segment::remove("empty-domain"));
}
TEST_CASE("65-character domain is refused") {
  check_bad_domain(long_name);
}
TEST_CASE("domain with a control character is refused") {
  check_bad_domain("a\tb");
}
TEST_CASE("domain with a space is refused") {
  check_bad_domain("a b");
}
TEST_CASE("a bad RINGPORT_DOMAIN is refused like a bad option") {
  env_override env("RINGPORT_DOMAIN", "../escape");
  expect_error(segment::create("ok", 4096, normal_pages()), errc::invalid_name, "../escape");
  expect_error(segment::open("ok"), errc::invalid_name, "domain");
}

TEST_CASE("payload size 0 is an invalid argument") {
  expect_error(segment::create("zero", 0, normal_pages()), errc::invalid_argument, "size");
  expect_error(segment::open("zero"), errc::not_found, "zero");
}

// --- existence -----------------------------------------------------------------

TEST_CASE("create of a taken name fails with already_exists and leaves the first intact") {
  auto first = segment::create("twice", 4096, normal_pages());
  REQUIRE_MESSAGE(first, first.error().message);
  std::memcpy(first->payload(), "first", 6);
  expect_error(segment::create("twice", 4096, normal_pages()), errc::already_exists, "twice");
  auto again = segment::open("twice");
  REQUIRE_MESSAGE(again, again.error().message);
  CHECK(std::memcmp(again->payload(), "first", 6) == 0);
  CHECK(segment::remove("twice"));
}

TEST_CASE("open of a missing name fails with not_found naming the domain") {
  expect_error(segment::open("missing"), errc::not_found, "missing");
  expect_error(segment::open("missing"), errc::not_found, ringport_test::domain());
  expect_error(segment::remove("missing"), errc::not_found, "missing");
}

TEST_CASE("remove: later opens fail, existing mappings keep working") {
  auto s = segment::create("gone", 4096, normal_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  auto peer = segment::open("gone");
  REQUIRE_MESSAGE(peer, peer.error().message);
  REQUIRE(segment::remove("gone"));
  expect_error(segment::open("gone"), errc::not_found, "gone");
  expect_error(segment::remove("gone"), errc::not_found, "gone");
  // Both mappings still share the (now nameless) memory.
  std::memcpy(s->payload(), "still here", 11);
  CHECK(std::memcmp(peer->payload(), "still here", 11) == 0);
  // The name is free again, for a new and unrelated segment.
  auto fresh = segment::create("gone", 4096, normal_pages());
  REQUIRE_MESSAGE(fresh, fresh.error().message);
  CHECK(fresh->payload()[0] == std::byte{0});
  CHECK(std::memcmp(s->payload(), "still here", 11) == 0);
  CHECK(segment::remove("gone"));
}

// --- what sits at the name ---------------------------------------------------

TEST_CASE("a symlink at the name is refused by open and create") {
  const std::string target = make_file("link-target");
  const std::string link = std::filesystem::path(target).parent_path() / "link";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  expect_error(segment::open("link"), errc::symlink_refused, "symbolic link");
  expect_error(segment::create("link", 4096, normal_pages()), errc::already_exists, "link");
  CHECK(segment::remove("link"));  // unlinks the link, not its target
  CHECK(segment::open("link-target"));
  CHECK(segment::remove("link-target"));
}

TEST_CASE("a fifo at the name is refused as not a regular file") {
  const std::string dir = std::filesystem::path(make_file("fifo-sibling")).parent_path();
  const std::string fifo = dir + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_error(segment::open("fifo"), errc::not_regular_file, "not a regular file");
  CHECK(segment::remove("fifo"));
  CHECK(segment::remove("fifo-sibling"));
}

TEST_CASE("a directory at the name is refused as not a regular file") {
  const std::string dir = std::filesystem::path(make_file("dir-sibling")).parent_path();
  const std::string sub = dir + "/subdir";
  REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
  expect_error(segment::open("subdir"), errc::not_regular_file, "directory");
  CHECK(::rmdir(sub.c_str()) == 0);
  CHECK(segment::remove("dir-sibling"));
}

TEST_CASE("a file with a mode wider than 0660 is refused") {
  const std::string path = make_file("wide");
  REQUIRE(::chmod(path.c_str(), 0666) == 0);
  expect_error(segment::open("wide"), errc::bad_mode, "0666");
  REQUIRE(::chmod(path.c_str(), 0640) == 0);  // narrower than 0660 is fine
  CHECK(segment::open("wide"));
  CHECK(segment::remove("wide"));
}

TEST_CASE("a file of another owner is refused") {
  if (::geteuid() != 0) {
    MESSAGE("SKIP foreign-owner check: needs root to chown a file to another user");
    return;
  }
  const std::string path = make_file("foreign");
  REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  expect_error(segment::open("foreign"), errc::foreign_owner, "65534");
  CHECK(segment::remove("foreign"));
}

TEST_CASE("modes: 0600 by default, 0660 with group_access whatever the umask") {
  auto opt = normal_pages();
  CHECK(file_mode(make_file("private", opt)) == 0600);
  opt.group_access = true;
  const mode_t old_mask = ::umask(077);
  const std::string shared = make_file("grouped", opt);
  ::umask(old_mask);
  CHECK(file_mode(shared) == 0660);
  CHECK(segment::open("grouped"));
  CHECK(segment::remove("private"));
  CHECK(segment::remove("grouped"));
}

// --- header validation -------------------------------------------------------

TEST_CASE("a file shorter than its header says is truncated") {
  const std::string path = make_file("short");
  REQUIRE(::truncate(path.c_str(), 4096 / 2) == 0);
  expect_error(segment::open("short"), errc::truncated, "bytes");
  REQUIRE(::truncate(path.c_str(), 100) == 0);  // not even a whole header
  expect_error(segment::open("short"), errc::truncated, "shorter than a segment header");
  CHECK(segment::remove("short"));
}

TEST_CASE("a file longer than its header says is an inconsistent layout") {
  const std::string path = make_file("long");
  auto s = segment::open("long");
  REQUIRE(s);
  const auto size = static_cast<off_t>(s->info().total_size);
  REQUIRE(::truncate(path.c_str(), size * 2) == 0);
  expect_error(segment::open("long"), errc::bad_layout, "remove and recreate");
  CHECK(segment::remove("long"));
}

TEST_CASE("a wrong magic is refused") {
  const std::string path = make_file("magic");
  patch(path, offsetof(segment_header, magic), std::uint64_t{0x0123456789abcdef});
  expect_error(segment::open("magic"), errc::bad_magic, "not a ringport segment");
  CHECK(segment::remove("magic"));  // a corrupt file can still be removed
}

TEST_CASE("a wrong layout version is refused") {
  const std::string path = make_file("version");
  patch(path, offsetof(segment_header, version), std::uint32_t{99});
  expect_error(segment::open("version"), errc::bad_version, "version 99");
  CHECK(segment::remove("version"));
}

TEST_CASE("a wrong object kind is refused") {
  auto opt = normal_pages();
  opt.kind = object_kind::spsc;
  opt.element_size = 8;
  const std::string path = make_file("kind", opt);
  CHECK(segment::open("kind", opt));
  patch(path, offsetof(segment_header, kind), static_cast<std::uint32_t>(object_kind::mpmc));
  expect_error(segment::open("kind", opt), errc::wrong_kind, "holds a mpmc, not a spsc");
  CHECK(segment::remove("kind"));
}

TEST_CASE("a wrong element size is refused as the wrong kind") {
  auto opt = normal_pages();
  opt.kind = object_kind::spsc;
  opt.element_size = 8;
  make_file("elem", opt);
  opt.element_size = 16;
  expect_error(segment::open("elem", opt), errc::wrong_kind, "8-byte elements, expected 16");
  CHECK(segment::remove("elem"));
}

TEST_CASE("another cache-line size is refused as another architecture") {
  const std::string path = make_file("arch");
  patch(path, offsetof(segment_header, cache_line), std::uint32_t{32});
  expect_error(segment::open("arch"), errc::wrong_arch, "architecture");
  CHECK(segment::remove("arch"));
}

TEST_CASE("an impossible payload offset is an inconsistent layout") {
  const std::string path = make_file("layout");
  patch(path, offsetof(segment_header, payload_offset), std::uint64_t{8});
  expect_error(segment::open("layout"), errc::bad_layout, "inconsistent header");
  CHECK(segment::remove("layout"));
}

TEST_CASE("a header still initialising times out") {
  const std::string path = make_file("stuck");
  patch(path, offsetof(segment_header, state), static_cast<std::uint32_t>(detail::init_state::initialising));
  auto opt = normal_pages();
  opt.open_timeout = std::chrono::milliseconds(50);
  expect_error(segment::open("stuck", opt), errc::init_timeout, "still initialising");
  CHECK(segment::remove("stuck"));
}

// --- huge pages ----------------------------------------------------------------

TEST_CASE("pages::huge without huge pages fails with advice, and creates nothing") {
  temp_dir not_hugetlbfs;
  env_override env("RINGPORT_HUGETLBFS", not_hugetlbfs.path);
  segment_options opt;
  opt.backing = pages::huge;
  expect_error(segment::create("huge", 4096, opt), errc::no_huge_pages, "nr_hugepages");
  expect_error(segment::create("huge", 4096, opt), errc::no_huge_pages, "or pass pages::any");
  expect_error(segment::open("huge"), errc::not_found, "huge");
}

// Each create runs in a process of its own (a child): the notice is said by
// the first process that falls back in a domain, not by every process.
// Exit codes: 0 ok, 1 create failed, 2 wrong page info, 3 wrong number of
// notices, 4 wrong text (no reason, no domain, or the advice to pass
// pages::any, which is what was passed).
namespace {
int fallback_child(const std::string& hugetlbfs, const std::string& domain, const std::string& name,
                   std::size_t want_notices) {
  return ringport_test::run_in_child([&] {
    ::setenv("RINGPORT_HUGETLBFS", hugetlbfs.c_str(), 1);
    ::setenv("RINGPORT_DOMAIN", domain.c_str(), 1);
    std::vector<std::string> notices;
    set_notice_handler([&](std::string_view m) { notices.emplace_back(m); });
    segment_options opt;
    opt.backing = pages::any;
    for (const char* suffix : {"1", "2"}) {
      auto s = segment::create(name + suffix, 4096, opt);
      if (!s) return 1;
      if (s->info().huge_pages || s->info().page_size != static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)))
        return 2;
    }
    set_notice_handler({});
    if (notices.size() != want_notices) return 3;
    if (want_notices == 1 && (notices[0].find("huge pages unavailable") == std::string::npos ||
                              notices[0].find(hugetlbfs) == std::string::npos ||
                              notices[0].find("'" + domain + "'") == std::string::npos ||
                              notices[0].find("pages::any") != std::string::npos))
      return 4;
    return 0;
  });
}
}  // namespace

TEST_CASE("pages::any without huge pages falls back to base pages, said once per domain") {
  temp_dir not_hugetlbfs;
  const std::string first = ringport_test::domain() + "-fallback", second = first + "2";
  CHECK(fallback_child(not_hugetlbfs.path, first, "a", 1) == 0);
  CHECK(std::filesystem::exists("/dev/shm/ringport." + first + "/.huge-fallback~"));
  CHECK(fallback_child(not_hugetlbfs.path, first, "b", 0) == 0);   // the same domain: quiet
  CHECK(fallback_child(not_hugetlbfs.path, second, "c", 1) == 0);  // another domain: said there
  std::error_code ec;
  for (const std::string& d : {first, second}) std::filesystem::remove_all("/dev/shm/ringport." + d, ec);
}

// --- processes racing ----------------------------------------------------------

TEST_CASE("8 processes racing to create one name: exactly one wins") {
  // Exit codes: 0 created, 1 already_exists, 2 any other outcome.
  const auto codes = fork_after_barrier(8, [](int) {
    auto s = segment::create("race", 4096, normal_pages());
    if (s) return 0;
    return s.error() == errc::already_exists ? 1 : 2;
  });
  int created = 0, refused = 0;
  for (int c : codes) {
    created += c == 0;
    refused += c == 1;
  }
  CHECK(created == 1);
  CHECK(refused == 7);
  CHECK(segment::remove("race"));
}

TEST_CASE("8 processes racing in open_or_create all see the one creator's segment") {
  // Each child reports {pid found in the payload, its own pid} on a pipe and
  // exits 0 if its initializer ran (it created), 1 if it opened, 2 on error.
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const auto codes = fork_after_barrier(8, [&](int) {
    ::close(report[0]);
    bool ran_init = false;
    auto s = segment::open_or_create("shared", 4096, normal_pages(), [&](std::byte* p, std::size_t) {
      const auto me = static_cast<std::uint32_t>(::getpid());
      std::memcpy(p, &me, sizeof me);
      ran_init = true;
    });
    if (!s) {
      std::fprintf(stderr, "child %d: open_or_create: %s\n", static_cast<int>(::getpid()),
                   s.error().message.c_str());
      return 2;
    }
    std::uint32_t rec[2];
    std::memcpy(&rec[0], s->payload(), sizeof rec[0]);
    rec[1] = static_cast<std::uint32_t>(::getpid());
    if (rec[0] != s->info().creator_pid) {
      std::fprintf(stderr, "child %d: payload names pid %u, header pid %u\n", static_cast<int>(::getpid()),
                   rec[0], s->info().creator_pid);
      return 2;
    }
    if (::write(report[1], rec, sizeof rec) != static_cast<ssize_t>(sizeof rec)) return 2;
    return ran_init ? 0 : 1;
  });
  ::close(report[1]);
  std::vector<std::uint32_t> seen, children;
  std::uint32_t rec[2];
  while (::read(report[0], rec, sizeof rec) == static_cast<ssize_t>(sizeof rec)) {
    seen.push_back(rec[0]);
    children.push_back(rec[1]);
  }
  ::close(report[0]);
  int created = 0, opened = 0;
  for (int c : codes) {
    created += c == 0;
    opened += c == 1;
  }
  CHECK(created == 1);
  CHECK(opened == 7);
  REQUIRE(seen.size() == 8);
  for (auto pid : seen) CHECK(pid == seen[0]);
  CHECK(std::find(children.begin(), children.end(), seen[0]) != children.end());
  auto s = segment::open("shared");
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(s->info().creator_pid == seen[0]);
  CHECK(segment::remove("shared"));
}

// --- open() racing create() (issue 12) ----------------------------------------

TEST_CASE("an opener polling while a creator creates and removes sees only not_found or a whole segment") {
  const auto r = ringport_test::race_open_against_create("racing", normal_pages(), 10000);
  MESSAGE("polls ", r.polls, ": found ", r.found, ", not_found ", r.missing, ", other ", r.other,
          "; creator rounds ", r.rounds);
  INFO("first other outcome: ", r.first_other);
  CHECK(r.creator_rc == 0);
  CHECK(r.polls >= 10000);
  CHECK(r.other == 0);
  CHECK(r.partial == 0);
  CHECK(r.found > 0);
  CHECK(r.missing > 0);
  CHECK(r.found + r.missing == r.polls);
}

TEST_CASE("a creator killed mid-creation leaves a temporary that open and list never see; create sweeps it") {
  const std::string dir = std::filesystem::path(make_file("victim-sibling")).parent_path();
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  // The child stops inside its initializer: the file exists, half made.
  child_guard creator{spawn([&] {
    ::close(ready[0]);
    auto s = segment::create("victim", 4096, normal_pages(), [&](std::byte*, std::size_t) {
      (void)::write(ready[1], "x", 1);
      for (;;) ::pause();
    });
    return 3;
  })};
  ::close(ready[1]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  CHECK(temporaries_of(dir, "victim").size() == 1);
  expect_error(segment::open("victim"), errc::not_found, "victim");
  CHECK_FALSE(listed("victim"));
  CHECK(listed("victim-sibling"));
  REQUIRE(::kill(creator.pid, SIGKILL) == 0);
  CHECK(creator.reap() == 128 + SIGKILL);
  const auto left = temporaries_of(dir, "victim");
  REQUIRE(left.size() == 1);
  expect_error(segment::open("victim"), errc::not_found, "victim");
  CHECK_FALSE(listed("victim"));
  // A dry run names it and leaves it; the next create removes it.
  auto named = segment::collect_temporaries({}, true);
  REQUIRE_MESSAGE(named, named.error().message);
  REQUIRE(named->size() == 1);
  CHECK((*named)[0] == dir + "/" + left[0]);
  CHECK(temporaries_of(dir, "victim").size() == 1);
  auto s = segment::create("victim", 4096, normal_pages());
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(temporaries_of(dir, "victim").empty());
  CHECK(listed("victim"));
  CHECK(segment::remove("victim"));
  CHECK(segment::remove("victim-sibling"));
}

TEST_CASE("collect_temporaries removes only temporaries of dead creators") {
  const std::string dir = std::filesystem::path(make_file("sweep-sibling")).parent_path();
  // A dead creator's owner word: a child's, after it exited.
  int pipe_fd[2];
  REQUIRE(::pipe(pipe_fd) == 0);
  const pid_t child = spawn([&] {
    const std::uint64_t me = detail::self_owner();
    return ::write(pipe_fd[1], &me, sizeof me) == static_cast<ssize_t>(sizeof me) ? 0 : 1;
  });
  std::uint64_t dead_owner = 0;
  REQUIRE(::read(pipe_fd[0], &dead_owner, sizeof dead_owner) == static_cast<ssize_t>(sizeof dead_owner));
  ::close(pipe_fd[0]);
  ::close(pipe_fd[1]);
  REQUIRE(ringport_test::wait_child(child) == 0);
  auto temp = [](const char* name, long pid, std::uint64_t owner) {
    char buf[128];
    std::snprintf(buf, sizeof buf, ".%s~%ld-%llx", name, pid, static_cast<unsigned long long>(owner));
    return std::string(buf);
  };
  const std::string dead = temp("a", child, dead_owner);
  const std::string live = temp("b", ::getpid(), detail::self_owner());
  // Not temporaries: the doorbell table, malformed tails, names outside the alphabet.
  const std::vector<std::string> others{".doorbells~", ".c~12",   ".c~-1f",         ".c~12-",
                                        ".c~12-zz",    "c~12-1f", ".bad name~12-1f"};
  for (const auto& n : others) write_file(dir + "/" + n, {1, 2, 3});
  write_file(dir + "/" + dead, {});
  write_file(dir + "/" + live, {});
  auto swept = segment::collect_temporaries();
  REQUIRE_MESSAGE(swept, swept.error().message);
  REQUIRE(swept->size() == 1);
  CHECK((*swept)[0] == dir + "/" + dead);
  const auto now = entries(dir);
  CHECK(std::find(now.begin(), now.end(), dead) == now.end());
  CHECK(std::find(now.begin(), now.end(), live) != now.end());
  for (const auto& n : others) CHECK_MESSAGE(std::find(now.begin(), now.end(), n) != now.end(), n);
  CHECK_FALSE(listed("a"));
  CHECK_FALSE(listed("b"));
  for (const auto& n : others) std::filesystem::remove(dir + "/" + n);
  std::filesystem::remove(dir + "/" + live);
  auto none = segment::collect_temporaries("no-such-domain-here");
  REQUIRE_MESSAGE(none, none.error().message);
  CHECK(none->empty());
  CHECK(segment::remove("sweep-sibling"));
}

TEST_CASE("list shows segment names starting with '.', never temporaries") {
  make_file(".dotted");
  CHECK(listed(".dotted"));
  CHECK(segment::remove(".dotted"));
}

// --- open_wait -------------------------------------------------------------------

TEST_CASE("open_wait returns once the creator has created the segment") {
  expect_error(segment::open("late"), errc::not_found, "late");
  const pid_t creator = spawn([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto s =
        segment::create("late", 4096, normal_pages(), [](std::byte* p, std::size_t) { p[0] = std::byte{7}; });
    return s ? 0 : 1;
  });
  auto s = segment::open_wait("late", std::chrono::steady_clock::now() + std::chrono::seconds(60));
  CHECK(ringport_test::wait_child(creator) == 0);
  REQUIRE_MESSAGE(s, s.error().message);
  CHECK(s->payload()[0] == std::byte{7});
  CHECK(segment::remove("late"));
}

TEST_CASE("open_wait fails with not_found only once its deadline has passed") {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
  expect_error(segment::open_wait("never", deadline), errc::not_found, "never");
  CHECK(std::chrono::steady_clock::now() >= deadline);
  // A deadline in the past still tries once.
  make_file("already");
  CHECK(segment::open_wait("already", std::chrono::steady_clock::time_point{}));
  CHECK(segment::remove("already"));
}

TEST_CASE("open_wait returns other errors at once") {
  const std::string path = make_file("bad-wait");
  patch(path, offsetof(segment_header, magic), std::uint64_t{1});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  expect_error(segment::open_wait("bad-wait", deadline), errc::bad_magic, "not a ringport segment");
  CHECK(std::chrono::steady_clock::now() < deadline);
  CHECK(segment::remove("bad-wait"));
}

TEST_CASE("ring, mailbox and node wait for their object to appear") {
  using clock = std::chrono::steady_clock;
  int go[2];
  REQUIRE(::pipe(go) == 0);
  // The child makes all three late, then holds the node until the pipe closes.
  const pid_t maker = spawn([&] {
    ::close(go[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ring_options ro;
    ro.capacity = 8;
    ro.backing = pages::normal;
    auto r = spsc<std::uint64_t>::create("late-ring", ro);
    mailbox_options mo;
    mo.capacity = 8;
    mo.backing = pages::normal;
    auto m = mailbox::create("late-box", mo);
    auto n = node::join("latenode");
    if (!r || !m || !n) return 1;
    char c;
    while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
  });
  ::close(go[0]);
  const auto deadline = clock::now() + std::chrono::seconds(60);
  auto r = spsc<std::uint64_t>::open_wait("late-ring", deadline);
  auto m = mailbox::open_wait("late-box", deadline);
  auto holder = node::holder_until("latenode", deadline);
  ::close(go[1]);
  CHECK(ringport_test::wait_child(maker) == 0);
  CHECK_MESSAGE(r, r.error().message);
  CHECK_MESSAGE(m, m.error().message);
  REQUIRE_MESSAGE(holder, holder.error().message);
  CHECK(*holder == static_cast<std::uint32_t>(maker));
  // The wrong kind is an error at once, not a wait.
  expect_error(mpmc<std::uint64_t>::open_wait("late-ring", deadline), errc::wrong_kind, "spsc");
  CHECK(clock::now() < deadline);
  // At the deadline: not_found, and 0 for a node nobody joined.
  const auto soon = clock::now() + std::chrono::milliseconds(30);
  expect_error(spsc<std::uint64_t>::open_wait("no-ring", soon), errc::not_found, "no-ring");
  expect_error(mailbox::open_wait("no-box", soon), errc::not_found, "no-box");
  auto nobody = node::holder_until("nobody", soon);
  REQUIRE_MESSAGE(nobody, nobody.error().message);
  CHECK(*nobody == 0);
  CHECK(clock::now() >= soon);
  CHECK(segment::remove("late-ring"));
  CHECK(segment::remove("late-box"));
  CHECK(segment::remove("node.latenode"));
}

// --- issue 10: what open() must refuse at once -----------------------------------

TEST_CASE("a symlinked domain directory is refused by open, list, create, remove and collect_temporaries") {
  const std::string dir = std::filesystem::path(make_file("behind-link")).parent_path();
  const std::string linked = ringport_test::domain() + "-ln";
  const std::string link = std::filesystem::path(dir).parent_path() / ("ringport." + linked);
  REQUIRE(::symlink(dir.c_str(), link.c_str()) == 0);
  struct unlink_at_exit {
    std::string path;
    ~unlink_at_exit() { ::unlink(path.c_str()); }  // also when a REQUIRE fails
  } remove_link{link};
  auto opt = normal_pages();
  opt.domain = linked;
  expect_error(segment::open("behind-link", opt), errc::symlink_refused, link);
  expect_error(
      segment::open_wait("behind-link", std::chrono::steady_clock::now() + std::chrono::seconds(60), opt),
      errc::symlink_refused, "symbolic link");
  expect_error(segment::list(linked), errc::symlink_refused, link);
  expect_error(segment::create("new", 4096, opt), errc::symlink_refused, "symbolic link");
  expect_error(segment::collect_temporaries(linked), errc::symlink_refused, "symbolic link");
  expect_error(segment::remove("behind-link", linked), errc::symlink_refused, "symbolic link");
  CHECK(segment::open("behind-link"));  // the real directory is fine
  CHECK(segment::remove("behind-link"));
}

TEST_CASE("a planted file that is not a ringport segment is refused at once, naming its path") {
  const std::string dir = std::filesystem::path(make_file("plant-sibling")).parent_path();
  auto opt = normal_pages();
  opt.open_timeout = std::chrono::seconds(60);  // refusals must not wait at all
  const auto deadline = std::chrono::steady_clock::now() + opt.open_timeout;
  std::vector<unsigned char> noise(8192);
  std::uint32_t x = 12345;
  for (auto& b : noise) b = static_cast<unsigned char>((x = x * 1103515245 + 12345) >> 16);
  write_file(dir + "/random", noise);
  expect_error(segment::open("random", opt), errc::bad_magic, dir + "/random");
  expect_error(segment::open("random", opt), errc::bad_magic, "not a ringport segment");
  // Zeros are what a half-made file used to look like: refused too.
  write_file(dir + "/zeros", std::vector<unsigned char>(8192, 0));
  expect_error(segment::open("zeros", opt), errc::bad_magic, "not a ringport segment");
  write_file(dir + "/empty", {});
  expect_error(segment::open("empty", opt), errc::truncated, "not a ringport segment");
  CHECK(std::chrono::steady_clock::now() < deadline);
  // list() skips them.
  CHECK_FALSE(listed("random"));
  CHECK(listed("plant-sibling"));
  for (const char* n : {"random", "zeros", "empty", "plant-sibling"}) CHECK(segment::remove(n));
}

TEST_CASE("an unfinished header whose creator died is refused at once, saying so") {
  // The creator is a child that exits; the header is then marked unfinished.
  const int rc =
      ringport_test::run_in_child([] { return segment::create("orphan", 4096, normal_pages()) ? 0 : 1; });
  REQUIRE(rc == 0);
  const std::string path = std::filesystem::path(make_file("orphan-sibling")).parent_path() / "orphan";
  patch(path, offsetof(segment_header, state), static_cast<std::uint32_t>(detail::init_state::initialising));
  auto opt = normal_pages();
  opt.open_timeout = std::chrono::seconds(60);
  const auto deadline = std::chrono::steady_clock::now() + opt.open_timeout;
  expect_error(segment::open("orphan", opt), errc::init_timeout, "died");
  expect_error(segment::open("orphan", opt), errc::init_timeout, "ringport gc");
  // A live process that reused the creator's pid is no creator: the start
  // time differs (here: this process's pid with another start time; the
  // owner word keeps the pid in its low 24 bits).
  const std::uint64_t reused = detail::self_owner() + (std::uint64_t{1} << 24);
  patch(path, offsetof(segment_header, creator_pid), static_cast<std::uint32_t>(::getpid()));
  patch(path, offsetof(segment_header, creator_owner), reused);
  expect_error(segment::open("orphan", opt), errc::init_timeout,
               "(pid " + std::to_string(::getpid()) + ") died");
  CHECK(std::chrono::steady_clock::now() < deadline);
  // Its real owner word: alive, so open waits (bounded) instead.
  patch(path, offsetof(segment_header, creator_owner), detail::self_owner());
  opt.open_timeout = std::chrono::milliseconds(30);
  expect_error(segment::open("orphan", opt), errc::init_timeout, "is alive");
  CHECK(segment::remove("orphan"));
  CHECK(segment::remove("orphan-sibling"));
}
