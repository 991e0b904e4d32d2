// Helper for test_cli.sh: holds ring roles or a node name until killed, so
// that the script can SIGKILL holders and watch `ringport ls` / `gc` judge
// them. Domain: $RINGPORT_DOMAIN; base pages.
//   cli_holder ring create|open NAME ROLES PUSH [KIND [POP]]
//       a ring of uint64 (capacity 8) of KIND (spsc, mpsc, spmc or mpmc;
//       default mpmc); ROLES: any of p (producer) and c (consumer), or "-";
//       PUSH items 0, 1, ... are pushed (needs p), then POP popped (needs c).
//   cli_holder node NAME [TO]
//       joins node NAME; with TO, sends one message to node TO (which makes
//       the link mailbox "link.NAME.TO" and leaves the message unread).
// Prints "ready" once it holds everything, then sleeps (at most 300 s).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "ringport/node.hpp"
#include "ringport/ring.hpp"

namespace {

int die(const std::string& why) {
  std::fprintf(stderr, "cli_holder: %s\n", why.c_str());
  return 1;
}

[[noreturn]] void hold_until_killed() {
  std::printf("ready\n");
  std::fflush(stdout);
  ::alarm(300);        // a script that died without killing us must not leave us behind
  for (;;) ::pause();  // until killed
}

template <class ring>
int hold_ring(std::string_view mode, const char* name, std::string_view roles, long push, long pop) {
  ringport::ring_options opt;
  opt.capacity = 8;
  opt.backing = ringport::pages::normal;
  auto r = mode == "create" ? ring::create(name, opt) : ring::open(name);
  if (!r) return die(r.error().message);
  std::optional<typename ring::producer_handle> tx;
  std::optional<typename ring::consumer_handle> rx;
  if (roles.find('p') != std::string_view::npos) {
    auto p = r->producer();
    if (!p) return die(p.error().message);
    tx.emplace(std::move(*p));
  }
  if (roles.find('c') != std::string_view::npos) {
    auto c = r->consumer();
    if (!c) return die(c.error().message);
    rx.emplace(std::move(*c));
  }
  for (long i = 0; i < push; ++i)
    if (!tx || tx->try_push(static_cast<std::uint64_t>(i)) != ringport::status::ok)
      return die("push " + std::to_string(i) + " failed");
  for (long i = 0; i < pop; ++i)
    if (std::uint64_t v = 0; !rx || rx->try_pop(v) != ringport::status::ok)
      return die("pop " + std::to_string(i) + " failed");
  hold_until_killed();
}

int hold_ring_of(std::string_view kind, std::string_view mode, const char* name, std::string_view roles,
                 long push, long pop) {
  using item = std::uint64_t;
  if (kind == "spsc") return hold_ring<ringport::spsc<item>>(mode, name, roles, push, pop);
  if (kind == "mpsc") return hold_ring<ringport::mpsc<item>>(mode, name, roles, push, pop);
  if (kind == "spmc") return hold_ring<ringport::spmc<item>>(mode, name, roles, push, pop);
  if (kind == "mpmc") return hold_ring<ringport::mpmc<item>>(mode, name, roles, push, pop);
  return die("unknown ring kind " + std::string(kind));
}

int hold_node(const char* name, const char* to) {
  ringport::node_options opt;
  opt.backing = ringport::pages::normal;
  opt.link_capacity = 4;
  opt.max_message_size = 32;
  auto n = ringport::node::join(name, opt);
  if (!n) return die(n.error().message);
  if (to) {
    const std::string msg = "hello";
    auto s = n->try_send(to, std::as_bytes(std::span(msg.data(), msg.size())));
    if (!s) return die(s.error().message);
    if (*s != ringport::status::ok) return die("send to " + std::string(to) + " failed");
  }
  hold_until_killed();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view what = argc > 1 ? argv[1] : "";
  if (what == "ring" && argc >= 6 && argc <= 8)
    return hold_ring_of(argc > 6 ? argv[6] : "mpmc", argv[2], argv[3], argv[4],
                        std::strtol(argv[5], nullptr, 10), argc > 7 ? std::strtol(argv[7], nullptr, 10) : 0);
  if (what == "node" && (argc == 3 || argc == 4)) return hold_node(argv[2], argc == 4 ? argv[3] : nullptr);
  std::fprintf(
      stderr,
      "usage: cli_holder ring create|open NAME ROLES PUSH [KIND [POP]] | cli_holder node NAME [TO]\n");
  return 2;
}
