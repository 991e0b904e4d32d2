// The ringport tool's shared pieces: exit codes, option parsing, messages.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// An option a command accepts: "--name" (and an optional short "-x");
/// takes_value: "--name V" or "--name=V".
struct option_spec {
  std::string_view name;
  std::string_view short_name;
  bool takes_value;
};

/// A parsed command line: options seen (flags map to "") and positionals.
struct args {
  std::map<std::string, std::string, std::less<>> options;
  std::vector<std::string> positional;
  bool has(std::string_view name) const { return options.find(name) != options.end(); }
  std::string get(std::string_view name, std::string fallback = {}) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

/// Parses argv[first..]; "--domain" and "--help" are always accepted. On a
/// bad command line prints a one-line reason and returns nullopt.
std::optional<args> parse(int argc, char** argv, int first, std::string_view command,
                          std::initializer_list<option_spec> specs);
/// An unsigned number option, or nullopt (after a one-line reason) if malformed.
std::optional<unsigned long long> number(const args& a, std::string_view name, unsigned long long fallback,
                                         std::string_view command);

/// Prints "ringport: <command>: <message>" on stderr; returns `code`.
int fail(std::string_view command, std::string_view message, int code = exit_error);
int fail(std::string_view command, const ringport::error& e);
/// Exit code and one-line report for a data-path status other than ok.
int fail_status(std::string_view command, status s, std::string_view what);

// Subcommands: argv[first] is the first argument after the command name(s).
int cmd_ls(int argc, char** argv, int first);
int cmd_stat(int argc, char** argv, int first);
int cmd_rm(int argc, char** argv, int first);
int cmd_mailbox_create(int argc, char** argv, int first);
int cmd_mailbox_close(int argc, char** argv, int first);
int cmd_send(int argc, char** argv, int first);
int cmd_recv(int argc, char** argv, int first);

}  // namespace ringport::cli
