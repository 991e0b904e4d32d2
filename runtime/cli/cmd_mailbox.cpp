// ringport mailbox create / send / recv.
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

const char* help_create = R"(usage: ringport mailbox create NAME [--capacity N] [--max-size BYTES]
                               [--pages any|huge|normal] [--group] [--domain D]
Creates a mailbox of N messages (a power of two; default 1024) of up to
BYTES each (default 4080). --group makes it mode 0660 instead of 0600.
)";
const char* help_close = R"(usage: ringport mailbox close NAME [--domain D]
Closes a mailbox for every process: sends fail (exit 5), receivers drain
what is queued, then get closed (exit 5).
)";
const char* help_send =
    R"(usage: ringport send NAME [MESSAGE] [--sync] [--timeout MS] [--nonblock] [--domain D]
Sends MESSAGE, or else each line of stdin (without its newline) as one
message. --sync waits until a receiver took each message; --timeout MS
bounds each send (a timed-out --sync message is never delivered);
--nonblock fails at once when the mailbox is full (not with --sync).
exit: 0 ok, 1 error, 2 usage, 3 would block, 4 timed out, 5 closed.
)";
const char* help_recv =
    R"(usage: ringport recv NAME [-n COUNT] [--timeout MS] [--nonblock] [--raw] [--domain D]
Receives COUNT messages (default 1) and prints each on its own line, or,
with --raw, writes their bytes as they are. --timeout MS bounds the whole
command; --nonblock fails at once when no message is queued.
exit: 0 ok, 1 error, 2 usage, 3 would block, 4 timed out, 5 closed.
)";

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// The deadline from --timeout MS (none: wait forever).
std::optional<clock::time_point> deadline_of(const args& a, std::string_view cmd) {
  auto ms = number(a, "--timeout", 0, cmd);
  if (!ms) return std::nullopt;
  if (!a.has("--timeout")) return clock::time_point::max();
  return clock::now() + std::chrono::milliseconds(*ms);
}

}  // namespace

int cmd_mailbox_create(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "mailbox create";
  auto a = parse(
      argc, argv, first, cmd,
      {{"--capacity", "", true}, {"--max-size", "", true}, {"--pages", "", true}, {"--group", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_create, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  mailbox_options o;
  o.domain = a->get("--domain");
  o.group_access = a->has("--group");
  auto cap = number(*a, "--capacity", o.capacity, cmd);
  auto max = number(*a, "--max-size", o.max_message_size, cmd);
  if (!cap || !max) return exit_usage;
  o.capacity = static_cast<std::size_t>(*cap);
  o.max_message_size = static_cast<std::size_t>(*max);
  const std::string pages_arg = a->get("--pages", "any");
  if (pages_arg == "any")
    o.backing = pages::any;
  else if (pages_arg == "huge")
    o.backing = pages::huge;
  else if (pages_arg == "normal")
    o.backing = pages::normal;
  else
    return fail(cmd, "--pages wants any, huge or normal", exit_usage);
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
  auto a = parse(argc, argv, first, cmd,
                 {{"--sync", "", false}, {"--timeout", "", true}, {"--nonblock", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_send, stdout), exit_ok;
  if (a->positional.empty() || a->positional.size() > 2)
    return fail(cmd, "wants NAME and at most one MESSAGE (see --help)", exit_usage);
  const bool sync = a->has("--sync"), nonblock = a->has("--nonblock");
  if (sync && nonblock) return fail(cmd, "--sync waits for a receiver: it cannot be --nonblock", exit_usage);
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto tx = box->sender();
  if (!tx) return fail(cmd, tx.error());
  auto send_one = [&](const std::string& msg) -> int {
    if (msg.size() > tx->max_message_size())
      return fail(cmd, "a message of " + std::to_string(msg.size()) +
                           " bytes exceeds the mailbox's maximum of " +
                           std::to_string(tx->max_message_size()) + " bytes; nothing was sent");
    const auto deadline = deadline_of(*a, cmd);
    if (!deadline) return exit_usage;
    const status s = nonblock
                         ? tx->try_send(as_bytes(msg))
                         : tx->send_until(as_bytes(msg), *deadline, sync ? delivery::sync : delivery::async);
    return s == status::ok ? exit_ok : fail_status(cmd, s, "");
  };
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
  auto count = number(*a, "--count", 1, cmd);
  const auto deadline = deadline_of(*a, cmd);
  if (!count || !deadline) return exit_usage;
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto rx = box->receiver();
  if (!rx) return fail(cmd, rx.error());
  std::vector<std::byte> buf(rx->max_message_size());
  const bool raw = a->has("--raw");
  for (unsigned long long i = 0; i < *count; ++i) {
    std::size_t len = 0;
    const status s =
        a->has("--nonblock") ? rx->try_receive(buf, len) : rx->receive_until(buf, len, *deadline);
    if (s != status::ok) return fail_status(cmd, s, "");
    std::fwrite(buf.data(), 1, len, stdout);
    if (!raw) std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return exit_ok;
}

}  // namespace ringport::cli
