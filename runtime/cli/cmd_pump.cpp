// ringport pump NAME --to ADDR | --from ADDR (issue #14).
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/pump.hpp"

namespace ringport::cli {
namespace {

const char* help_pump = R"(usage: ringport pump NAME --to ADDR [--domain D]
       ringport pump NAME --from ADDR [--domain D]
ADDR is tcp://HOST:PORT or unix:PATH. --to connects to ADDR and sends the
messages of mailbox NAME there as frames (4-byte little-endian length, then
the bytes) until the mailbox is closed and drained, the peer closes, or
SIGINT/SIGTERM. --from listens on ADDR and, one connection after another,
puts the frames received into mailbox NAME (back-pressure: a full mailbox
stops reading the socket) until SIGINT/SIGTERM or the mailbox's close.
exit: 0 ok, 1 error, 2 usage.
)";

struct endpoint {
  int family = AF_UNSPEC;
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// tcp://HOST:PORT (getaddrinfo, numeric port) or unix:PATH; empty on success.
std::string resolve(const std::string& text, endpoint& e) {
  if (text.rfind("unix:", 0) == 0) {
    const std::string path = text.substr(5);
    sockaddr_un u{};
    if (path.empty() || path.size() >= sizeof u.sun_path) return "unix:PATH wants a path of 1 to 107 bytes";
    u.sun_family = AF_UNIX;
    std::memcpy(u.sun_path, path.data(), path.size());
    std::memcpy(&e.addr, &u, sizeof u);
    e.len = sizeof u;
    e.family = AF_UNIX;
    return {};
  }
  if (text.rfind("tcp://", 0) != 0) return "ADDR must be tcp://HOST:PORT or unix:PATH";
  const std::string hp = text.substr(6);
  const auto colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == hp.size()) return "tcp:// wants HOST:PORT";
  auto port = parse_number(hp.substr(colon + 1), 1, 65535, "PORT");
  if (!port) return port.error;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string host = hp.substr(0, colon);
  if (int rc = getaddrinfo(host.c_str(), hp.substr(colon + 1).c_str(), &hints, &res); rc != 0)
    return "cannot resolve " + host + ": " + gai_strerror(rc);
  std::memcpy(&e.addr, res->ai_addr, res->ai_addrlen);
  e.len = res->ai_addrlen;
  e.family = res->ai_family;
  freeaddrinfo(res);
  return {};
}

int pump_to(std::string_view cmd, mailbox& box, const endpoint& e) {
  auto rx = box.receiver();
  if (!rx) return fail(cmd, rx.error());
  const int fd = ::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0)
    return fail(cmd, std::string("connect: ") + std::strerror(errno));
  auto loop = pump_loop::create();
  if (!loop) return fail(cmd, loop.error());
  auto id = loop->to_socket(*rx, fd);
  auto r = loop->run(&stop_requested);
  ::close(fd);
  if (!r) return fail(cmd, r.error());
  const pump_stats& st = loop->stats(*id);
  std::fprintf(stderr, "ringport: pump: %llu messages sent\n", static_cast<unsigned long long>(st.messages));
  if (st.state == pump_state::failed) return fail(cmd, st.error);
  if (st.state == pump_state::peer_closed)
    return fail(cmd, "the peer closed; " + std::to_string(st.unsent) + " messages taken were not sent");
  return exit_ok;
}

int pump_from(std::string_view cmd, mailbox& box, const endpoint& e) {
  auto tx = box.sender();
  if (!tx) return fail(cmd, tx.error());
  const int l = ::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (l >= 0) ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (l < 0 || ::bind(l, reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0 || ::listen(l, 4) != 0)
    return fail(cmd, std::string("listen: ") + std::strerror(errno));
  std::uint64_t total = 0;
  int rc = exit_ok;
  while (!stop_requested.load() && !box.closed()) {
    const int fd = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      rc = fail(cmd, std::string("accept: ") + std::strerror(errno));
      break;
    }
    auto loop = pump_loop::create();
    if (!loop) {
      ::close(fd);
      rc = fail(cmd, loop.error());
      break;
    }
    auto id = loop->from_socket(fd, *tx);
    auto r = loop->run(&stop_requested);
    ::close(fd);
    total += loop->stats(*id).messages;
    if (!r) rc = fail(cmd, r.error());
    if (loop->stats(*id).state == pump_state::failed) report(cmd, loop->stats(*id).error);
  }
  ::close(l);
  if (e.family == AF_UNIX) ::unlink(reinterpret_cast<const sockaddr_un*>(&e.addr)->sun_path);
  std::fprintf(stderr, "ringport: pump: %llu messages received\n", static_cast<unsigned long long>(total));
  return rc;
}

}  // namespace

int cmd_pump(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "pump";
  auto a = parse(argc, argv, first, cmd, {{"--to", "", true}, {"--from", "", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_pump, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  if (a->has("--to") == a->has("--from"))
    return fail(cmd, "wants exactly one of --to and --from", exit_usage);
  const bool to = a->has("--to");
  endpoint e;
  if (std::string why = resolve(a->get(to ? "--to" : "--from"), e); !why.empty())
    return fail(cmd, why, exit_usage);
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  catch_stop_signals();
  return to ? pump_to(cmd, *box, e) : pump_from(cmd, *box, e);
}

}  // namespace ringport::cli
