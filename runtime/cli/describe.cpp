// The shared description of a segment (see describe.hpp).
#include "describe.hpp"

#include "ringport/mailbox.hpp"
#include "ringport/topic.hpp"

namespace ringport::cli {
namespace {

void counts(json& out, const detail::user_count& c) {
  out.begin_object().field("alive", c.alive).field("dead", c.dead).end_object();
}

void holders(json& out, std::string_view key, const detail::user_count& c,
             const std::vector<detail::role_holder>& list, const std::uint64_t* tail) {
  out.key(key).begin_object().field("alive", c.alive).field("dead", c.dead).key("holders").begin_array();
  for (const detail::role_holder& h : list) {
    out.begin_object().field("slot", h.slot).field("pid", h.pid).field("alive", h.alive);
    out.field("position", h.position);
    if (tail) out.field("lag", lag_of(h.position, *tail));
    out.end_object();
  }
  out.end_array().end_object();
}

}  // namespace

bool is_queue_kind(object_kind k) noexcept {
  return k == object_kind::spsc || k == object_kind::mpsc || k == object_kind::spmc ||
         k == object_kind::mpmc || k == object_kind::mailbox;
}

namespace {
// An automatic mailbox's head has at most 16 slots: only such mailboxes are
// opened to find out (an open may wait for a creator still at work).
bool maybe_automatic(const segment_info& info) {
  return info.kind == object_kind::mailbox && info.capacity <= 16;
}
}  // namespace

std::string capacity_text(const segment_info& info) {
  if (maybe_automatic(info))
    if (auto box = mailbox::open(info.name, info.domain); box && box->is_automatic())
      return "auto:" + std::to_string(box->capacity());
  return std::to_string(info.capacity);
}

std::string max_message(const segment_info& info) {
  if (info.kind == object_kind::mailbox && info.element_size > mailbox_header_bytes)
    return std::to_string(info.element_size - mailbox_header_bytes);
  if (info.kind == object_kind::topic) {  // (issue #13) the slot size is rounded: ask the topic
    auto t = byte_topic::open(info.name, info.domain);
    return t ? std::to_string(t->max_message_size()) : "-";
  }
  if (is_queue_kind(info.kind)) return std::to_string(info.element_size);  // fixed slots
  return "-";
}

std::uint64_t lag_of(std::uint64_t position, std::uint64_t tail) noexcept {
  const std::uint64_t d = tail - position;
  return static_cast<std::int64_t>(d) < 0 ? 0 : d;
}

void describe_queue(json& out, const detail::segment_usage& u) {
  const segment_info& info = u.info;
  out.begin_object().field("capacity", info.capacity);
  if (info.kind == object_kind::mailbox && info.element_size > mailbox_header_bytes)
    out.field("max_message", info.element_size - mailbox_header_bytes);
  else
    out.field("max_message", info.element_size);
  if (maybe_automatic(info))  // automatic buffering: what it has grown to
    if (auto box = mailbox::open(info.name, info.domain); box && box->is_automatic())
      out.key("automatic")
          .begin_object()
          .field("generation", box->buffer_generation())
          .field("capacity", static_cast<std::uint64_t>(box->capacity()))
          .field("buffer_bytes", box->buffer_bytes())
          .field("max_bytes", box->max_bytes())
          .field("queued", static_cast<std::uint64_t>(box->size()))
          .end_object();
  out.field("fill", u.unread).field("pushed", u.tail).field("popped", u.head).field("closed", u.closed);
  out.field("generation", u.generation);
  out.key("waiters")
      .begin_object()
      .field("consumers", u.waiting_consumers)
      .field("producers", u.waiting_producers)
      .end_object();
  holders(out, "producers", u.producers, u.producer_list, nullptr);
  holders(out, "consumers", u.consumers, u.consumer_list, &u.tail);
  out.key("recovery")
      .begin_object()
      .field("abandoned", u.abandoned)
      .field("reclaimed", u.reclaimed)
      .field("takeovers", u.takeovers)
      .field("kept", u.kept)
      .end_object();
  out.end_object();
}

void describe(json& out, const detail::segment_usage& u, const std::function<void(json&)>& extra) {
  const segment_info& info = u.info;
  out.begin_object()
      .field("name", info.name)
      .field("domain", info.domain)
      .field("path", info.path)
      .field("kind", to_string(info.kind))
      .field("state", detail::to_string(u.state))
      .field("reason", u.reason)
      .field("size", info.total_size)
      .field("page_size", info.page_size)
      .field("huge_pages", info.huge_pages);
  out.key("creator")
      .begin_object()
      .field("pid", info.creator_pid)
      .field("alive", u.creator_alive)
      .field("created_ns", info.created_ns)
      .end_object();
  if (u.state == detail::usage::unknown)
    out.key("users").null();
  else
    counts(out.key("users"), u.users());
  out.key("queue");
  if (u.has_roles)
    describe_queue(out, u);
  else
    out.null();
  out.key("node");
  if (u.is_node) {
    counts(out.begin_object().key("holder"), u.node_holder);
    out.end_object();
  } else {
    out.null();
  }
  out.key("link");
  if (u.is_link)
    out.begin_object().field("nodes_alive", u.link_nodes_alive).end_object();
  else
    out.null();
  if (extra) extra(out);
  out.end_object();
}

}  // namespace ringport::cli
