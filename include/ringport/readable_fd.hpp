// ringport/readable_fd.hpp — wait on rings and mailboxes from any event loop
// (epoll, poll, asio, libuv, io_uring; the `io` layer, link ringport::io).
//
// readable_fd::create(targets) returns an object whose fd() becomes readable
// when any target (a consumer's or receiver's readable()) may have data or
// its ring closed. The loop:
//
//   epoll_wait(...)          // fd() readable
//   drain the targets        // try_pop / try_receive until would_block
//   rfd.rearm();             // true: something is ready already, fd() stays readable
//
// How (wake_mode::uring_futex, kernels >= 6.7): a private io_uring whose fd
// is fd() (an io_uring fd polls readable while its completion queue holds an
// entry). rearm() reaps the queue, registers as a waiter on each target's
// event count exactly as a parked thread does (key = seq, waiters += 1, the
// F-WAIT fence: detail/event_count.hpp), re-checks the targets, and then
// either posts a NOP (ready now: the fd stays readable) or submits one
// IORING_OP_FUTEX_WAITV (FUTEX_WAIT for one target) on the seq words with
// those keys. A producer's notify sees the registration and bumps seq and
// wakes the futex; one that bumped seq before the kernel queued the wait
// makes it complete at once (-EAGAIN). Either way a completion arrives: no
// lost wake-up, and no thread.
//
// Kernels before 6.7 lack those opcodes (probed once with
// IORING_REGISTER_PROBE): wake_mode::helper_thread runs one thread per
// readable_fd that, while armed, sleeps in wait_any() on the targets and then
// writes an eventfd, which is fd(). RINGPORT_READABLE_FD=thread forces it
// (as does asking for it), for tests.
//
// Contract: call rearm() from the thread that owns the target handles; after
// a rearm() that returned false, do not use those handles until fd() polled
// readable (the helper thread reads their state meanwhile). A readable fd()
// means "look": it can be readable with nothing to take (another consumer of
// a multi-consumer ring was faster). Crash recovery: a producer that dies
// mid-publication stalls its consumer until the next rearm(), which runs the
// targets' idle hooks (call rearm() now and then, e.g. from a 50 ms timer, if
// producers may be SIGKILLed).
//
// Debian 12's liburing 2.3 and kernel headers 6.1 predate the futex opcodes:
// their numbers and SQE fields come from a small checked shim
// (runtime/io/uring_futex.hpp).
#pragma once

#include <memory>
#include <span>

#include "ringport/result.hpp"
#include "ringport/wait.hpp"

struct io_uring_sqe;

namespace ringport {

enum class wake_mode : std::uint8_t { automatic, uring_futex, helper_thread };

/// Whether this kernel's io_uring has IORING_OP_FUTEX_WAIT and FUTEX_WAITV
/// (probed once; false also when io_uring is unavailable).
bool uring_futex_supported() noexcept;
/// Why not, when uring_futex_supported() is false (one line).
const char* uring_futex_unsupported_reason() noexcept;

class readable_fd {
 public:
  readable_fd();
  readable_fd(readable_fd&&) noexcept;
  readable_fd& operator=(readable_fd&&) noexcept;
  ~readable_fd();

  /// Up to wait_any_max targets; armed on return (rearm() done).
  /// errc::unsupported when uring_futex is asked for and missing.
  static result<readable_fd> create(std::span<const waitable> targets, wake_mode mode = wake_mode::automatic);

  /// Pollable for reading (EPOLLIN / POLLIN); owned by this object.
  int fd() const noexcept;
  /// Consumes the readiness and arms again; true when a target is ready now
  /// (fd() then stays readable).
  bool rearm() noexcept;
  wake_mode mode() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

/// For io_uring users: prepares `sqe` (from the caller's own ring) to
/// complete when target may have data. Registers as a waiter first; when the
/// target is ready already it prepares a NOP (completes at once) and returns
/// true, else an IORING_OP_FUTEX_WAIT on its event count and returns false.
/// Leaves user_data to the caller. Needs uring_futex_supported().
bool prep_readable_wait(io_uring_sqe* sqe, const waitable& target) noexcept;

}  // namespace ringport
