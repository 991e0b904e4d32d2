// Fuzz target: every parser of the ringport tool (runtime/cli/parse.hpp).
//
// Input: [parser][arguments...][text]. Each parser is checked against a
// reference written here from its documented contract, not from its code:
//  - numbers: accepted exactly when the text is one or more decimal digits
//    whose value lies in [min, max], and then with that value (compared as
//    text, so no arithmetic is shared with the parser);
//  - the option ranges (--timeout, --count, --capacity, --max-size) and
//    --pages accept exactly their documented values;
//  - deadline_after() is now + timeout exactly, or time_point::max() when
//    that does not fit, and now for a timeout <= 0;
//  - parse_args() splits NUL-separated words into known options and
//    positionals, never invents either, and its refusals are one printable
//    line.
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "parse.hpp"

namespace {

using namespace ringport::cli;
using clock_type = std::chrono::steady_clock;

bool printable(const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

bool all_digits(std::string_view t) {
  if (t.empty()) return false;
  for (const char c : t)
    if (c < '0' || c > '9') return false;
  return true;
}

// The decimal value of digits, as text without leading zeros ("0" for 0).
std::string canonical(std::string_view digits) {
  const auto nz = digits.find_first_not_of('0');
  return nz == std::string_view::npos ? "0" : std::string(digits.substr(nz));
}

// a <= b for canonical decimal texts.
bool le(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a <= b;
}

// parse_number's contract for `text` and [min, max].
void check_number(const parsed<std::uint64_t>& p, std::string_view text, std::uint64_t min,
                  std::uint64_t max) {
  const bool want = all_digits(text) && le(std::to_string(min), canonical(text)) &&
                    le(canonical(text), std::to_string(max));
  FUZZ_CHECK(static_cast<bool>(p) == want);
  if (p) FUZZ_CHECK(std::to_string(*p) == canonical(text));
  if (!p) FUZZ_CHECK(!p.error.empty() && printable(p.error));
}

void fuzz_number(fuzz::input& in) {
  const int which = in.u8() % 10;
  std::uint64_t min = in.u64(), max = in.u64();
  if (in.bit()) min %= 16, max %= 100000;  // small ranges, where edges are easy to hit
  const auto text = in.rest();
  const std::string_view t(reinterpret_cast<const char*>(text.data()), text.size());
  switch (which) {
    case 0:
      return check_number(parse_number(t, min, max, "--n"), t, min, max);
    case 1: {
      const auto p = parse_timeout(t);
      std::uint64_t ms = 0;
      if (p) ms = static_cast<std::uint64_t>(p->count());
      const parsed<std::uint64_t> as_number =
          p ? parsed<std::uint64_t>{ms, {}} : parsed<std::uint64_t>{{}, p.error};
      return check_number(as_number, t, 0, timeout_max_ms);
    }
    case 2:
      return check_number(parse_count(t), t, 1, count_max);
    case 3:
      return check_number(parse_capacity(t), t, 1, capacity_max);
    case 4:
      return check_number(parse_max_size(t), t, 1, max_size_max);
    case 5:
      return check_number(parse_slot_size(t), t, 1, slot_size_max);
    case 6: {
      const auto p = parse_interval(t);
      const parsed<std::uint64_t> as_number =
          p ? parsed<std::uint64_t>{static_cast<std::uint64_t>(p->count()), {}}
            : parsed<std::uint64_t>{{}, p.error};
      return check_number(as_number, t, 1, interval_max_ms);
    }
    case 8: {
      const auto p = parse_if_exists(t);
      FUZZ_CHECK(static_cast<bool>(p) == (t == "fail" || t == "open" || t == "replace"));
      if (!p) FUZZ_CHECK(printable(p.error));
      return;
    }
    case 7: {
      const auto p = parse_ring_kind(t);
      FUZZ_CHECK(static_cast<bool>(p) == (t == "spsc" || t == "mpsc" || t == "spmc" || t == "mpmc"));
      if (!p) FUZZ_CHECK(printable(p.error));
      return;
    }
    default: {
      const auto p = parse_pages(t);
      FUZZ_CHECK(static_cast<bool>(p) == (t == "any" || t == "huge" || t == "normal"));
      if (!p) FUZZ_CHECK(printable(p.error));
      return;
    }
  }
}

void fuzz_deadline(fuzz::input& in) {
  const auto now_ticks = static_cast<clock_type::rep>(in.u64());
  const auto ms = static_cast<std::chrono::milliseconds::rep>(in.u64() >> in.below(64));
  const clock_type::time_point now{clock_type::duration(now_ticks)};
  const auto got = deadline_after(now, std::chrono::milliseconds(ms));
  if (ms <= 0) {
    FUZZ_CHECK(got == now);
    return;
  }
  const __int128 per_ms =
      std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds(1)).count();
  const __int128 want = static_cast<__int128>(now_ticks) + static_cast<__int128>(ms) * per_ms;
  const __int128 top = clock_type::time_point::max().time_since_epoch().count();
  if (want > top)
    FUZZ_CHECK(got == clock_type::time_point::max());
  else
    FUZZ_CHECK(static_cast<__int128>(got.time_since_epoch().count()) == want);
}

void fuzz_args(fuzz::input& in) {
  static constexpr option_spec specs[] = {
      {"--timeout", "", true}, {"--nonblock", "", false}, {"--count", "-n", true}, {"--sync", "", false}};
  const auto text = in.rest();
  const std::string_view all(reinterpret_cast<const char*>(text.data()), text.size());
  std::vector<std::string_view> argv;
  for (std::size_t at = 0; at <= all.size();) {
    const auto nul = all.find('\0', at);
    const auto end = nul == std::string_view::npos ? all.size() : nul;
    argv.push_back(all.substr(at, end - at));
    at = end + 1;
  }
  const auto p = parse_args(argv, specs);
  if (!p) {
    FUZZ_CHECK(!p.error.empty() && printable(p.error));
    return;
  }
  FUZZ_CHECK(p->options.size() + p->positional.size() <= argv.size());
  for (const auto& [name, value] : p->options) {
    bool known = name == "--domain" || name == "--help";
    for (const auto& s : specs) known = known || name == s.name;
    FUZZ_CHECK(known);
    // A value is a word, or the part of one after '='.
    bool found = false;
    for (const auto& a : argv) found = found || a.find(value) != std::string_view::npos;
    FUZZ_CHECK(found);
  }
  // Every positional is a whole word of the command line.
  for (const auto& pos : p->positional) {
    bool found = false;
    for (const auto& a : argv) found = found || a == pos;
    FUZZ_CHECK(found);
  }
}

std::vector<std::vector<std::uint8_t>> seeds() {
  auto text = [](std::vector<std::uint8_t> head, std::string_view t) {
    head.insert(head.end(), t.begin(), t.end());
    return head;
  };
  // fuzz_number's head: parser, min, max, "small ranges" flag.
  auto number = [](std::uint8_t which, std::uint64_t min, std::uint64_t max) {
    std::vector<std::uint8_t> h{0, which};
    fuzz::put_u64(h, min);
    fuzz::put_u64(h, max);
    h.push_back(0);
    return h;
  };
  std::vector<std::vector<std::uint8_t>> out;
  for (const char* t : {"100", "101", "4", "008", " 8", "+8", "18446744073709551616"})
    out.push_back(text(number(0, 5, 100), t));
  for (std::uint8_t which = 1; which < 6; ++which)
    for (const char* t : {"0", "2592000000", "2592000001", "4294967296", "16777200", "any", "normal"})
      out.push_back(text(number(which, 0, 0), t));
  std::vector<std::uint8_t> d{1};
  fuzz::put_u64(d, 1000000);
  fuzz::put_u64(d, 9223372036855ULL);
  d.push_back(0);
  out.push_back(d);
  out.push_back(text({2}, std::string_view("--timeout\0"
                                           "5\0-n=3\0name\0--\0--sync",
                                           31)));
  out.push_back(text({2}, std::string_view("--count=7\0--sync=1\0-", 21)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::seeds_mode(seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  switch (in.u8() % 3) {
    case 0:
      fuzz_number(in);
      break;
    case 1:
      fuzz_deadline(in);
      break;
    default:
      fuzz_args(in);
      break;
  }
  return 0;
}
