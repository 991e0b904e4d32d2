// result<T> (issue 12): using the value of a failed result aborts with the
// error's message in every build, never a null dereference.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "ringport/ring.hpp"
#include "test_util.hpp"

using namespace ringport;

namespace {

/// Runs fn in a child with stderr captured; returns {wait status, stderr}.
template <class F>
std::pair<int, std::string> run_capturing_stderr(F&& fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return {st, err};
}

}  // namespace

TEST_CASE("a failed result used as a value aborts with its message") {
  auto [st, err] = run_capturing_stderr([] {
    auto r = spsc<int>::open("no-such-ring-here");
    auto c = r->consumer();  // unchecked: the README's consumer-first misuse
    (void)c;
  });
  REQUIRE(WIFSIGNALED(st));
  CHECK(WTERMSIG(st) == SIGABRT);
  CHECK(err.find("without checking it") != std::string::npos);
  CHECK(err.find("no-such-ring-here") != std::string::npos);
}

TEST_CASE("operator* and value() of a failed result abort too; a good result is untouched") {
  for (int form = 0; form < 2; ++form) {
    auto [st, err] = run_capturing_stderr([form] {
      result<int> r(errc::invalid_argument, "capacity 3 is not a power of two");
      const int v = form == 0 ? *r : r.value();
      std::printf("%d\n", v);
    });
    REQUIRE(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == SIGABRT);
    CHECK(err.find("capacity 3 is not a power of two") != std::string::npos);
  }
  result<int> ok(7);
  REQUIRE(ok);
  CHECK(*ok == 7);
  CHECK(ok.value() == 7);
  CHECK(ok.error().message.empty());
}
