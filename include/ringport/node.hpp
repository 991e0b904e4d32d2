// ringport/node.hpp — direct message passing between named processes.
//
// node::join("P") registers this process as node P of a domain; then
// send("Q", msg) / receive("Q", buf, len) / receive_any(buf, len, from) move
// messages directly between named nodes.
//
// Names: node names are 1..29 characters of [A-Za-z0-9_-] (no '.'), so that
// a link's segment name "link.<from>.<to>" stays within the 64-character
// segment name limit and is unambiguous. A node's own segment is
// "node.<name>".
//
// Registration: the node segment holds an owner word (pid + process start
// time, as ring role slots do). join() refuses a name held by a live process
// (errc::already_exists; also within the same process) and takes over a name
// whose owner died (killed, crashed, exited without leaving). leave() or the
// destructor gives the name up. The segment itself stays (it is tiny).
//
// Links: the link for the ordered pair P -> Q is a mailbox named
// "link.P.Q", created on first use by either side with open_or_create:
// segment creation is exclusive (O_EXCL under the domain's flock), so there is
// exactly one link per ordered pair even when both sides start at once. Its
// capacity and maximum message size come from the options of whichever side
// created it (defaults: 256 messages of up to 4080 bytes, 1 MiB per link).
// Links outlive the nodes: messages queued for a node that left (leave() or
// the destructor) wait for the next process that joins under its name.
// Remove them with mailbox::remove or `ringport rm`.
//
// Restarts: join() opens every existing inbound link ("link.<x>.<name>") and
// attaches its receiver at once. When it takes the name over from a holder
// that died (without leaving), the messages queued on those links at that
// moment were meant for the dead process: they are dropped, undelivered
// (mailbox_receiver::drop_queued), unless node_options::deliver_stale asks
// for them. Messages sent after the takeover are delivered as usual. (So a
// message sent to a node while it is dead and not yet replaced is dropped
// too: a sender that must not lose it sends sync and retries on peer_gone.)
//
// peer_gone for node sends: a send to node Q waits on Q's receiver of the
// link. It returns status::peer_gone only when every receiver the link
// recorded is dead and no live process holds node Q: nobody can take the
// message now. While a live process holds Q (a successor that has joined,
// whose receiver is about to attach), a dead predecessor's role does not
// count: the send waits on (the withdrawn message is sent again, never
// twice: a withdrawn sync message is never delivered), up to its deadline.
// A send to a node that never joined, or whose holder left cleanly, waits
// for a receiver as for any mailbox (no dead receiver: no peer_gone).
//
// Guarantees: those of mailbox.hpp, per link: exactly once, per-sender order,
// async (queued) or sync (taken by the receiver) delivery. A sync send that
// returns timed_out (closed, peer_gone) guarantees its message is never
// delivered; one that returns ok guarantees Q's receive took it.
//
// receive_any() waits on every inbound link at once with wait_any() (at most
// wait_any_max - 1 = 127 senders are waited on; more are still polled). It
// learns of new inbound links through a "links generation" counter in the
// node segment that a sender bumps (and rings a doorbell event count) after
// it created or opened a link to this node: the domain is rescanned only when
// that counter changed, never on every call. Inbound links are served
// round-robin, so one busy sender cannot starve the others.
//
// Calls: try_ (never waits), blocking, _until (absolute steady_clock
// deadline), _for. Sends take a delivery (async by default); try_send is
// async only, because a sync send has to wait for the receiver. Every call
// returns result<status>: an error only when setting up a link failed (the
// first call for a peer: creating or opening its mailbox, which allocates);
// afterwards calls on that link neither allocate nor fail with an error.
//
// A node is one process's identity, not thread-safe: use it from one thread
// (or lock around it). Moving a node is fine; moved-from nodes may only be
// destroyed or assigned to.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringport/mailbox.hpp"
#include "ringport/result.hpp"
#include "ringport/segment.hpp"
#include "ringport/status.hpp"
#include "ringport/wait.hpp"

namespace ringport {

/// Longest node name (so that "link.<from>.<to>" fits in 64 characters).
inline constexpr std::size_t node_name_max = 29;

struct node_options {
  std::string domain;                                          ///< empty: RINGPORT_DOMAIN, else "default"
  std::size_t link_capacity = 256;                             ///< messages per link this node creates
  std::size_t max_message_size = 4096 - mailbox_header_bytes;  ///< for links this node creates
  pages backing = pages::any;                                  ///< for links this node creates
  bool group_access = false;
  wait_policy policy = wait_policy::adaptive;
  /// On taking the name over from a dead holder: deliver the messages it
  /// left queued (true) instead of dropping them (default; see "Restarts").
  bool deliver_stale = false;
};

namespace detail {
struct node_shared;
}

/// The common path of a node call in one check: true when the call set up
/// its link (no error) and returned status::ok. On false, look at
/// r.error() (set-up failed) or *r (the data-path status), or use
/// status_of().
inline bool ok(const result<status>& r) noexcept {
  return r.has_value() && *r == status::ok;
}
/// The status of a node call when its link was set up, else `on_error`
/// (for a loop that branches on statuses only, e.g. treating a failed set-up
/// as status::peer_gone).
inline status status_of(const result<status>& r, status on_error) noexcept {
  return r.has_value() ? *r : on_error;
}
/// A request as receive_request() hands it to the server: reply with reply().
struct incoming_call {
  std::uint64_t id = 0;  ///< correlation id, unique per calling node incarnation
  std::string from;      ///< the calling node
};

class node {
 public:
  using clock = std::chrono::steady_clock;

  node() = default;
  node(node&& o) noexcept;
  node& operator=(node&& o) noexcept;
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node();

  /// Registers this process as node `name` (see the header comment).
  static result<node> join(std::string_view name, const node_options& opt = {});
  /// Gives the name up (also done by the destructor). Links stay.
  void leave() noexcept;
  const std::string& name() const noexcept { return name_; }
  bool joined() const noexcept { return sh_ != nullptr; }

  /// The mailbox name of the link from -> to ("link.<from>.<to>").
  static std::string link_name(std::string_view from, std::string_view to);
  /// The pid of the live process holding node `name`, 0 when nobody does.
  static result<std::uint32_t> holder(std::string_view name, std::string_view domain = {});
  /// Waits for node `name` to appear: holder(), retried until a live process
  /// holds the name or `deadline` passes (then 0). Pacing as segment.hpp's
  /// open_wait(); errors other than "no such node yet" return at once.
  static result<std::uint32_t> holder_until(std::string_view name, clock::time_point deadline,
                                            std::string_view domain = {});
  /// Checks a node name against the rules above.
  static result<void> validate(std::string_view name);

  // --- direct sends: to node `to`
  result<status> try_send(std::string_view to, std::span<const std::byte> msg);
  result<status> send(std::string_view to, std::span<const std::byte> msg, delivery d = delivery::async) {
    return send_until(to, msg, clock::time_point::max(), d);
  }
  result<status> send_until(std::string_view to, std::span<const std::byte> msg, clock::time_point deadline,
                            delivery d = delivery::async);
  template <class Rep, class Period>
  result<status> send_for(std::string_view to, std::span<const std::byte> msg,
                          std::chrono::duration<Rep, Period> dur, delivery d = delivery::async) {
    return send_until(to, msg, clock::now() + dur, d);
  }

  /// Typed sends: the sizeof(T) bytes of v (mailbox.hpp, message_value).
  template <message_value T>
  result<status> try_send(std::string_view to, const T& v) {
    return try_send(to, std::span<const std::byte>(value_bytes(v)));
  }
  template <message_value T>
  result<status> send(std::string_view to, const T& v, delivery d = delivery::async) {
    return send_until(to, std::span<const std::byte>(value_bytes(v)), clock::time_point::max(), d);
  }
  template <message_value T>
  result<status> send_until(std::string_view to, const T& v, clock::time_point deadline,
                            delivery d = delivery::async) {
    return send_until(to, std::span<const std::byte>(value_bytes(v)), deadline, d);
  }
  template <message_value T, class Rep, class Period>
  result<status> send_for(std::string_view to, const T& v, std::chrono::duration<Rep, Period> dur,
                          delivery d = delivery::async) {
    return send_until(to, std::span<const std::byte>(value_bytes(v)), clock::now() + dur, d);
  }

  // --- receives from one node `from` (len: as mailbox_receiver)
  result<status> try_receive(std::string_view from, std::span<std::byte> buf, std::size_t& len);
  result<status> receive(std::string_view from, std::span<std::byte> buf, std::size_t& len) {
    return receive_until(from, buf, len, clock::time_point::max());
  }
  result<status> receive_until(std::string_view from, std::span<std::byte> buf, std::size_t& len,
                               clock::time_point deadline);
  template <class Rep, class Period>
  result<status> receive_for(std::string_view from, std::span<std::byte> buf, std::size_t& len,
                             std::chrono::duration<Rep, Period> dur) {
    return receive_until(from, buf, len, clock::now() + dur);
  }

  /// Typed receives: a message of exactly sizeof(T) bytes into v; another
  /// length gives status::wrong_size and stays queued (mailbox.hpp).
  template <message_value T>
  result<status> try_receive(std::string_view from, T& v) {
    return receive_exact(from, value_bytes(v), nullptr);
  }
  template <message_value T>
  result<status> receive(std::string_view from, T& v) {
    const auto forever = clock::time_point::max();
    return receive_exact(from, value_bytes(v), &forever);
  }
  template <message_value T>
  result<status> receive_until(std::string_view from, T& v, clock::time_point deadline) {
    return receive_exact(from, value_bytes(v), &deadline);
  }
  template <message_value T, class Rep, class Period>
  result<status> receive_for(std::string_view from, T& v, std::chrono::duration<Rep, Period> dur) {
    return receive_until(from, v, clock::now() + dur);
  }

  // --- receives from any node; `from` names the sender (valid while this
  // node lives).
  result<status> try_receive_any(std::span<std::byte> buf, std::size_t& len, std::string_view& from);
  result<status> receive_any(std::span<std::byte> buf, std::size_t& len, std::string_view& from) {
    return receive_any_until(buf, len, from, clock::time_point::max());
  }
  result<status> receive_any_until(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                                   clock::time_point deadline);
  template <class Rep, class Period>
  result<status> receive_any_for(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                                 std::chrono::duration<Rep, Period> dur) {
    return receive_any_until(buf, len, from, clock::now() + dur);
  }
  /// Typed: as receive(from, T&), from whichever node sent first.
  template <message_value T>
  result<status> try_receive_any(T& v, std::string_view& from) {
    std::size_t len = 0;
    return receive_any_impl(value_bytes(v), len, from, nullptr, true);
  }
  template <message_value T>
  result<status> receive_any(T& v, std::string_view& from) {
    return receive_any_until(v, from, clock::time_point::max());
  }
  template <message_value T>
  result<status> receive_any_until(T& v, std::string_view& from, clock::time_point deadline) {
    std::size_t len = 0;
    return receive_any_impl(value_bytes(v), len, from, &deadline, true);
  }
  template <message_value T, class Rep, class Period>
  result<status> receive_any_for(T& v, std::string_view& from, std::chrono::duration<Rep, Period> dur) {
    return receive_any_until(v, from, clock::now() + dur);
  }

  // --- request–response (runtime/node_call.cpp). Requests travel over the
  // mailbox "call.<server>", replies over "reply.<client>" (made on first
  // use by either side, with this node's link options). Each call carries a
  // 64-bit correlation id, strictly increasing per node (seeded from the
  // steady clock at the first call, so a later incarnation of the same name
  // never reuses one). A reply whose id is not outstanding (its caller timed
  // out, abandoned it, or died) is dropped, never delivered to another call.
  // Several calls may be outstanding: start_call() then await_reply() in any
  // order (replies for other outstanding calls are kept for them). A caller
  // waiting on a server that no live process holds (it died, or never
  // joined) gets peer_gone within about 50 ms (detail::peer_poll); else
  // timed_out at the deadline. Requests hold up to max_message_size - 40
  // bytes, replies max_message_size - 8. Not thread-safe, like the node.
  result<status> call(std::string_view to, std::span<const std::byte> request, std::span<std::byte> reply,
                      std::size_t& len, clock::time_point deadline);
  template <class Rep, class Period>
  result<status> call_for(std::string_view to, std::span<const std::byte> request, std::span<std::byte> reply,
                          std::size_t& len, std::chrono::duration<Rep, Period> dur) {
    return call(to, request, reply, len, clock::now() + dur);
  }
  /// Sends a request (waiting for room until deadline); id: its correlation id.
  result<status> start_call(std::string_view to, std::span<const std::byte> request, std::uint64_t& id,
                            clock::time_point deadline = clock::time_point::max());
  /// Waits for the reply of call `id` (ok: len bytes in reply; too_large:
  /// len needed, the reply kept). timed_out / peer_gone end the call: its
  /// reply, should it come later, is dropped.
  result<status> await_reply(std::uint64_t id, std::span<std::byte> reply, std::size_t& len,
                             clock::time_point deadline);
  /// Forgets call `id`: its reply will be dropped.
  void abandon_call(std::uint64_t id) noexcept;
  /// Server side: the next request to this node (too_large: len needed, kept).
  result<status> receive_request(std::span<std::byte> buf, std::size_t& len, incoming_call& c,
                                 clock::time_point deadline = clock::time_point::max());
  result<status> try_receive_request(std::span<std::byte> buf, std::size_t& len, incoming_call& c) {
    return receive_request(buf, len, c, clock::time_point::min());
  }
  /// Replies to c without waiting (would_block: the caller's reply mailbox
  /// is full, the reply is not sent); reply_until() waits for room.
  result<status> reply(const incoming_call& c, std::span<const std::byte> response) {
    return reply_until(c, response, clock::time_point::min());
  }
  result<status> reply_until(const incoming_call& c, std::span<const std::byte> response,
                             clock::time_point deadline);

 private:
  struct call_state;
  struct call_state_deleter {
    void operator()(call_state* p) const noexcept;
  };
  result<call_state*> calls();
  std::unique_ptr<call_state, call_state_deleter> calls_;

  struct link_out {
    mailbox box;
    mailbox_sender tx;
  };
  struct link_in {
    std::string peer;
    mailbox box;
    mailbox_receiver rx;
  };
  result<link_out*> outbound(std::string_view to);
  result<link_in*> inbound(std::string_view from);
  result<link_in*> add_inbound(std::string_view from, mailbox box);
  result<void> refresh_inbound();
  status poll_inbound(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                      bool exact = false) noexcept;
  // The typed receives: deadline null for a try_ call.
  result<status> receive_exact(std::string_view from, std::span<std::byte> v,
                               const clock::time_point* deadline);
  result<status> receive_any_impl(std::span<std::byte> buf, std::size_t& len, std::string_view& from,
                                  const clock::time_point* deadline, bool exact);
  mailbox_options link_options() const;
  static bool doorbell_ready(const void* self) noexcept;

  std::string name_;
  node_options opt_;
  segment seg_;
  detail::node_shared* sh_ = nullptr;
  detail::doorbell_site* bells_ = nullptr;  // the domain's doorbells (for wait_any)
  std::uint64_t owner_ = 0;
  std::map<std::string, link_out, std::less<>> out_;
  std::map<std::string, std::unique_ptr<link_in>, std::less<>> in_;
  std::vector<link_in*> in_order_;  // round-robin order of in_
  std::vector<waitable> targets_;   // scratch for receive_any (no allocation once sized)
  std::size_t next_ = 0;            // round-robin start
  std::uint32_t seen_gen_ = 0;      // links generation of the last scan
  bool scanned_ = false;
};

}  // namespace ringport
