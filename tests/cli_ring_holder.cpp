// Helper for test_cli.sh: holds roles on a named mpmc ring of uint64 until
// killed, so that the script can SIGKILL holders and watch `ringport ls` /
// `ringport gc` judge them.
//   cli_ring_holder create|open NAME ROLES PUSH
// ROLES: any of p (producer) and c (consumer), or "-" for none; PUSH items
// are pushed (needs p). Prints "ready" on stdout once it holds everything,
// then sleeps (at most 300 s). Domain: $RINGPORT_DOMAIN. Base pages, capacity 8.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "ringport/ring.hpp"

int main(int argc, char** argv) {
  using ring = ringport::mpmc<std::uint64_t>;
  if (argc != 5) {
    std::fprintf(stderr, "usage: cli_ring_holder create|open NAME ROLES PUSH\n");
    return 2;
  }
  const std::string_view mode = argv[1], roles = argv[3];
  ringport::ring_options opt;
  opt.capacity = 8;
  opt.backing = ringport::pages::normal;
  auto r = mode == "create" ? ring::create(argv[2], opt) : ring::open(argv[2]);
  if (!r) {
    std::fprintf(stderr, "cli_ring_holder: %s\n", r.error().message.c_str());
    return 1;
  }
  std::optional<ring::producer_handle> tx;
  std::optional<ring::consumer_handle> rx;
  if (roles.find('p') != std::string_view::npos) {
    auto p = r->producer();
    if (!p) return std::fprintf(stderr, "cli_ring_holder: %s\n", p.error().message.c_str()), 1;
    tx.emplace(std::move(*p));
  }
  if (roles.find('c') != std::string_view::npos) {
    auto c = r->consumer();
    if (!c) return std::fprintf(stderr, "cli_ring_holder: %s\n", c.error().message.c_str()), 1;
    rx.emplace(std::move(*c));
  }
  const long push = std::strtol(argv[4], nullptr, 10);
  for (long i = 0; i < push; ++i)
    if (!tx || tx->try_push(static_cast<std::uint64_t>(i)) != ringport::status::ok) {
      std::fprintf(stderr, "cli_ring_holder: push %ld failed\n", i);
      return 1;
    }
  std::printf("ready\n");
  std::fflush(stdout);
  ::alarm(300);        // a script that died without killing us must not leave us behind
  for (;;) ::pause();  // until killed
}
