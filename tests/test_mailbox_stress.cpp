// Many processes on one mailbox: 3 senders and 3 receivers (forked), one
// million messages of random sizes 0..max in release builds. Each message
// carries a stamp {sender, seq, length, checksum}; receivers check the
// checksum, that each sender's messages reach them in increasing order, and
// mark every (sender, seq) in a shared table, so a lost or doubled message
// is caught. Messages shorter than the stamp carry a prefix of it and are
// counted (exactly once by count). A watchdog fails the test instead of
// hanging.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint32_t total_messages = 60000;
#else
constexpr std::uint32_t total_messages = 1000000;
#endif
constexpr int senders = 3;
constexpr int receivers = 3;
constexpr std::uint32_t per_sender = (total_messages + senders - 1) / senders;
constexpr std::size_t max_size = 512;
constexpr auto watchdog = 150s;

struct stamp {
  std::uint32_t sender, seq, length, checksum;
};

std::uint32_t mix(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
// The length of message seq of a sender: random-looking, reproducible.
std::size_t length_of(std::uint32_t sender, std::uint32_t seq) {
  return mix(sender * 0x9e3779b9U + seq) % (max_size + 1);
}
std::uint8_t fill_byte(std::uint32_t sender, std::uint32_t seq, std::size_t i) {
  return static_cast<std::uint8_t>(mix(sender ^ (seq << 3)) + i * 13);
}
std::uint32_t checksum(const std::byte* p, std::size_t n, const stamp& s) {
  std::uint32_t h = 2166136261U ^ s.sender ^ (s.seq * 31) ^ (s.length * 977);  // FNV-1a
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<std::uint8_t>(p[i])) * 16777619U;
  return h;
}

// Shared by every process (anonymous MAP_SHARED, made before fork).
struct shared_results {
  std::atomic<std::uint32_t> errors;
  std::atomic<std::uint32_t> short_received;
  std::atomic<std::uint32_t> first_error_line;
  std::uint8_t seen[senders][per_sender];  // times each (sender, seq) arrived
};

#define STRESS_FAIL(res)                                             \
  do {                                                               \
    std::uint32_t zero = 0;                                          \
    (res)->first_error_line.compare_exchange_strong(zero, __LINE__); \
    (res)->errors.fetch_add(1);                                      \
    return 1;                                                        \
  } while (0)

int run_sender(const char* name, std::uint32_t id, shared_results* res) {
  auto box = mailbox::open(name);
  if (!box) STRESS_FAIL(res);
  auto tx = box->sender();
  if (!tx) STRESS_FAIL(res);
  std::array<std::byte, max_size> msg{};
  for (std::uint32_t seq = 0; seq < per_sender; ++seq) {
    const std::size_t len = length_of(id, seq);
    for (std::size_t i = sizeof(stamp); i < len; ++i) msg[i] = std::byte{fill_byte(id, seq, i)};
    stamp s{id, seq, static_cast<std::uint32_t>(len), 0};
    if (len >= sizeof(stamp)) s.checksum = checksum(msg.data() + sizeof(stamp), len - sizeof(stamp), s);
    std::memcpy(msg.data(), &s, std::min(len, sizeof(stamp)));
    // Every 64th message goes through the zero-copy path, every 997th is sync.
    if (seq % 64 == 0) {
      std::span<std::byte> w;
      if (tx->claim_until(len, w, std::chrono::steady_clock::now() + watchdog) != status::ok)
        STRESS_FAIL(res);
      std::memcpy(w.data(), msg.data(), len);
      if (tx->commit(len) != status::ok) STRESS_FAIL(res);
    } else if (tx->send_for(std::span<const std::byte>(msg.data(), len), watchdog,
                            seq % 997 == 0 ? delivery::sync : delivery::async) != status::ok) {
      STRESS_FAIL(res);
    }
  }
  return 0;
}

int run_receiver(const char* name, shared_results* res) {
  auto box = mailbox::open(name);
  if (!box) STRESS_FAIL(res);
  auto rx = box->receiver();
  if (!rx) STRESS_FAIL(res);
  std::array<std::byte, max_size> buf{};
  std::array<std::int64_t, senders> last{};
  last.fill(-1);
  for (;;) {
    std::size_t len = 0;
    const status st = rx->receive_for(buf, len, watchdog);
    if (st == status::closed) return 0;
    if (st != status::ok) STRESS_FAIL(res);
    if (len < sizeof(stamp)) {
      res->short_received.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    stamp s{};
    std::memcpy(&s, buf.data(), sizeof s);
    if (s.sender >= senders || s.seq >= per_sender || s.length != len) STRESS_FAIL(res);
    if (length_of(s.sender, s.seq) != len) STRESS_FAIL(res);
    if (checksum(buf.data() + sizeof(stamp), len - sizeof(stamp), s) != s.checksum) STRESS_FAIL(res);
    // Per-sender order, as this receiver sees it.
    if (static_cast<std::int64_t>(s.seq) <= last[s.sender]) STRESS_FAIL(res);
    last[s.sender] = s.seq;
    // Only one receiver ever holds a given (sender, seq): plain increment.
    res->seen[s.sender][s.seq] = static_cast<std::uint8_t>(res->seen[s.sender][s.seq] + 1);
  }
}

}  // namespace

TEST_CASE("mailbox stress: 3 sender and 3 receiver processes, exactly once, per-sender order") {
  const char* name = "mb-stress";
  mailbox_options o;
  o.capacity = 1024;
  o.max_message_size = max_size;
  o.backing = pages::normal;
  auto box = mailbox::create(name, o);
  REQUIRE_MESSAGE(box, box.error().message);

  void* mem =
      ::mmap(nullptr, sizeof(shared_results), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  auto* res = new (mem) shared_results{};

  const auto started = std::chrono::steady_clock::now();
  std::fflush(nullptr);
  std::vector<pid_t> send_pids, recv_pids;
  for (int i = 0; i < receivers; ++i) {
    const pid_t p = ::fork();
    if (p == 0) {
      ::alarm(static_cast<unsigned>(watchdog.count()) + 30);  // last resort
      ::_exit(run_receiver(name, res));
    }
    REQUIRE(p > 0);
    recv_pids.push_back(p);
  }
  for (int i = 0; i < senders; ++i) {
    const pid_t p = ::fork();
    if (p == 0) {
      ::alarm(static_cast<unsigned>(watchdog.count()) + 30);
      ::_exit(run_sender(name, static_cast<std::uint32_t>(i), res));
    }
    REQUIRE(p > 0);
    send_pids.push_back(p);
  }
  for (pid_t p : send_pids) CHECK(ringport_test::wait_child(p) == 0);
  box->close();  // receivers drain, then see closed
  for (pid_t p : recv_pids) CHECK(ringport_test::wait_child(p) == 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::uint32_t sent = senders * per_sender;
  MESSAGE(sent << " messages in " << secs << " s");

  CHECK_MESSAGE(res->errors.load() == 0, "first failure at line " << res->first_error_line.load());
  std::uint32_t missing = 0, doubled = 0, short_sent = 0;
  for (std::uint32_t s = 0; s < senders; ++s)
    for (std::uint32_t q = 0; q < per_sender; ++q) {
      if (length_of(s, q) < sizeof(stamp)) {
        ++short_sent;
        continue;
      }
      if (res->seen[s][q] == 0) ++missing;
      if (res->seen[s][q] > 1) ++doubled;
    }
  CHECK(missing == 0);
  CHECK(doubled == 0);
  CHECK(res->short_received.load() == short_sent);
  CHECK(box->size() == 0);
  ::munmap(mem, sizeof(shared_results));
}
