#include "runner.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "shared.hpp"

namespace bench {
namespace {

// Waits for pid up to `seconds`; returns its wait status, or -1 on timeout.
int wait_for(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  for (;;) {
    int st = 0;
    const pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (pidfd >= 0) close(pidfd);
      return st;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    if (pidfd >= 0) {
      // Sleeps without waking up the CPUs the workers are pinned to.
      pollfd p{pidfd, POLLIN, 0};
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
      poll(&p, 1, static_cast<int>(std::min<long long>(ms, 1000)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // no pidfd: poll slowly
    }
  }
  if (pidfd >= 0) close(pidfd);
  return -1;
}

run_context context_for(const scenario& sc, const plan& p) {
  run_context ctx;
  ctx.mode = sc.mode;
  ctx.seconds = p.seconds;
  if (p.pin && !p.cpu_order.empty()) {
    for (unsigned i = 0; i < sc.workers(); ++i) ctx.cpus.push_back(p.cpu_order[i % p.cpu_order.size()]);
  }
  return ctx;
}

// One repetition in a child of its own process group.
measurement run_once(const scenario& sc, const run_context& ctx, const plan& p) {
  shared_box<measurement> box;
  measurement failed;
  if (!box) {
    failed.fail("mmap for the result failed");
    return failed;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    failed.fail("fork failed");
    return failed;
  }
  if (pid == 0) {
    setpgid(0, 0);
    sc.run(ctx, *box);
    _exit(box->ok ? 0 : 1);
  }
  setpgid(pid, pid);  // also here, so the kill below cannot race the child's call
  const int st = wait_for(pid, p.timeout);
  if (st == -1) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    failed.fail("watchdog: no result after " + std::to_string(static_cast<int>(p.timeout)) + " s, killed");
    return failed;
  }
  if (WIFSIGNALED(st)) {
    kill(-pid, SIGKILL);  // workers the child left behind
    failed.fail(std::string("measuring process killed by signal ") + std::to_string(WTERMSIG(st)));
    return failed;
  }
  measurement m = *box;
  if (!m.ok && m.why[0] == '\0') m.fail("measuring process failed without a reason");
  return m;
}

std::string oversubscription(const scenario& sc, const plan& p) {
  if (sc.workers() <= p.allowed_cpus) return {};
  return "oversubscribed: " + std::to_string(sc.workers()) + " workers on " + std::to_string(p.allowed_cpus) +
         " CPUs";
}

}  // namespace

row run_scenario(const scenario& sc, const plan& p) {
  row out;
  out.sc = &sc;
  const auto t0 = std::chrono::steady_clock::now();
  const run_context ctx = context_for(sc, p);
  std::vector<measurement> reps;
  // A row may ask for fewer repetitions than the plan (never more).
  const unsigned want = sc.reps != 0 ? std::min(sc.reps, p.reps) : p.reps;
  for (unsigned i = 0; i < want; ++i) {
    measurement m = run_once(sc, ctx, p);
    if (!m.ok) {
      out.m = m;  // one failed repetition fails the scenario
      reps.clear();
      break;
    }
    out.runs.push_back(m.mops());
    reps.push_back(m);
  }
  if (!reps.empty()) {
    std::vector<std::size_t> order(reps.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return reps[a].mops() < reps[b].mops(); });
    out.m = reps[order[(order.size() - 1) / 2]];
  }
  const std::string fewer = want != p.reps ? std::to_string(want) + " repetition(s)" : std::string();
  for (const std::string& extra : {sc.note, fewer, oversubscription(sc, p)}) {
    if (extra.empty()) continue;
    const std::string note = out.m.note;
    set_text(out.m.note, note.empty() ? extra : note + "; " + extra);
  }
  out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace bench
