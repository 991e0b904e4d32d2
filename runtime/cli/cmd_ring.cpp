// ringport ring create / ring close: rings of byte items from a shell.
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/mailbox.hpp"

namespace ringport::cli {
namespace {

const char* help_create =
    R"(usage: ringport ring create NAME --kind spsc|mpsc|spmc|mpmc --size B [--capacity N]
                            [--pages any|huge|normal] [--group] [--if-exists fail|open|replace]
                            [--domain D]
Creates a ring of N slots (a power of two from 1 to 4294967296; default
1024) of B bytes each (1 to 16777216): the ring a program opens as
ringport::spsc<T> (or mpsc, spmc, mpmc) with sizeof(T) == B, any alignof(T).
Numbers are decimal digits only. --group makes it mode 0660 instead of 0600.
--if-exists: when NAME exists, fail (the default), open it (kind and size
must match), or replace it with a new ring when no recorded user of it is
alive (`ringport ls` shows it stale; what it held is dropped): a closed or
crashed ring starts afresh. Replace refuses a ring with a live user.
exit: 0 ok, 1 error (exists, in use, not a power of two...), 2 usage.
)";
const char* help_close = R"(usage: ringport ring close NAME [--domain D]
Closes a ring (or a mailbox) for every process: pushes fail with
status::closed, consumers drain what is queued, then get closed; every
waiter wakes. Closing is for good: to start over once every user is gone,
`ringport ring create NAME ... --if-exists replace`.
exit: 0 ok, 1 error (no such ring), 2 usage.
)";

bool ring_kind(object_kind k) {
  return k == object_kind::spsc || k == object_kind::mpsc || k == object_kind::spmc || k == object_kind::mpmc;
}

}  // namespace

int cmd_ring_create(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "ring create";
  auto a = parse(argc, argv, first, cmd,
                 {{"--kind", "", true},
                  {"--size", "", true},
                  {"--capacity", "", true},
                  {"--pages", "", true},
                  {"--group", "", false},
                  {"--if-exists", "", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_create, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  if (!a->has("--kind") || !a->has("--size"))
    return fail(cmd, "wants --kind and --size (see --help)", exit_usage);
  auto kind = option(*a, "--kind", &parse_ring_kind, object_kind::spsc, cmd);
  auto size = option(*a, "--size", &parse_slot_size, std::uint64_t{1}, cmd);
  auto cap = option(*a, "--capacity", &parse_capacity, std::uint64_t{1024}, cmd);
  auto backing = option(*a, "--pages", &parse_pages, pages::any, cmd);
  auto if_exists = option(*a, "--if-exists", &parse_if_exists, existing::fail, cmd);
  if (!kind || !size || !cap || !backing || !if_exists) return exit_usage;
  ring_options o;
  o.capacity = static_cast<std::size_t>(*cap);
  o.backing = *backing;
  o.domain = a->get("--domain");
  o.group_access = a->has("--group");
  o.if_exists = *if_exists;
  // Alignment 1: slots are packed at B bytes, as for any T of that size.
  auto st = detail::ring_state::create(a->positional[0], *kind, *size, 1, o);
  if (!st) return fail(cmd, st.error());
  return exit_ok;
}

int cmd_ring_close(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "ring close";
  auto a = parse(argc, argv, first, cmd, {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_close, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  const std::string& name = a->positional[0];
  const std::string domain = a->get("--domain");
  segment_options so;
  so.domain = domain;
  object_kind kind = object_kind::raw;
  std::uint64_t element = 0;
  {
    auto seg = segment::open(name, so);
    if (!seg) return fail(cmd, seg.error());
    kind = seg->info().kind;
    element = seg->info().element_size;
  }
  if (kind == object_kind::mailbox) {  // its close also wakes sync senders
    auto box = mailbox::open(name, domain);
    if (!box) return fail(cmd, box.error());
    box->close();
    return exit_ok;
  }
  if (!ring_kind(kind))
    return fail(cmd, "'" + name + "' is a " + to_string(kind) + " segment, not a ring or mailbox");
  // Slots are packed at the element size, so alignment 1 opens any ring.
  auto st = detail::ring_state::open(name, kind, element, 1, domain);
  if (!st) return fail(cmd, st.error());
  (*st)->close();
  return exit_ok;
}

}  // namespace ringport::cli
