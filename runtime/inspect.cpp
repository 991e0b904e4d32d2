// Who uses a segment, and what a domain holds (see inspect.hpp).
#include "inspect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "node_layout.hpp"
#include "paths.hpp"
#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/node.hpp"
#include "ringport/topic.hpp"

namespace ringport::detail {
namespace {

bool is_ring_kind(object_kind k) noexcept {
  return k == object_kind::spsc || k == object_kind::mpsc || k == object_kind::spmc ||
         k == object_kind::mpmc || k == object_kind::mailbox;
}

// Every occupied slot of a role table; `claims` (multi sides) give each
// holder's position, else every holder is at `cursor`.
void read_roles(const role_table& t, const claim_record* claims, std::uint64_t cursor, user_count& c,
                std::vector<role_holder>& out, std::uint32_t creator, bool& creator_seen) {
  for (std::uint32_t i = 0; i < max_roles; ++i) {
    // relaxed: a report; each word is read once and judged as read.
    const std::uint64_t o = t.slots[i].owner.load(std::memory_order_relaxed);
    if (o == 0) continue;
    role_holder h;
    h.slot = i;
    h.pid = owner_pid(o);
    h.alive = owner_alive(o);
    h.position = claims ? claims[i].end.load(std::memory_order_relaxed) : cursor;
    c.add(h.alive);
    out.push_back(h);
    creator_seen = creator_seen || h.pid == owner_pid(creator);
  }
}

// Reads the control block of a ring or mailbox; false (and why) if it does
// not validate against the header.
bool read_ring(const segment& seg, segment_usage& u) {
  if (seg.payload_size() < sizeof(ring_shared)) {
    u.reason = "payload smaller than a ring's control block";
    return false;
  }
  const auto* rs = reinterpret_cast<const ring_shared*>(seg.payload());
  ring_geometry g{};
  std::memcpy(&g, &rs->geo, sizeof g);
  if (g.capacity == 0 || !std::has_single_bit(g.capacity) || g.capacity != u.info.capacity ||
      g.kind != static_cast<std::uint32_t>(u.info.kind)) {
    u.reason = "ring geometry does not match the header";
    return false;
  }
  // relaxed: a snapshot for display; the two positions are not read together.
  const std::uint64_t head = rs->head.load(std::memory_order_relaxed);
  const std::uint64_t tail = rs->tail.load(std::memory_order_relaxed);
  const std::uint64_t n = tail - head;
  u.unread = n > g.capacity ? (static_cast<std::int64_t>(n) < 0 ? 0 : g.capacity) : n;
  u.head = head;
  u.tail = tail;
  u.waiting_consumers = waiter_count(rs->not_empty.waiters.load(std::memory_order_relaxed));
  u.waiting_producers = waiter_count(rs->not_full.waiters.load(std::memory_order_relaxed));
  const std::uint32_t state = rs->closed.load(std::memory_order_relaxed);
  u.closed = (state & state_closed) != 0;
  u.generation = (state & state_generation_mask) >> 1;
  u.abandoned = rs->recovery.abandoned.load(std::memory_order_relaxed);
  u.reclaimed = rs->recovery.reclaimed.load(std::memory_order_relaxed);
  u.takeovers = rs->recovery.takeovers.load(std::memory_order_relaxed);
  u.kept = rs->recovery.kept.load(std::memory_order_relaxed);
  const auto kind = static_cast<object_kind>(g.kind);
  const bool multi_p = !kind_single(kind, role::producer), multi_c = !kind_single(kind, role::consumer);
  read_roles(rs->producers, multi_p ? rs->producer_claims : nullptr, tail, u.producers, u.producer_list,
             u.info.creator_pid, u.creator_is_holder);
  read_roles(rs->consumers, multi_c ? rs->consumer_claims : nullptr, head, u.consumers, u.consumer_list,
             u.info.creator_pid, u.creator_is_holder);
  u.has_roles = true;
  return true;
}

// Topics: the publisher role and the subscribers count as producers and
// consumers; unread is the lag of the slowest live subscriber.
bool read_topic(segment_usage& u) {
  auto t = byte_topic::open(u.info.name, u.info.domain);
  if (!t) {
    u.reason = t.error().message;
    return false;
  }
  const topic_stats st = t->stats();
  u.has_roles = true;
  if (st.publisher_pid != 0) u.producers.add(st.publisher_alive);
  u.creator_is_holder = st.publisher_pid != 0 && st.publisher_pid == u.info.creator_pid;
  for (const auto& s : st.subscribers) {
    u.consumers.add(s.alive);
    u.creator_is_holder = u.creator_is_holder || s.pid == u.info.creator_pid;
    if (s.alive && !s.evicted) u.unread = std::max(u.unread, s.lag);
  }
  u.closed = t->closed();
  u.takeovers = st.takeovers;
  return true;
}

bool read_node(const segment& seg, segment_usage& u) {
  if (seg.payload_size() < sizeof(node_shared)) {
    u.reason = "payload smaller than a node's";
    return false;
  }
  const auto* sh = reinterpret_cast<const node_shared*>(seg.payload());
  // relaxed: a report, not a claim.
  const std::uint64_t o = sh->owner.load(std::memory_order_relaxed);
  if (o != 0) {
    u.node_holder.add(owner_alive(o));
    u.creator_is_holder = owner_pid(o) == u.info.creator_pid;
  }
  u.is_node = true;
  return true;
}

// "link.<from>.<to>" with two valid node names: how many are held by a live process.
bool link_nodes(const segment_info& info, unsigned& alive) {
  const std::string_view n = info.name;
  if (info.kind != object_kind::mailbox || n.substr(0, 5) != "link.") return false;
  const std::string_view rest = n.substr(5);
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view from = rest.substr(0, dot), to = rest.substr(dot + 1);
  if (!node::validate(from) || !node::validate(to)) return false;
  alive = 0;
  for (const std::string_view who : {from, to}) {
    auto pid = node::holder(who, info.domain);
    alive += pid && *pid != 0;
  }
  return true;
}

result<void> check_dir(const std::string& dir, bool& exists) {
  exists = false;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return system_failure(("stat " + dir).c_str(), errno);
  }
  if (S_ISLNK(st.st_mode)) return result<void>(errc::symlink_refused, dir + " is a symbolic link; remove it");
  if (!S_ISDIR(st.st_mode)) return result<void>(errc::not_regular_file, dir + " is not a directory");
  DIR* d = ::opendir(dir.c_str());
  if (!d) return system_failure(("cannot read domain directory " + dir).c_str(), errno);
  ::closedir(d);
  exists = true;
  return {};
}

}  // namespace

const char* to_string(usage u) noexcept {
  switch (u) {
    case usage::in_use:
      return "in-use";
    case usage::stale:
      return "stale";
    case usage::unknown:
      break;
  }
  return "unknown";
}

user_count segment_usage::users() const noexcept {
  user_count c;
  c.alive = producers.alive + consumers.alive + node_holder.alive;
  c.dead = producers.dead + consumers.dead + node_holder.dead;
  if (!creator_is_holder) c.add(creator_alive);
  return c;
}

segment_usage inspect(const segment_info& info) {
  segment_usage u;
  u.info = info;
  segment_options so;
  so.domain = info.domain;
  so.open_timeout = std::chrono::milliseconds(0);
  auto seg = segment::open(info.name, so);
  if (!seg) {
    u.reason = seg.error().message;
    return u;
  }
  u.info = seg->info();
  u.creator_alive = u.info.creator_owner != 0 && owner_alive(u.info.creator_owner);
  bool readable = true;
  if (is_ring_kind(u.info.kind))
    readable = read_ring(*seg, u);
  else if (u.info.kind == object_kind::node)
    readable = read_node(*seg, u);
  else if (u.info.kind == object_kind::topic)
    readable = read_topic(u);
  else if (u.info.kind != object_kind::raw) {
    u.reason = "unknown kind";
    readable = false;
  }
  if (!readable) return u;
  u.is_link = link_nodes(u.info, u.link_nodes_alive);
  const bool live = u.users().alive != 0 || u.creator_alive || u.link_nodes_alive != 0;
  u.state = live ? usage::in_use : usage::stale;
  return u;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

namespace {

// Entries at segment names that list() left out: say why open refuses them.
void find_unreadable(domain_contents& c) {
  for (const std::string& dir : c.dirs) {
    for (const std::string& name : dir_entries(dir)) {
      const std::string path = dir + "/" + name;
      // Internal files (a leading '.': doorbells, temporaries) are not segments.
      if (name[0] == '.' || !validate_name(name)) continue;
      bool listed = false;
      for (const segment_info& s : c.segments) listed = listed || s.path == path;
      if (listed) continue;
      segment_options so;
      so.domain = c.domain;
      so.open_timeout = std::chrono::milliseconds(0);
      auto seg = segment::open(name, so);
      c.unreadable.push_back({name, path, seg ? "changed while listed" : seg.error().message});
    }
  }
}

}  // namespace

result<domain_contents> read_domain(std::string_view domain_in) {
  domain_contents c;
  c.domain = effective_domain(domain_in);
  if (auto ok = validate_name(c.domain, "domain"); !ok) return ok.error();
  std::vector<std::string> candidates;
  if (auto huge = find_huge_mount()) candidates.push_back(domain_dir(huge->dir, c.domain));
  const std::string shm = domain_dir(shm_root(), c.domain);
  candidates.push_back(shm);
  for (const auto& dir : candidates) {
    bool exists = false;
    if (auto ok = check_dir(dir, exists); !ok) return ok.error();
    if (exists) c.dirs.push_back(dir);
  }
  if (c.dirs.empty()) {
    std::string where;
    for (const auto& dir : candidates) where += (where.empty() ? "" : " or ") + dir;
    return error(errc::not_found, "no domain '" + c.domain + "': no directory " + where +
                                      " (is the name right? --domain, else $RINGPORT_DOMAIN, else default)");
  }
  struct stat st {};
  const std::string bells = shm + "/" + doorbell_file_name;
  if (::lstat(bells.c_str(), &st) == 0) c.doorbell_file = bells;
  auto all = segment::list(c.domain);
  if (!all) return all.error();
  c.segments = std::move(*all);
  find_unreadable(c);
  return c;
}

}  // namespace ringport::detail
