// Example 3: two nodes, P and Q, exchange messages directly. P sends "ping n"
// to Q with a synchronous send (it returns once Q has taken it); Q answers
// "pong n" the same way. The links P->Q and Q->P are made on first use.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "example_util.hpp"
#include "ringport/node.hpp"

namespace {

using namespace std::chrono_literals;
constexpr int rounds = 1000;

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

ringport::node_options options() {
  ringport::node_options o;
  o.link_capacity = 16;
  o.max_message_size = 64;
  o.backing = ringport::pages::normal;
  return o;
}

// Sends `word n` to peer synchronously, then expects `answer n` back.
bool exchange(ringport::node& self, const char* peer, const std::string& msg, const std::string& want) {
  auto s = self.send_for(peer, bytes(msg), 10s, ringport::delivery::sync);
  if (!s || *s != ringport::status::ok) return false;
  std::byte buf[64];
  std::size_t len = 0;
  auto r = self.receive_for(peer, buf, len, 10s);
  return r && *r == ringport::status::ok && std::string_view(reinterpret_cast<const char*>(buf), len) == want;
}

int run_q() {
  auto q = ringport::node::join("Q", options());
  if (!q) return std::fprintf(stderr, "Q: %s\n", q.error().message.c_str()), 1;
  for (int n = 0; n < rounds; ++n) {
    std::byte buf[64];
    std::size_t len = 0;
    std::string_view from;
    auto r = q->receive_any_for(buf, len, from, 10s);  // whoever pings
    if (!r || *r != ringport::status::ok || from != "P") return 1;
    if (std::string_view(reinterpret_cast<const char*>(buf), len) != "ping " + std::to_string(n)) return 1;
    auto s = q->send_for("P", bytes("pong " + std::to_string(n)), 10s, ringport::delivery::sync);
    if (!s || *s != ringport::status::ok) return 1;
  }
  return 0;
}

}  // namespace

int main() {
  const std::string domain = example::private_domain();
  const pid_t q = example::spawn(run_q);
  auto p = ringport::node::join("P", options());
  if (!p) return std::fprintf(stderr, "P: %s\n", p.error().message.c_str()), 1;
  bool ok = true;
  for (int n = 0; n < rounds && ok; ++n)
    ok = exchange(*p, "Q", "ping " + std::to_string(n), "pong " + std::to_string(n));
  ok = example::succeeded(q) && ok;
  std::printf("node_pingpong: %d synchronous round trips: %s\n", rounds, ok ? "ok" : "FAILED");
  p->leave();
  example::remove_domain(domain);
  return ok ? 0 : 1;
}
