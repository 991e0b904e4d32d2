// Request–response between nodes: correlation ids over two mailboxes.
// The contract is in ringport/node.hpp ("request–response").
//
// Wire formats (every field read once and checked on receipt):
//   request  "call.<server>":  u64 id | u8 name length | 31 bytes caller name | payload
//   reply    "reply.<client>": u64 id | payload
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "ringport/detail/wait.hpp"
#include "ringport/node.hpp"

namespace ringport {
namespace {

constexpr std::size_t request_header = 40;
constexpr std::size_t reply_header = 8;
constexpr std::size_t name_field = 31;
static_assert(node_name_max <= name_field, "a caller's name fits its field");

std::string call_box(std::string_view server) {
  std::string s = "call.";
  s += server;
  return s;
}
std::string reply_box(std::string_view client) {
  std::string s = "reply.";
  s += client;
  return s;
}

struct outbox {
  mailbox box;
  mailbox_sender tx;
};

}  // namespace

struct node::call_state {
  std::optional<mailbox> requests;  // call.<me>, server side
  std::optional<mailbox_receiver> requests_rx;
  std::optional<mailbox> replies;  // reply.<me>, client side
  std::optional<mailbox_receiver> replies_rx;
  // Keyed by the peer's node name (the mailbox is call.<name> or
  // reply.<name>): a lookup builds no string.
  std::map<std::string, outbox, std::less<>> to_servers, to_clients;
  // The outstanding calls: few, so a vector searched from the back (the
  // newest first); entries are recycled, so a call allocates nothing once
  // the vector and the reply buffers have grown.
  struct pending {
    std::uint64_t id = 0;
    char server[node_name_max + 1] = {};
    std::uint8_t server_len = 0;
    bool arrived = false;
    std::vector<std::byte> reply;  // a reply that came while another call was awaited
    std::string_view server_name() const noexcept { return {server, server_len}; }
  };
  std::vector<pending> outstanding;
  pending* find(std::uint64_t id) noexcept {
    for (auto it = outstanding.rbegin(); it != outstanding.rend(); ++it)
      if (it->id == id) return &*it;
    return nullptr;
  }
  void erase(pending* p) noexcept {
    if (p != &outstanding.back()) std::swap(*p, outstanding.back());
    outstanding.pop_back();
  }
  std::uint64_t next_id = 0;
  std::vector<std::byte> scratch;  // client and reply side: one whole message
  std::vector<std::byte> request;  // server side: the request being handed out
  std::size_t held = 0;            // its length, when a too_large receive kept it
};

void node::call_state_deleter::operator()(call_state* p) const noexcept {
  delete p;
}

result<node::call_state*> node::calls() {
  if (!sh_) return error(errc::invalid_argument, "this node has left (or was moved from): join again");
  if (!calls_) {
    calls_.reset(new call_state);
    // Ids only grow, and a later process under this name starts above
    // every id an earlier one used (one call per nanosecond at most).
    calls_->next_id = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
    calls_->scratch.resize(opt_.max_message_size);
  }
  return calls_.get();
}

namespace {

// The sender to peer's mailbox (make_name(peer) on first use).
result<outbox*> outbox_for(std::map<std::string, outbox, std::less<>>& boxes, std::string_view peer,
                           std::string (*make_name)(std::string_view), const mailbox_options& o,
                           wait_policy p) {
  if (auto it = boxes.find(peer); it != boxes.end()) return &it->second;
  auto box = mailbox::open_or_create(make_name(peer), o);
  if (!box) return std::move(box).error();
  auto tx = box->sender(p);
  if (!tx) return std::move(tx).error();
  auto [it, _] = boxes.emplace(std::string(peer), outbox{std::move(*box), std::move(*tx)});
  return &it->second;
}

// Copies a kept or arrived reply out (too_large: len needed, kept).
status deliver(std::span<const std::byte> data, std::span<std::byte> out, std::size_t& len) noexcept {
  len = data.size();
  if (data.size() > out.size()) return status::too_large;
  if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
  return status::ok;
}

}  // namespace

result<status> node::start_call(std::string_view to, std::span<const std::byte> request, std::uint64_t& id,
                                clock::time_point deadline) {
  auto cs = calls();
  if (!cs) return std::move(cs).error();
  call_state& c = **cs;
  if (auto ok = validate(to); !ok) return ok.error();
  if (!c.replies) {  // our reply mailbox exists before any server can answer
    auto box = mailbox::open_or_create(reply_box(name_), link_options());
    if (!box) return std::move(box).error();
    auto rx = box->receiver(opt_.policy);
    if (!rx) return std::move(rx).error();
    c.replies.emplace(std::move(*box));
    c.replies_rx.emplace(std::move(*rx));
    if (c.scratch.size() < c.replies->max_message_size()) c.scratch.resize(c.replies->max_message_size());
  }
  auto out = outbox_for(c.to_servers, to, call_box, link_options(), opt_.policy);
  if (!out) return std::move(out).error();
  mailbox_sender& tx = (*out)->tx;
  if (request.size() + request_header > tx.max_message_size()) return status::too_large;
  if (c.scratch.size() < request_header + request.size()) c.scratch.resize(request_header + request.size());
  const std::uint64_t my_id = ++c.next_id;
  std::byte* m = c.scratch.data();
  std::memset(m, 0, request_header);
  std::memcpy(m, &my_id, 8);
  m[8] = static_cast<std::byte>(name_.size());
  std::memcpy(m + 9, name_.data(), name_.size());
  if (!request.empty()) std::memcpy(m + request_header, request.data(), request.size());
  const status s = tx.send_until({m, request_header + request.size()}, deadline);
  if (s != status::ok) return s;
  call_state::pending& p = c.outstanding.emplace_back();
  p.id = my_id;
  p.server_len = static_cast<std::uint8_t>(to.size());  // validate(): at most node_name_max
  std::memcpy(p.server, to.data(), to.size());
  p.arrived = false;
  id = my_id;
  return status::ok;
}

result<status> node::await_reply(std::uint64_t id, std::span<std::byte> reply, std::size_t& len,
                                 clock::time_point deadline) {
  auto cs = calls();
  if (!cs) return std::move(cs).error();
  call_state& c = **cs;
  call_state::pending* p = c.find(id);
  if (p == nullptr || !c.replies_rx)
    return error(errc::invalid_argument, "no outstanding call " + std::to_string(id) + " on node " + name_);
  if (p->arrived) {  // it came while another call was awaited
    const status s = deliver(p->reply, reply, len);
    if (s == status::ok) c.erase(p);
    return s;
  }
  for (;;) {
    // Wait in slices, so that a dead server is noticed without a reply.
    const auto slice = std::min(deadline, clock::now() + detail::peer_poll);
    std::size_t n = 0;
    const status s = c.replies_rx->receive_until(c.scratch, n, slice);
    if (s == status::ok) {
      std::uint64_t rid = 0;
      if (n < reply_header) continue;  // not a reply: dropped
      std::memcpy(&rid, c.scratch.data(), 8);
      const std::span<const std::byte> body(c.scratch.data() + reply_header, n - reply_header);
      if (rid == id) {  // ours: straight to the caller (p is still valid: nothing was added)
        const status d = deliver(body, reply, len);
        if (d == status::ok) {
          c.erase(p);
        } else {  // too_large: kept for a second await with a larger buffer
          p->arrived = true;
          p->reply.assign(body.begin(), body.end());
        }
        return d;
      }
      call_state::pending* other = c.find(rid);
      if (other == nullptr) continue;  // late: its caller gave up
      other->arrived = true;
      other->reply.assign(body.begin(), body.end());
      continue;
    }
    if (s != status::timed_out && s != status::peer_gone && s != status::would_block) {
      c.erase(p);
      return s;
    }
    if (clock::now() >= deadline) {
      c.erase(p);
      return status::timed_out;
    }
    auto pid = holder(p->server_name(), opt_.domain);
    if (!pid || *pid == 0) {
      c.erase(p);
      return status::peer_gone;
    }
  }
}

result<status> node::call(std::string_view to, std::span<const std::byte> request, std::span<std::byte> reply,
                          std::size_t& len, clock::time_point deadline) {
  std::uint64_t id = 0;
  auto s = start_call(to, request, id, deadline);
  if (!s || *s != status::ok) return s;
  auto r = await_reply(id, reply, len, deadline);
  if (r && *r == status::too_large) abandon_call(id);  // call() has no second chance
  return r;
}

void node::abandon_call(std::uint64_t id) noexcept {
  if (calls_)
    if (call_state::pending* p = calls_->find(id)) calls_->erase(p);
}

result<status> node::receive_request(std::span<std::byte> buf, std::size_t& len, incoming_call& in,
                                     clock::time_point deadline) {
  auto cs = calls();
  if (!cs) return std::move(cs).error();
  call_state& c = **cs;
  if (!c.requests) {
    auto box = mailbox::open_or_create(call_box(name_), link_options());
    if (!box) return std::move(box).error();
    auto rx = box->receiver(opt_.policy);
    if (!rx) return std::move(rx).error();
    c.requests.emplace(std::move(*box));
    c.requests_rx.emplace(std::move(*rx));
  }
  if (c.request.size() < c.requests->max_message_size()) c.request.resize(c.requests->max_message_size());
  for (;;) {
    std::size_t n = c.held;
    if (n == 0) {
      const status s = deadline == clock::time_point::min()
                           ? c.requests_rx->try_receive(c.request, n)
                           : c.requests_rx->receive_until(c.request, n, deadline);
      if (s != status::ok) return s;
    }
    c.held = 0;
    // Checked before use: the header's size, a valid caller name.
    if (n < request_header) continue;  // malformed: dropped
    const std::size_t name_len = static_cast<std::size_t>(c.request[8]);
    if (name_len == 0 || name_len > node_name_max) continue;
    const std::string_view from(reinterpret_cast<const char*>(c.request.data() + 9), name_len);
    if (!validate(from)) continue;
    len = n - request_header;
    if (len > buf.size()) {
      c.held = n;  // handed out by the next call
      return status::too_large;
    }
    std::memcpy(&in.id, c.request.data(), 8);
    in.from.assign(from);  // reuses in's buffer
    if (len != 0) std::memcpy(buf.data(), c.request.data() + request_header, len);
    return status::ok;
  }
}

result<status> node::reply_until(const incoming_call& in, std::span<const std::byte> response,
                                 clock::time_point deadline) {
  auto cs = calls();
  if (!cs) return std::move(cs).error();
  call_state& c = **cs;
  if (auto ok = validate(in.from); !ok) return ok.error();
  auto out = outbox_for(c.to_clients, in.from, reply_box, link_options(), opt_.policy);
  if (!out) return std::move(out).error();
  mailbox_sender& tx = (*out)->tx;
  if (response.size() + reply_header > tx.max_message_size()) return status::too_large;
  if (c.scratch.size() < reply_header + response.size()) c.scratch.resize(reply_header + response.size());
  std::memcpy(c.scratch.data(), &in.id, 8);
  if (!response.empty()) std::memcpy(c.scratch.data() + reply_header, response.data(), response.size());
  const std::span<const std::byte> m(c.scratch.data(), reply_header + response.size());
  return deadline == clock::time_point::min() ? tx.try_send(m) : tx.send_until(m, deadline);
}

}  // namespace ringport
