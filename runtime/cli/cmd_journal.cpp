// ringport record / replay / journal cat / journal verify (issue #14).
#include <signal.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "cli.hpp"
#include "ringport/journal.hpp"
#include "ringport/mailbox.hpp"

namespace ringport::cli {
namespace {

namespace jr = ringport::journal;

const char* help_record =
    R"(usage: ringport record NAME FILE [-n COUNT] [--idle MS] [--fsync MS] [--rotate BYTES]
                       [--direct] [--force] [--domain D]
Drains mailbox NAME into the journal FILE (io_uring, batched writes) until
COUNT messages (1 to 4294967295), MS milliseconds without a message, the
mailbox's close, or SIGINT/SIGTERM; the journal is then closed cleanly.
--fsync MS: fdatasync at most every MS milliseconds (0: after every batch;
default: never, the page cache decides). --rotate BYTES: start FILE.1,
FILE.2... once a part would grow past BYTES (65536 to 2^48). --direct: O_DIRECT
writes. --force: replace an existing journal. Prints the count on stderr.
exit: 0 ok, 1 error, 2 usage.
)";
const char* help_replay =
    R"(usage: ringport replay FILE NAME [--pace X] [--from SEQ] [--from-time NS] [-n COUNT]
                       [--domain D]
Sends the journal's messages into mailbox NAME in order, as fast as possible,
or with --pace X at X times the recorded pace (X a decimal number > 0, e.g.
1, 2.5, 0.1). --from SEQ skips records before sequence SEQ; --from-time NS
skips records stamped earlier than NS nanoseconds since the epoch
(CLOCK_REALTIME). Stops at the journal's end, after COUNT messages, or on
SIGINT/SIGTERM. A damaged journal is replayed up to the damage (reported).
exit: 0 ok, 1 error (a damaged journal included), 2 usage.
)";
const char* help_cat = R"(usage: ringport journal cat FILE [--raw]
Prints every record: sequence, CLOCK_REALTIME (UTC), CLOCK_MONOTONIC (ns),
length and the payload (C escapes for bytes that are not printable); --raw
writes the payloads' bytes only, back to back. Stops at the first damaged
record and reports its offset.
exit: 0 ok (clean end or torn tail), 1 corrupt or unreadable, 2 usage.
)";
const char* help_verify = R"(usage: ringport journal verify FILE
Checks every part and record (header, lengths, sequences, CRC32C) and prints
a summary. A journal whose writer was killed ends in a torn or missing tail:
its whole records are an exact prefix, and verify accepts it (exit 0, with a
notice). A bad record followed by valid ones is corruption (exit 1); the
offset of the first bad record is printed in both cases.
exit: 0 ok, 1 corrupt or unreadable, 2 usage.
)";

extern "C" void on_stop_signal(int) {
  stop_requested.store(true, std::memory_order_relaxed);
}

parsed<double> parse_pace(std::string_view text) {
  parsed<double> p;
  // digits, at most one '.', at least one digit: no sign, exponent or blanks.
  bool dot = false, digit = false;
  for (char c : text) {
    if (c == '.' && !dot)
      dot = true;
    else if (c >= '0' && c <= '9')
      digit = true;
    else
      return p.error = "--pace wants a decimal number such as 1, 2.5 or 0.1", p;
  }
  if (!digit) return p.error = "--pace wants a decimal number such as 1, 2.5 or 0.1", p;
  const double v = std::strtod(std::string(text).c_str(), nullptr);
  if (!(v > 0) || !(v <= 1e6)) return p.error = "--pace must be above 0 and at most 1000000", p;
  p.value = v;
  return p;
}

std::string utc(std::int64_t ns) {
  const std::time_t s = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09lldZ", buf, static_cast<long long>(ns % 1000000000));
  return out;
}

void print_escaped(std::span<const std::byte> p) {
  for (std::byte b : p) {
    const auto c = std::to_integer<unsigned char>(b);
    if (c == '\\')
      std::fputs("\\\\", stdout);
    else if (std::isprint(c))
      std::fputc(c, stdout);
    else
      std::printf("\\x%02x", c);
  }
}

// Where a journal stopped, as one line; `corrupt` when valid records follow
// the bad one (true damage, not a writer that was killed).
std::string where(const jr::reader& r, bool& corrupt) {
  corrupt = false;
  std::string s = "part " + std::to_string(r.bad_part()) + " (" + r.current_path() + ") offset " +
                  std::to_string(r.bad_offset()) + ": " + r.problem();
  corrupt = r.valid_record_after_bad();
  return s;
}

}  // namespace

std::atomic<bool> stop_requested{false};

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int cmd_record(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "record";
  auto a = parse(argc, argv, first, cmd,
                 {{"--count", "-n", true},
                  {"--idle", "", true},
                  {"--fsync", "", true},
                  {"--rotate", "", true},
                  {"--direct", "", false},
                  {"--force", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_record, stdout), exit_ok;
  if (a->positional.size() != 2) return fail(cmd, "wants NAME and FILE (see --help)", exit_usage);
  auto count = option(*a, "--count", &parse_count, std::uint64_t{0}, cmd);
  auto idle = option(*a, "--idle", &parse_timeout, std::chrono::milliseconds(0), cmd);
  auto fsync = option(*a, "--fsync", &parse_timeout, std::chrono::milliseconds(0), cmd);
  parsed<std::uint64_t> rot = a->has("--rotate")
                                  ? parse_number(a->get("--rotate"), 65536, 1ULL << 48, "--rotate")
                                  : parsed<std::uint64_t>{0, {}};
  if (!rot) report(cmd, rot.error);
  if (!count || !idle || !fsync || !rot) return exit_usage;
  if (a->has("--idle") && idle->count() == 0) return fail(cmd, "--idle wants at least 1 ms", exit_usage);
  auto box = mailbox::open(a->positional[0], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto rx = box->receiver();
  if (!rx) return fail(cmd, rx.error());
  jr::writer_options o;
  o.source_name = a->positional[0];
  o.kind = jr::source_kind::mailbox;
  o.fsync = !a->has("--fsync")    ? jr::fsync_policy::none
            : fsync->count() == 0 ? jr::fsync_policy::every_batch
                                  : jr::fsync_policy::interval;
  o.fsync_interval = *fsync;
  o.rotate_bytes = *rot;
  o.direct = a->has("--direct");
  o.overwrite = a->has("--force");
  // Room for a few of the largest messages per buffer.
  const std::size_t need = (4 * (rx->max_message_size() + jr::record_header_bytes) + 8191) / 4096 * 4096;
  o.buffer_bytes = std::max(o.buffer_bytes, need);
  catch_stop_signals();
  auto w = jr::writer::create(a->positional[1], o);
  if (!w) return fail(cmd, w.error());
  jr::record_options ro;
  ro.count = *count;
  ro.idle = *idle;
  ro.stop = &stop_requested;
  auto out = jr::record(*rx, *w, ro);
  auto closed = w->close();
  if (!out) return fail(cmd, out.error());
  if (!closed) return fail(cmd, closed.error());
  std::fprintf(stderr, "ringport: record: %llu messages\n", static_cast<unsigned long long>(out->messages));
  return exit_ok;
}

int cmd_replay(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "replay";
  auto a =
      parse(argc, argv, first, cmd,
            {{"--pace", "", true}, {"--from", "", true}, {"--from-time", "", true}, {"--count", "-n", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_replay, stdout), exit_ok;
  if (a->positional.size() != 2) return fail(cmd, "wants FILE and NAME (see --help)", exit_usage);
  auto pace = option(*a, "--pace", &parse_pace, 0.0, cmd);
  auto count = option(*a, "--count", &parse_count, std::uint64_t{0}, cmd);
  auto from =
      a->has("--from") ? parse_number(a->get("--from"), 0, ~0ULL, "--from") : parsed<std::uint64_t>{0, {}};
  auto from_t = a->has("--from-time") ? parse_number(a->get("--from-time"), 0, 1ULL << 62, "--from-time")
                                      : parsed<std::uint64_t>{0, {}};
  if (!from) report(cmd, from.error);
  if (!from_t) report(cmd, from_t.error);
  if (!pace || !count || !from || !from_t) return exit_usage;
  auto r = jr::reader::open(a->positional[0]);
  if (!r) return fail(cmd, r.error());
  auto box = mailbox::open(a->positional[1], a->get("--domain"));
  if (!box) return fail(cmd, box.error());
  auto tx = box->sender();
  if (!tx) return fail(cmd, tx.error());
  catch_stop_signals();
  jr::replay_options ro;
  ro.pace = *pace;
  ro.from_sequence = *from;
  ro.from_realtime_ns = static_cast<std::int64_t>(*from_t);
  ro.count = *count;
  ro.stop = &stop_requested;
  auto out = jr::replay(*r, *tx, ro);
  if (!out) return fail(cmd, out.error());
  std::fprintf(stderr, "ringport: replay: %llu messages\n", static_cast<unsigned long long>(out->messages));
  if (out->end == jr::read_result::bad) {
    bool corrupt = false;
    return fail(cmd, "the journal is damaged at " + where(*r, corrupt) + "; nothing past it was replayed");
  }
  return exit_ok;
}

int cmd_journal_cat(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "journal cat";
  auto a = parse(argc, argv, first, cmd, {{"--raw", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_cat, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one FILE (see --help)", exit_usage);
  auto r = jr::reader::open(a->positional[0]);
  if (!r) return fail(cmd, r.error());
  const bool raw = a->has("--raw");
  jr::entry e;
  jr::read_result rr;
  while ((rr = r->next(e)) == jr::read_result::record) {
    if (raw) {
      std::fwrite(e.payload.data(), 1, e.payload.size(), stdout);
      continue;
    }
    std::printf("%llu %s %lld %zu ", static_cast<unsigned long long>(e.sequence), utc(e.realtime_ns).c_str(),
                static_cast<long long>(e.monotonic_ns), e.payload.size());
    print_escaped(e.payload);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  bool corrupt = false;
  if (rr == jr::read_result::bad) {
    const std::string w = where(*r, corrupt);
    report(cmd, (corrupt ? "corrupt record at " : "torn tail at ") + w);
  }
  if (rr == jr::read_result::unclosed) report(cmd, "not closed: the recorder is running or was killed");
  return corrupt ? exit_error : exit_ok;
}

int cmd_journal_verify(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "journal verify";
  auto a = parse(argc, argv, first, cmd, {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_verify, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one FILE (see --help)", exit_usage);
  const std::string& file = a->positional[0];
  auto r = jr::reader::open(file);
  if (!r) return fail(cmd, r.error());
  std::uint64_t n = 0, first_seq = 0, last_seq = 0;
  jr::entry e;
  jr::read_result rr;
  while ((rr = r->next(e)) == jr::read_result::record) {
    if (n == 0) first_seq = e.sequence;
    last_seq = e.sequence;
    ++n;
  }
  std::printf("%s: format %u, source '%s', %llu records", file.c_str(), r->info().version,
              r->info().source_name.c_str(), static_cast<unsigned long long>(n));
  if (n != 0)
    std::printf(" (sequences %llu..%llu)", static_cast<unsigned long long>(first_seq),
                static_cast<unsigned long long>(last_seq));
  std::printf(", %u part(s)\n", r->info().part + 1);
  bool corrupt = false;
  switch (rr) {
    case jr::read_result::end:
      std::printf("closed cleanly\n");
      break;
    case jr::read_result::unclosed:
      std::printf("not closed (recorder running or killed): the records above are whole\n");
      break;
    case jr::read_result::bad: {
      const std::string w = where(*r, corrupt);
      if (corrupt)
        std::printf("CORRUPT at %s; valid records follow, nothing past it is trusted\n", w.c_str());
      else
        std::printf("torn tail at %s (a recorder that was killed): the records above are an exact prefix\n",
                    w.c_str());
      break;
    }
    case jr::read_result::record:
      break;
  }
  return corrupt ? exit_error : exit_ok;
}

}  // namespace ringport::cli
