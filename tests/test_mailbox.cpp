// Mailbox behaviour in one process (and threads): options, sizes, deadlines,
// synchronous delivery, zero copy, close, corrupt headers. The many-process
// proof lives in test_mailbox_stress.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringport/detail/ring_layout.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/ring.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string label(int i) {  // (not "m" + to_string: GCC 12 -Wrestrict false positive)
  std::string s = "m";
  s += std::to_string(i);
  return s;
}
std::string text(std::span<const std::byte> b, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

struct fixture {
  mailbox box;
  mailbox_sender tx;
  mailbox_receiver rx;
  explicit fixture(const char* name, std::size_t capacity = 8, std::size_t max = 64) {
    mailbox_options o;
    o.capacity = capacity;
    o.max_message_size = max;
    o.backing = pages::normal;
    auto b = mailbox::create(name, o);
    REQUIRE_MESSAGE(b, b.error().message);
    box = std::move(*b);
    auto s = box.sender();
    auto r = box.receiver();
    REQUIRE(s);
    REQUIRE(r);
    tx = std::move(*s);
    rx = std::move(*r);
  }
};

}  // namespace

TEST_CASE("mailbox options are validated with clear errors") {
  mailbox_options o;
  o.backing = pages::normal;
  o.capacity = 1000;
  auto a = mailbox::create("mb-bad-cap", o);
  REQUIRE_FALSE(a);
  CHECK(a.error() == errc::invalid_argument);
  CHECK(a.error().message.find("power of two") != std::string::npos);
  o.capacity = 16;
  o.max_message_size = 0;
  auto b = mailbox::create("mb-bad-size", o);
  REQUIRE_FALSE(b);
  CHECK(b.error() == errc::invalid_argument);
  o.max_message_size = mailbox_max_message_limit + 1;
  auto c = mailbox::create("mb-bad-size", o);
  REQUIRE_FALSE(c);
  CHECK(c.error() == errc::invalid_argument);

  auto missing = mailbox::open("mb-missing");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::not_found);

  auto r = mpmc<std::uint64_t>::create("mb-a-ring", ring_options{16, pages::normal});
  REQUIRE(r);
  auto wrong = mailbox::open("mb-a-ring");
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == errc::wrong_kind);
}

TEST_CASE("mailbox defaults, open by name, open_or_create, remove") {
  mailbox_options o;
  o.backing = pages::normal;
  auto a = mailbox::create("mb-defaults", o);
  REQUIRE_MESSAGE(a, a.error().message);
  CHECK(a->capacity() == 1024);
  CHECK(a->max_message_size() == 4096 - mailbox_header_bytes);
  auto dup = mailbox::create("mb-defaults", o);
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == errc::already_exists);
  auto b = mailbox::open("mb-defaults");
  REQUIRE_MESSAGE(b, b.error().message);
  CHECK(b->max_message_size() == a->max_message_size());
  CHECK(b->info().kind == object_kind::mailbox);
  o.max_message_size = 10;  // ignored: it exists
  auto c = mailbox::open_or_create("mb-defaults", o);
  REQUIRE(c);
  CHECK(c->max_message_size() == 4096 - mailbox_header_bytes);
  // A message sent through one mapping arrives through another.
  auto tx = a->sender();
  auto rx = b->receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  REQUIRE(tx->try_send(bytes("across mappings")) == status::ok);
  std::array<std::byte, 64> buf{};
  std::size_t len = 0;
  REQUIRE(rx->try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "across mappings");
  CHECK(mailbox::remove("mb-defaults"));
  CHECK(mailbox::remove("mb-defaults").error() == errc::not_found);
}

TEST_CASE("messages round-trip in order; zero length; full and empty never wait") {
  fixture f("mb-basic", 4, 32);
  std::array<std::byte, 32> buf{};
  std::size_t len = 99;
  const auto t0 = clock_type::now();
  CHECK(f.rx.try_receive(buf, len) == status::would_block);
  CHECK(clock_type::now() - t0 < 1s);  // generous: "at once"
  REQUIRE(f.tx.try_send({}) == status::ok);
  REQUIRE(f.rx.try_receive(buf, len) == status::ok);
  CHECK(len == 0);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 4; ++i) REQUIRE(f.tx.try_send(bytes(label(round * 4 + i))) == status::ok);
    CHECK(f.box.size() == 4);
    CHECK(f.tx.try_send(bytes("full")) == status::would_block);
    for (int i = 0; i < 4; ++i) {
      REQUIRE(f.rx.try_receive(buf, len) == status::ok);
      CHECK(text(buf, len) == label(round * 4 + i));
    }
  }
  CHECK(f.rx.try_receive(buf, len) == status::would_block);
}

TEST_CASE(
    "a default-constructed or moved-from sender or receiver holds no role and fails without reaching the "
    "mailbox") {
  std::array<std::byte, 32> buf{};
  std::size_t len = 0;
  mailbox_sender no_tx;
  mailbox_receiver no_rx;
  CHECK_FALSE(no_tx.valid());
  CHECK_FALSE(no_rx.valid());
  CHECK(no_tx.try_send(bytes("x")) == status::too_large);  // its max_message_size() is 0
  CHECK(no_tx.try_send({}) == status::closed);
  CHECK(no_rx.try_receive(buf, len) == status::closed);
  CHECK(no_rx.receive_for(buf, len, 1ms) == status::closed);

  fixture f("mb-detached", 4, 32);
  REQUIRE(f.tx.try_send(bytes("one")) == status::ok);
  mailbox_sender tx = std::move(f.tx);
  mailbox_receiver rx = std::move(f.rx);
  CHECK_FALSE(f.tx.valid());
  CHECK_FALSE(f.rx.valid());
  CHECK(tx.valid());
  CHECK(rx.valid());
  // A moved-from handle must not act on the mailbox it left.
  CHECK(f.tx.try_send(bytes("ghost")) == status::closed);
  CHECK(f.tx.send_for(bytes("ghost"), 1ms) == status::closed);
  CHECK(f.rx.try_receive(buf, len) == status::closed);
  CHECK(f.rx.receive_for(buf, len, 1ms) == status::closed);
  CHECK(f.box.size() == 1);
  REQUIRE(tx.try_send(bytes("two")) == status::ok);
  REQUIRE(rx.try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "one");
  REQUIRE(rx.try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "two");
  CHECK(rx.try_receive(buf, len) == status::would_block);
}

TEST_CASE("too large: refused whole on send; kept queued on a short receive buffer") {
  fixture f("mb-large", 8, 16);
  std::string big(17, 'x');
  CHECK(f.tx.try_send(bytes(big)) == status::too_large);
  CHECK(f.tx.send(bytes(big)) == status::too_large);
  CHECK(f.tx.send_for(bytes(big), 10ms, delivery::sync) == status::too_large);
  CHECK(f.box.size() == 0);
  REQUIRE(f.tx.try_send(bytes("exactly 16 bytes")) == status::ok);
  REQUIRE(f.tx.try_send(bytes("next")) == status::ok);
  std::array<std::byte, 8> small{};
  std::size_t len = 0;
  CHECK(f.rx.try_receive(small, len) == status::too_large);
  CHECK(len == 16);
  CHECK(f.rx.receive_for(small, len, 10ms) == status::too_large);
  CHECK(f.box.size() == 2);  // nothing was lost
  std::array<std::byte, 16> buf{};
  REQUIRE(f.rx.try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "exactly 16 bytes");
  REQUIRE(f.rx.try_receive(small, len) == status::ok);
  CHECK(text(small, len) == "next");
}

TEST_CASE("timed calls return no earlier than their deadline") {
  fixture f("mb-deadline", 2, 16);
  std::array<std::byte, 16> buf{};
  std::size_t len = 0;
  auto deadline = clock_type::now() + 80ms;
  CHECK(f.rx.receive_until(buf, len, deadline) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  std::span<const std::byte> view;
  deadline = clock_type::now() + 30ms;
  CHECK(f.rx.peek_until(view, deadline) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  REQUIRE(f.tx.try_send(bytes("a")) == status::ok);
  REQUIRE(f.tx.try_send(bytes("b")) == status::ok);
  deadline = clock_type::now() + 60ms;
  CHECK(f.tx.send_until(bytes("c"), deadline) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  std::span<std::byte> claim;
  deadline = clock_type::now() + 30ms;
  CHECK(f.tx.claim_until(4, claim, deadline) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  CHECK(f.box.size() == 2);
}

TEST_CASE("zero copy: claim/commit/abort and peek/release") {
  fixture f("mb-zero-copy", 4, 32);
  std::span<std::byte> w;
  REQUIRE(f.tx.try_claim(32, w) == status::ok);
  REQUIRE(w.size() == 32);
  std::memcpy(w.data(), "in place", 8);
  std::span<std::byte> again;
  CHECK(f.tx.try_claim(4, again) == status::would_block);  // one open claim
  CHECK(f.tx.try_send(bytes("no")) == status::would_block);
  CHECK(f.tx.commit(33) == status::too_large);  // more than claimed: still open
  CHECK(f.tx.commit(8) == status::ok);
  REQUIRE(f.tx.try_claim(5, w) == status::ok);
  f.tx.abort();  // receivers skip it
  CHECK(f.tx.try_claim(40, w) == status::too_large);
  REQUIRE(f.tx.try_send(bytes("after abort")) == status::ok);

  std::span<const std::byte> v;
  REQUIRE(f.rx.try_peek(v) == status::ok);
  CHECK(text(v, v.size()) == "in place");
  // Lent, not handed back: its slot stays ours, so the ring fills at 3 more.
  REQUIRE(f.tx.try_send(bytes("fills")) == status::ok);
  CHECK(f.tx.try_send(bytes("no room")) == status::would_block);
  CHECK(text(v, v.size()) == "in place");
  f.rx.release();
  CHECK(f.tx.try_send(bytes("room again")) == status::ok);
  REQUIRE(f.rx.try_peek(v) == status::ok);
  CHECK(text(v, v.size()) == "after abort");
  std::array<std::byte, 32> buf{};
  std::size_t len = 0;
  for (const char* want : {"fills", "room again"}) {  // each receive releases the lent slot first
    REQUIRE(f.rx.try_receive(buf, len) == status::ok);
    CHECK(text(buf, len) == want);
  }
  CHECK(f.rx.try_receive(buf, len) == status::would_block);
  CHECK(f.box.size() == 0);
}

TEST_CASE("a synchronous send returns only after a receiver took that message") {
  fixture f("mb-sync", 8, 32);
  std::atomic<int> sender_returned{0};
  std::atomic<int> receiver_started{0};
  std::atomic<int> started_seen_by_sender{-1};
  status sent = status::corrupt;
  std::thread t([&] {
    sent = f.tx.send(bytes("rendezvous"), delivery::sync);
    started_seen_by_sender = receiver_started.load();
    sender_returned = 1;
  });
  // Wait until the message is queued, give the sender every chance to return
  // early, then check that it did not.
  const auto give_up = clock_type::now() + 10s;
  while (f.box.size() == 0 && clock_type::now() < give_up) std::this_thread::sleep_for(1ms);
  REQUIRE(f.box.size() == 1);
  std::this_thread::sleep_for(100ms);
  CHECK(sender_returned.load() == 0);
  receiver_started = 1;
  std::array<std::byte, 32> buf{};
  std::size_t len = 0;
  REQUIRE(f.rx.receive(buf, len) == status::ok);
  t.join();
  CHECK(sent == status::ok);
  CHECK(started_seen_by_sender.load() == 1);
  CHECK(text(buf, len) == "rendezvous");
}

TEST_CASE("a timed-out synchronous send is never delivered") {
  fixture f("mb-sync-timeout", 8, 32);
  const auto deadline = clock_type::now() + 50ms;
  CHECK(f.tx.send_until(bytes("withdrawn"), deadline, delivery::sync) == status::timed_out);
  CHECK(clock_type::now() >= deadline);
  CHECK(f.box.size() == 1);  // still in the ring, but withdrawn
  REQUIRE(f.tx.try_send(bytes("kept")) == status::ok);
  std::array<std::byte, 4> small{};  // too small for "withdrawn": must not matter
  std::array<std::byte, 32> buf{};
  std::size_t len = 0;
  REQUIRE(f.rx.try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "kept");
  CHECK(f.rx.try_receive(small, len) == status::would_block);

  // The same word then serves a successful sync send (next generation), and
  // a withdrawn message behind a short buffer is skipped, not reported.
  CHECK(f.tx.send_for(bytes("withdrawn again"), 20ms, delivery::sync) == status::timed_out);
  CHECK(f.rx.try_receive(small, len) == status::would_block);
  std::thread t([&] {
    std::size_t n = 0;
    std::array<std::byte, 32> b{};
    (void)f.rx.receive_for(b, n, 10s);
  });
  CHECK(f.tx.send_for(bytes("taken"), 10s, delivery::sync) == status::ok);
  t.join();
}

TEST_CASE("sync send and sync zero-copy commit to another process") {
  fixture f("mb-sync-proc2", 8, 32);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto box = mailbox::open("mb-sync-proc2");
    if (!box) ::_exit(10);
    auto rx = box->receiver();
    if (!rx) ::_exit(11);
    std::array<std::byte, 32> buf{};
    std::size_t len = 0;
    for (const char* want : {"one", "two"}) {
      if (rx->receive_for(buf, len, 10s) != status::ok) ::_exit(12);
      if (text(buf, len) != want) ::_exit(13);
    }
    ::_exit(0);
  }
  CHECK(f.tx.send_for(bytes("one"), 10s, delivery::sync) == status::ok);
  std::span<std::byte> w;
  REQUIRE(f.tx.try_claim(3, w) == status::ok);
  std::memcpy(w.data(), "two", 3);
  CHECK(f.tx.commit(3, delivery::sync, clock_type::now() + 10s) == status::ok);
  CHECK(f.box.size() == 0);
  CHECK(ringport_test::wait_child(pid) == 0);
}

TEST_CASE("close: sends fail, receives drain, a waiting sync sender withdraws") {
  fixture f("mb-close", 8, 32);
  REQUIRE(f.tx.try_send(bytes("last")) == status::ok);
  status sync_result = status::ok;
  std::thread t([&] { sync_result = f.tx.send_for(bytes("pending"), 10s, delivery::sync); });
  const auto give_up = clock_type::now() + 10s;
  while (f.box.size() < 2 && clock_type::now() < give_up) std::this_thread::sleep_for(1ms);
  f.box.close();
  t.join();
  CHECK(sync_result == status::closed);
  CHECK(f.tx.try_send(bytes("x")) == status::closed);
  std::array<std::byte, 32> buf{};
  std::size_t len = 0;
  REQUIRE(f.rx.receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "last");
  CHECK(f.rx.receive(buf, len) == status::closed);  // "pending" was withdrawn
}

TEST_CASE("wait_any over mailbox receivers") {
  fixture a("mb-any-a", 4, 16);
  fixture b("mb-any-b", 4, 16);
  const waitable targets[] = {a.rx.readable(), b.rx.readable()};
  CHECK(wait_any(targets, clock_type::now() + 20ms) == -1);
  REQUIRE(b.tx.try_send(bytes("b")) == status::ok);
  CHECK(wait_any(targets, clock_type::now() + 10s) == 1);
}

TEST_CASE("at most 64 live senders; a released role is reusable") {
  fixture f("mb-roles", 4, 16);
  std::vector<mailbox_sender> held;
  for (int i = 1; i < 64; ++i) {
    auto s = f.box.sender();
    REQUIRE(s);
    held.push_back(std::move(*s));
  }
  auto extra = f.box.sender();
  REQUIRE_FALSE(extra);
  CHECK(extra.error() == errc::too_many_roles);
  held.pop_back();
  CHECK(f.box.sender());
}

TEST_CASE("a corrupt length in shared memory yields corrupt, never a wild copy") {
  fixture f("mb-corrupt", 4, 16);
  REQUIRE(f.tx.try_send(bytes("victim")) == status::ok);
  REQUIRE(f.tx.try_send(bytes("intact")) == status::ok);
  {
    auto seg = segment::open("mb-corrupt");  // raw view of the same file
    REQUIRE(seg);
    detail::ring_geometry g{};
    std::memcpy(&g, seg->payload(), sizeof g);
    std::byte* slot0 = seg->payload() + g.data_offset;
    const std::uint32_t huge = 1u << 30;
    std::memcpy(slot0, &huge, sizeof huge);  // length field of the first message
  }
  std::array<std::byte, 16> buf{};
  std::size_t len = 0;
  CHECK(f.rx.try_receive(buf, len) == status::corrupt);
  REQUIRE(f.rx.try_receive(buf, len) == status::ok);
  CHECK(text(buf, len) == "intact");
}

// ---------------------------------------------------------------- typed messages (#12 item 6)

namespace {
struct quote {
  std::uint64_t id;
  double price;
  std::int32_t qty;
  char symbol[12];
};
bool same(const quote& a, const quote& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}
}  // namespace

static_assert(message_value<quote> && message_value<std::uint64_t> && message_value<std::array<int, 3>>);
static_assert(!message_value<int*> && !message_value<std::string_view> &&
              !message_value<std::span<const int>>);
static_assert(!message_value<std::span<const std::byte>> && !message_value<std::string>);

TEST_CASE("typed messages: send(const T&) / receive(T&), the size checked, never truncated") {
  fixture f("mb-typed", 8, 64);
  const quote q{7, 101.25, -3, "ACME"};
  REQUIRE(f.tx.send(q) == status::ok);
  quote got{};
  REQUIRE(f.rx.receive(got) == status::ok);
  CHECK(same(got, q));
  CHECK(f.rx.try_receive(got) == status::would_block);
  CHECK(f.rx.receive_for(got, 1ms) == status::timed_out);

  // A shorter message asked for as a quote: wrong_size, kept queued, got untouched.
  REQUIRE(f.tx.try_send(std::uint32_t{42}) == status::ok);
  CHECK(f.rx.try_receive(got) == status::wrong_size);
  CHECK(f.rx.receive_until(got, clock_type::now() + 1s) == status::wrong_size);
  CHECK(same(got, q));
  std::uint32_t small = 0;
  REQUIRE(f.rx.try_receive(small) == status::ok);
  CHECK(small == 42);

  // A longer one asked for as a smaller type: wrong_size too, with its length.
  REQUIRE(f.tx.send_for(q, 1s) == status::ok);
  std::uint32_t tiny = 0;
  std::size_t len = 0;
  CHECK(f.rx.try_receive(tiny) == status::wrong_size);
  CHECK(f.rx.try_receive_exact(value_bytes(tiny), len) == status::wrong_size);
  CHECK(len == sizeof(quote));
  CHECK(tiny == 0);
  REQUIRE(f.rx.receive_for(got, 1s) == status::ok);
  CHECK(same(got, q));

  // A type larger than the mailbox's messages is refused whole.
  struct big {
    std::byte b[65];
  };
  CHECK(f.tx.try_send(big{}) == status::too_large);
  CHECK(f.tx.send_until(big{}, clock_type::now() + 1s) == status::too_large);

  // A withdrawn (timed-out) sync message of another size is discarded, not refused.
  CHECK(f.tx.send_for(std::uint16_t{1}, 1ms, delivery::sync) == status::timed_out);
  CHECK(f.rx.try_receive(got) == status::would_block);

  // Synchronous typed delivery to another thread.
  std::uint64_t seen = 0;
  std::thread t([&] { CHECK(f.rx.receive(seen) == status::ok); });
  CHECK(f.tx.send(std::uint64_t{9}, delivery::sync) == status::ok);
  t.join();
  CHECK(seen == 9);
}
