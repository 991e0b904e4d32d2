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

 private:
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
  status poll_inbound(std::span<std::byte> buf, std::size_t& len, std::string_view& from) noexcept;
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
