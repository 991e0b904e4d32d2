// Keeping receivers and senders (mailbox.hpp, "Keeping receivers",
// "Keeping senders"; issue 17's crash windows): a receiver process
// SIGKILLed while it holds a message leaves it queued for the next keeping
// receiver with its tag, which delivers it first at the same position; a
// sender SIGKILLed between claim and commit leaves its claim for the next
// keeping sender with its tag, which voids it and says at which position;
// survivors leave both alone. Processes (fork): not under TSan.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t tag = 0x6b656570;

mailbox make(const char* name, std::size_t capacity) {
  ringport_test::use_private_domain();
  auto box =
      mailbox::create(name, {.capacity = capacity, .max_message_size = 64, .if_exists = existing::replace});
  REQUIRE(box);
  return std::move(*box);
}

void send_all(const mailbox& box, std::uint64_t first, std::uint64_t n) {
  auto tx = box.sender();
  REQUIRE(tx);
  for (std::uint64_t v = first; v < first + n; ++v) REQUIRE(tx->try_send(v) == status::ok);
}

// Forks a child that opens `name` and runs act(box, ready). Once it holds
// what the case needs, act calls ready(position), which writes the
// position to a pipe and waits there, handles alive, until the parent
// SIGKILLs the child; an act that fails returns an exit code instead.
using ready_fn = std::function<void(std::uint64_t)>;
void killed_child(const char* name, const std::function<int(mailbox&, const ready_fn&)>& act,
                  std::uint64_t& pos) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto box = mailbox::open(name);
    if (!box) _exit(2);
    const ready_fn ready = [&](std::uint64_t p) {
      if (::write(fds[1], &p, sizeof p) != sizeof p) _exit(9);
      for (;;) ::pause();
    };
    _exit(act(*box, ready));
  }
  ::close(fds[1]);
  REQUIRE(::read(fds[0], &pos, sizeof pos) == sizeof pos);
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  CHECK(ringport_test::wait_child(pid) == 128 + SIGKILL);
}

// A child that takes a receiver (keeping with `keep`, else plain), peeks
// one message and, with `hold`, keeps it lent.
void holder(const char* name, std::uint64_t keep, bool hold, std::uint64_t& pos) {
  killed_child(
      name,
      [&](mailbox& box, const ready_fn& ready) {
        auto rx = keep != 0 ? box.keeping_receiver(keep) : box.receiver();
        if (!rx) return 3;
        std::span<const std::byte> msg;
        if (rx->peek_until(msg, std::chrono::steady_clock::now() + 5s) != status::ok) return 4;
        if (!hold) rx->release();
        ready(rx->position());
        return 0;
      },
      pos);
}

// A child that takes a sender (keeping with `keep`, else plain), claims a
// slot and writes 7 into it, and with `commit` publishes it.
void claimer(const char* name, std::uint64_t keep, bool commit, std::uint64_t& pos) {
  killed_child(
      name,
      [&](mailbox& box, const ready_fn& ready) {
        auto tx = keep != 0 ? box.keeping_sender(keep) : box.sender();
        if (!tx) return 3;
        std::span<std::byte> out;
        if (tx->try_claim(sizeof(std::uint64_t), out) != status::ok) return 4;
        const std::uint64_t seven = 7;
        std::memcpy(out.data(), &seven, sizeof seven);
        const std::uint64_t p = tx->position();
        if (commit && tx->commit(sizeof seven) != status::ok) return 5;
        ready(p);
        return 0;
      },
      pos);
}

std::uint64_t receive_one(mailbox_receiver& rx) {
  std::uint64_t v = ~std::uint64_t{0};
  REQUIRE(rx.receive_for(v, 5s) == status::ok);
  return v;
}

}  // namespace

TEST_CASE("keeping receiver: the message a killed keeper held comes back first, at its position") {
  mailbox box = make("keep-first", 8);
  send_all(box, 100, 4);
  std::uint64_t pos = 0;
  holder("keep-first", tag, true, pos);
  CHECK(pos == 0);
  // Another tag does not inherit it: a fresh slot, the next message.
  {
    auto other = box.keeping_receiver(tag + 1);
    REQUIRE(other);
    CHECK_FALSE(other->inherits());
    std::span<const std::byte> msg;
    REQUIRE(other->try_peek(msg) == status::ok);
    CHECK(other->position() == 1);
    std::uint64_t v = 0;
    std::memcpy(&v, msg.data(), sizeof v);
    CHECK(v == 101);
    other->release();
  }
  auto rx = box.keeping_receiver(tag);
  REQUIRE(rx);
  CHECK(rx->inherits());
  std::span<const std::byte> msg;
  REQUIRE(rx->try_peek(msg) == status::ok);
  CHECK(rx->position() == pos);
  REQUIRE(msg.size() == sizeof(std::uint64_t));
  std::uint64_t v = 0;
  std::memcpy(&v, msg.data(), sizeof v);
  CHECK(v == 100);
  CHECK_FALSE(rx->inherits());
  CHECK(receive_one(*rx) == 102);
  CHECK(receive_one(*rx) == 103);
  std::uint64_t none = 0;
  CHECK(rx->try_receive(none) == status::would_block);
  CHECK(mailbox::remove("keep-first"));
}

TEST_CASE("keeping receiver: survivors leave the kept slot alone; a plain receiver's is reclaimed") {
  for (const bool keep : {true, false}) {
    CAPTURE(keep);
    mailbox box = make("keep-survivors", 4);
    send_all(box, 200, 4);  // full
    std::uint64_t pos = 0;
    holder("keep-survivors", keep ? tag : 0, true, pos);
    auto plain = box.receiver();
    REQUIRE(plain);
    for (std::uint64_t v = 201; v < 204; ++v) CHECK(receive_one(*plain) == v);
    // The next send needs the dead holder's slot (a lap later). A sender
    // blocked on it looks for dead claimers (after recovery_delay).
    auto tx = box.sender();
    REQUIRE(tx);
    const status s = tx->send_for(std::uint64_t{204}, 600ms);
    if (keep) {
      CHECK(s == status::timed_out);  // kept for the successor
      auto rx = box.keeping_receiver(tag);
      REQUIRE(rx);
      CHECK(receive_one(*rx) == 200);
      CHECK(tx->send_for(std::uint64_t{204}, 5s) == status::ok);
      CHECK(receive_one(*rx) == 204);
    } else {
      CHECK(s == status::ok);  // reclaimed: message 200 is lost, as before
      CHECK(receive_one(*plain) == 204);
    }
    CHECK(mailbox::remove("keep-survivors"));
  }
}

TEST_CASE("keeping receiver: a keeper that released everything leaves nothing to inherit") {
  mailbox box = make("keep-released", 8);
  send_all(box, 300, 3);
  std::uint64_t pos = 0;
  holder("keep-released", tag, false, pos);
  auto rx = box.keeping_receiver(tag);
  REQUIRE(rx);
  CHECK(rx->inherits());  // its slot, to be resolved
  CHECK(receive_one(*rx) == 301);
  CHECK(rx->position() == 1);
  CHECK_FALSE(rx->inherits());
  CHECK(mailbox::remove("keep-released"));
}

TEST_CASE("keeping receiver: an inherited message too long for the buffer stays held") {
  mailbox box = make("keep-long", 8);
  send_all(box, 400, 2);
  std::uint64_t pos = 0;
  holder("keep-long", tag, true, pos);
  auto rx = box.keeping_receiver(tag);
  REQUIRE(rx);
  std::byte small[4];
  std::size_t len = 0;
  CHECK(rx->try_receive(std::span<std::byte>(small), len) == status::too_large);
  CHECK(len == sizeof(std::uint64_t));
  CHECK(receive_one(*rx) == 400);  // still first
  CHECK(receive_one(*rx) == 401);
  CHECK(mailbox::remove("keep-long"));
}

TEST_CASE("keeping receiver: refused where it cannot keep") {
  mailbox box = make("keep-refused", 8);
  CHECK(box.keeping_receiver(0).error() == errc::invalid_argument);
  auto rv = mailbox::create("keep-rendezvous",
                            {.capacity = 0, .max_message_size = 64, .if_exists = existing::replace});
  REQUIRE(rv);
  CHECK(rv->keeping_receiver(tag).error() == errc::invalid_argument);
  CHECK(rv->keeping_sender(tag).error() == errc::invalid_argument);
  CHECK(box.keeping_sender(0).error() == errc::invalid_argument);
  CHECK(mailbox::remove("keep-refused"));
  CHECK(mailbox::remove("keep-rendezvous"));
}

TEST_CASE("keeping sender: a killed keeper's unpublished claim waits for its successor, which voids it") {
  for (const bool keep : {true, false}) {
    CAPTURE(keep);
    mailbox box = make("keep-sender", 8);
    send_all(box, 500, 2);
    std::uint64_t pos = 0;
    claimer("keep-sender", keep ? tag : 0, false, pos);
    CHECK(pos == 2);
    // A live sender (else receivers see peer_gone), its message behind the dead claim.
    auto live = box.sender();
    REQUIRE(live);
    REQUIRE(live->try_send(std::uint64_t{510}) == status::ok);
    auto rx = box.receiver();
    REQUIRE(rx);
    CHECK(receive_one(*rx) == 500);
    CHECK(receive_one(*rx) == 501);
    std::uint64_t v = 0;
    if (keep) {
      // Receivers wait at the claim (past recovery_delay: not voided).
      CHECK(rx->receive_for(v, 600ms) == status::timed_out);
      auto tx = box.keeping_sender(tag);
      REQUIRE(tx);
      CHECK(tx->inherits());
      std::optional<std::uint64_t> voided;
      REQUIRE(tx->settle_inherited(voided) == status::ok);
      REQUIRE(voided.has_value());
      CHECK(*voided == pos);
      CHECK_FALSE(tx->inherits());
      REQUIRE(tx->settle_inherited(voided) == status::ok);  // nothing left
      CHECK_FALSE(voided.has_value());
    }
    // A plain sender's claim is voided by the waiting receiver.
    CHECK(receive_one(*rx) == 510);  // the 7 it wrote is never delivered
    CHECK(rx->try_receive(v) == status::would_block);
    CHECK(mailbox::remove("keep-sender"));
  }
}

TEST_CASE("keeping sender: a keeper killed after its commit leaves nothing to void") {
  mailbox box = make("keep-committed", 8);
  std::uint64_t pos = 0;
  claimer("keep-committed", tag, true, pos);
  auto tx = box.keeping_sender(tag);
  REQUIRE(tx);
  CHECK(tx->inherits());
  std::optional<std::uint64_t> voided{42};
  REQUIRE(tx->settle_inherited(voided) == status::ok);
  CHECK_FALSE(voided.has_value());  // published: delivered
  auto rx = box.receiver();
  REQUIRE(rx);
  CHECK(receive_one(*rx) == 7);
  // A send on an inheriting handle settles first by itself.
  claimer("keep-committed", tag + 1, false, pos);
  auto tx2 = box.keeping_sender(tag + 1);
  REQUIRE(tx2);
  CHECK(tx2->inherits());
  REQUIRE(tx2->try_send(std::uint64_t{8}) == status::ok);
  CHECK_FALSE(tx2->inherits());
  CHECK(receive_one(*rx) == 8);
  CHECK(mailbox::remove("keep-committed"));
}
