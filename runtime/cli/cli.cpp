// Option parsing and error reporting for the ringport tool.
#include "cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ringport::cli {

std::optional<args> parse(int argc, char** argv, int first, std::string_view command,
                          std::initializer_list<option_spec> specs) {
  args out;
  auto find = [&](std::string_view arg) -> const option_spec* {
    static constexpr option_spec common[] = {{"--domain", "", true}, {"--help", "-h", false}};
    for (const auto& s : common)
      if (arg == s.name || (!s.short_name.empty() && arg == s.short_name)) return &s;
    for (const auto& s : specs)
      if (arg == s.name || (!s.short_name.empty() && arg == s.short_name)) return &s;
    return nullptr;
  };
  for (int i = first; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() < 2 || a[0] != '-' || a == "--") {
      if (a == "--") {
        for (++i; i < argc; ++i) out.positional.emplace_back(argv[i]);
        break;
      }
      out.positional.emplace_back(a);
      continue;
    }
    std::string_view value;
    bool inline_value = false;
    if (auto eq = a.find('='); a.substr(0, 2) == "--" && eq != std::string_view::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    const option_spec* spec = find(a);
    if (!spec) {
      fail(command, "unknown option '" + std::string(a) + "' (see --help)", exit_usage);
      return std::nullopt;
    }
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) {
        fail(command, "option " + std::string(spec->name) + " needs a value", exit_usage);
        return std::nullopt;
      }
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      fail(command, "option " + std::string(spec->name) + " takes no value", exit_usage);
      return std::nullopt;
    }
    out.options[std::string(spec->name)] = std::string(value);
  }
  return out;
}

std::optional<unsigned long long> number(const args& a, std::string_view name, unsigned long long fallback,
                                         std::string_view command) {
  if (!a.has(name)) return fallback;
  const std::string v = a.get(name);
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0') {
    fail(command, std::string(name) + " wants a non-negative number, not '" + v + "'", exit_usage);
    return std::nullopt;
  }
  return n;
}

int fail(std::string_view command, std::string_view message, int code) {
  std::fprintf(stderr, "ringport: %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
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
    case status::ok:
      break;
  }
  return exit_ok;
}

}  // namespace ringport::cli
