// A forked child that holds ring or mailbox handles until it is killed:
// for the tests of takeover and crash recovery.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "test_util.hpp"

namespace ringport_test {

/// A forked child that holds a role until it is killed. It runs
/// body(hold): body takes the role and moves some items, then calls hold(),
/// which tells the parent "0" and sleeps with body's handles still alive; or
/// body returns a failure code, which the parent gets instead.
class holder {
 public:
  explicit holder(const std::function<int(const std::function<void()>& hold)>& body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(fds[0]);
      auto tell = [&](int v) {
        if (::write(fds[1], &v, sizeof v) != sizeof v) ::_exit(98);
      };
      const int rc = body([&] {
        tell(0);
        for (;;) ::pause();
      });
      tell(rc);
      ::_exit(rc);
    }
    ::close(fds[1]);
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, 30'000) != 1 || ::read(fds[0], &report_, sizeof report_) != sizeof report_)
      report_ = -1;
    ::close(fds[0]);
  }
  ~holder() {
    if (pid_ > 0) kill();
  }
  holder(const holder&) = delete;
  holder& operator=(const holder&) = delete;

  /// 0: holding the role; > 0: the child's failure code; -1: no answer.
  int report() const { return report_; }
  /// SIGKILL, then reap; returns the child's wait status as wait_child does.
  int kill() {
    ::kill(pid_, SIGKILL);
    const int rc = ringport_test::wait_child(pid_);
    pid_ = -1;
    return rc;
  }

 private:
  pid_t pid_ = -1;
  int report_ = -1;
};

}  // namespace ringport_test
