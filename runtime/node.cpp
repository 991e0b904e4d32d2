// Nodes: registration under a name, links created on first use, receive_any.
// The design and its guarantees are described in ringport/node.hpp.
#include "ringport/node.hpp"

#include <algorithm>
#include <atomic>
#include <new>

#include "node_layout.hpp"
#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/ring_layout.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport {
namespace {

std::string node_segment(std::string_view name) {
  std::string s = "node.";
  s += name;
  return s;
}

detail::node_shared* shared_of(const segment& seg) noexcept {
  return std::launder(reinterpret_cast<detail::node_shared*>(seg.payload()));
}

segment_options node_segment_options(std::string_view domain, bool group_access) {
  segment_options so;
  so.domain = std::string(domain);
  so.backing = pages::normal;  // a few cache lines: never worth a huge page
  so.group_access = group_access;
  so.kind = object_kind::node;
  return so;
}

// Tells node `to` that it has a new inbound link (if it has a segment: a node
// that joins later scans the domain on its first receive_any anyway).
void ring_doorbell(std::string_view to, std::string_view domain, detail::doorbell_site* bells) {
  auto seg = segment::open(node_segment(to), node_segment_options(domain, false));
  if (!seg || seg->payload_size() < sizeof(detail::node_shared)) return;
  detail::node_shared* sh = shared_of(*seg);
  // R-GEN: the link is fully created before this; pairs with A-GEN in
  // refresh_inbound() / doorbell_ready().
  sh->links_gen.fetch_add(1, std::memory_order_release);
  detail::notify(sh->doorbell, bells);
}

}  // namespace

result<void> node::validate(std::string_view name) {
  const bool ok_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (name.empty() || name.size() > node_name_max || !ok_chars)
    return result<void>(errc::invalid_name, "node name '" + std::string(name) + "' must be 1 to " +
                                                std::to_string(node_name_max) +
                                                " characters of [A-Za-z0-9_-] (no '.': it separates "
                                                "the two names of a link)");
  return {};
}

std::string node::link_name(std::string_view from, std::string_view to) {
  std::string s = "link.";
  s += from;
  s += '.';
  s += to;
  return s;
}

result<node> node::join(std::string_view name, const node_options& opt) {
  if (auto ok = validate(name); !ok) return ok.error();
  auto seg = segment::open_or_create(node_segment(name), sizeof(detail::node_shared),
                                     node_segment_options(opt.domain, opt.group_access));
  if (!seg) return std::move(seg).error();
  if (seg->payload_size() < sizeof(detail::node_shared))
    return error(errc::bad_layout, "node segment '" + node_segment(name) + "' is too small: remove it");
  detail::node_shared* sh = shared_of(*seg);
  const std::uint64_t me = detail::self_owner();
  bool took_over = false;  // from a holder that died without leaving
  for (;;) {
    // acquire: pairs with the release in leave(), so we start after the
    // previous holder's last writes.
    std::uint64_t cur = sh->owner.load(std::memory_order_acquire);
    if (cur != 0 && (cur == me || detail::owner_alive(cur)))
      return error(errc::already_exists, "node '" + std::string(name) + "' is held by live process " +
                                             std::to_string(detail::owner_pid(cur)) +
                                             (cur == me ? " (this one)" : "") +
                                             ": pick another name, or stop that process first");
    // Free, or its holder died: take it (one CAS decides between rivals).
    if (sh->owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel)) {
      took_over = cur != 0;
      break;
    }
  }
  node n;
  n.name_ = std::string(name);
  n.opt_ = opt;
  n.opt_.domain = effective_domain(opt.domain);
  n.seg_ = std::move(*seg);
  n.sh_ = sh;
  n.bells_ = detail::doorbell_site_of(n.seg_);
  n.owner_ = me;
  // Receivers on every inbound link now, so that senders see a live one;
  // a dead predecessor's queued messages go (see "Restarts" in node.hpp).
  if (auto ok = n.refresh_inbound(); !ok) return ok.error();
  if (took_over && !opt.deliver_stale)
    for (link_in* l : n.in_order_) (void)l->rx.drop_queued();
  return n;
}

result<std::uint32_t> node::holder(std::string_view name, std::string_view domain) {
  if (auto ok = validate(name); !ok) return ok.error();
  auto seg = segment::open(node_segment(name), node_segment_options(domain, false));
  if (!seg) return std::move(seg).error();
  if (seg->payload_size() < sizeof(detail::node_shared))
    return error(errc::bad_layout, "node segment '" + node_segment(name) + "' is too small: remove it");
  // relaxed: a report, not a claim.
  const std::uint64_t cur = shared_of(*seg)->owner.load(std::memory_order_relaxed);
  if (cur == 0 || !detail::owner_alive(cur)) return std::uint32_t{0};
  return detail::owner_pid(cur);
}

result<std::uint32_t> node::holder_until(std::string_view name, clock::time_point deadline,
                                         std::string_view domain) {
  for (detail::appear_backoff wait(deadline);;) {
    auto pid = holder(name, domain);
    if (pid ? *pid != 0 : !(pid.error() == errc::not_found)) return pid;
    if (!wait.sleep()) return std::uint32_t{0};
  }
}

node::node(node&& o) noexcept {
  *this = std::move(o);
}

node& node::operator=(node&& o) noexcept {
  if (this != &o) {
    leave();
    name_ = std::move(o.name_);
    opt_ = std::move(o.opt_);
    seg_ = std::move(o.seg_);
    sh_ = std::exchange(o.sh_, nullptr);
    bells_ = o.bells_;
    owner_ = std::exchange(o.owner_, 0);
    out_ = std::move(o.out_);
    in_ = std::move(o.in_);
    in_order_ = std::move(o.in_order_);
    targets_ = std::move(o.targets_);
    next_ = o.next_;
    seen_gen_ = o.seen_gen_;
    scanned_ = o.scanned_;
    calls_ = std::move(o.calls_);
  }
  return *this;
}

node::~node() {
  leave();
}

void node::leave() noexcept {
  if (!sh_) return;
  // R-LEAVE: pairs with the acquire in join(). Only if still ours (a
  // process that thought us dead may have taken it).
  std::uint64_t mine = owner_;
  sh_->owner.compare_exchange_strong(mine, 0, std::memory_order_release, std::memory_order_relaxed);
  sh_ = nullptr;
  calls_.reset();
  out_.clear();
  in_order_.clear();
  in_.clear();
  seg_ = segment();
}

mailbox_options node::link_options() const {
  mailbox_options o;
  o.capacity = opt_.link_capacity;
  o.max_message_size = opt_.max_message_size;
  o.backing = opt_.backing;
  o.group_access = opt_.group_access;
  o.domain = opt_.domain;
  return o;
}

// ---------------------------------------------------------------- links

result<node::link_out*> node::outbound(std::string_view to) {
  if (auto it = out_.find(to); it != out_.end()) [[likely]]
    return &it->second;
  if (!sh_) return error(errc::invalid_argument, "this node has left (or was moved from): join again");
  if (auto ok = validate(to); !ok) return ok.error();
  auto box = mailbox::open_or_create(link_name(name_, to), link_options());
  if (!box) return std::move(box).error();
  auto tx = box->sender(opt_.policy);
  if (!tx) return std::move(tx).error();
  ring_doorbell(to, opt_.domain, bells_);  // same domain: the same doorbells
  auto [it, _] = out_.emplace(std::string(to), link_out{std::move(*box), std::move(*tx)});
  return &it->second;
}

result<node::link_in*> node::add_inbound(std::string_view from, mailbox box) {
  auto rx = box.receiver(opt_.policy);
  if (!rx) return std::move(rx).error();
  auto link = std::make_unique<link_in>(link_in{std::string(from), std::move(box), std::move(*rx)});
  link_in* p = link.get();
  in_.emplace(std::string(from), std::move(link));
  in_order_.push_back(p);
  return p;
}

result<node::link_in*> node::inbound(std::string_view from) {
  if (auto it = in_.find(from); it != in_.end()) [[likely]]
    return it->second.get();
  if (!sh_) return error(errc::invalid_argument, "this node has left (or was moved from): join again");
  if (auto ok = validate(from); !ok) return ok.error();
  auto box = mailbox::open_or_create(link_name(from, name_), link_options());
  if (!box) return std::move(box).error();
  return add_inbound(from, std::move(*box));
}

// Opens every "link.<x>.<me>" not known yet, when the links generation moved.
result<void> node::refresh_inbound() {
  if (!sh_) return result<void>(errc::invalid_argument, "this node has left (or was moved from): join again");
  // A-GEN: pairs with R-GEN in ring_doorbell(); read before the scan, so a
  // link created during the scan bumps it again and we rescan next time.
  const std::uint32_t gen = sh_->links_gen.load(std::memory_order_acquire);
  if (scanned_ && gen == seen_gen_) [[likely]]
    return {};
  auto all = segment::list(opt_.domain);
  if (!all) return all.error();
  const std::string suffix = "." + name_;
  for (const segment_info& info : *all) {
    const std::string& n = info.name;
    if (info.kind != object_kind::mailbox || n.size() <= 5 + suffix.size() || n.compare(0, 5, "link.") != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string_view from = std::string_view(n).substr(5, n.size() - 5 - suffix.size());
    if (!validate(from) || in_.find(from) != in_.end()) continue;
    auto box = mailbox::open(n, opt_.domain);
    if (!box) continue;  // removed meanwhile
    if (auto added = add_inbound(from, std::move(*box)); !added) return added.error();
  }
  seen_gen_ = gen;
  scanned_ = true;
  return {};
}

// ---------------------------------------------------------------- sends

result<status> node::try_send(std::string_view to, std::span<const std::byte> msg) {
  auto link = outbound(to);
  if (!link) return std::move(link).error();
  return (*link)->tx.try_send(msg);
}

result<status> node::send_until(std::string_view to, std::span<const std::byte> msg,
                                clock::time_point deadline, delivery d) {
  auto link = outbound(to);
  if (!link) return std::move(link).error();
  status s = (*link)->tx.send_until(msg, deadline, d);
  // peer_gone: every receiver of the link is dead. While a live process
  // holds `to` its receiver is about to attach (node.hpp, "peer_gone"):
  // send again. Nothing was delivered (a withdrawn sync message never is).
  for (detail::appear_backoff pace(deadline); s == status::peer_gone;) {
    auto pid = holder(to, opt_.domain);
    if (!pid || *pid == 0 || !pace.sleep()) break;
    s = (*link)->tx.send_until(msg, deadline, d);
  }
  return s;
}

// ---------------------------------------------------------------- receives

result<status> node::try_receive(std::string_view from, std::span<std::byte> buf, std::size_t& len) {
  auto link = inbound(from);
  if (!link) return std::move(link).error();
  return (*link)->rx.try_receive(buf, len);
}

result<status> node::receive_until(std::string_view from, std::span<std::byte> buf, std::size_t& len,
                                   clock::time_point deadline) {
  auto link = inbound(from);
  if (!link) return std::move(link).error();
  return (*link)->rx.receive_until(buf, len, deadline);
}

status node::poll_inbound(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                          bool exact) noexcept {
  const std::size_t n = in_order_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (next_ + i) % n;
    link_in* l = in_order_[at];
    const status s = exact ? l->rx.try_receive_exact(buf, len) : l->rx.try_receive(buf, len);
    if (s == status::would_block || s == status::closed) continue;  // a closed link has nothing more
    next_ = at + 1;
    from = l->peer;
    return s;
  }
  return status::would_block;
}

result<status> node::try_receive_any(std::span<std::byte> buf, std::size_t& len, std::string_view& from) {
  if (auto ok = refresh_inbound(); !ok) return ok.error();
  return poll_inbound(buf, len, from);
}

bool node::doorbell_ready(const void* self) noexcept {
  const auto* n = static_cast<const node*>(self);
  // A-GEN (as in refresh_inbound).
  return n->sh_->links_gen.load(std::memory_order_acquire) != n->seen_gen_;
}

result<status> node::receive_any_until(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                                       clock::time_point deadline) {
  return receive_any_impl(buf, len, from, &deadline, false);
}

result<status> node::receive_exact(std::string_view from, std::span<std::byte> v,
                                   const clock::time_point* deadline) {
  auto link = inbound(from);
  if (!link) return std::move(link).error();
  std::size_t len = 0;
  return deadline ? (*link)->rx.receive_exact_until(v, len, *deadline)
                  : (*link)->rx.try_receive_exact(v, len);
}

// receive_any's loop; a null deadline polls once (try_receive_any).
result<status> node::receive_any_impl(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                                      const clock::time_point* deadline, bool exact) {
  for (;;) {
    if (auto ok = refresh_inbound(); !ok) return ok.error();
    if (status s = poll_inbound(buf, len, from, exact); s != status::would_block) return s;
    if (!deadline) return status::would_block;
    if (clock::now() >= *deadline) return status::timed_out;
    // Sleep on the doorbell and on every inbound link (rebuilt each time:
    // `this` may have moved; the vector keeps its capacity).
    targets_.clear();
    targets_.push_back(waitable{&sh_->doorbell, &node::doorbell_ready, this, bells_});
    for (link_in* l : in_order_) {
      if (targets_.size() == wait_any_max) break;
      if (!l->box.closed()) targets_.push_back(l->rx.readable());  // a closed one is always "ready"
    }
    // A wake-up (or the deadline) leads back to the poll above; a deadline
    // with nothing to take returns timed_out there.
    (void)wait_any(targets_, *deadline, opt_.policy);
  }
}

}  // namespace ringport
