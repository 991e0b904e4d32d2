// ringport/mailbox.hpp — named mailboxes (ports): variable-length messages.
//
// A mailbox is indirect message passing: any number of sender and receiver
// processes (up to 64 live senders and 64 live receivers) share one named
// mailbox; each message is taken by exactly one receiver.
//
// Guarantees
//  - Exactly once: every message queued is received by exactly one receiver
//    (until the mailbox is removed and its last mapping closed).
//  - Per-sender order: the messages of one sender handle are taken in the
//    order it sent them; one receiver sees them in that order.
//  - No allocation, no locks, no system call while nobody waits, on the data
//    path (everything below that returns `status` is noexcept).
//  - Messages are 0..max_message_size() bytes. A longer send returns
//    status::too_large and queues nothing. A receive buffer shorter than the
//    next message returns status::too_large with the needed length and leaves
//    that message queued (nothing is lost; retry with a larger buffer).
//
// Defaults (mailbox_options): capacity 1024 messages, max_message_size 4080
// bytes (each slot is then 4096 bytes: a 16-byte header plus the payload),
// tmpfs or huge pages (pages::any), mode 0600. Limits: capacity a power of
// two from 1 to 2^32; max_message_size from 1 to 16 MiB - 16 bytes. The
// segment holds capacity * (max_message_size + 16) bytes (rounded up to 8
// per slot) plus 4 KiB of acknowledgement table.
//
// Layout: one multi-producer, multi-consumer ring (detail/ring_engine.hpp)
// of fixed slots, kind object_kind::mailbox. Slot = header {length, flags,
// ack_index, ack_gen} + payload. Every header field is read from shared
// memory once and checked (length <= max, ack_index < 64) before use; a bad
// one drops that slot and returns status::corrupt, never an out-of-bounds
// copy.
//
// Delivery
//  - delivery::async: send returns once the message is queued.
//  - delivery::sync: send returns status::ok once a receiver has taken that
//    very message. Each sender handle owns one acknowledgement word (indexed
//    by its sender role slot) in the segment's extra region:
//    word = generation << 2 | state (free 0, pending 1, taken 2). The sender
//    bumps the generation and marks it pending before queueing, then sleeps
//    on the word (shared futex). A receiver that dequeues the message CASes
//    (gen, pending) -> (gen, taken) and wakes the sender; only then does it
//    copy the message out. On its deadline (or close, or when every receiver
//    died) the sender CASes (gen, pending) -> (gen, free): a receiver that
//    later dequeues the message finds its generation no longer pending and
//    discards it silently.
//    So a sync send that returns timed_out (closed, peer_gone) guarantees that
//    its message is never delivered; one that returns ok guarantees that a
//    receiver took it. (Exactly one of the two CASes wins.) The generation
//    has 30 bits: a withdrawn message could only be mistaken for a newer one
//    after 2^30 further sync sends from the same role slot while it still
//    sits in the queue.
//  - If the sender dies before a receiver took its sync message, the message
//    is still delivered, unless a new sender took over the dead one's role
//    slot first (then it is discarded).
//
// Non-blocking calls (try_send, try_receive, try_peek, try_claim) return
// status::would_block at once when full / empty. try_send is asynchronous
// only: a synchronous send has to wait for a receiver by definition; use
// send_until(msg, deadline, delivery::sync). Timed calls take an absolute
// steady_clock deadline (_until) or a duration (_for) and never return
// timed_out before the deadline. Blocking calls wait without a deadline.
// Waits spin briefly, yield, then park on the ring's event counts (see
// detail/wait.hpp); the handle's wait_policy tunes that.
//
// Zero copy: sender claim(size) gives the slot's payload to write in place,
// then commit(n <= claimed) publishes n bytes (async or sync) or abort()
// publishes an empty slot that receivers skip (a multi-producer ring cannot
// hand a claimed slot back). Receiver try_peek()/peek_until() lends the
// message in place; release() hands the slot back (the next receive or peek
// on the handle releases it too).
//
// Handles: mailbox::sender() / mailbox::receiver() return move-only handles
// that carry the process-local engine state and hold a role slot (pid +
// process start time) in the segment for as long as they live. One handle
// per thread; a handle is not thread-safe. receiver::readable() is a
// `waitable` for wait_any() (ringport/wait.hpp). Moved-from handles may only
// be destroyed or assigned to.
//
// close(): sends fail with status::closed; receivers drain what is queued,
// then get status::closed; a sync sender still waiting withdraws its message
// and returns closed. Peer death is reported as status::peer_gone by waiting
// calls, as for rings (ring.hpp, "Peer death").
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ringport/detail/ring_engine.hpp"
#include "ringport/result.hpp"
#include "ringport/segment.hpp"
#include "ringport/status.hpp"
#include "ringport/wait.hpp"

namespace ringport {

namespace detail {
class ring_state;
}

/// When a send returns: once queued, or once a receiver took the message.
enum class delivery : std::uint8_t { async, sync };

/// Bytes of every slot's header; a slot is this plus max_message_size.
inline constexpr std::size_t mailbox_header_bytes = 16;
/// Largest max_message_size a mailbox accepts (slots are at most 16 MiB).
inline constexpr std::size_t mailbox_max_message_limit = (std::size_t{1} << 24) - mailbox_header_bytes;

struct mailbox_options {
  std::size_t capacity = 1024;                                 ///< messages; a power of two from 1 to 2^32
  std::size_t max_message_size = 4096 - mailbox_header_bytes;  ///< 1 .. mailbox_max_message_limit
  pages backing = pages::any;
  bool group_access = false;  ///< mode 0660 instead of 0600
  std::string domain;         ///< empty: RINGPORT_DOMAIN, else "default"
  /// When the name exists: fail (already_exists), open it (its sizes win,
  /// as open_or_create), or replace it when no recorded user lives (segment.hpp).
  existing if_exists = existing::fail;
};

class mailbox;

namespace detail {
/// One sender's acknowledgement word for synchronous sends (a shared futex
/// word: generation << 2 | state), alone on its cache line: its sender
/// sleeps on it while receivers CAS it.
struct alignas(cache_line) mailbox_ack {
  std::atomic<std::uint32_t> word;
};
static_assert(sizeof(mailbox_ack) == cache_line, "one acknowledgement word per cache line");

/// For observers that read a mailbox without taking a role (`ringport
/// tap`): the mailbox's validated ring state, as mailbox::open() makes it,
/// and its max_message_size in *max.
result<std::shared_ptr<ring_state>> open_mailbox_state(std::string_view name, std::string_view domain,
                                                       std::size_t& max);
/// What a receiver would make of a slot: the header is read from `copy` (a
/// private copy of the slot: nothing in it can change under the caller);
/// withdrawn sync messages are told by the live acknowledgement table of
/// `st`. valid: the header is one a sender writes (length <= max, known
/// flags, ack index in range); deliverable: valid, not an aborted claim and
/// not a withdrawn sync message; length: the payload's bytes after the header.
struct mailbox_slot_summary {
  bool valid = false;
  bool deliverable = false;
  std::size_t length = 0;
};
mailbox_slot_summary summarize_slot(const ring_state& st, const std::byte* copy, std::size_t max) noexcept;

/// A producer or consumer role slot held for as long as a handle lives.
class mailbox_role {
 public:
  mailbox_role() = default;
  mailbox_role(std::shared_ptr<ring_state> st, bool producer, std::size_t slot) noexcept;
  mailbox_role(mailbox_role&& o) noexcept;
  mailbox_role& operator=(mailbox_role&& o) noexcept;
  ~mailbox_role();
  ring_state& state() const noexcept { return *st_; }
  std::size_t slot() const noexcept { return slot_; }

 private:
  void reset() noexcept;
  std::shared_ptr<ring_state> st_;
  bool producer_ = true;
  std::size_t slot_ = ~std::size_t{0};
};
}  // namespace detail

/// Sends messages into one mailbox. Move-only; one per sending thread.
class mailbox_sender {
 public:
  using clock = std::chrono::steady_clock;
  mailbox_sender() = default;

  /// Queues msg if there is room; never waits (async delivery).
  status try_send(std::span<const std::byte> msg) noexcept;
  /// Waits for room (and, with delivery::sync, for a receiver to take it).
  status send(std::span<const std::byte> msg, delivery d = delivery::async) noexcept {
    return send_until(msg, clock::time_point::max(), d);
  }
  status send_until(std::span<const std::byte> msg, clock::time_point deadline,
                    delivery d = delivery::async) noexcept;
  template <class Rep, class Period>
  status send_for(std::span<const std::byte> msg, std::chrono::duration<Rep, Period> dur,
                  delivery d = delivery::async) noexcept {
    return send_until(msg, clock::now() + dur, d);
  }

  /// Zero copy: a slot's payload of `size` bytes to write in place (status
  /// would_block when full, too_large when size > max_message_size()).
  /// One claim may be open per handle; finish it with commit/abort (sends
  /// and further claims on the handle return would_block until then).
  status try_claim(std::size_t size, std::span<std::byte>& out) noexcept;
  status claim_until(std::size_t size, std::span<std::byte>& out, clock::time_point deadline) noexcept;
  /// Publishes the first n <= claimed bytes (too_large, and nothing
  /// published, when n exceeds the claim). With delivery::sync, waits until
  /// a receiver took it or the deadline passed (then it is never delivered).
  status commit(std::size_t n, delivery d = delivery::async,
                clock::time_point deadline = clock::time_point::max()) noexcept;
  /// Gives up the claim: publishes an empty slot that receivers skip.
  void abort() noexcept;

  std::size_t max_message_size() const noexcept { return max_; }
  wait_policy policy() const noexcept { return policy_; }
  void set_policy(wait_policy p) noexcept { policy_ = p; }
  bool valid() const noexcept { return max_ != 0; }

 private:
  friend class mailbox;
  mailbox_sender(detail::mailbox_role role, std::size_t max, wait_policy p) noexcept;
  status enqueue(std::span<const std::byte> msg, bool sync) noexcept;
  status reserve_slot() noexcept;
  void finish(std::size_t n, bool sync) noexcept;
  status await_taken(clock::time_point deadline) noexcept;

  detail::mailbox_role role_;
  detail::producer_engine<true, true> e_;
  std::atomic<std::uint32_t>* ack_ = nullptr;  // this sender's word in the shared table
  std::uint32_t ack_gen_ = 0;                  // generation of the pending sync message
  std::size_t max_ = 0;
  std::size_t claimed_ = 0;  // bytes of the open claim (with claiming_)
  bool claiming_ = false;
  wait_policy policy_ = wait_policy::adaptive;
};

/// Receives messages from one mailbox. Move-only; one per receiving thread.
class mailbox_receiver {
 public:
  using clock = std::chrono::steady_clock;
  mailbox_receiver() = default;

  /// Copies the next message into buf and sets len to its length (ok). When
  /// buf is too short: too_large, len = the length needed, message kept.
  status try_receive(std::span<std::byte> buf, std::size_t& len) noexcept;
  status receive(std::span<std::byte> buf, std::size_t& len) noexcept {
    return receive_until(buf, len, clock::time_point::max());
  }
  status receive_until(std::span<std::byte> buf, std::size_t& len, clock::time_point deadline) noexcept;
  template <class Rep, class Period>
  status receive_for(std::span<std::byte> buf, std::size_t& len,
                     std::chrono::duration<Rep, Period> d) noexcept {
    return receive_until(buf, len, clock::now() + d);
  }

  /// Zero copy: lends the next message in place until release() (or the
  /// next receive/peek on this handle). The view stays valid until then.
  status try_peek(std::span<const std::byte>& msg) noexcept;
  status peek_until(std::span<const std::byte>& msg, clock::time_point deadline) noexcept;
  void release() noexcept;
  /// Takes and discards, undelivered, the messages queued before this call
  /// (up to the producers' position it reads first; messages sent after that
  /// stay queued); returns how many positions it dropped. A sync sender
  /// still waiting for a dropped message gets timed_out (or closed,
  /// peer_gone) as for a message nobody took: it was never delivered. Used
  /// by node::join for a dead predecessor's stale messages (node.hpp).
  std::size_t drop_queued() noexcept;

  /// For wait_any(): ready when a message is queued or the mailbox closed.
  waitable readable() const noexcept;

  std::size_t max_message_size() const noexcept { return max_; }
  wait_policy policy() const noexcept { return policy_; }
  void set_policy(wait_policy p) noexcept { policy_ = p; }
  bool valid() const noexcept { return max_ != 0; }

 private:
  friend class mailbox;
  mailbox_receiver(detail::mailbox_role role, std::size_t max, wait_policy p) noexcept;
  status take(std::span<std::byte>* buf, std::size_t& len, std::span<const std::byte>* view) noexcept;
  status empty_status() noexcept;
  static bool ready(const void* self) noexcept;
  static void idle(const void* self) noexcept;

  detail::mailbox_role role_;
  detail::consumer_engine<true, true> e_;
  detail::mailbox_ack* acks_ = nullptr;  // the shared acknowledgement table (max_roles words)
  std::size_t max_ = 0;
  wait_policy policy_ = wait_policy::adaptive;
};

class mailbox {
 public:
  mailbox() = default;

  /// A new mailbox (errc::already_exists if the name is taken;
  /// errc::invalid_argument for a bad capacity or message size).
  static result<mailbox> create(std::string_view name, const mailbox_options& opt = {});
  /// Opens an existing mailbox; its capacity and sizes come from the segment.
  static result<mailbox> open(std::string_view name, std::string_view domain = {});
  /// open(), retrying while the name does not exist until `deadline` (then
  /// errc::not_found); other errors return at once.
  static result<mailbox> open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                   std::string_view domain = {});
  /// create(), or open() when the name exists (then opt's sizes are ignored).
  static result<mailbox> open_or_create(std::string_view name, const mailbox_options& opt = {});
  static result<void> remove(std::string_view name, std::string_view domain = {});

  /// A sending handle (errc::too_many_roles beyond 64 live senders).
  result<mailbox_sender> sender(wait_policy p = wait_policy::adaptive) const;
  /// A receiving handle (errc::too_many_roles beyond 64 live receivers).
  result<mailbox_receiver> receiver(wait_policy p = wait_policy::adaptive) const;

  /// Closes the mailbox for every process: sends fail, receives drain.
  void close() const noexcept;
  bool closed() const noexcept;
  /// Who holds sender (producers_*) and receiver (consumers_*) roles now.
  peer_counts peers() const noexcept;
  std::size_t capacity() const noexcept;
  std::size_t max_message_size() const noexcept { return max_; }
  /// Messages queued; an estimate while others send or receive.
  std::size_t size() const noexcept;
  const segment_info& info() const noexcept;
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  mailbox(std::shared_ptr<detail::ring_state> st, std::size_t max) : st_(std::move(st)), max_(max) {}
  std::shared_ptr<detail::ring_state> st_;
  std::size_t max_ = 0;
};

}  // namespace ringport
