// ringport ls / stat / rm: what is in a domain, one segment in detail, removal.
#include <bit>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "cli.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/mailbox.hpp"
#include "ringport/node.hpp"
#include "ringport/segment.hpp"

namespace ringport::cli {
namespace {

bool is_ring_kind(object_kind k) {
  return k == object_kind::spsc || k == object_kind::mpsc || k == object_kind::spmc ||
         k == object_kind::mpmc || k == object_kind::mailbox;
}

// Live numbers of a ring or mailbox, read (once each, then checked) from its
// control block; nothing here trusts the segment beyond its size.
struct ring_numbers {
  bool valid = false;
  std::uint64_t fill = 0;
  bool closed = false;
  unsigned producers = 0, consumers = 0;
};

ring_numbers read_ring(const segment_info& info) {
  ring_numbers out;
  if (!is_ring_kind(info.kind)) return out;
  segment_options so;
  so.domain = info.domain;
  so.open_timeout = std::chrono::milliseconds(0);
  auto seg = segment::open(info.name, so);
  if (!seg || seg->payload_size() < sizeof(detail::ring_shared)) return out;
  const auto* rs = reinterpret_cast<const detail::ring_shared*>(seg->payload());
  detail::ring_geometry g{};
  std::memcpy(&g, &rs->geo, sizeof g);
  if (g.capacity == 0 || !std::has_single_bit(g.capacity) || g.capacity != info.capacity) return out;
  // relaxed: a snapshot for display; the two positions are not read together.
  const std::uint64_t head = rs->head.load(std::memory_order_relaxed);
  const std::uint64_t tail = rs->tail.load(std::memory_order_relaxed);
  const std::uint64_t n = tail - head;
  out.fill = n > g.capacity ? (static_cast<std::int64_t>(n) < 0 ? 0 : g.capacity) : n;
  out.closed = rs->closed.load(std::memory_order_relaxed) != 0;
  for (const auto& s : rs->producers.slots) out.producers += s.owner.load(std::memory_order_relaxed) != 0;
  for (const auto& s : rs->consumers.slots) out.consumers += s.owner.load(std::memory_order_relaxed) != 0;
  out.valid = true;
  return out;
}

std::string max_message(const segment_info& info) {
  if (info.kind == object_kind::mailbox && info.element_size > mailbox_header_bytes)
    return std::to_string(info.element_size - mailbox_header_bytes);
  if (is_ring_kind(info.kind)) return std::to_string(info.element_size);  // fixed slots
  return "-";
}

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

const char* help_ls = R"(usage: ringport ls [--domain D]
Lists every segment of the domain: name, kind, capacity, fill (messages or
items queued now), max message size (slot size for rings), page size, and
owner (a node's live holder) or creator pid.
)";
const char* help_stat = R"(usage: ringport stat NAME [--domain D]
Shows one segment in detail: path, kind, sizes, fill, attached senders and
receivers (producers and consumers), closed flag, creator and creation time.
)";
const char* help_rm = R"(usage: ringport rm NAME [--domain D]
Removes a segment by name. Processes that have it open keep their mapping;
a later create makes a new, unrelated segment.
)";

}  // namespace

int cmd_ls(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "ls", {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_ls, stdout), exit_ok;
  if (!a->positional.empty()) return fail("ls", "takes no arguments (see --help)", exit_usage);
  auto all = segment::list(a->get("--domain"));
  if (!all) return fail("ls", all.error());
  std::printf("%-40s %-8s %10s %10s %10s %6s %s\n", "NAME", "KIND", "CAPACITY", "FILL", "MAXMSG", "PAGE",
              "OWNER");
  for (const segment_info& info : *all) {
    const ring_numbers r = read_ring(info);
    const std::string fill = r.valid ? std::to_string(r.fill) : "-";
    const std::string cap = is_ring_kind(info.kind) ? std::to_string(info.capacity) : "-";
    std::printf("%-40s %-8s %10s %10s %10s %6s %s\n", info.name.c_str(), to_string(info.kind), cap.c_str(),
                fill.c_str(), max_message(info).c_str(), page_size(info.page_size).c_str(),
                owner(info).c_str());
  }
  return exit_ok;
}

int cmd_stat(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "stat", {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_stat, stdout), exit_ok;
  if (a->positional.size() != 1) return fail("stat", "wants exactly one NAME (see --help)", exit_usage);
  segment_options so;
  so.domain = a->get("--domain");
  auto seg = segment::open(a->positional[0], so);
  if (!seg) return fail("stat", seg.error());
  const segment_info info = seg->info();
  const ring_numbers r = read_ring(info);
  const std::time_t created = static_cast<std::time_t>(info.created_ns / 1000000000ULL);
  char when[64] = "?";
  if (std::tm tm{}; ::localtime_r(&created, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  std::printf("name:          %s\n", info.name.c_str());
  std::printf("domain:        %s\n", info.domain.c_str());
  std::printf("path:          %s\n", info.path.c_str());
  std::printf("kind:          %s\n", to_string(info.kind));
  if (is_ring_kind(info.kind)) {
    std::printf("capacity:      %llu\n", static_cast<unsigned long long>(info.capacity));
    std::printf("max message:   %s bytes\n", max_message(info).c_str());
  }
  if (r.valid) {
    std::printf("fill:          %llu\n", static_cast<unsigned long long>(r.fill));
    std::printf("senders:       %u attached\n", r.producers);
    std::printf("receivers:     %u attached\n", r.consumers);
    std::printf("closed:        %s\n", r.closed ? "yes" : "no");
  }
  std::printf("size:          %llu bytes\n", static_cast<unsigned long long>(info.total_size));
  std::printf("page size:     %s%s\n", page_size(info.page_size).c_str(),
              info.huge_pages ? " (huge pages)" : "");
  std::printf("owner:         %s\n", owner(info).c_str());
  std::printf("created:       %s by pid %u\n", when, info.creator_pid);
  return exit_ok;
}

int cmd_rm(int argc, char** argv, int first) {
  auto a = parse(argc, argv, first, "rm", {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_rm, stdout), exit_ok;
  if (a->positional.empty()) return fail("rm", "wants one or more NAMEs (see --help)", exit_usage);
  int rc = exit_ok;
  for (const auto& name : a->positional)
    if (auto ok = segment::remove(name, a->get("--domain")); !ok) rc = fail("rm", ok.error());
  return rc;
}

}  // namespace ringport::cli
