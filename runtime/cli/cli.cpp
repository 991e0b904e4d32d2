// Option parsing and error reporting for the ringport tool.
#include "cli.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace ringport::cli {

std::optional<args> parse(int argc, char** argv, int first, std::string_view command,
                          std::initializer_list<option_spec> specs) {
  std::vector<std::string_view> words;
  for (int i = first; i < argc; ++i) words.emplace_back(argv[i]);
  parsed<args> p = parse_args(words, std::span<const option_spec>(specs.begin(), specs.size()));
  if (!p) {
    report(command, p.error);
    return std::nullopt;
  }
  return std::move(*p.value);
}

void report(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "ringport: %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
}

int fail(std::string_view command, std::string_view message, int code) {
  report(command, message);
  return code;
}

int fail(std::string_view command, const ringport::error& e) {
  return fail(command, e.message);
}

int fail_status(std::string_view command, status s, std::string_view what) {
  std::string m(what);
  if (!m.empty()) m += ": ";
  switch (s) {
    case status::would_block:
      return fail(command, m + "would block (--nonblock)", exit_would_block);
    case status::timed_out:
      return fail(command, m + "timed out", exit_timed_out);
    case status::closed:
      return fail(command, m + "the mailbox is closed", exit_closed);
    case status::too_large:
      return fail(command, m + "message too large for the mailbox", exit_error);
    case status::corrupt:
      return fail(command, m + "corrupt shared state (recreate the mailbox)", exit_error);
    case status::peer_gone:
      return fail(command, m + "every peer died", exit_error);
    case status::wrong_size:
      return fail(command, m + "a message of another size than expected", exit_error);
    case status::abandoned:
      return fail(command, m + "the message was given up midway by its sender (dropped)", exit_error);
    case status::overrun:
      return fail(command, m + "lapped by the publisher (messages lost)", exit_error);
    case status::evicted:
      return fail(command, m + "evicted: this subscriber lagged past the topic's lag limit", exit_error);
    case status::ok:
      break;
  }
  return exit_ok;
}

}  // namespace ringport::cli
