// Request–response between nodes: replies matched by correlation id,
// several outstanding calls, a late reply never delivered to a later call,
// a server killed mid-call.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "ringport/node.hpp"
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

// Joins two strings (not "lit" + std::string: GCC 12 -Wrestrict false positive).
std::string cat(std::string_view a, std::string_view b) {
  std::string s(a);
  s += b;
  return s;
}

node_options small() {
  node_options o;
  o.link_capacity = 16;
  o.max_message_size = 256;
  o.backing = pages::normal;
  return o;
}

// Serves `count` requests: replies "re:<request>".
void serve(node& s, int count) {
  std::byte buf[256];
  for (int i = 0; i < count; ++i) {
    std::size_t len = 0;
    incoming_call c;
    auto r = s.receive_request(buf, len, c, clock_type::now() + 10s);
    if (!r || *r != status::ok) return;
    const std::string answer = cat("re:", text(buf, len));
    (void)s.reply_until(c, bytes(answer), clock_type::now() + 10s);
  }
}

}  // namespace

TEST_CASE("call / receive_request / reply; several outstanding calls, replies in any order") {
  auto server = node::join("srv", small());
  auto client = node::join("cli", small());
  REQUIRE((server && client));
  std::thread t([&] { serve(*server, 1); });
  std::byte reply[256];
  std::size_t len = 0;
  auto r = client->call("srv", bytes("ping"), reply, len, clock_type::now() + 10s);
  t.join();
  REQUIRE(r);
  REQUIRE(*r == status::ok);
  CHECK(text(reply, len) == "re:ping");

  // Three calls out at once; the server answers them last first.
  std::uint64_t ids[3] = {};
  for (int i = 0; i < 3; ++i) {
    auto s = client->start_call("srv", bytes(cat("q", std::to_string(i))), ids[i]);
    REQUIRE((s && *s == status::ok));
  }
  CHECK((ids[0] < ids[1] && ids[1] < ids[2]));
  std::byte buf[256];
  incoming_call calls[3];
  std::string reqs[3];
  for (int i = 0; i < 3; ++i) {
    std::size_t n = 0;
    auto s = server->try_receive_request(buf, n, calls[i]);
    REQUIRE((s && *s == status::ok));
    CHECK(calls[i].from == "cli");
    reqs[i] = text(buf, n);
  }
  for (int i = 2; i >= 0; --i) REQUIRE(*server->reply(calls[i], bytes(cat("re:", reqs[i]))) == status::ok);
  for (int i : {1, 0, 2}) {
    auto s = client->await_reply(ids[i], reply, len, clock_type::now() + 10s);
    REQUIRE((s && *s == status::ok));
    CHECK(text(reply, len) == cat("re:q", std::to_string(i)));
  }
  // A reply buffer too short keeps the reply for a second try.
  std::uint64_t id = 0;
  REQUIRE(*client->start_call("srv", bytes("long request"), id) == status::ok);
  std::thread t2([&] { serve(*server, 1); });
  t2.join();
  CHECK(*client->await_reply(id, std::span(reply, 4), len, clock_type::now() + 10s) == status::too_large);
  CHECK(len == std::string("re:long request").size());
  CHECK(*client->await_reply(id, reply, len, clock_type::now() + 10s) == status::ok);
  CHECK(text(reply, len) == "re:long request");
}

TEST_CASE("a late reply is dropped, never delivered to a later call") {
  auto server = node::join("slow", small());
  auto client = node::join("impatient", small());
  REQUIRE((server && client));
  // The server answers "one" only after its call has given up (an event,
  // not a delay: a descheduled caller must not see the reply in time),
  // then serves "two".
  std::atomic<bool> first_returned{false};
  std::thread t([&] {
    std::byte buf[256];
    std::size_t n = 0;
    incoming_call c;
    auto r = server->receive_request(buf, n, c, clock_type::now() + 10s);
    if (!r || *r != status::ok) return;
    while (!first_returned.load()) std::this_thread::sleep_for(1ms);
    (void)server->reply_until(c, bytes(cat("re:", text(buf, n))), clock_type::now() + 10s);
    serve(*server, 1);
  });
  std::byte reply[256];
  std::size_t len = 0;
  auto first = client->call("slow", bytes("one"), reply, len, clock_type::now() + 50ms);
  first_returned.store(true);
  REQUIRE(first);
  CHECK(*first == status::timed_out);
  // The reply to "one" is on its way while this call waits: it must be dropped.
  auto second = client->call("slow", bytes("two"), reply, len, clock_type::now() + 10s);
  t.join();
  REQUIRE(second);
  REQUIRE(*second == status::ok);
  CHECK(text(reply, len) == "re:two");
}

TEST_CASE("a server killed mid-call: the caller returns peer_gone or timed_out, never hangs") {
  const pid_t kid = ::fork();
  if (kid == 0) {
    auto s = node::join("doomed", small());
    if (!s) ::_exit(10);
    std::byte buf[256];
    std::size_t len = 0;
    incoming_call c;
    (void)s->receive_request(buf, len, c, clock_type::now() + 30s);
    for (;;) ::pause();  // took the request, never replies
  }
  REQUIRE(node::holder_until("doomed", clock_type::now() + 10s));
  auto client = node::join("caller", small());
  REQUIRE(client);
  std::thread killer([kid] {
    std::this_thread::sleep_for(200ms);
    ::kill(kid, SIGKILL);
  });
  std::byte reply[256];
  std::size_t len = 0;
  const auto t0 = clock_type::now();
  auto r = client->call("doomed", bytes("work"), reply, len, clock_type::now() + 20s);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
  killer.join();
  CHECK(ringport_test::wait_child(kid) == 128 + SIGKILL);
  REQUIRE(r);
  CHECK(*r == status::peer_gone);
  CHECK(waited < 10s);
  MESSAGE("call returned ", std::string(to_string(*r)), " after ", waited.count(),
          " ms (server killed at 200 ms)");
  // A call to a node nobody holds fails the same way.
  auto none = client->call("doomed", bytes("again"), reply, len, clock_type::now() + 20s);
  REQUIRE(none);
  CHECK(*none == status::peer_gone);
}
