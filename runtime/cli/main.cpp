// ringport — inspect and drive mailboxes, rings and segments from a shell.
#include <cstdio>
#include <string_view>

#include "cli.hpp"

namespace {

constexpr const char* usage =
    R"(usage: ringport <command> [options]

commands:
  ls                       list the segments of a domain (users, stale or in use)
  stat NAME                show one segment in detail
  mailbox create NAME      create a mailbox (--capacity N, --max-size BYTES)
  mailbox close NAME       close a mailbox: sends fail, receivers drain
  send NAME [MESSAGE]      send MESSAGE, or each line of stdin as a message
  recv NAME                receive messages and print them
  topic create NAME        create a topic (--capacity N, --max-size BYTES,
                           --mode lossy|backpressure, --lag-limit N)
  topic close NAME         close a topic: publishes fail, subscribers drain
  publish NAME [MESSAGE]   publish MESSAGE, or each line of stdin, to a topic
  subscribe NAME           print a topic's messages (-n COUNT, --from oldest|next)
  latest NAME              print a topic's most recent message
  rm NAME                  remove a segment (mailbox, ring, node...)
  gc [--dry-run] [--force] remove stale segments (every user dead), the
                           doorbell table and the directory of an idle domain
  top                      live view: rates, fill, waiters, producers and
                           consumers of every ring and mailbox (--json)
  ring create NAME         create a ring of --size B byte items (--kind K,
                           --capacity N)
  ring close NAME          close a ring: pushes fail, consumers drain
  ring reopen NAME         open a closed ring (or mailbox) again, keeping its items
  ring reset NAME          empty a ring nobody holds a role of, and open it
  tap NAME [-n N] [--raw]  show queued messages of a ring or mailbox without
                           taking them (a best-effort snapshot)
  record NAME FILE         drain a mailbox into a journal file (io_uring)
  replay FILE NAME         send a journal's messages into a mailbox (--pace X)
  journal cat FILE         print a journal's records (--raw: payloads only)
  journal verify FILE      check a journal's records (CRC32C), report damage
  pump NAME --to ADDR      send a mailbox's messages to tcp://HOST:PORT or unix:PATH
  pump NAME --from ADDR    listen on ADDR, put the messages received into a mailbox
)"
#ifdef RINGPORT_HAVE_BRIDGE
    R"(  bridge out MAILBOX       drain a mailbox to a NATS subject / JetStream stream
  bridge in MAILBOX        feed a mailbox from a NATS subject / JetStream stream
)"
#else
    R"(  bridge out MAILBOX       (not in this build: needs libnats-dev) mailbox to NATS
  bridge in MAILBOX        (not in this build: needs libnats-dev) NATS to mailbox
)"
#endif
    R"(
every command takes --domain D (default: $RINGPORT_DOMAIN, else "default")
and --help. ls and stat take --json (one JSON object; its fields: ringport
ls --help); ring create and mailbox create take --if-exists fail|open|replace. Numbers are decimal digits only (no sign, blanks or suffixes);
--timeout is whole milliseconds from 0 to 2592000000 (30 days); a value
outside an option's range is a usage error.

exit codes:
  0 ok   1 error   2 usage   3 would block (--nonblock)   4 timed out (--timeout)
  5 closed
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace ringport::cli;
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "ls") return cmd_ls(argc, argv, 2);
  if (cmd == "stat") return cmd_stat(argc, argv, 2);
  if (cmd == "rm") return cmd_rm(argc, argv, 2);
  if (cmd == "gc") return cmd_gc(argc, argv, 2);
  if (cmd == "send") return cmd_send(argc, argv, 2);
  if (cmd == "recv") return cmd_recv(argc, argv, 2);
  if (cmd == "mailbox" && argc > 2 && std::string_view(argv[2]) == "create")
    return cmd_mailbox_create(argc, argv, 3);
  if (cmd == "mailbox" && argc > 2 && std::string_view(argv[2]) == "close")
    return cmd_mailbox_close(argc, argv, 3);
  if (cmd == "top") return cmd_top(argc, argv, 2);
  if (cmd == "ring" && argc > 2 && std::string_view(argv[2]) == "create")
    return cmd_ring_create(argc, argv, 3);
  if (cmd == "ring" && argc > 2 && std::string_view(argv[2]) == "close") return cmd_ring_close(argc, argv, 3);
  // issue 12 item 4: reopen and reset in place
  if (cmd == "ring" && argc > 2 && std::string_view(argv[2]) == "reopen")
    return cmd_ring_reopen(argc, argv, 3);
  if (cmd == "ring" && argc > 2 && std::string_view(argv[2]) == "reset") return cmd_ring_reset(argc, argv, 3);
  if (cmd == "tap") return cmd_tap(argc, argv, 2);
  if (cmd == "record") return cmd_record(argc, argv, 2);
  if (cmd == "replay") return cmd_replay(argc, argv, 2);
  if (cmd == "pump") return cmd_pump(argc, argv, 2);
  if (cmd == "journal" && argc > 2 && std::string_view(argv[2]) == "cat")
    return cmd_journal_cat(argc, argv, 3);
  if (cmd == "journal" && argc > 2 && std::string_view(argv[2]) == "verify")
    return cmd_journal_verify(argc, argv, 3);
  if (cmd == "topic" && argc > 2 && std::string_view(argv[2]) == "create")
    return cmd_topic_create(argc, argv, 3);
  if (cmd == "topic" && argc > 2 && std::string_view(argv[2]) == "close")
    return cmd_topic_close(argc, argv, 3);
  if (cmd == "publish") return cmd_publish(argc, argv, 2);
  if (cmd == "subscribe") return cmd_subscribe(argc, argv, 2);
  if (cmd == "latest") return cmd_latest(argc, argv, 2);
#ifdef RINGPORT_HAVE_BRIDGE
  if (cmd == "bridge") return cmd_bridge(argc, argv, 2);
#else
  if (cmd == "bridge") {
    std::fputs("ringport: bridge: not in this build (configure with libnats-dev installed)\n", stderr);
    return exit_error;
  }
#endif
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return exit_ok;
  }
  std::fputs(usage, stderr);
  return exit_usage;
}
