// ringport ls / stat / rm: what is in a domain, one segment in detail, removal.
#include <cstdio>
#include <ctime>
#include <string>

#include "cli.hpp"
#include "describe.hpp"
#include "inspect.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/node.hpp"
#include "ringport/segment.hpp"
#include "ringport/topic.hpp"

namespace ringport::cli {
namespace {

std::string owner(const segment_info& info) {
  if (info.kind == object_kind::node && info.name.rfind("node.", 0) == 0) {
    auto pid = node::holder(info.name.substr(5), info.domain);
    if (pid && *pid != 0) return "pid " + std::to_string(*pid);
    return "(free)";
  }
  return "creator " + std::to_string(info.creator_pid);
}

std::string page_size(std::uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

std::string users_column(const detail::segment_usage& u) {
  if (u.state == detail::usage::unknown) return "?";
  const detail::user_count c = u.users();
  return std::to_string(c.alive) + "/" + std::to_string(c.dead);
}

std::string holders(const detail::user_count& c) {
  return std::to_string(c.alive) + " alive, " + std::to_string(c.dead) + " dead";
}

const char* help_ls = R"(usage: ringport ls [--domain D] [--json]
Lists every segment of the domain: name, kind, capacity, fill (messages or
items queued now: unread), max message size (slot size for rings), page
size, users, state, and owner (a node's live holder) or creator pid.
USERS is alive/dead among the recorded users: producer and consumer role
holders, a node's holder, and the creator (judged by pid and process start
time, so a reused pid counts as dead). STATE is in-use (a user is alive),
stale (every recorded user is dead or gone; `ringport gc` removes it when
FILL is 0, or with --force) or unknown (the control block does not
validate; never touched). Internal files (names starting with '.') are not
listed.
--json prints one JSON object instead: {"domain", "segments": [SEGMENT...],
"invalid": [{"name", "path", "reason"}...]}, where SEGMENT is the object
`ringport stat NAME --json` prints:
  name, domain, path, kind, state ("in-use", "stale", "unknown"), reason
  (why unknown, else ""), size, page_size (bytes), huge_pages,
  creator {pid, alive, created_ns}, users {alive, dead} (null if unknown),
  queue (rings and mailboxes, else null): {capacity, max_message (bytes),
    fill, pushed (tail: items ever pushed), popped (head: ever popped),
    closed, generation (reopens and resets so far), waiters {consumers,
    producers} (registrations parked on the not-empty and not-full event
    counts since their last wake-up),
    producers and consumers: {alive, dead, holders: [{slot, pid, alive,
    position}]} (consumers' holders also "lag": pushed - position;
    position is the end of the holder's last claim on a multi side, the
    shared tail/head on a single one; a mailbox's producers are its
    senders, its consumers its receivers),
    recovery {abandoned, reclaimed, takeovers, kept}},
  node (node segments, else null): {holder {alive, dead}},
  link (link mailboxes, else null): {nodes_alive}.
Field names are stable; later versions only add fields.
exit: 0 ok, 1 error (no such domain, unreadable directory), 2 usage.
)";
const char* help_stat = R"(usage: ringport stat NAME [--domain D] [--json]
Shows one segment in detail: path, kind, sizes, fill (unread), producers
and consumers of a ring (senders and receivers of a mailbox), each as alive
and dead holders, the node's holder, the creator and whether it lives,
state (in-use, stale or unknown; see ringport ls --help), closed flag and
creation time. --json prints one JSON object (its fields: ringport ls --help).
exit: 0 ok, 1 error (no such segment, cannot be opened), 2 usage.
)";
const char* help_rm = R"(usage: ringport rm NAME [--domain D]
Removes a segment by name. Processes that have it open keep their mapping;
a later create makes a new, unrelated segment.
)";

int ls_json(const detail::domain_contents& dom) {
  json out;
  out.begin_object().field("domain", dom.domain).key("segments").begin_array();
  for (const segment_info& info : dom.segments) describe(out, detail::inspect(info));
  out.end_array().key("invalid").begin_array();
  for (const auto& f : dom.unreadable)
    out.begin_object().field("name", f.name).field("path", f.path).field("reason", f.reason).end_object();
  out.end_array().end_object();
  std::printf("%s\n", out.text().c_str());
  return exit_ok;
}

}  // namespace

int cmd_ls(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "ls", {{"--json", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_ls, stdout), exit_ok;
  if (!a->positional.empty()) return fail("ls", "takes no arguments (see --help)", exit_usage);
  auto dom = detail::read_domain(a->get("--domain"));
  if (!dom) return fail("ls", dom.error());
  if (a->has("--json")) return ls_json(*dom);
  std::printf("%-40s %-8s %10s %10s %10s %6s %7s %-7s %s\n", "NAME", "KIND", "CAPACITY", "FILL", "MAXMSG",
              "PAGE", "USERS", "STATE", "OWNER");
  for (const segment_info& info : dom->segments) {
    const detail::segment_usage u = detail::inspect(info);
    const std::string fill = u.has_roles ? std::to_string(u.unread) : "-";
    const std::string cap =
        is_queue_kind(info.kind) || info.kind == object_kind::topic ? capacity_text(info) : "-";
    std::printf("%-40s %-8s %10s %10s %10s %6s %7s %-7s %s\n", info.name.c_str(), to_string(info.kind),
                cap.c_str(), fill.c_str(), max_message(info).c_str(), page_size(info.page_size).c_str(),
                users_column(u).c_str(), detail::to_string(u.state), owner(info).c_str());
  }
  for (const auto& f : dom->unreadable)
    std::printf("%-40s %-8s %10s %10s %10s %6s %7s %-7s %s\n", f.name.c_str(), "?", "-", "-", "-", "-", "-",
                "invalid", f.reason.c_str());
  return exit_ok;
}

int cmd_stat(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "stat", {{"--json", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_stat, stdout), exit_ok;
  if (a->positional.size() != 1) return fail("stat", "wants exactly one NAME (see --help)", exit_usage);
  segment_options so;
  so.domain = a->get("--domain");
  auto seg = segment::open(a->positional[0], so);
  if (!seg) return fail("stat", seg.error());
  const segment_info info = seg->info();
  const detail::segment_usage u = detail::inspect(info);
  if (a->has("--json")) {
    json out;
    describe(out, u);
    std::printf("%s\n", out.text().c_str());
    return exit_ok;
  }
  const std::time_t created = static_cast<std::time_t>(info.created_ns / 1000000000ULL);
  char when[64] = "?";
  if (std::tm tm{}; ::localtime_r(&created, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  std::printf("name:          %s\n", info.name.c_str());
  std::printf("domain:        %s\n", info.domain.c_str());
  std::printf("path:          %s\n", info.path.c_str());
  std::printf("kind:          %s\n", to_string(info.kind));
  const bool box_kind = info.kind == object_kind::mailbox;
  if (is_queue_kind(info.kind)) {
    auto box =
        box_kind ? mailbox::open(info.name, info.domain) : result<mailbox>(errc::wrong_kind, "not a mailbox");
    if (box && box->rendezvous())
      std::printf("capacity:      0 (rendezvous: nothing is buffered)\n");
    else if (box && box->is_automatic())
      std::printf(
          "capacity:      automatic: now %llu messages, %llu bytes of slots (generation %u), "
          "limit %llu bytes; %llu queued in all generations\n",
          static_cast<unsigned long long>(box->capacity()),
          static_cast<unsigned long long>(box->buffer_bytes()), box->buffer_generation(),
          static_cast<unsigned long long>(box->max_bytes()), static_cast<unsigned long long>(box->size()));
    else
      std::printf("capacity:      %llu\n", static_cast<unsigned long long>(info.capacity));
    std::printf("max message:   %s bytes\n", max_message(info).c_str());
  }
  if (u.has_roles) {
    const bool box = info.kind == object_kind::mailbox;
    std::printf("fill:          %llu\n", static_cast<unsigned long long>(u.unread));
    std::printf("%-15s%s\n", box ? "senders:" : "producers:", holders(u.producers).c_str());
    std::printf("%-15s%s\n", box ? "receivers:" : "consumers:", holders(u.consumers).c_str());
    std::printf("closed:        %s\n", u.closed ? "yes" : "no");
    std::printf("generation:    %u\n", static_cast<unsigned>(u.generation));
    std::printf("lost in crashes: %llu abandoned by dead %s, %llu held by dead %s; %llu takeovers\n",
                static_cast<unsigned long long>(u.abandoned), box ? "senders" : "producers",
                static_cast<unsigned long long>(u.reclaimed), box ? "receivers" : "consumers",
                static_cast<unsigned long long>(u.takeovers));
    if (u.kept != 0)
      std::printf(
          "kept in crashes: %llu held by dead keeping receivers, delivered again by their successors\n",
          static_cast<unsigned long long>(u.kept));
    if (auto mb = box_kind ? mailbox::open(info.name, info.domain) : result<mailbox>(errc::wrong_kind, "");
        mb)
      std::printf("streams dropped: %llu (stream messages given up midway: sender died or gave up)\n",
                  static_cast<unsigned long long>(mb->streams_dropped()));
  }
  if (info.kind == object_kind::topic) print_topic_stat(info);
  if (u.is_node) std::printf("holder:        %s\n", holders(u.node_holder).c_str());
  if (u.is_link) std::printf("link nodes:    %u of 2 held by a live process\n", u.link_nodes_alive);
  std::printf("size:          %llu bytes\n", static_cast<unsigned long long>(info.total_size));
  std::printf("page size:     %s%s\n", page_size(info.page_size).c_str(),
              info.huge_pages ? " (huge pages)" : "");
  std::printf("owner:         %s\n", owner(info).c_str());
  std::printf("created:       %s by pid %u (%s)\n", when, info.creator_pid,
              u.creator_alive ? "alive" : "gone");
  std::printf("state:         %s%s%s\n", detail::to_string(u.state), u.reason.empty() ? "" : ": ",
              u.reason.c_str());
  return exit_ok;
}

int cmd_rm(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "rm", {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_rm, stdout), exit_ok;
  if (a->positional.empty()) return fail("rm", "wants one or more NAMEs (see --help)", exit_usage);
  int rc = exit_ok;
  for (const auto& name : a->positional)
    // mailbox::remove: an automatic mailbox's generations go with it (any
    // other segment is removed as segment::remove does).
    if (auto ok = mailbox::remove(name, a->get("--domain")); !ok) rc = fail("rm", ok.error());
  return rc;
}

}  // namespace ringport::cli
