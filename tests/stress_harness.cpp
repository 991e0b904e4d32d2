// The non-template half of the stress harness: scenarios, volume, the shared
// board, the crew of threads or processes, and the checks.
#include "stress_harness.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

// Default volume per kind and mode: 10 million stamped items. Sanitized
// builds run each item several times slower, so they default to 3 million.
// Measured on the 2-core development VM while other builds shared it:
// release 10 M: both binaries ~45 s; ASan 10 M: ~90 s (3 M: ~30 s);
// TSan (thread mode only) 10 M: ~140 s (3 M: ~45 s).
// RINGPORT_STRESS_ITEMS (environment, or compile definition) overrides.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RINGPORT_STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RINGPORT_STRESS_SANITIZED 1
#endif
#endif

namespace ringport_test::stress {
namespace {

#if defined(RINGPORT_STRESS_ITEMS)
constexpr std::uint64_t default_items = RINGPORT_STRESS_ITEMS;
#elif defined(RINGPORT_STRESS_SANITIZED)
constexpr std::uint64_t default_items = 3'000'000;
#else
constexpr std::uint64_t default_items = 10'000'000;
#endif

// Capacities and the share of a kind's items each gets. Tiny rings hand over
// one slot at a time (a context switch per item when threads outnumber
// cores), so they get few items; they still wrap around on every item.
struct capacity_share {
  std::size_t capacity;
  std::uint64_t weight;
};
constexpr capacity_share shares[] = {{1, 1}, {2, 1}, {4, 1}, {1024, 97}};
constexpr std::uint64_t total_weight = 1 + 1 + 1 + 97;

}  // namespace

std::uint64_t env_number(const char* var, std::uint64_t fallback) {
  const char* s = std::getenv(var);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (*end != '\0' || v == 0) {
    std::fprintf(stderr, "ignoring %s=%s: not a positive integer\n", var, s);
    return fallback;
  }
  return v;
}

const char* to_string(path p) noexcept {
  switch (p) {
    case path::single:
      return "single";
    case path::blocking:
      return "blocking";
    case path::batch:
      return "batch";
    case path::zero_copy:
      return "zero_copy";
    case path::mixed:
      return "mixed";
  }
  return "?";
}

const char* to_string(mode m) noexcept {
  return m == mode::threads ? "thread" : "process";
}

std::uint32_t producers_for(ringport::object_kind k) noexcept {
  return k == ringport::object_kind::mpsc || k == ringport::object_kind::mpmc ? 4 : 1;
}
std::uint32_t consumers_for(ringport::object_kind k) noexcept {
  return k == ringport::object_kind::spmc || k == ringport::object_kind::mpmc ? 4 : 1;
}

std::vector<scenario> plan(ringport::object_kind kind, std::uint64_t items) {
  // Per capacity: the four concrete paths on the push side, each against the
  // pop path `shift` further on (shift = capacity's index), so every
  // (push, pop) pair runs at one capacity; then one mixed run.
  std::vector<scenario> out;
  constexpr std::size_t runs_per_capacity = concrete_paths + 1;
  for (std::size_t ci = 0; ci < std::size(shares); ++ci) {
    const std::uint64_t share = (items * shares[ci].weight + total_weight - 1) / total_weight;
    const std::uint64_t per_run = (share + runs_per_capacity - 1) / runs_per_capacity;
    for (std::size_t run = 0; run < runs_per_capacity; ++run) {
      scenario sc;
      sc.capacity = shares[ci].capacity;
      sc.producers = producers_for(kind);
      sc.consumers = consumers_for(kind);
      if (run < concrete_paths) {
        sc.push_path = static_cast<path>(run);
        sc.pop_path = static_cast<path>((run + ci) % concrete_paths);
      } else {
        sc.push_path = sc.pop_path = path::mixed;
      }
      sc.per_producer = (per_run + sc.producers - 1) / sc.producers;
      sc.seed = out.size() + 1;
      sc.label = std::string(ringport::to_string(kind)) + " cap=" + std::to_string(sc.capacity) +
                 " push=" + to_string(sc.push_path) + " pop=" + to_string(sc.pop_path);
      out.push_back(std::move(sc));
    }
  }
  return out;
}

std::uint64_t items_per_kind() {
  return env_number("RINGPORT_STRESS_ITEMS", default_items);
}

bool verbose() {
  const char* v = std::getenv("RINGPORT_STRESS_VERBOSE");
  return v && *v && std::strcmp(v, "0") != 0;
}

std::chrono::seconds watchdog_limit() {
  return std::chrono::seconds(env_number("RINGPORT_STRESS_WATCHDOG_S", 120));
}

// ---------------------------------------------------------------- messages

namespace {
// A checksum of n bytes, a word at a time (tail bytes zero-padded).
std::uint64_t checksum(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t h = mix64(n);
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, std::min<std::size_t>(8, n - i));
    h = mix64(h ^ w) + i;
  }
  return h;
}
}  // namespace

std::size_t message_length(std::uint32_t producer, std::uint64_t seq, std::size_t max) noexcept {
  constexpr std::size_t head = sizeof(message_header);
  return max <= head ? head : head + static_cast<std::size_t>(mix64(stamp(producer, seq)) % (max - head + 1));
}

std::size_t write_message(std::span<std::byte> out, std::uint32_t producer, std::uint64_t seq,
                          std::size_t max) noexcept {
  const std::size_t len = message_length(producer, seq, max);
  std::byte* payload = out.data() + sizeof(message_header);
  const std::size_t n = len - sizeof(message_header);
  rng fill(stamp(producer, seq));
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t w = fill.next();
    std::memcpy(payload + i, &w, std::min<std::size_t>(8, n - i));
  }
  const message_header h{make_item(producer, seq), len, checksum(payload, n)};
  std::memcpy(out.data(), &h, sizeof h);
  return len;
}

const char* verify_message(std::span<const std::byte> msg, std::size_t max, message_header* head) noexcept {
  if (msg.size() < sizeof(message_header)) return "shorter than a message header";
  message_header h{};
  std::memcpy(&h, msg.data(), sizeof h);
  *head = h;
  const item& v = h.stamp;
  if (v.pad != ~v.producer || v.check != stamp(v.producer, v.seq)) return "torn or foreign header";
  if (h.length != msg.size() || h.length != message_length(v.producer, v.seq, max)) return "wrong length";
  if (h.payload_sum != checksum(msg.data() + sizeof h, msg.size() - sizeof h)) return "torn payload";
  return nullptr;
}

// ---------------------------------------------------------------- board

int board::fail(const char* fmt, ...) noexcept {
  aborted.store(1, std::memory_order_relaxed);
  // The first failure owns `message`; the runner reads it after the workers
  // are joined or reaped, which orders it after this write.
  if (failures.fetch_add(1, std::memory_order_acq_rel) == 0) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
  }
  return 1;
}

bool board::start_line(std::uint32_t workers) noexcept {
  arrived.fetch_add(1, std::memory_order_acq_rel);
  while (arrived.load(std::memory_order_acquire) < workers) {
    if (aborted.load(std::memory_order_relaxed) != 0) return false;
    ::sched_yield();
  }
  return true;
}

board_map::board_map(std::uint64_t counters) : bytes_(sizeof(board) + counters) {
  // MAP_SHARED: forked workers write the same pages; anonymous memory
  // starts zeroed, so every counter starts at 0. MAP_NORESERVE: a table
  // sized for the worst case (the chaos test's) costs only the pages used.
  void* p =
      ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    throw std::runtime_error(std::string("mmap of the stress board: ") + std::strerror(errno));
  b_ = new (p) board;
}

board_map::~board_map() {
  b_->~board();
  ::munmap(b_, bytes_);
}

// ---------------------------------------------------------------- crew

namespace {
int exit_code(int wait_status) noexcept {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}
}  // namespace

crew::~crew() {
  // Normally every worker is done by now; after an exception, make sure.
  bool running = false;
  for (std::size_t i = 0; i < codes_.size(); ++i) running = running || code(i) < 0;
  if (running) stop(std::chrono::seconds(30));
  for (auto& t : threads_) t.join();
}

void crew::start(std::function<int()> fn) {
  std::atomic<int>& code = codes_.emplace_back(-1);
  if (mode_ == mode::threads) {
    threads_.emplace_back([fn = std::move(fn), &code] { code.store(fn(), std::memory_order_release); });
    return;
  }
  std::fflush(nullptr);  // or the child flushes the parent's buffered output again
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Die with the test process: a runner killed (say, by a CTest timeout)
    // leaves no workers behind. The parent may have gone before the prctl.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    int rc = 99;
    try {
      rc = fn();
    } catch (...) {
    }
    ::_exit(rc);  // no atexit handlers: they belong to the parent's test run
  }
  pids_.push_back(pid);
}

bool crew::wait(std::size_t first, std::size_t n, clock::time_point deadline) {
  for (;;) {
    bool all = true;
    for (std::size_t i = first; i < first + n; ++i) {
      if (code(i) >= 0) continue;
      if (mode_ == mode::processes) {
        int st = 0;
        const pid_t r = ::waitpid(pids_[i], &st, WNOHANG);
        if (r == pids_[i]) {
          codes_[i].store(exit_code(st), std::memory_order_release);
          continue;
        }
      }
      all = false;
    }
    if (all) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int crew::kill(std::size_t i) {
  if (code(i) >= 0) return code(i);
  ::kill(pids_[i], SIGKILL);
  int st = 0;
  while (::waitpid(pids_[i], &st, 0) < 0) {
    if (errno != EINTR) {
      st = 255 << 8;  // cannot happen for our own child; read as exit code 255
      break;
    }
  }
  codes_[i].store(exit_code(st), std::memory_order_release);
  return code(i);
}

void crew::stop(std::chrono::seconds grace) {
  abort_();
  if (mode_ == mode::processes) {
    for (std::size_t i = 0; i < pids_.size(); ++i) (void)kill(i);
    return;
  }
  if (!wait(0, codes_.size(), clock::now() + grace)) {
    std::fprintf(stderr, "stress: worker threads still running %lld s after the abort; giving up\n",
                 static_cast<long long>(grace.count()));
    std::abort();
  }
}

// ---------------------------------------------------------------- checks

bool checker::operator()(const item& v) noexcept {
  const char* what = nullptr;
  std::uint64_t prev = none;
  if (v.producer >= sc_.producers || v.pad != ~v.producer || v.check != stamp(v.producer, v.seq) ||
      v.seq >= sc_.per_producer) {
    what = "torn or foreign item";
  } else {
    std::uint64_t& last = last_[v.producer];
    prev = last;
    // One consumer sees each producer's whole sequence; several see
    // increasing subsequences of it.
    if (sc_.consumers == 1 ? v.seq != last + 1 : (last != none && v.seq <= last)) what = "out of order";
    last = v.seq;
    // relaxed: a counter, read by the runner after every worker is done.
    std::atomic_ref<std::uint8_t> seen(b_.seen()[v.producer * sc_.per_producer + v.seq]);
    if (what == nullptr && seen.fetch_add(1, std::memory_order_relaxed) != 0) what = "duplicate";
  }
  if (what == nullptr) return true;
  b_.fail("%s: consumer %u: %s: {producer %u, pad %#x, seq %llu, check %#llx} (previous seq from it: %lld)",
          sc_.label.c_str(), id_, what, v.producer, v.pad, static_cast<unsigned long long>(v.seq),
          static_cast<unsigned long long>(v.check), static_cast<long long>(prev));
  return false;
}

std::string count_check(board& b, const scenario& sc) {
  const std::uint8_t* seen = b.seen();
  std::uint64_t lost = 0, extra = 0, first_bad = ~std::uint64_t{0};
  for (std::uint64_t i = 0; i < sc.total(); ++i) {
    if (seen[i] == 1) continue;
    (seen[i] == 0 ? lost : extra) += 1;
    if (first_bad == ~std::uint64_t{0}) first_bad = i;
  }
  if (lost == 0 && extra == 0) return {};
  return std::to_string(lost) + " items lost, " + std::to_string(extra) +
         " delivered more than once; first: producer " + std::to_string(first_bad / sc.per_producer) +
         " seq " + std::to_string(first_bad % sc.per_producer);
}

}  // namespace ringport_test::stress
