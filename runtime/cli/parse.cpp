// The ringport tool's parsers (see parse.hpp): pure, strict, bounded.
#include "parse.hpp"

#include <ratio>
#include <type_traits>

namespace ringport::cli {
namespace {

template <class T>
parsed<T> refuse(std::string message) {
  parsed<T> p;
  p.error = std::move(message);
  return p;
}

template <class T>
parsed<T> accept(T v) {
  parsed<T> p;
  p.value = v;
  return p;
}

// A short, printable copy of untrusted text for an error message.
std::string quoted(std::string_view text) {
  constexpr std::size_t shown = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (text.size() > shown) out += "...";
  return out + "'";
}

}  // namespace

parsed<std::uint64_t> parse_number(std::string_view text, std::uint64_t min, std::uint64_t max,
                                   std::string_view what) {
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  const std::string name(what);
  if (text.empty()) return refuse<std::uint64_t>(name + " wants a number from " + range + ", not ''");
  std::uint64_t v = 0;
  bool too_big = false;
  for (const char c : text) {
    if (c < '0' || c > '9')
      return refuse<std::uint64_t>(name + " wants decimal digits only (a number from " + range + "), not " +
                                   quoted(text));
    const auto d = static_cast<std::uint64_t>(c - '0');
    // Once past max the exact value no longer matters: stop accumulating
    // (no wrap-around), but keep checking that every character is a digit.
    if (too_big || d > max || v > (max - d) / 10) {
      too_big = true;
      continue;
    }
    v = v * 10 + d;
  }
  if (too_big || v < min)
    return refuse<std::uint64_t>(name + " " + quoted(text) + " is out of range (" + range + ")");
  return accept(v);
}

parsed<std::chrono::milliseconds> parse_timeout(std::string_view text) {
  auto n = parse_number(text, 0, timeout_max_ms, "--timeout (milliseconds)");
  if (!n) return refuse<std::chrono::milliseconds>(std::move(n.error));
  // timeout_max_ms fits std::chrono::milliseconds::rep (at least 45 bits) by far.
  static_assert(timeout_max_ms < (1ULL << 44));
  return accept(std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*n)));
}

parsed<std::uint64_t> parse_count(std::string_view text) {
  return parse_number(text, 1, count_max, "--count");
}

parsed<std::uint64_t> parse_capacity(std::string_view text) {
  return parse_number(text, 1, capacity_max, "--capacity");
}

parsed<std::uint64_t> parse_max_size(std::string_view text) {
  return parse_number(text, 1, max_size_max, "--max-size (bytes)");
}

parsed<pages> parse_pages(std::string_view text) {
  if (text == "any") return accept(pages::any);
  if (text == "huge") return accept(pages::huge);
  if (text == "normal") return accept(pages::normal);
  return refuse<pages>("--pages wants any, huge or normal, not " + quoted(text));
}

parsed<std::chrono::milliseconds> parse_interval(std::string_view text) {
  auto n = parse_number(text, 1, interval_max_ms, "--interval (milliseconds)");
  if (!n) return refuse<std::chrono::milliseconds>(std::move(n.error));
  return accept(std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*n)));
}

parsed<object_kind> parse_ring_kind(std::string_view text) {
  if (text == "spsc") return accept(object_kind::spsc);
  if (text == "mpsc") return accept(object_kind::mpsc);
  if (text == "spmc") return accept(object_kind::spmc);
  if (text == "mpmc") return accept(object_kind::mpmc);
  return refuse<object_kind>("--kind wants spsc, mpsc, spmc or mpmc, not " + quoted(text));
}

parsed<std::uint64_t> parse_slot_size(std::string_view text) {
  return parse_number(text, 1, slot_size_max, "--size (bytes per item)");
}

parsed<existing> parse_if_exists(std::string_view text) {
  if (text == "fail") return accept(existing::fail);
  if (text == "open") return accept(existing::open);
  if (text == "replace") return accept(existing::replace);
  return refuse<existing>("--if-exists wants fail, open or replace, not " + quoted(text));
}

std::chrono::steady_clock::time_point deadline_after(std::chrono::steady_clock::time_point now,
                                                     std::chrono::milliseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  using urep = std::make_unsigned_t<clock::rep>;
  static_assert(std::ratio_less_equal_v<clock::period, std::milli>, "a tick is at most a millisecond");
  if (timeout.count() <= 0) return now;
  constexpr auto per_ms =
      static_cast<urep>(std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(1)).count());
  // Unsigned arithmetic: max - now is exact for any now, and so is the sum
  // below once it is known to stay at or under max.
  const auto now_ticks = static_cast<urep>(now.time_since_epoch().count());
  const urep room = static_cast<urep>(clock::time_point::max().time_since_epoch().count()) - now_ticks;
  const auto ms = static_cast<urep>(timeout.count());
  if (ms > room / per_ms) return clock::time_point::max();
  return clock::time_point(clock::duration(static_cast<clock::rep>(now_ticks + ms * per_ms)));
}

parsed<args> parse_args(std::span<const std::string_view> argv, std::span<const option_spec> specs) {
  static constexpr option_spec common[] = {{"--domain", "", true}, {"--help", "-h", false}};
  auto find = [&](std::string_view arg) -> const option_spec* {
    auto match = [&](const option_spec& s) {
      return arg == s.name || (!s.short_name.empty() && arg == s.short_name);
    };
    for (const auto& s : common)
      if (match(s)) return &s;
    for (const auto& s : specs)
      if (match(s)) return &s;
    return nullptr;
  };
  args out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      for (++i; i < argv.size(); ++i) out.positional.emplace_back(argv[i]);
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
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
    if (!spec) return refuse<args>("unknown option " + quoted(a) + " (see --help)");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argv.size()) return refuse<args>("option " + std::string(spec->name) + " needs a value");
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      return refuse<args>("option " + std::string(spec->name) + " takes no value");
    }
    out.options[std::string(spec->name)] = std::string(value);
  }
  parsed<args> p;
  p.value = std::move(out);
  return p;
}

}  // namespace ringport::cli
