// Every parser of the ringport tool, as pure functions: no I/O, no globals,
// no exceptions escaping for any input (fuzz targets call them directly; the
// source list RINGPORT_CLI_PARSE_SOURCES / target ringport_cli_parse in
// runtime/cli/CMakeLists.txt builds them alone).
//
// Numbers are strict: one or more decimal digits [0-9] and nothing else —
// no sign, no blanks, no "0x", no unit suffixes (a timeout is always whole
// milliseconds, a size always bytes). Each option has an explicit range;
// a value outside it is refused (never wrapped, never capped) with a message
// that names the option and the range. Callers turn a refusal into exit 2.
//
// Names (segment, domain) are not parsed here: the library checks them
// (ringport::validate_name) when a command uses them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringport/segment.hpp"  // ringport::pages (an enum; nothing to link)

namespace ringport::cli {

/// A parsed value, or the reason why not (one line, no "ringport:" prefix).
template <class T>
struct parsed {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const noexcept { return value.has_value(); }
  const T& operator*() const { return *value; }
  const T* operator->() const { return &*value; }
};

/// The ranges of the tool's numeric options (documented in --help).
inline constexpr std::uint64_t timeout_max_ms = 30ULL * 24 * 3600 * 1000;  ///< 30 days
inline constexpr std::uint64_t count_max = 0xffffffffULL;                  ///< recv -n
inline constexpr std::uint64_t capacity_max = 1ULL << 32;                  ///< mailbox slots
inline constexpr std::uint64_t max_size_max = (1ULL << 24) - 16;           ///< == mailbox_max_message_limit
inline constexpr std::uint64_t interval_max_ms = 3600ULL * 1000;           ///< top --interval: 1 hour
inline constexpr std::uint64_t slot_size_max = 1ULL << 24;                 ///< ring --size: 16 MiB

/// Decimal digits only, value in [min, max]; `what` names the option in errors.
parsed<std::uint64_t> parse_number(std::string_view text, std::uint64_t min, std::uint64_t max,
                                   std::string_view what);
/// --timeout MS: 0 .. timeout_max_ms milliseconds.
parsed<std::chrono::milliseconds> parse_timeout(std::string_view text);
/// recv -n/--count: 1 .. count_max.
parsed<std::uint64_t> parse_count(std::string_view text);
/// mailbox --capacity: 1 .. capacity_max (the library then wants a power of two).
parsed<std::uint64_t> parse_capacity(std::string_view text);
/// mailbox --max-size: 1 .. max_size_max bytes.
parsed<std::uint64_t> parse_max_size(std::string_view text);
/// --pages: exactly "any", "huge" or "normal".
parsed<pages> parse_pages(std::string_view text);
/// top --interval MS: 1 .. interval_max_ms milliseconds.
parsed<std::chrono::milliseconds> parse_interval(std::string_view text);
/// ring create --kind: exactly "spsc", "mpsc", "spmc" or "mpmc".
parsed<object_kind> parse_ring_kind(std::string_view text);
/// ring create --size B: 1 .. slot_size_max bytes per item.
parsed<std::uint64_t> parse_slot_size(std::string_view text);
/// create --if-exists: exactly "fail", "open" or "replace".
parsed<existing> parse_if_exists(std::string_view text);

/// `now + timeout` without overflow: time_point::max() when the sum would
/// not fit (a timeout that large means "wait forever" anyway).
std::chrono::steady_clock::time_point deadline_after(std::chrono::steady_clock::time_point now,
                                                     std::chrono::milliseconds timeout) noexcept;

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

/// Splits a command line into options and positionals. "--domain" and
/// "--help"/"-h" are always accepted besides `specs`; "--" ends the options;
/// a lone "-" is a positional. An option given twice keeps its last value.
parsed<args> parse_args(std::span<const std::string_view> argv, std::span<const option_spec> specs);

}  // namespace ringport::cli
