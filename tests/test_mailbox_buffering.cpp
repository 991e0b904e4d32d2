// The buffering models of issue 15: zero capacity (rendezvous), in threads
// and with processes killed mid-rendezvous.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string text(std::span<const std::byte> b, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

mailbox make_rendezvous(const char* name) {
  mailbox_options o;
  o.capacity = 0;
  o.max_message_size = 64;
  o.backing = pages::normal;
  auto b = mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  return std::move(*b);
}

// Receives one message on another thread; `started` is set just before it waits.
struct receiver_thread {
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;
  status got = status::corrupt;
  std::atomic<bool> started{false};
  clock_type::time_point start_time{};
  std::thread t;
  receiver_thread(mailbox_receiver& rx, std::chrono::milliseconds delay) {
    t = std::thread([this, &rx, delay] {
      std::this_thread::sleep_for(delay);
      start_time = clock_type::now();
      started = true;
      got = rx.receive_until(buf, len, clock_type::now() + 10s);
    });
  }
  ~receiver_thread() {
    if (t.joinable()) t.join();
  }
  std::string message() const { return text(buf, len); }
};

}  // namespace

TEST_CASE("rendezvous: capacity 0 buffers nothing; try_ calls need the other side waiting") {
  mailbox box = make_rendezvous("rv-basic");
  CHECK(box.rendezvous());
  CHECK(box.capacity() == 0);
  auto again = mailbox::open("rv-basic");
  REQUIRE(again);
  CHECK(again->rendezvous());
  CHECK(again->capacity() == 0);
  auto tx = box.sender();
  auto rx = again->receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;

  // Nobody waits: try_send would block at once and leaves nothing behind.
  const auto t0 = clock_type::now();
  CHECK(tx->try_send(bytes("early")) == status::would_block);
  CHECK(clock_type::now() - t0 < rendezvous_grace);
  CHECK(box.size() == 0);
  CHECK(rx->try_receive(buf, len) == status::would_block);

  // A timed send (even an "async" one) with no receiver: timed_out no
  // earlier than its deadline, and nothing stays to be received.
  const auto deadline = clock_type::now() + 60ms;
  CHECK(tx->send_until(bytes("late"), deadline, delivery::async) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  CHECK(box.size() == 0);
  CHECK(rx->receive_for(buf, len, 30ms) == status::timed_out);

  // A blocking send returns only once a receiver took the message: the
  // receiver starts 150 ms later.
  {
    receiver_thread r(*rx, 150ms);
    REQUIRE(tx->send(bytes("met"), delivery::async) == status::ok);
    const auto returned = clock_type::now();
    CHECK(r.started.load());
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "met");
    CHECK(returned >= r.start_time);
    CHECK(box.size() == 0);
  }

  // try_send succeeds once a receiver is waiting.
  {
    receiver_thread r(*rx, 0ms);
    status s = status::would_block;
    for (int i = 0; i < 2000 && s == status::would_block; ++i) {
      s = tx->try_send(bytes("tried"));
      if (s == status::would_block) std::this_thread::sleep_for(1ms);
    }
    CHECK(s == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "tried");
  }

  // try_receive meets a sender that is waiting.
  {
    std::atomic<bool> sent{false};
    std::thread t([&] {
      CHECK(tx->send_for(bytes("waiting sender"), 10s) == status::ok);
      sent = true;
    });
    status s = status::would_block;
    for (int i = 0; i < 2000 && s == status::would_block; ++i) {
      s = rx->try_receive(buf, len);
      if (s == status::would_block) std::this_thread::sleep_for(1ms);
    }
    CHECK(s == status::ok);
    t.join();
    CHECK(sent.load());
    CHECK(text(buf, len) == "waiting sender");
  }

  // Zero copy on a rendezvous is synchronous too.
  {
    receiver_thread r(*rx, 50ms);
    std::span<std::byte> out;
    REQUIRE(tx->try_claim(5, out) == status::ok);
    std::memcpy(out.data(), "claim", 5);
    CHECK(tx->commit(5, delivery::async, clock_type::now() + 10s) == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "claim");
  }

  // close() wakes a sender waiting for a receiver.
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    box.close();
  });
  CHECK(tx->send_for(bytes("closing"), 10s) == status::closed);
  closer.join();
  CHECK(rx->try_receive(buf, len) == status::closed);
}

TEST_CASE("rendezvous: a receiver or sender killed mid-rendezvous wedges nobody") {
  mailbox box = make_rendezvous("rv-kill");
  auto tx = box.sender();
  REQUIRE(tx);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;

  // A receiver process announces itself, then is stopped (SIGSTOP) before
  // it can take anything: a send meets the announcement but must not return
  // ok, since nobody took the message; it times out and withdraws it, and
  // once resumed the receiver gets the next message, not that one.
  pid_t stopped = fork();
  REQUIRE(stopped >= 0);
  if (stopped == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto r = b->receiver(wait_policy::block);
    if (!r) _exit(11);
    std::array<std::byte, 64> cb{};
    std::size_t cl = 0;
    if (r->receive_for(cb, cl, 20s) != status::ok) _exit(12);
    _exit(text(cb, cl) == "second" ? 0 : 13);
  }
  std::this_thread::sleep_for(200ms);  // it announced itself and sleeps
  ::kill(stopped, SIGSTOP);
  CHECK(tx->send_for(bytes("first"), 300ms) == status::timed_out);
  ::kill(stopped, SIGCONT);
  CHECK(tx->send_for(bytes("second"), 10s) == status::ok);
  CHECK(ringport_test::wait_child(stopped) == 0);

  // A receiver process waits, then dies: a sender that meets its stale
  // announcement learns that every receiver is dead (peer_gone), well
  // before its deadline; its message is never delivered.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto r = b->receiver();
    if (!r) _exit(11);
    std::array<std::byte, 64> cb{};
    std::size_t cl = 0;
    (void)r->receive(cb, cl);
    _exit(12);
  }
  std::this_thread::sleep_for(200ms);  // it announced itself and sleeps
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
  const auto t0 = clock_type::now();
  CHECK(tx->send_for(bytes("for the dead"), 10s) == status::peer_gone);
  CHECK(clock_type::now() - t0 < 5s);

  // A new receiver gets the next message, never the withdrawn one.
  auto rx = box.receiver();
  REQUIRE(rx);
  {
    receiver_thread r(*rx, 0ms);
    CHECK(tx->send_for(bytes("for the living"), 10s) == status::ok);
    r.t.join();
    CHECK(r.got == status::ok);
    CHECK(r.message() == "for the living");
  }

  // A sender process waiting for a receiver dies: try_receive is bounded
  // by the grace, and a new pair meets as before.
  pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto b = mailbox::open("rv-kill");
    if (!b) _exit(10);
    auto s = b->sender();
    if (!s) _exit(11);
    (void)s->send(bytes("from the dead"));
    _exit(12);
  }
  std::this_thread::sleep_for(200ms);
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
  const auto t1 = clock_type::now();
  CHECK(rx->try_receive(buf, len) == status::would_block);
  CHECK(clock_type::now() - t1 < 2s);
  {
    receiver_thread r(*rx, 0ms);
    CHECK(tx->send_for(bytes("still works"), 10s) == status::ok);
    r.t.join();
    CHECK(r.message() == "still works");
  }
}

// ---------------------------------------------------------------- streams

namespace {

mailbox make_box(const char* name, std::size_t capacity, std::size_t max) {
  mailbox_options o;
  o.capacity = capacity;
  o.max_message_size = max;
  o.backing = pages::normal;
  auto b = mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  return std::move(*b);
}

// Deterministic bytes: byte i of the message with this seed.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
void pattern(std::uint64_t seed, std::uint64_t at, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t pos = at + i;
    out[i] = static_cast<std::byte>(mix(seed ^ (pos >> 3)) >> (8 * (pos & 7)));
  }
}
std::vector<std::byte> message(std::uint64_t seed, std::size_t n) {
  std::vector<std::byte> v(n);
  pattern(seed, 0, v);
  return v;
}

}  // namespace

TEST_CASE("streams: messages longer than a slot, whole or read incrementally") {
  mailbox box = make_box("st-basic", 4, 64);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  const auto big = message(1, 10000);  // 157 fragments through 4 slots

  // Whole: the sender blocks for room while the receiver reassembles.
  std::vector<std::byte> buf(20000);
  std::uint64_t len = 0;
  {
    std::thread t([&] { CHECK(tx->send_stream(big) == status::ok); });
    REQUIRE(rx->receive_stream_until(buf, len, clock_type::now() + 10s) == status::ok);
    t.join();
    CHECK(len == big.size());
    CHECK(std::equal(big.begin(), big.end(), buf.begin()));
  }

  // A plain receive meets a stream message: wrong_size with its whole length,
  // kept queued; a too short receive_stream buffer: too_large, kept too.
  std::thread t2([&] { CHECK(tx->send_stream(big) == status::ok); });
  std::array<std::byte, 64> small{};
  std::size_t n = 0;
  status s = status::would_block;
  for (int i = 0; i < 5000 && s == status::would_block; ++i) {
    s = rx->try_receive(small, n);
    if (s == status::would_block) std::this_thread::sleep_for(1ms);
  }
  CHECK(s == status::wrong_size);
  CHECK(n == big.size());
  CHECK(rx->try_receive_stream(std::span(buf).first(9999), len) == status::too_large);
  CHECK(len == big.size());

  // Incremental: 7 bytes at a time, then an empty read marks the end.
  std::vector<std::byte> got;
  std::array<std::byte, 7> piece{};
  for (;;) {
    REQUIRE(rx->read_for(piece, n, 10s) == status::ok);
    if (n == 0) break;
    CHECK(rx->message_size() == big.size());
    got.insert(got.end(), piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(n));
  }
  t2.join();
  CHECK(got == big);
  CHECK(rx->try_read(piece, n) == status::would_block);

  // Plain and stream messages of one sender keep their order; read() takes both.
  REQUIRE(tx->try_send(bytes("a")) == status::ok);
  std::thread t3([&] {
    CHECK(tx->send_stream(std::span(big).first(300)) == status::ok);
    CHECK(tx->send(bytes("b")) == status::ok);
  });
  std::vector<std::string> seen;
  std::string cur;
  while (seen.size() < 3) {
    REQUIRE(rx->read_for(piece, n, 10s) == status::ok);
    if (n == 0) {
      seen.push_back(cur);
      cur.clear();
    } else {
      cur.append(reinterpret_cast<const char*>(piece.data()), n);
    }
  }
  t3.join();
  CHECK(seen[0] == "a");
  CHECK(seen[1].size() == 300);
  CHECK(std::memcmp(seen[1].data(), big.data(), 300) == 0);
  CHECK(seen[2] == "b");

  // try_send_stream: only when every fragment fits now.
  CHECK(tx->try_send_stream(std::span(big).first(64 * 5)) == status::would_block);
  CHECK(box.size() == 0);
  REQUIRE(tx->try_send_stream(std::span(big).first(64 * 4)) == status::ok);
  REQUIRE(rx->try_receive_stream(buf, len) == status::ok);
  CHECK(len == 256);
  CHECK(std::equal(big.begin(), big.begin() + 256, buf.begin()));
  CHECK(box.streams_dropped() == 0);
}

TEST_CASE("streams: other senders' messages never land between a stream message's fragments") {
  mailbox box = make_box("st-gate", 64, 64);
  auto tx_stream = box.sender();
  auto tx_plain = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx_stream);
  REQUIRE(tx_plain);
  REQUIRE(rx);
  const auto big = message(6, 64 * 40);  // 40 fragments, written slowly
  std::atomic<bool> streaming{false};
  std::thread a([&] {
    std::size_t at = 0;
    auto fill = [&](std::span<std::byte> out) {
      streaming = true;
      std::this_thread::sleep_for(1ms);
      std::memcpy(out.data(), big.data() + at, out.size());
      at += out.size();
      return true;
    };
    CHECK(tx_stream->send_stream_until(big.size(), fill, clock_type::now() + 20s) == status::ok);
  });
  std::thread b([&] {
    while (!streaming.load()) std::this_thread::yield();
    for (int i = 0; i < 20; ++i) CHECK(tx_plain->send_for(std::uint32_t(i), 20s) == status::ok);
  });
  int plain = 0, streams = 0;
  std::vector<std::byte> buf(big.size());
  while (plain + streams < 21) {
    std::uint64_t len = 0;
    const status s = rx->receive_stream_until(buf, len, clock_type::now() + 20s);
    REQUIRE(s == status::ok);
    if (len == big.size()) {
      CHECK(buf == big);
      ++streams;
    } else {
      CHECK(len == sizeof(std::uint32_t));
      ++plain;
    }
  }
  a.join();
  b.join();
  CHECK(streams == 1);
  CHECK(box.streams_dropped() == 0);
}

TEST_CASE("streams: given up midway, never delivered whole; counted; sync means taken whole") {
  mailbox box = make_box("st-drop", 4, 64);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  std::vector<std::byte> buf(4096);
  std::uint64_t len = 0;

  // The source fails after 200 bytes: abandoned; the reader drops it.
  std::size_t produced = 0;
  std::thread t([&] {
    auto fill = [&](std::span<std::byte> out) {
      produced += out.size();
      pattern(2, produced - out.size(), out);
      return produced <= 200;
    };
    CHECK(tx->send_stream_until(1000, fill, clock_type::now() + 10s) == status::abandoned);
    CHECK(tx->send(bytes("after")) == status::ok);
  });
  CHECK(rx->receive_stream_until(buf, len, clock_type::now() + 10s) == status::abandoned);
  CHECK(rx->receive_stream_until(buf, len, clock_type::now() + 10s) == status::ok);
  t.join();
  CHECK(text(buf, len) == "after");
  CHECK(box.streams_dropped() == 1);

  // A timed stream with nobody reading: timed_out; what it queued is dropped.
  const auto big = message(3, 1000);
  CHECK(tx->send_stream_until(big, clock_type::now() + 50ms) == status::timed_out);
  CHECK(rx->receive_stream_until(buf, len, clock_type::now() + 10s) == status::abandoned);
  CHECK(box.streams_dropped() == 2);
  CHECK(rx->try_receive_stream(buf, len) == status::would_block);

  // Sync: ok only once the receiver took the whole message.
  std::atomic<bool> returned{false};
  std::thread t2([&] {
    CHECK(tx->send_stream(big, delivery::sync) == status::ok);
    returned = true;
  });
  std::array<std::byte, 100> piece{};
  std::size_t n = 0, total = 0;
  while (total + 64 < big.size()) {  // all but the last fragment
    REQUIRE(rx->read_for(std::span(piece).first(64), n, 10s) == status::ok);
    total += n;
  }
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(returned.load());
  while (n != 0 || total < big.size()) {
    REQUIRE(rx->read_for(piece, n, 10s) == status::ok);
    total += n;
  }
  t2.join();
  CHECK(returned.load());
  CHECK(total == big.size());
}

TEST_CASE("streams: capacity 1 and a rendezvous carry them too") {
  for (std::size_t cap : {std::size_t{1}, std::size_t{0}}) {
    mailbox box = make_box(cap == 1 ? "st-cap1" : "st-cap0", cap, 16);
    auto tx = box.sender();
    auto rx = box.receiver();
    REQUIRE(tx);
    REQUIRE(rx);
    const auto big = message(4, 5000);
    std::thread t([&] { CHECK(tx->send_stream_until(big, clock_type::now() + 20s) == status::ok); });
    std::vector<std::byte> buf(5000);
    std::uint64_t len = 0;
    CHECK(rx->receive_stream_until(buf, len, clock_type::now() + 20s) == status::ok);
    t.join();
    CHECK(buf == big);
  }
}

// ---------------------------------------------------------------- streams between processes

namespace {

// Aligned pieces only (every fragment is a multiple of 8 bytes long, and
// so is where each starts, but for a message's last piece's length).
void fill_words(std::uint64_t seed, std::uint64_t at, std::span<std::byte> out) {
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const std::uint64_t w = mix(seed ^ ((at + i) >> 3));
    std::memcpy(out.data() + i, &w, 8);
  }
  if (i < out.size()) pattern(seed, at + i, out.subspan(i));
}
std::uint64_t hash_more(std::uint64_t h, std::span<const std::byte> in) {
  for (std::byte b : in) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
  return h;
}
std::uint64_t hash_words(std::uint64_t h, std::span<const std::byte> in) {
  std::size_t i = 0;
  for (; i + 8 <= in.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, in.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  return hash_more(h, in.subspan(i));
}

template <class T>
T* shared_block(std::size_t n = 1) {
  void* p = ::mmap(nullptr, sizeof(T) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  return new (p) T[n]{};
}

long peak_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

std::uint64_t env_bytes(const char* name, std::uint64_t fallback) {
  const char* e = std::getenv(name);
  return e && *e ? std::strtoull(e, nullptr, 10) : fallback;
}

struct big_report {
  std::uint64_t sent_hash, got_hash, got_bytes;
  long sender_rss_kib, receiver_rss_kib;
  int send_status, read_status;
};

}  // namespace

// Short mode 256 MiB; RINGPORT_STREAM_BYTES=4294967296 for the 4 GiB.
TEST_CASE("streams: 256 MiB (4 GiB in the long mode) through 16 x 64 KiB slots, read incrementally") {
  const std::uint64_t total = env_bytes("RINGPORT_STREAM_BYTES", std::uint64_t{256} << 20);
  mailbox box = make_box("st-big", 16, 65536 - mailbox_header_bytes);
  auto* rep = shared_block<big_report>();
  const pid_t sender = fork();
  REQUIRE(sender >= 0);
  if (sender == 0) {
    auto b = mailbox::open("st-big");
    if (!b) _exit(10);
    auto tx = b->sender();
    if (!tx) _exit(11);
    std::uint64_t at = 0, h = 0xcbf29ce484222325ULL;
    auto fill = [&](std::span<std::byte> out) {
      fill_words(5, at, out);
      h = hash_words(h, out);
      at += out.size();
      return true;
    };
    rep->send_status = static_cast<int>(tx->send_stream_until(total, fill, clock_type::time_point::max()));
    rep->sent_hash = h;
    rep->sender_rss_kib = peak_rss_kib();
    _exit(0);
  }
  const pid_t receiver = fork();
  REQUIRE(receiver >= 0);
  if (receiver == 0) {
    auto b = mailbox::open("st-big");
    if (!b) _exit(10);
    auto rx = b->receiver();
    if (!rx) _exit(11);
    std::vector<std::byte> buf(65536);
    std::uint64_t h = 0xcbf29ce484222325ULL, got = 0;
    std::size_t n = 0;
    status s = status::ok;
    while ((s = rx->read_for(buf, n, 60s)) == status::ok && n != 0) {
      h = hash_words(h, std::span(buf).first(n));
      got += n;
    }
    rep->read_status = static_cast<int>(s);
    rep->got_hash = h;
    rep->got_bytes = got;
    rep->receiver_rss_kib = peak_rss_kib();
    _exit(0);
  }
  CHECK(ringport_test::wait_child(sender) == 0);
  CHECK(ringport_test::wait_child(receiver) == 0);
  CHECK(rep->send_status == static_cast<int>(status::ok));
  CHECK(rep->read_status == static_cast<int>(status::ok));
  CHECK(rep->got_bytes == total);
  CHECK(rep->got_hash == rep->sent_hash);
  MESSAGE("peak RSS: sender " << rep->sender_rss_kib << " KiB, receiver " << rep->receiver_rss_kib
                              << " KiB for a " << (total >> 20) << " MiB message");
  CHECK(rep->sender_rss_kib < 64 * 1024);  // far below the message (the mailbox is 1 MiB)
  CHECK(rep->receiver_rss_kib < 64 * 1024);
  CHECK(box.streams_dropped() == 0);
}

namespace {

constexpr int crew = 3;
constexpr int max_records = 4096;
struct crew_report {
  std::atomic<int> stop;
  std::atomic<int> huge_started;
  std::atomic<int> received;
  std::atomic<int> bad;               // a message whose bytes, header or order were wrong
  int records[crew][max_records][2];  // per receiver: (sender, seq) in arrival order
  std::atomic<int> count[crew];
};

// Message `seq` of sender s: a 16-byte header {s, seq, size}, then pattern bytes.
std::uint64_t seed_of(int s, int seq) {
  return static_cast<std::uint64_t>(s) << 32 | static_cast<std::uint32_t>(seq);
}

int crew_sender(int s, int messages, std::uint64_t max_size, bool huge_last, crew_report* rep) {
  auto b = mailbox::open("st-crew");
  if (!b) return 10;
  auto tx = b->sender();
  if (!tx) return 11;
  std::uint64_t rnd = mix(static_cast<std::uint64_t>(s) + 77);
  for (int seq = 0; seq < messages + (huge_last ? 1 : 0); ++seq) {
    rnd = mix(rnd);
    const bool huge = seq == messages;
    const std::uint64_t size = huge ? (std::uint64_t{1} << 40) : 16 + rnd % (max_size - 15);
    std::uint64_t at = 0;
    auto fill = [&](std::span<std::byte> out) {
      std::size_t i = 0;
      for (; at + i < 16 && i < out.size(); ++i) {
        const std::uint64_t hdr[2] = {seed_of(s, seq), size};
        out[i] = reinterpret_cast<const std::byte*>(hdr)[at + i];
      }
      pattern(seed_of(s, seq), at + i, out.subspan(i));
      at += out.size();
      return true;
    };
    if (huge) rep->huge_started = 1;
    const auto d = rnd % 4 == 0 ? delivery::sync : delivery::async;
    if (tx->send_stream_until(size, fill, clock_type::time_point::max(), d) != status::ok) return 12;
  }
  return 0;
}

int crew_receiver(int r, crew_report* rep) {
  auto b = mailbox::open("st-crew");
  if (!b) return 10;
  auto rx = b->receiver();
  if (!rx) return 11;
  std::vector<std::byte> buf(3000), want(3000);
  int last_seq[crew] = {-1, -1, -1};
  std::uint64_t at = 0, seed = 0, size = 0;
  std::array<std::byte, 16> hdr{};
  bool bad = false;
  for (;;) {
    std::size_t n = 0;
    const status s = rx->read_for(buf, n, 100ms);
    if (s == status::timed_out || s == status::would_block || s == status::peer_gone) {
      if (rep->stop.load()) return 0;  // (peer_gone: every sender left, one of them killed)
      continue;
    }
    if (s == status::abandoned) {  // the killed sender's message: never whole
      at = 0;
      bad = false;
      continue;
    }
    if (s != status::ok) return 20 + static_cast<int>(s);
    if (n == 0) {  // the end of a message: check it, record it
      const int snd = static_cast<int>(seed >> 32), seq = static_cast<int>(seed & 0xffffffff);
      if (bad || at != size || at < 16 || snd < 0 || snd >= crew || seq <= last_seq[snd]) {
        rep->bad.fetch_add(1);
      } else {
        last_seq[snd] = seq;
        const int k = rep->count[r].load();
        if (k < max_records) {
          rep->records[r][k][0] = snd;
          rep->records[r][k][1] = seq;
          rep->count[r].store(k + 1);
        }
        rep->received.fetch_add(1);
      }
      at = 0;
      bad = false;
      continue;
    }
    for (std::size_t i = 0; i < n && at + i < 16; ++i) hdr[at + i] = buf[i];
    if (at < 16 && at + n >= 16) {
      std::memcpy(&seed, hdr.data(), 8);
      std::memcpy(&size, hdr.data() + 8, 8);
    }
    const std::size_t skip = at < 16 ? std::min<std::size_t>(16 - at, n) : 0;
    if (at + n > 16) {
      pattern(seed, at + skip, std::span(want).first(n - skip));
      if (std::memcmp(buf.data() + skip, want.data(), n - skip) != 0) bad = true;
    }
    at += n;
  }
}

}  // namespace

// Short mode: sizes 16 B .. 256 KiB; RINGPORT_STREAM_MAX=67108864 for the 64 MiB.
TEST_CASE("streams: 3 sender and 3 receiver processes, random sizes, a sender killed mid-message") {
  const std::uint64_t max_size = env_bytes("RINGPORT_STREAM_MAX", std::uint64_t{256} << 10);
  const int messages = static_cast<int>(env_bytes("RINGPORT_STREAM_MESSAGES", 20));
  mailbox box = make_box("st-crew", 8, 4096 - mailbox_header_bytes);
  auto* rep = shared_block<crew_report>();
  pid_t receivers[crew], senders[crew];
  for (int r = 0; r < crew; ++r) {
    receivers[r] = fork();
    REQUIRE(receivers[r] >= 0);
    if (receivers[r] == 0) _exit(crew_receiver(r, rep));
  }
  for (int s = 0; s < crew; ++s) {
    senders[s] = fork();
    REQUIRE(senders[s] >= 0);
    if (senders[s] == 0) _exit(crew_sender(s, messages, max_size, s == 2, rep));
  }
  // Sender 2 ends with a 1 TiB message: it is surely midway when killed.
  const auto give_up = clock_type::now() + 120s;
  while (rep->huge_started.load() == 0 && clock_type::now() < give_up) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(300ms);
  ::kill(senders[2], SIGKILL);
  CHECK(ringport_test::wait_child(senders[2]) == 128 + SIGKILL);
  CHECK(ringport_test::wait_child(senders[0]) == 0);
  CHECK(ringport_test::wait_child(senders[1]) == 0);
  while (rep->received.load() < crew * messages && clock_type::now() < give_up)
    std::this_thread::sleep_for(10ms);
  rep->stop = 1;
  for (pid_t p : receivers) CHECK(ringport_test::wait_child(p) == 0);

  CHECK(rep->bad.load() == 0);
  CHECK(rep->received.load() == crew * messages);
  std::vector<int> seen(crew * (messages + 1), 0);
  for (int r = 0; r < crew; ++r)
    for (int k = 0; k < rep->count[r].load(); ++k)
      seen[rep->records[r][k][0] * (messages + 1) + rep->records[r][k][1]]++;
  for (int s = 0; s < crew; ++s) {
    for (int q = 0; q < messages; ++q)
      CHECK_MESSAGE(seen[s * (messages + 1) + q] == 1, "sender " << s << " message " << q);
    CHECK(seen[s * (messages + 1) + messages] == 0);  // the killed one's last: never delivered
  }
  CHECK(box.streams_dropped() >= 1);
}

TEST_CASE("streams: a receiver killed mid-message: the rest is dropped and counted, the mailbox goes on") {
  mailbox box = make_box("st-rkill", 4, 64);
  auto tx = box.sender();
  REQUIRE(tx);
  auto* step = shared_block<std::atomic<int>>();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto b = mailbox::open("st-rkill");
    if (!b) _exit(10);
    auto r = b->receiver();
    if (!r) _exit(11);
    step->store(1);
    std::array<std::byte, 16> piece{};
    std::size_t n = 0;
    if (r->read_for(piece, n, 20s) != status::ok || n == 0) _exit(12);
    step->store(2);  // midway: it holds the reader gate and a fragment
    for (;;) ::pause();
  }
  while (step->load() < 1) std::this_thread::sleep_for(1ms);
  const auto big = message(7, 64 * 50);
  std::thread t([&] {
    CHECK(tx->send_stream_until(big, clock_type::now() + 20s) == status::ok);  // queued: async
    CHECK(tx->send_for(bytes("next"), 20s) == status::ok);
  });
  const auto give_up = clock_type::now() + 20s;
  while (step->load() < 2 && clock_type::now() < give_up) std::this_thread::sleep_for(1ms);
  ::kill(child, SIGKILL);
  CHECK(ringport_test::wait_child(child) == 128 + SIGKILL);
  auto rx = box.receiver();
  REQUIRE(rx);
  std::vector<std::byte> buf(big.size());
  std::uint64_t len = 0;
  CHECK(rx->receive_stream_until(buf, len, clock_type::now() + 20s) == status::ok);
  t.join();
  CHECK(text(buf, static_cast<std::size_t>(len)) == "next");
  CHECK(box.streams_dropped() >= 1);
}
