// ringport tap: the queued messages of a ring or mailbox, without taking them.
//
// tap holds no role and writes nothing: it maps the segment and reads
// positions and slots that other processes are changing. Each position is
// read once and validated, and a slot is shown only if it was stable while
// it was copied: for kinds with turns, the slot's turn says "holds position
// p" before the copy and is unchanged after it; for spsc (no turns), the
// consumers' head has not passed p after the copy (the producer rewrites
// slot p only once the head is past it). Everything else is counted as not
// shown. A best-effort snapshot: messages move while it runs.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/mailbox.hpp"

namespace ringport::cli {
namespace {

const char* help_tap = R"(usage: ringport tap NAME [-n N] [--raw] [--domain D]
Shows the messages queued in a ring or mailbox, oldest first (at most N, 1
to 4294967295; default all), without taking them: no role is attached and
nothing in the segment is written. Default output: for each message its
position and size, then its bytes as hex and ASCII (like hexdump -C);
--raw writes the bytes alone, back to back (a ring's slots are fixed-size;
a mailbox's messages are not delimited).
A best-effort snapshot: each slot is copied, then checked again, and shown
only when it did not change meanwhile; positions claimed but not yet
published, slots being taken, aborted claims and withdrawn sync messages
are not shown (stderr says how many positions were left out).
exit: 0 ok (also when nothing is queued), 1 error, 2 usage.
)";

// Copies n bytes that other processes may be writing: relaxed byte loads,
// so the copy itself is race-free; the caller re-checks afterwards.
void copy_racy(std::byte* to, const std::byte* from, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    to[i] = std::atomic_ref<std::byte>(const_cast<std::byte&>(from[i])).load(std::memory_order_relaxed);
}

// What tap reads: the validated view plus how to size and judge a slot.
struct tap_source {
  std::shared_ptr<detail::ring_state> st;
  bool is_mailbox = false;
  std::size_t max = 0;  // mailbox: largest message
};

struct tap_counts {
  std::uint64_t shown = 0, left_out = 0, corrupt = 0;
};

// Copies position p's slot into buf (the whole slot for rings; header plus
// its length for mailboxes) if it holds p's item and stays put meanwhile.
bool copy_stable(const detail::ring_view& v, const tap_source& src, std::uint64_t p,
                 std::vector<std::byte>& buf) {
  std::uint64_t turn = 0;
  if (v.turns) {
    // acquire: pairs with the producer's release of the turn (R-TURN-FULL):
    // the item is written before it.
    turn = v.turn(p).load(std::memory_order_acquire);
    if (turn != v.lap2(p) + 1) return false;  // unpublished, void, or already taken
  }
  const std::byte* slot = v.slot(p);
  if (src.is_mailbox) {
    buf.resize(mailbox_header_bytes);
    copy_racy(buf.data(), slot, mailbox_header_bytes);
    std::uint32_t len = 0;
    std::memcpy(&len, buf.data(), sizeof len);       // the length word, from our copy
    const std::size_t n = len <= src.max ? len : 0;  // a bad length is judged after the re-check
    buf.resize(mailbox_header_bytes + n);
    copy_racy(buf.data() + mailbox_header_bytes, slot + mailbox_header_bytes, n);
  } else {
    buf.resize(v.stride);
    copy_racy(buf.data(), slot, v.stride);
  }
  // The copy's loads happen before the re-check below.
  std::atomic_thread_fence(std::memory_order_acquire);
  if (v.turns) return v.turn(p).load(std::memory_order_relaxed) == turn;
  const std::uint64_t head = v.shared->head.load(std::memory_order_relaxed);
  return static_cast<std::int64_t>(head - p) <= 0;
}

void hexdump(const std::vector<std::byte>& b, std::size_t from) {
  for (std::size_t off = from; off < b.size(); off += 16) {
    std::printf("  %08zx ", off - from);
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 8) std::printf(" ");
      if (off + i < b.size())
        std::printf(" %02x", static_cast<unsigned>(b[off + i]));
      else
        std::printf("   ");
    }
    std::printf("  |");
    for (std::size_t i = 0; i < 16 && off + i < b.size(); ++i) {
      const auto c = static_cast<unsigned char>(b[off + i]);
      std::putchar(c >= 0x20 && c < 0x7f ? c : '.');
    }
    std::printf("|\n");
  }
}

result<tap_source> open_source(const std::string& name, const std::string& domain) {
  segment_options so;
  so.domain = domain;
  object_kind kind = object_kind::raw;
  std::uint64_t element = 0;
  {
    auto seg = segment::open(name, so);
    if (!seg) return seg.error();
    kind = seg->info().kind;
    element = seg->info().element_size;
  }
  tap_source src;
  if (kind == object_kind::mailbox) {
    auto st = detail::open_mailbox_state(name, domain, src.max);
    if (!st) return st.error();
    src.st = std::move(*st);
    src.is_mailbox = true;
    return src;
  }
  if (kind != object_kind::spsc && kind != object_kind::mpsc && kind != object_kind::spmc &&
      kind != object_kind::mpmc)
    return error(errc::invalid_argument,
                 "'" + name + "' is a " + to_string(kind) + " segment: tap shows rings and mailboxes");
  auto st = detail::ring_state::open(name, kind, element, 1, domain);  // packed slots: any alignment
  if (!st) return st.error();
  src.st = std::move(*st);
  return src;
}

}  // namespace

int cmd_tap(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "tap";
  auto a = parse(argc, argv, first, cmd, {{"--count", "-n", true}, {"--raw", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_tap, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto limit = option(*a, "--count", &parse_count, count_max, cmd);
  if (!limit) return exit_usage;
  auto src = open_source(a->positional[0], a->get("--domain"));
  if (!src) return fail(cmd, src.error());
  const detail::ring_view& v = src->st->view();
  const bool raw = a->has("--raw");
  // Each position read once. acquire on tail: spsc's producer releases it
  // after writing; the other kinds re-check every slot's turn anyway.
  const std::uint64_t head = v.shared->head.load(std::memory_order_acquire);
  const std::uint64_t tail = v.shared->tail.load(std::memory_order_acquire);
  std::uint64_t queued = tail - head;
  if (static_cast<std::int64_t>(queued) < 0) queued = 0;  // a head past the tail: a racing read
  if (queued > v.capacity) queued = v.capacity;           // hostile or torn: never more than the ring
  if (!raw)
    std::printf("%s: %s, %llu queued (positions %llu to %llu)\n", a->positional[0].c_str(),
                to_string(src->st->kind()), static_cast<unsigned long long>(queued),
                static_cast<unsigned long long>(head), static_cast<unsigned long long>(head + queued));
  tap_counts n;
  std::vector<std::byte> buf;
  for (std::uint64_t p = head; p != head + queued && n.shown < *limit; ++p) {
    if (!copy_stable(v, *src, p, buf)) {
      ++n.left_out;
      continue;
    }
    std::size_t from = 0;
    if (src->is_mailbox) {
      const detail::mailbox_slot_summary m = detail::summarize_slot(*src->st, buf.data(), src->max);
      n.corrupt += !m.valid;
      if (!m.deliverable) {
        ++n.left_out;
        continue;
      }
      from = mailbox_header_bytes;
    }
    ++n.shown;
    if (raw) {
      std::fwrite(buf.data() + from, 1, buf.size() - from, stdout);
      continue;
    }
    std::printf("position %llu: %zu bytes\n", static_cast<unsigned long long>(p), buf.size() - from);
    hexdump(buf, from);
  }
  std::fflush(stdout);
  if (n.left_out != 0)
    report(cmd, std::to_string(n.left_out) + " queued position" + (n.left_out == 1 ? "" : "s") +
                    " not shown (not yet published, being taken or changed while read, aborted or "
                    "withdrawn" +
                    (n.corrupt != 0 ? "; " + std::to_string(n.corrupt) + " with a corrupt header" : "") +
                    ")");
  return exit_ok;
}

}  // namespace ringport::cli
