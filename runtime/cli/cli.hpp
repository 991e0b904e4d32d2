// The ringport tool's shared pieces: exit codes, option parsing, messages.
#pragma once

#include <atomic>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "parse.hpp"
#include "ringport/result.hpp"
#include "ringport/status.hpp"

namespace ringport::cli {

/// Exit codes (documented in `ringport --help`).
enum exit_code : int {
  exit_ok = 0,
  exit_error = 1,        ///< a real failure (not found, bad size, corrupt...)
  exit_usage = 2,        ///< bad command line
  exit_would_block = 3,  ///< --nonblock found the mailbox full / empty
  exit_timed_out = 4,    ///< --timeout passed first
  exit_closed = 5,       ///< the mailbox was closed
};

/// Prints "ringport: <command>: <message>" on stderr.
void report(std::string_view command, std::string_view message);
/// Parses argv[first..] with parse_args(); on a bad command line prints a
/// one-line reason and returns nullopt (the caller exits with exit_usage).
std::optional<args> parse(int argc, char** argv, int first, std::string_view command,
                          std::initializer_list<option_spec> specs);
/// The value of option `name` through one of parse.hpp's parsers, `fallback`
/// when absent, or nullopt (after a one-line reason) when refused.
template <class T>
std::optional<T> option(const args& a, std::string_view name, parsed<T> (*parser)(std::string_view),
                        T fallback, std::string_view command) {
  if (!a.has(name)) return fallback;
  parsed<T> p = parser(a.get(name));
  if (!p) {
    report(command, p.error);
    return std::nullopt;
  }
  return *p.value;
}

/// report(), then returns `code`.
int fail(std::string_view command, std::string_view message, int code = exit_error);
int fail(std::string_view command, const ringport::error& e);
/// Exit code and one-line report for a data-path status other than ok.
int fail_status(std::string_view command, status s, std::string_view what);

// Subcommands: argv[first] is the first argument after the command name(s).
int cmd_ls(int argc, char** argv, int first);
int cmd_stat(int argc, char** argv, int first);
int cmd_rm(int argc, char** argv, int first);
int cmd_gc(int argc, char** argv, int first);
int cmd_mailbox_create(int argc, char** argv, int first);
int cmd_mailbox_close(int argc, char** argv, int first);
int cmd_send(int argc, char** argv, int first);
int cmd_recv(int argc, char** argv, int first);
// issue 12 item 9: top, rings in the CLI, tap
int cmd_top(int argc, char** argv, int first);
int cmd_ring_create(int argc, char** argv, int first);
int cmd_ring_close(int argc, char** argv, int first);
int cmd_tap(int argc, char** argv, int first);
// issue 12 item 4: reopen / reset a ring in place
int cmd_ring_reopen(int argc, char** argv, int first);
int cmd_ring_reset(int argc, char** argv, int first);
// io_uring journals and pumps (issue #14). SIGINT/SIGTERM set
// stop_requested once catch_stop_signals() ran (no SA_RESTART: blocking
// calls return EINTR).
extern std::atomic<bool> stop_requested;
void catch_stop_signals();
int cmd_pump(int argc, char** argv, int first);
int cmd_record(int argc, char** argv, int first);
int cmd_replay(int argc, char** argv, int first);
int cmd_journal_cat(int argc, char** argv, int first);
int cmd_journal_verify(int argc, char** argv, int first);
// Topics (cmd_topic.cpp).
int cmd_topic_create(int argc, char** argv, int first);
int cmd_topic_close(int argc, char** argv, int first);
int cmd_publish(int argc, char** argv, int first);
int cmd_subscribe(int argc, char** argv, int first);
int cmd_latest(int argc, char** argv, int first);
/// The topic part of `ringport stat NAME` (publisher, subscribers and their lag).
void print_topic_stat(const segment_info& info);
// Only with ringport::bridge (RINGPORT_HAVE_BRIDGE): ringport bridge out|in.
int cmd_bridge(int argc, char** argv, int first);

}  // namespace ringport::cli
