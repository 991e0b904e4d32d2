// ringport mailbox create / send / recv.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "ringport/mailbox.hpp"

namespace ringport::cli {
namespace {

using clock = std::chrono::steady_clock;

const char* help_create = R"(usage: ringport mailbox create NAME [--capacity N|auto] [--max-size BYTES]
                               [--max-bytes LIMIT] [--pages any|huge|normal] [--group]
                               [--domain D] [--if-exists fail|open|replace]
Creates a mailbox of N messages (a power of two from 1 to 4294967296;
default 1024; 0 makes a rendezvous: nothing is buffered, a send returns
once a receiver took the message) of up to BYTES each (1 to 16777200; default 4080). Numbers are
decimal digits only, no sign, blanks or suffixes. --group makes it mode 0660
instead of 0600. --if-exists: when NAME exists, fail (the default), open it
(its sizes win), or replace it with a new mailbox when no recorded user of
it is alive (stale in `ringport ls`; its queued messages are dropped).
--capacity auto --max-bytes LIMIT: automatic buffering: it starts small
(at most 16 messages) and grows, doubling, when senders find it full, while
its newest buffer stays within LIMIT bytes of slots (a slot is BYTES + 16,
rounded up to 8); then sends wait. Its generations are mailboxes
NAME.g1, NAME.g2 ... that `ringport stat NAME` sums up.
exit: 0 ok, 1 error (exists, in use, not a power of two...), 2 usage (bad or
out-of-range number).
)";
const char* help_close = R"(usage: ringport mailbox close NAME [--domain D]
Closes a mailbox for every process: sends fail (exit 5), receivers drain
what is queued, then get closed (exit 5).
)";
const char* help_send =
    R"(usage: ringport send NAME [MESSAGE | --file PATH] [--sync] [--timeout MS] [--nonblock]
                     [--domain D]
Sends MESSAGE, or the whole file PATH as one message of any size (streamed
in fragments as slots free up, never held in memory), or else each line of
stdin (without its newline) as one message. --sync waits until a receiver took each message; --timeout MS
bounds each send (a timed-out --sync message is never delivered); MS is
whole milliseconds, decimal digits only, 0 to 2592000000 (30 days).
--nonblock fails at once when the mailbox is full (not with --sync).
exit: 0 ok, 1 error, 2 usage, 3 would block, 4 timed out, 5 closed.
)";
const char* help_recv =
    R"(usage: ringport recv NAME [-n COUNT] [--timeout MS] [--nonblock] [--raw] [--domain D]
Receives COUNT messages (1 to 4294967295; default 1) of any size (read
piece by piece) and prints each on its own line, or, with --raw, writes
their bytes as they are (ringport recv NAME --raw -n 1 > out writes back
what ringport send NAME --file PATH sent). A message whose sender died or
gave up midway is dropped: exit 1 (its first bytes may have been written). --timeout MS bounds
the whole command (whole milliseconds, 0 to 2592000000 = 30 days); numbers
are decimal digits only. --nonblock fails at once when no message is queued.
exit: 0 ok, 1 error, 2 usage, 3 would block, 4 timed out, 5 closed.
)";

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// --timeout MS: nullopt when refused (after a reason); no option: forever.
struct wait_bound {
  bool forever = true;
  std::chrono::milliseconds timeout{0};
  clock::time_point from(clock::time_point now) const noexcept {
    return forever ? clock::time_point::max() : deadline_after(now, timeout);
  }
};
std::optional<wait_bound> timeout_of(const args& a, std::string_view cmd) {
  auto ms = option(a, "--timeout", &parse_timeout, std::chrono::milliseconds(0), cmd);
  if (!ms) return std::nullopt;
  return wait_bound{!a.has("--timeout"), *ms};
}

static_assert(max_size_max == mailbox_max_message_limit, "parse.hpp's bound follows the library's");

// send --file: the file as one message, read from disk fragment by fragment.
int send_file(mailbox_sender& tx, const std::string& path, clock::time_point deadline, delivery d,
              bool nonblock, std::uint64_t room) {
  constexpr std::string_view cmd = "send";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(cmd, system_failure(("open " + path).c_str(), errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(cmd, path + " is not a regular file");
  }
  int read_errno = 0;
  auto fill = [&](std::span<std::byte> out) {
    for (std::size_t at = 0; at < out.size();) {
      const ssize_t r = ::read(fd, out.data() + at, out.size() - at);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        read_errno = r < 0 ? errno : EIO;  // shorter than it was: it changed under us
        return false;
      }
      at += static_cast<std::size_t>(r);
    }
    return true;
  };
  const auto size = static_cast<std::uint64_t>(st.st_size);
  status s = status::ok;
  if (nonblock && size > room && size > tx.max_message_size()) {
    s = status::would_block;  // it cannot fit at once, whatever is queued
  } else if (nonblock) {
    std::vector<std::byte> all(size);  // try_send_stream wants the bytes at once
    s = fill(all) ? tx.try_send_stream(all) : status::abandoned;
  } else {
    s = tx.send_stream_until(size, fill, deadline, d);
  }
  ::close(fd);
  if (read_errno != 0) return fail(cmd, system_failure(("read " + path).c_str(), read_errno));
  return s == status::ok ? exit_ok : fail_status(cmd, s, "");
}

}  // namespace

int cmd_mailbox_create(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "mailbox create";
  auto a = parse(argc, argv, first, cmd,
                 {{"--capacity", "", true},
                  {"--max-size", "", true},
                  {"--max-bytes", "", true},
                  {"--pages", "", true},
                  {"--group", "", false},
                  {"--if-exists", "", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_create, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  mailbox_options o;
  o.domain = a->get("--domain");
  o.group_access = a->has("--group");
  const bool rendezvous = a->has("--capacity") && a->get("--capacity") == "0";
  const bool automatic_cap = a->has("--capacity") && a->get("--capacity") == "auto";
  if (automatic_cap != a->has("--max-bytes"))
    return fail(cmd, "--max-bytes goes with --capacity auto (and it wants one)", exit_usage);
  auto cap = rendezvous || automatic_cap
                 ? std::optional<std::uint64_t>(0)
                 : option(*a, "--capacity", &parse_capacity, std::uint64_t{o.capacity}, cmd);
  auto max = option(*a, "--max-size", &parse_max_size, std::uint64_t{o.max_message_size}, cmd);
  auto backing = option(*a, "--pages", &parse_pages, pages::any, cmd);
  auto if_exists = option(*a, "--if-exists", &parse_if_exists, existing::fail, cmd);
  auto limit = option(
      *a, "--max-bytes",
      +[](std::string_view t) { return parse_number(t, 1, std::uint64_t{1} << 50, "--max-bytes"); },
      std::uint64_t{0}, cmd);
  if (!cap || !max || !backing || !if_exists || !limit) return exit_usage;
  o.if_exists = *if_exists;
  o.capacity = automatic_cap ? automatic_buffering : static_cast<std::size_t>(*cap);
  o.max_bytes = *limit;
  o.max_message_size = static_cast<std::size_t>(*max);
  o.backing = *backing;
  auto box = mailbox::create(a->positional[0], o);
  if (!box) return fail(cmd, box.error());
  return exit_ok;
}

int cmd_mailbox_close(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "mailbox close";
  auto a = parse(argc, argv, first, cmd, {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_close, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  box->close();
  return exit_ok;
}

int cmd_send(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "send";
  auto a = parse(
      argc, argv, first, cmd,
      {{"--sync", "", false}, {"--timeout", "", true}, {"--nonblock", "", false}, {"--file", "", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_send, stdout), exit_ok;
  if (a->positional.empty() || a->positional.size() > 2)
    return fail(cmd, "wants NAME and at most one MESSAGE (see --help)", exit_usage);
  const bool sync = a->has("--sync"), nonblock = a->has("--nonblock");
  if (sync && nonblock) return fail(cmd, "--sync waits for a receiver: it cannot be --nonblock", exit_usage);
  const auto bound = timeout_of(*a, cmd);
  if (!bound) return exit_usage;
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto tx = box->sender();
  if (!tx) return fail(cmd, tx.error());
  auto send_one = [&](const std::string& msg) -> int {
    if (msg.size() > tx->max_message_size())
      return fail(cmd, "a message of " + std::to_string(msg.size()) +
                           " bytes exceeds the mailbox's maximum of " +
                           std::to_string(tx->max_message_size()) + " bytes; nothing was sent");
    const auto deadline = bound->from(clock::now());
    const status s = nonblock
                         ? tx->try_send(as_bytes(msg))
                         : tx->send_until(as_bytes(msg), deadline, sync ? delivery::sync : delivery::async);
    return s == status::ok ? exit_ok : fail_status(cmd, s, "");
  };
  if (a->has("--file")) {
    if (a->positional.size() != 1) return fail(cmd, "--file and a MESSAGE: pick one", exit_usage);
    return send_file(*tx, a->get("--file"), bound->from(clock::now()),
                     sync ? delivery::sync : delivery::async, nonblock,
                     std::uint64_t{box->capacity()} * tx->max_message_size());
  }
  if (a->positional.size() == 2) return send_one(a->positional[1]);
  std::string line;
  while (std::getline(std::cin, line))
    if (int rc = send_one(line); rc != exit_ok) return rc;
  return exit_ok;
}

int cmd_recv(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "recv";
  auto a = parse(
      argc, argv, first, cmd,
      {{"--count", "-n", true}, {"--timeout", "", true}, {"--nonblock", "", false}, {"--raw", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_recv, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto count = option(*a, "--count", &parse_count, std::uint64_t{1}, cmd);
  const auto bound = timeout_of(*a, cmd);
  if (!count || !bound) return exit_usage;
  const auto deadline = bound->from(clock::now());
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto rx = box->receiver();
  if (!rx) return fail(cmd, rx.error());
  std::vector<std::byte> buf(std::max<std::size_t>(rx->max_message_size(), 1));
  const bool raw = a->has("--raw"), nonblock = a->has("--nonblock");
  for (std::uint64_t i = 0; i < *count; ++i) {
    for (;;) {  // one message, piece by piece; an empty read is its end
      std::size_t n = 0;
      const status s = nonblock ? rx->try_read(buf, n) : rx->read_until(buf, n, deadline);
      if (s != status::ok) return fail_status(cmd, s, "");
      if (n == 0) break;
      std::fwrite(buf.data(), 1, n, stdout);
    }
    if (!raw) std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return exit_ok;
}

}  // namespace ringport::cli
