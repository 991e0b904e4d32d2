#include "workers.hpp"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "ringport/topology.hpp"

namespace bench {
namespace {

int run_pinned(const run_context& ctx, unsigned index, const std::function<int()>& fn) {
  if (!ctx.cpus.empty()) {
    const unsigned cpu = ctx.cpus[index % ctx.cpus.size()];
    if (!ringport::pin_this_thread(cpu)) return exit_pin;
  }
  return fn();
}

const char* describe(int code) {
  switch (code) {
    case exit_pin:
      return "could not pin to its CPU";
    case exit_endpoint:
      return "could not attach to the transport";
    case exit_transport:
      return "transport call failed";
    default:
      return "failed";
  }
}

}  // namespace

bool team::spawn(std::function<int()> fn) {
  const unsigned index = static_cast<unsigned>(threads_.size() + pids_.size());
  joined_ = false;
  if (ctx_.mode == run_mode::thread) {
    thread_rc_.push_back(exit_ok);
    int* rc = &thread_rc_.back();
    threads_.emplace_back([ctx = ctx_, index, fn = std::move(fn), rc] { *rc = run_pinned(ctx, index, fn); });
    return true;
  }
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
#ifdef MADV_POPULATE_WRITE
    madvise(shared_, bytes_, MADV_POPULATE_WRITE);  // best effort (Linux 5.14+)
#endif
    _exit(run_pinned(ctx_, index, fn));
  }
  pids_.push_back(pid);
  return true;
}

void team::note_exit(unsigned worker, int code) {
  if (code == exit_ok || !why_.empty()) return;
  why_ = "worker " + std::to_string(worker) + " " + describe(code) + " (code " + std::to_string(code) + ")";
}

bool team::join() {
  if (joined_) return why_.empty();
  joined_ = true;
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    threads_[i].join();
    note_exit(static_cast<unsigned>(i), thread_rc_[i]);
  }
  threads_.clear();
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    int st = 0;
    while (waitpid(pids_[i], &st, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    note_exit(static_cast<unsigned>(i), code);
  }
  pids_.clear();
  return why_.empty();
}

}  // namespace bench
