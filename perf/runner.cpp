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
  ctx.producers = sc.producers;
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

// The probe's p50 in ns, 0 when it failed.
double probe_floor(const scenario& probe, const plan& p) {
  run_context ctx = context_for(probe, p);
  ctx.seconds = p.probe_seconds;
  const measurement m = run_once(probe, ctx, p);
  return m.ok ? static_cast<double>(m.rtt_ns[0]) : 0;
}

// The median repetition by Mmsg/s, and the notes every row carries.
void finish_row(row& out, const std::vector<measurement>& reps, const plan& p) {
  if (out.m.why[0] == '\0' && !reps.empty()) {
    std::vector<std::size_t> order(reps.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return reps[a].mops() < reps[b].mops(); });
    out.m = reps[order[(order.size() - 1) / 2]];
  }
  for (const std::string& extra : {out.sc->note, oversubscription(*out.sc, p)}) {
    if (extra.empty()) continue;
    const std::string note = out.m.note;
    set_text(out.m.note, note.empty() ? extra : note + "; " + extra);
  }
}

}  // namespace

double row::figure(std::size_t i) const noexcept {
  return sc->has_latency() ? runs[i].p50_ns : runs[i].mops;
}

double row::spread() const noexcept {
  if (runs.empty()) return 1;
  double lo = figure(0), hi = lo;
  for (std::size_t i = 1; i < runs.size(); ++i) {
    lo = std::min(lo, figure(i));
    hi = std::max(hi, figure(i));
  }
  return lo > 0 ? hi / lo : 1;
}

void load_samples::take() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return;
  double l1 = 0, l5 = 0, l15 = 0;
  int running = 0, total = 0;
  // "0.52 0.58 0.59 2/467 12345": runnable tasks now, this one included.
  const bool got = std::fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total) == 5;
  std::fclose(f);
  if (!got) return;
  const int others = std::max(0, running - 1);
  ++samples;
  if (others > 0) ++busy;
  max_others = std::max(max_others, others);
}

std::vector<row> run_group(const std::vector<const scenario*>& members, const scenario& probe, const plan& p,
                           load_samples& load, const progress_fn& progress) {
  std::vector<row> rows(members.size());
  std::vector<std::vector<measurement>> reps(members.size());
  for (std::size_t k = 0; k < members.size(); ++k) rows[k].sc = members[k];
  // Run order within a round: thread rows, then process rows (registration
  // order in each), so a row sits near the rows it is compared with; odd
  // rounds run it backwards, so a slow drift of the machine favours neither
  // side of a pair.
  std::vector<std::size_t> order(members.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return members[a]->mode < members[b]->mode; });
  for (unsigned round = 0; round < p.reps; ++round) {
    for (std::size_t i = 0; i < members.size(); ++i) {
      const std::size_t k = round % 2 == 0 ? order[i] : order[members.size() - 1 - i];
      row& out = rows[k];
      if (out.m.why[0] != '\0') continue;  // failed in an earlier round
      progress(round, *out.sc);
      const auto t0 = std::chrono::steady_clock::now();
      load.take();
      run_record rec;
      rec.round = round;
      rec.floor_ns = probe_floor(probe, p);
      measurement m = run_once(*out.sc, context_for(*out.sc, p), p);
      out.wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!m.ok) {
        out.m = m;  // one failed repetition fails the row
        out.runs.clear();
        reps[k].clear();
        continue;
      }
      rec.mops = m.mops();
      rec.p50_ns = static_cast<double>(m.rtt_ns[0]);
      out.runs.push_back(rec);
      reps[k].push_back(m);
    }
  }
  for (std::size_t k = 0; k < members.size(); ++k) finish_row(rows[k], reps[k], p);
  return rows;
}

}  // namespace bench
