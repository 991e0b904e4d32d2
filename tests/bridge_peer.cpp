// Sender and receiver processes for test_bridge.sh: they ride out the death
// of the bridge on the other side of their mailbox (status::peer_gone while
// no bridge holds the other role), which ringport send/recv report and exit.
//   bridge_peer send MAILBOX DOMAIN ID N   sends "s<ID> 1" .. "s<ID> N"
//   bridge_peer recv MAILBOX DOMAIN N      prints N messages, one a line
// exit: 0 done, 1 error (or 10 minutes without progress).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ringport/mailbox.hpp"

namespace {

using namespace ringport;
using clock_type = std::chrono::steady_clock;

int send_all(const mailbox& box, const std::string& id, unsigned long n) {
  auto tx = box.sender();
  if (!tx) return std::fprintf(stderr, "bridge_peer: %s\n", tx.error().message.c_str()), 1;
  auto stalled = clock_type::now() + std::chrono::minutes(10);
  for (unsigned long k = 1; k <= n;) {
    const std::string m = "s" + id + " " + std::to_string(k);
    const status s =
        tx->send_for(std::as_bytes(std::span(m.data(), m.size())), std::chrono::milliseconds(200));
    if (s == status::ok) {
      ++k;
      stalled = clock_type::now() + std::chrono::minutes(10);
    } else if ((s != status::peer_gone && s != status::timed_out) || clock_type::now() > stalled) {
      return std::fprintf(stderr, "bridge_peer: send: %s\n", to_string(s)), 1;
    } else if (s == status::peer_gone) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // no bridge yet: it is restarting
    }
  }
  return 0;
}

int recv_all(const mailbox& box, unsigned long n) {
  auto rx = box.receiver();
  if (!rx) return std::fprintf(stderr, "bridge_peer: %s\n", rx.error().message.c_str()), 1;
  std::vector<std::byte> buf(rx->max_message_size());
  auto stalled = clock_type::now() + std::chrono::minutes(10);
  for (unsigned long k = 0; k < n;) {
    std::size_t len = 0;
    const status s = rx->receive_for(buf, len, std::chrono::milliseconds(200));
    if (s == status::ok) {
      std::fwrite(buf.data(), 1, len, stdout);
      std::fputc('\n', stdout);
      ++k;
      stalled = clock_type::now() + std::chrono::minutes(10);
    } else if ((s != status::peer_gone && s != status::timed_out) || clock_type::now() > stalled) {
      return std::fprintf(stderr, "bridge_peer: recv after %lu: %s\n", k, to_string(s)), 1;
    } else {
      std::fflush(stdout);  // what came so far is visible to a test that gives up
      if (s == status::peer_gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "send" && argc == 6) || (mode == "recv" && argc == 5))) {
    std::fputs("usage: bridge_peer send MAILBOX DOMAIN ID N | recv MAILBOX DOMAIN N\n", stderr);
    return 2;
  }
  auto box = mailbox::open(argv[2], argv[3]);
  if (!box) return std::fprintf(stderr, "bridge_peer: %s\n", box.error().message.c_str()), 1;
  if (mode == "send") return send_all(*box, argv[4], std::strtoul(argv[5], nullptr, 10));
  return recv_all(*box, std::strtoul(argv[4], nullptr, 10));
}
