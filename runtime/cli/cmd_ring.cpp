// ringport ring create / close / reopen / reset: rings of byte items from a
// shell.
#include <cstdio>
#include <memory>
#include <optional>
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
waiter wakes. `ringport ring reopen NAME` opens it again with what is queued;
`ringport ring reset NAME` empties it once nobody holds a role.
exit: 0 ok, 1 error (no such ring), 2 usage.
)";
const char* help_reopen = R"(usage: ringport ring reopen NAME [--domain D]
Opens a closed ring (or mailbox) again, in place, for every process: what is
queued stays, pushes succeed again, consumers that saw closed receive again
on their next pop; its generation goes up by one. Prints "reopened:
generation G", or "open already: generation G" (nothing changes) when it
was not closed. Opening a closed ring never reopens it by itself.
exit: 0 ok (reopened or open already), 1 error (no such ring), 2 usage.
)";
const char* help_reset = R"(usage: ringport ring reset NAME [--domain D]
Empties a ring in place (what is queued is dropped) and opens it with the
next generation, when no live process holds a producer or consumer role
(holders that died are taken over). Prints "reset: generation G".
Mailboxes have no reset: use `ring create ... --if-exists replace`.
exit: 0 ok, 1 error (a live role holder: in use; no such ring; a
mailbox), 2 usage.
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

namespace {

// The ring (or mailbox, when `box`) named by ring close/reopen/reset.
struct ring_target {
  std::shared_ptr<detail::ring_state> ring;
  std::optional<mailbox> box;
};

std::optional<ring_target> open_target(std::string_view cmd, const std::string& name,
                                       const std::string& domain) {
  segment_options so;
  so.domain = domain;
  object_kind kind = object_kind::raw;
  std::uint64_t element = 0;
  {
    auto seg = segment::open(name, so);
    if (!seg) return fail(cmd, seg.error()), std::nullopt;
    kind = seg->info().kind;
    element = seg->info().element_size;
  }
  if (kind == object_kind::mailbox) {  // its close also wakes sync senders
    auto box = mailbox::open(name, domain);
    if (!box) return fail(cmd, box.error()), std::nullopt;
    return ring_target{nullptr, std::move(*box)};
  }
  if (!ring_kind(kind))
    return fail(cmd, "'" + name + "' is a " + to_string(kind) + " segment, not a ring or mailbox"),
           std::nullopt;
  // Slots are packed at the element size, so alignment 1 opens any ring.
  auto st = detail::ring_state::open(name, kind, element, 1, domain);
  if (!st) return fail(cmd, st.error()), std::nullopt;
  return ring_target{std::move(*st), std::nullopt};
}

template <class Act>
int on_target(int argc, char** argv, int first, std::string_view cmd, const char* help, Act&& act) {
  auto a = parse(argc, argv, first, cmd, {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto t = open_target(cmd, a->positional[0], a->get("--domain"));
  if (!t) return exit_error;
  return act(*t);
}

}  // namespace

int cmd_ring_close(int argc, char** argv, int first) {
  return on_target(argc, argv, first, "ring close", help_close, [](ring_target& t) -> int {
    if (t.box)
      t.box->close();
    else
      t.ring->close();
    return exit_ok;
  });
}

int cmd_ring_reopen(int argc, char** argv, int first) {
  return on_target(argc, argv, first, "ring reopen", help_reopen, [](ring_target& t) -> int {
    const bool done = t.box ? t.box->reopen() : t.ring->reopen();
    const std::uint32_t g = t.box ? t.box->generation() : t.ring->generation();
    std::printf("%s: generation %u\n", done ? "reopened" : "open already", static_cast<unsigned>(g));
    return exit_ok;
  });
}

int cmd_ring_reset(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "ring reset";
  return on_target(argc, argv, first, cmd, help_reset, [&](ring_target& t) -> int {
    if (t.box)
      return fail(cmd, "'" + t.box->info().name +
                           "' is a mailbox: mailboxes have no reset (use ring create --if-exists replace)");
    if (auto ok = t.ring->reset(); !ok) return fail(cmd, ok.error());
    std::printf("reset: generation %u\n", static_cast<unsigned>(t.ring->generation()));
    return exit_ok;
  });
}

}  // namespace ringport::cli
