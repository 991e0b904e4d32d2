// Automatic buffering (issue 15): a mailbox that grows when senders find it
// full and shrinks back when they find it empty and idle. Processes (fork): not under TSan. Short mode 10^5
// messages; long mode RINGPORT_AUTO_MESSAGES=1000000 (the 10^6).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mailbox_auto_util.hpp"
#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using namespace auto_test;

namespace {

std::uint64_t env_count(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

constexpr int senders = 3, receivers = 2;

struct crew {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint32_t> bad{0};      // order or content violations seen by receivers
  std::atomic<std::uint32_t> max_gen{0};  // the generation receivers saw before they started
  std::atomic<std::uint32_t> go{0};       // receivers may start
  std::atomic<std::uint32_t> stop{0};
};

// Sender 0's last `lockstep` messages: each sent once the previous one was
// taken, so that it finds the mailbox empty (and it shrinks back).
constexpr std::uint32_t lockstep = 3 * 64 + 10;

bool wait_received(const crew* c, std::uint64_t want) {
  const auto give_up = clock_type::now() + 60s;
  while (c->received.load() < want)
    if (clock_type::now() > give_up)
      return false;
    else
      std::this_thread::yield();
  return true;
}

int crew_sender(const char* name, crew* c, int s, std::uint32_t n) {
  auto b = mailbox::open(name);
  if (!b) return 10;
  auto tx = b->sender();
  if (!tx) return 11;
  const std::uint64_t total = std::uint64_t{senders} * n;
  for (std::uint32_t q = 0; q < n; ++q) {
    const std::uint32_t left = n - q;
    if (s == 0 && left <= lockstep && !wait_received(c, total - left)) return 13;
    const note m{static_cast<std::uint32_t>(s), q};
    if (tx->send_for(m, 60s) != status::ok) return 12;
  }
  return 0;
}

// seen[s * n + q] counts deliveries of sender s's message q.
int crew_receiver(const char* name, crew* c, std::atomic<std::uint8_t>* seen, std::uint32_t n) {
  auto b = mailbox::open(name);  // opened small: it follows the growth
  if (!b) return 20;
  auto rx = b->receiver();
  if (!rx) return 21;
  while (c->go.load() == 0) std::this_thread::sleep_for(1ms);  // the pause: the mailbox grows
  std::array<std::int64_t, senders> last{};
  last.fill(-1);
  while (c->stop.load() == 0) {
    note m{};
    const status s = rx->receive_for(m, 50ms);
    if (s == status::timed_out || s == status::peer_gone) continue;
    if (s != status::ok || m.sender >= senders || m.seq >= n) return 22;
    if (static_cast<std::int64_t>(m.seq) <= last[m.sender]) c->bad.fetch_add(1);  // per-sender order
    last[m.sender] = m.seq;
    seen[m.sender * n + m.seq].fetch_add(1);
    c->received.fetch_add(1);
  }
  return 0;
}

}  // namespace

TEST_CASE(
    "automatic: 3 senders and 2 receivers in processes; it grows to its limit and back; exactly once, "
    "order") {
  const auto total = env_count("RINGPORT_AUTO_MESSAGES", 100000);
  const auto n = static_cast<std::uint32_t>(total / senders);
  const char* name = "auto-crew";
  // 16 slots at first; the limit allows 16 << 6 = 1024 slots of 24 bytes.
  mailbox box = make_auto(name, 1024 * note_slot + note_slot);
  CHECK(box.capacity() == 16);
  CHECK(box.buffer_generation() == 0);
  CHECK(box.max_bytes() == 1024 * note_slot + note_slot);
  auto* c = shared_block<crew>();
  auto* seen = shared_block<std::atomic<std::uint8_t>>(std::size_t{senders} * n);
  std::vector<pid_t> kids;
  for (int r = 0; r < receivers; ++r) {
    const pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0) _exit(crew_receiver(name, c, seen, n));
    kids.push_back(p);
  }
  std::vector<pid_t> tx;
  for (int s = 0; s < senders; ++s) {
    const pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0) _exit(crew_sender(name, c, s, n));
    tx.push_back(p);
  }
  // Receivers wait until the mailbox reached its limit (6 generations on).
  const auto give_up = clock_type::now() + 120s;
  while (box.buffer_generation() < 6 && clock_type::now() < give_up) std::this_thread::sleep_for(1ms);
  CHECK(box.buffer_generation() == 6);
  CHECK(box.capacity() == 1024);
  CHECK(box.buffer_bytes() == 1024 * note_slot);
  CHECK(box.buffer_bytes() <= box.max_bytes());
  c->go = 1;
  for (pid_t p : tx) CHECK(ringport_test::wait_child(p) == 0);
  while (c->received.load() < std::uint64_t{senders} * n && clock_type::now() < give_up)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(100ms);  // a duplicate would show up now
  c->stop = 1;
  for (pid_t p : kids) CHECK(ringport_test::wait_child(p) == 0);
  CHECK(c->bad.load() == 0);
  CHECK(c->received.load() == std::uint64_t{senders} * n);
  std::uint64_t wrong = 0;
  for (std::size_t i = 0; i < std::size_t{senders} * n; ++i) wrong += seen[i].load() != 1;
  CHECK_MESSAGE(wrong == 0, wrong << " messages not delivered exactly once");
  // Sender 0's lockstep tail found it empty 64 times in a row: it shrank
  // back to the head's size in a newer generation (the number only grows).
  const std::uint32_t newest = box.buffer_generation();
  CHECK(newest > 6);
  CHECK(box.capacity() == 16);
  CHECK(box.buffer_bytes() == 16 * note_slot);
  CHECK(box.size() == 0);
  for (std::uint32_t g = 1; g < newest; ++g)
    CHECK_MESSAGE(!gen_exists(name, g), "generation " << g << " kept");
  CHECK(gen_exists(name, newest));
  CHECK(mailbox::remove(name));
  CHECK(!gen_exists(name, newest));
}

TEST_CASE("automatic: handles opened small follow the growth without reopening; blocks at its limit") {
  const char* name = "auto-follow";
  mailbox box = make_auto(name, 64 * note_slot);  // 16, 32, 64 slots
  auto early = mailbox::open(name);
  REQUIRE(early);
  auto rx = early->receiver();
  auto late_tx = early->sender();
  REQUIRE(rx);
  REQUIRE(late_tx);
  // Each generation keeps what it holds: 16 + 32 + 64 messages in all.
  constexpr std::uint32_t room = 16 + 32 + 64;
  const int rc = ringport_test::run_in_child([&] {
    auto b = mailbox::open(name);
    if (!b) return 10;
    auto tx = b->sender();
    if (!tx) return 11;
    for (std::uint32_t q = 0; q < room; ++q)
      if (tx->try_send(note{0, q}) != status::ok) return 12;            // full: it grows
    if (tx->try_send(note{0, room}) != status::would_block) return 13;  // at its limit: full
    return 0;
  });
  CHECK(rc == 0);
  CHECK(early->buffer_generation() == 2);
  CHECK(early->capacity() == 64);
  CHECK(early->size() == room);
  CHECK(late_tx->try_send(note{1, 0}) == status::would_block);  // an old sender sees it full too
  for (std::uint32_t q = 0; q < room; ++q) {
    note m{};
    REQUIRE(rx->try_receive(m) == status::ok);
    CHECK(m.sender == 0);
    CHECK(m.seq == q);
  }
  note m{};
  CHECK(rx->try_receive(m) == status::would_block);
  CHECK(late_tx->try_send(note{1, 1}) == status::ok);  // it moved to the newest generation
  CHECK(rx->receive_for(m, 5s) == status::ok);
  CHECK(m.seq == 1);
  CHECK(mailbox::remove(name));
}

TEST_CASE("automatic: a sender killed holding a claim (busy) while others grow it does not wedge them") {
  const char* name = "auto-kill";
  mailbox box = make_auto(name, 256 * note_slot);
  auto* ready = shared_block<std::atomic<int>>();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto [b, tx] = open_child_sender(name);
    send_or_exit(tx, 2, 5);
    std::span<std::byte> out;
    if (tx.try_claim(sizeof(note), out) != status::ok) _exit(13);  // busy in generation 0, unpublished
    ready->store(1);
    for (;;) ::pause();
  }
  while (ready->load() == 0) std::this_thread::sleep_for(1ms);
  ::kill(child, SIGKILL);
  CHECK(ringport_test::wait_child(child) == 128 + SIGKILL);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  // It grows past generation 0, whose last claimed slot nobody will publish.
  for (std::uint32_t q = 0; q < 200; ++q) REQUIRE(tx->send_for(note{0, q}, 10s) == status::ok);
  CHECK(box.buffer_generation() >= 3);
  std::vector<note> got;
  for (;;) {
    note m{};
    const status s = rx->receive_for(m, 3s);
    if (s != status::ok) break;
    got.push_back(m);
    if (got.size() == 205) break;
  }
  REQUIRE(got.size() == 205);
  for (std::uint32_t q = 0; q < 5; ++q) CHECK((got[q].sender == 2 && got[q].seq == q));
  for (std::uint32_t q = 0; q < 200; ++q) CHECK((got[5 + q].sender == 0 && got[5 + q].seq == q));
  CHECK(mailbox::remove(name));
}

TEST_CASE("automatic: options are checked; a plain mailbox is not automatic") {
  mailbox_options o;
  o.capacity = automatic_buffering;
  o.max_message_size = 100;
  o.max_bytes = 50;  // less than one slot
  auto bad = mailbox::create("auto-bad", o);
  REQUIRE(!bad);
  CHECK(bad.error() == errc::invalid_argument);
  o.max_bytes = 120;  // one slot: never grows
  auto one = mailbox::create("auto-one", o);
  REQUIRE(one);
  CHECK(one->capacity() == 1);
  auto tx = one->sender();
  REQUIRE(tx);
  CHECK(tx->try_send(std::as_bytes(std::span("x", 1))) == status::ok);
  CHECK(tx->try_send(std::as_bytes(std::span("y", 1))) == status::would_block);
  CHECK(one->buffer_generation() == 0);
  CHECK(mailbox::remove("auto-one"));
  mailbox_options p;
  auto plain = mailbox::create("auto-plain", p);
  REQUIRE(plain);
  CHECK(!plain->is_automatic());
  CHECK(plain->max_bytes() == 0);
  CHECK(mailbox::remove("auto-plain"));
}

namespace {
std::atomic<int>* hook_armed = nullptr;
void slow_send() {
  if (hook_armed && hook_armed->load() == 1) {
    hook_armed->store(2);  // it looked at the newest generation: 0
    while (hook_armed->load() != 3) std::this_thread::sleep_for(1ms);
  }
}
}  // namespace

// The heart of the receivers' rule (R-FINISH): a sender that saw generation
// g as the newest and is about to send there keeps receivers in g, however
// long it takes and whatever other senders do meanwhile.
TEST_CASE("automatic: a sender slow between its look and its send keeps receivers in that generation") {
  const char* name = "auto-slow";
  mailbox box = make_auto(name, 64 * note_slot);
  hook_armed = shared_block<std::atomic<int>>();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto [b, tx] = open_child_sender(name);
    detail::auto_send_hook.store(&slow_send);
    hook_armed->store(1);
    if (tx.send_for(note{2, 0}, 20s) != status::ok) _exit(12);  // waits in the hook, then into generation 0
    if (tx.send_for(note{2, 1}, 20s) != status::ok) _exit(13);  // into the newest
    _exit(0);
  }
  const auto give_up = clock_type::now() + 20s;
  while (hook_armed->load() != 2 && clock_type::now() < give_up) std::this_thread::sleep_for(1ms);
  REQUIRE(hook_armed->load() == 2);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  for (std::uint32_t q = 0; q < 16 + 4; ++q) REQUIRE(tx->try_send(note{0, q}) == status::ok);  // grows to 1
  CHECK(box.buffer_generation() == 1);
  std::vector<note> got;
  note m{};
  for (std::uint32_t q = 0; q < 16; ++q) {
    REQUIRE(rx->try_receive(m) == status::ok);
    got.push_back(m);
  }
  // Generation 0 is empty but the slow sender may still write there.
  CHECK(rx->receive_for(m, 50ms) == status::timed_out);
  hook_armed->store(3);
  while (got.size() < 16 + 4 + 2) {
    if (rx->receive_for(m, 5s) != status::ok) break;
    got.push_back(m);
  }
  CHECK(ringport_test::wait_child(child) == 0);
  REQUIRE(got.size() == 16 + 4 + 2);
  CHECK((got[16].sender == 2 && got[16].seq == 0));  // from generation 0, before any of generation 1
  std::uint32_t next0 = 0, next2 = 0;
  for (const note& n : got) CHECK((n.sender == 0 ? n.seq == next0++ : n.seq == next2++));
  CHECK(mailbox::remove(name));
}

// A receiver on generation g waits in wait_any while the next message is in
// a newer generation (here after a shrink): readable() follows the chain.
TEST_CASE("automatic: it shrinks back after 64 sends that found it empty; readable() follows the chain") {
  const char* name = "auto-shrink";
  mailbox box = make_auto(name, 64 * note_slot);  // 16, 32, 64 slots
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  std::uint32_t seq = 0;
  note m{};
  for (; seq < 17; ++seq) REQUIRE(tx->try_send(note{0, seq}) == status::ok);  // the 17th grows it
  CHECK(box.buffer_generation() == 1);
  CHECK(box.capacity() == 32);
  for (std::uint32_t q = 0; q < 17; ++q) {
    REQUIRE(rx->try_receive(m) == status::ok);
    CHECK(m.seq == q);
  }
  // 64 sends in a row find generation 1 empty (the 17th, which grew it, is
  // the first): the 64th makes generation 2 at the head's size.
  for (int i = 0; i < 63; ++i, ++seq) {
    CHECK(box.buffer_generation() == 1);
    REQUIRE(tx->try_send(note{0, seq}) == status::ok);
    REQUIRE(rx->try_receive(m) == status::ok);
    CHECK(m.seq == seq);
  }
  CHECK(box.buffer_generation() == 2);
  CHECK(box.capacity() == 16);
  CHECK(box.buffer_bytes() == 16 * note_slot);
  // rx still reads generation 1 (empty); the next message goes to 2.
  REQUIRE(tx->try_send(note{0, seq}) == status::ok);
  const waitable w[] = {rx->readable()};
  CHECK(wait_any(w, clock_type::now() + 2s) == 0);
  const waitable again[] = {rx->readable()};  // now generation 2's
  CHECK(wait_any(again, clock_type::now() + 2s) == 0);
  REQUIRE(rx->try_receive(m) == status::ok);
  CHECK(m.seq == seq);
  CHECK(!gen_exists(name, 1));  // finished and unlinked as it moved on
  CHECK(gen_exists(name, 2));
  CHECK(mailbox::remove(name));
}
