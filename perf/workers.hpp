// A team of workers for one measurement: threads (thread mode) or forked
// processes (process mode), each pinned to its CPU before it runs. Everything
// the workers share must already sit in a shared_box (shared.hpp).
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "scenario.hpp"

namespace bench {

/// Worker exit codes: 0 success, else one of these.
enum worker_exit : int { exit_ok = 0, exit_pin = 3, exit_endpoint = 4, exit_transport = 5 };

class team {
 public:
  /// `shared`/`bytes`: the workers' shared state. Forked workers map all of
  /// it before they run, so no measurement pays for first-touch faults.
  team(const run_context& ctx, void* shared, std::size_t bytes) : ctx_(ctx), shared_(shared), bytes_(bytes) {}
  team(const team&) = delete;
  team& operator=(const team&) = delete;
  ~team() { join(); }

  /// Starts fn as the next worker. false when fork/thread creation failed.
  bool spawn(std::function<int()> fn);
  /// Waits for every worker. true when all returned exit_ok; else why() says.
  bool join();
  const std::string& why() const noexcept { return why_; }

 private:
  void note_exit(unsigned worker, int code);
  run_context ctx_;
  void* shared_;
  std::size_t bytes_;
  std::vector<std::thread> threads_;
  std::deque<int> thread_rc_;  // deque: each thread keeps a stable pointer to its slot
  std::vector<pid_t> pids_;
  std::string why_;
  bool joined_ = false;
};

}  // namespace bench
