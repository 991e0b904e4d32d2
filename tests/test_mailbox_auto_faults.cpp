// Automatic buffering (issue 15) under faults: the review's defects. A stale
// readable(), segments at a generation's name that are not the chain's, a
// hostile or broken `newest`, reopen, peer death judged on the chain, and a
// grower killed while it makes a generation. Processes (fork): not under TSan.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../runtime/mailbox_slots.hpp"
#include "mailbox_auto_util.hpp"
#include "ringport/mailbox.hpp"
#include "test_util.hpp"

using namespace ringport;
using namespace std::chrono_literals;
using namespace auto_test;
using clock_type = std::chrono::steady_clock;

namespace {

// Sends `n` notes of sender s from `first` on, each accepted at once.
void fill(mailbox_sender& tx, std::uint32_t s, std::uint32_t first, std::uint32_t n) {
  for (std::uint32_t q = first; q < first + n; ++q) REQUIRE(tx.try_send(note{s, q}) == status::ok);
}

// Takes `n` notes, each of sender s in order from `first`.
void take(mailbox_receiver& rx, std::uint32_t s, std::uint32_t first, std::uint32_t n) {
  for (std::uint32_t q = first; q < first + n; ++q) {
    note m{};
    REQUIRE(rx.receive_for(m, 5s) == status::ok);
    CHECK(m.sender == s);
    CHECK(m.seq == q);
  }
}

// The head's chain state, as a hostile or broken peer could rewrite it.
std::shared_ptr<detail::ring_state> head_state(const char* name) {
  std::size_t max = 0;
  auto st = detail::open_mailbox_state(name, "", max);
  REQUIRE_MESSAGE(st, st.error().message);
  return *st;
}

mailbox plain(const std::string& name, std::size_t capacity) {
  mailbox_options o;
  o.capacity = capacity;
  o.max_message_size = sizeof(note);
  o.backing = pages::normal;
  auto b = mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  return std::move(*b);
}

}  // namespace

TEST_CASE("automatic faults: a readable() taken before the receiver moves on stays valid") {
  const char* name = "autof-readable";
  mailbox box = make_auto(name, 64 * note_slot);  // 16, 32, 64 slots
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 17);  // the 17th grows it to generation 1
  take(*rx, 0, 0, 17);  // the receiver reads generation 1 now
  const waitable old[] = {rx->readable()};
  fill(*tx, 0, 17, 33);  // the 33rd grows it to generation 2
  CHECK(box.buffer_generation() == 2);
  take(*rx, 0, 17, 33);  // it moved on: generation 1 is unlinked and unmapped here
  CHECK(!gen_exists(name, 1));
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);  // wait_any parks first
    (void)tx->try_send(note{0, 50});
  });
  CHECK(wait_any(old, clock_type::now() + 10s) == 0);
  late.join();
  take(*rx, 0, 50, 1);
  const waitable again[] = {rx->readable()};  // the same event: the head's
  CHECK(again[0].event == old[0].event);
  CHECK(mailbox::remove(name));
}

TEST_CASE(
    "automatic faults: an automatic mailbox or a rendezvous at NAME.gN is never taken for a generation") {
  const char* name = "autof-impostor";
  mailbox box = make_auto(name, 64 * note_slot);
  mailbox auto_g1 = make_auto("autof-impostor.g1", 64 * note_slot);
  mailbox meet_g2 = plain("autof-impostor.g2", 0);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 17);  // grows past both: generation 3
  CHECK(box.buffer_generation() == 3);
  CHECK(box.capacity() == 32);
  take(*rx, 0, 0, 17);
  CHECK(auto_g1.size() == 0);
  CHECK(box.size() == 0);
  // A hostile newest that names the automatic one: refused, no crash.
  auto head = head_state(name);
  mbx::chain_of(*head)->newest.store(mbx::pack_newest(1, 1));
  auto tx2 = box.sender();
  REQUIRE(tx2);
  CHECK(tx2->try_send(note{1, 0}) == status::corrupt);
  auto rx2 = box.receiver();
  REQUIRE(rx2);
  note m{};
  CHECK(rx2->try_receive(m) == status::corrupt);
  CHECK(mailbox::remove(name));
  CHECK(gen_exists("autof-impostor", 1));  // not the chain's: left alone
  CHECK(gen_exists("autof-impostor", 2));
  CHECK(mailbox::remove("autof-impostor.g1"));
  CHECK(mailbox::remove("autof-impostor.g2"));
}

TEST_CASE(
    "automatic faults: a user's bounded NAME.g1 of the generation's size is neither adopted nor removed") {
  const char* name = "autof-user";
  mailbox own_g1 = plain("autof-user.g1", 32);  // exactly what generation 1 would be
  mailbox own_g7 = plain("autof-user.g7", 16);
  mailbox box = make_auto(name, 64 * note_slot);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 17);
  CHECK(box.buffer_generation() == 2);  // 1 is the user's: skipped
  CHECK(own_g1.size() == 0);
  take(*rx, 0, 0, 17);
  CHECK(gen_exists(name, 1));  // still there: the receiver unlinks only the chain's
  CHECK(mailbox::remove(name));
  CHECK(!gen_exists(name, 2));
  CHECK(gen_exists(name, 1));
  CHECK(gen_exists(name, 7));
  CHECK(mailbox::remove("autof-user.g1"));
  CHECK(mailbox::remove("autof-user.g7"));
}

TEST_CASE("automatic faults: a hostile or missing newest generation is reported, within the deadline") {
  const char* name = "autof-newest";
  mailbox box = make_auto(name, 64 * note_slot);
  const int rc = ringport_test::run_in_child([&] {
    ::alarm(60);  // a receiver that loops instead of failing dies here
    auto b = mailbox::open(name);
    if (!b) return 10;
    auto rx = b->receiver();
    auto tx = b->sender();
    if (!rx || !tx) return 11;
    std::size_t max = 0;
    auto head = detail::open_mailbox_state(name, "", max);
    if (!head) return 12;
    mbx::mailbox_chain* c = mbx::chain_of(**head);
    note m{};
    c->newest.store(mbx::pack_newest(0xfffffff0u, 0));  // ~4e9 generations on
    if (rx->receive_for(m, 300ms) != status::corrupt) return 13;
    if (rx->try_receive(m) != status::corrupt) return 14;
    if (tx->send_for(note{0, 0}, 300ms) != status::corrupt) return 15;
    c->newest.store(mbx::pack_newest(3, 1));  // a generation that does not exist
    if (rx->receive_for(m, 300ms) != status::corrupt) return 16;
    c->newest.store(mbx::pack_newest(0, 7));  // a level past the limit
    if (rx->receive_for(m, 300ms) != status::corrupt) return 17;
    return 0;
  });
  CHECK(rc == 0);
  CHECK(mailbox::remove(name));
}

TEST_CASE(
    "automatic faults: close and reopen a grown mailbox; senders and receivers work in every generation") {
  const char* name = "autof-reopen";
  mailbox box = make_auto(name, 64 * note_slot);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 16 + 32 + 5);  // generations 0, 1, 2
  CHECK(box.buffer_generation() == 2);
  box.close();
  CHECK(tx->try_send(note{0, 53}) == status::closed);
  CHECK(box.reopen());
  fill(*tx, 0, 53, 1);
  auto b2 = mailbox::open(name);
  REQUIRE(b2);
  auto tx2 = b2->sender();  // a new sender goes to the newest generation
  REQUIRE(tx2);
  fill(*tx2, 1, 0, 1);
  take(*rx, 0, 0, 54);
  take(*rx, 1, 0, 1);
  note m{};
  CHECK(rx->try_receive(m) == status::would_block);
  CHECK(mailbox::remove(name));
}

TEST_CASE(
    "automatic faults: a receiver is not told peer_gone while a live sender is in an older generation") {
  const char* name = "autof-peer";
  mailbox box = make_auto(name, 64 * note_slot);
  auto a = box.sender();  // lives, idle in generation 0
  auto rx = box.receiver();
  REQUIRE(a);
  REQUIRE(rx);
  fill(*a, 0, 0, 1);
  const int rc = ringport_test::run_in_child([&] {
    auto b = mailbox::open(name);
    if (!b) return 10;
    auto tx = b->sender();
    if (!tx) return 11;
    for (std::uint32_t q = 0; q < 15 + 3; ++q)  // fills generation 0, grows, 3 in generation 1
      if (tx->try_send(note{1, q}) != status::ok) return 12;
    _exit(0);  // dies holding its roles
  });
  CHECK(rc == 0);
  CHECK(box.buffer_generation() == 1);
  take(*rx, 0, 0, 1);
  take(*rx, 1, 0, 18);
  note m{};
  // Generation 1's only sender is dead; sender a lives and will send there.
  CHECK(rx->receive_for(m, 300ms) == status::timed_out);
  fill(*a, 0, 1, 1);
  take(*rx, 0, 1, 1);
  CHECK(mailbox::remove(name));
}

TEST_CASE("automatic faults: a grower killed while it makes a generation does not stop growth") {
  const char* name = "autof-grower";
  mailbox box = make_auto(name, 64 * note_slot);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto [b, tx] = open_child_sender(name);
    send_or_exit(tx, 1, 16);
    detail::auto_grow_hook.store(+[] { ::raise(SIGKILL); });  // after the segment, before its tag
    (void)tx.try_send(note{1, 16});
    _exit(13);
  }
  CHECK(ringport_test::wait_child(child) == 128 + SIGKILL);
  CHECK(gen_exists(name, 1));  // half-made
  CHECK(box.buffer_generation() == 0);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 1);  // full: it replaces the half-made generation 1 and grows
  CHECK(box.buffer_generation() == 1);
  CHECK(box.capacity() == 32);
  take(*rx, 1, 0, 16);
  take(*rx, 0, 0, 1);
  CHECK(mailbox::remove(name));
  CHECK(!gen_exists(name, 1));
}

TEST_CASE("automatic faults: a growth that failed is tried again, not given up for good") {
  const char* name = "autof-retry";
  mailbox box = make_auto(name, 64 * note_slot);
  // Every number one growth tries (chain_link::name_tries: 4) is a user's.
  for (int g = 1; g <= 4; ++g) (void)plain(std::string(name) + ".g" + std::to_string(g), 16);
  auto tx = box.sender();
  auto rx = box.receiver();
  REQUIRE(tx);
  REQUIRE(rx);
  fill(*tx, 0, 0, 16);
  CHECK(tx->try_send(note{0, 16}) == status::would_block);  // cannot grow: bounded meanwhile
  CHECK(box.buffer_generation() == 0);
  for (int g = 1; g <= 4; ++g) CHECK(mailbox::remove(std::string(name) + ".g" + std::to_string(g)));
  CHECK(tx->send_for(note{0, 16}, 20s) == status::ok);  // its wait stops to try again: it grows
  CHECK(box.buffer_generation() == 1);
  take(*rx, 0, 0, 17);
  CHECK(mailbox::remove(name));
}
