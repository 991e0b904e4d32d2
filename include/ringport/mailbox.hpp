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
//    status::too_large and queues nothing (the stream calls below carry
//    messages of any length). A receive buffer shorter than the
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
// copy. The ring's extra region holds the acknowledgement table (one cache
// line per sender slot: its ack word and `sending` flag), the stream gates
// (mailbox_streams), and, on a rendezvous only, the meeting point
// (mailbox_meeting); its length, in the ring's geometry, tells the two
// kinds apart on open.
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
// Streams: send_stream / receive_stream / read move a message of any length
// (below 2^56 bytes) through a mailbox of any capacity: a message longer
// than max_message_size() is cut into fragments of max_message_size() bytes
// that the sender writes as slots free up (back-pressure: a 2 GB message
// through a 1 GB mailbox waits for the receiver to take the first 1 GB); the
// receiver reassembles it (receive_stream) or reads it piece by piece
// (read(), never holding the whole message). A message that fits one slot
// is a plain message (any receive takes it).
//  - Fragment headers: flags stream (+ first / last); the first carries the
//    total length and the sender slot, later ones the sender slot and their
//    index (or, on a synchronous last one, its acknowledgement generation).
//  - The writer gate (mailbox_streams::writer) keeps one message's
//    fragments contiguous in the ring: a stream sender takes it, then waits
//    until no plain send is between its gate check and its publish (each
//    sender's `sending` flag; D-ENTER / D-GATE in runtime/mailbox_stream.cpp);
//    other sends (plain or stream) wait meanwhile. So streams serialise the
//    mailbox's senders for their duration, and a plain send costs one more
//    seq_cst store and load, on its own cache line and a read-mostly one.
//  - The reader gate gives a message's fragments to one receiver: only its
//    holder takes fragments; a plain receive that meets a first fragment
//    returns status::wrong_size with the whole length (message kept queued:
//    take it with receive_stream or read), and one that meets a
//    continuation waits behind it.
//  - Exactly once and per-sender order hold for whole messages, as above.
//  - Broken messages are never delivered whole: when the writer died (its
//    gate holder is dead at a peer poll), gave up (deadline, fill returned
//    false: it frees the gate with fragments missing), or a synchronous last
//    fragment was withdrawn, or a fragment is missing (a dead reader's), the
//    reader gets status::abandoned and mailbox::streams_dropped() counts it
//    (ringport stat shows it). The fragments of a message whose reader died
//    are taken and dropped (counted) by the next receiver that finds them.
//    A dead holder's gate is freed by the next process that needs it.
//  - delivery::sync: send_stream returns ok once a receiver took the last
//    fragment (so the whole message); timed_out: never delivered whole.
//  - try_send_stream writes only if every fragment fits now; a deadline
//    that passes midway gives the message up (timed_out; it is dropped).
//
// Zero capacity (rendezvous): mailbox_options{.capacity = 0}. Sender and
// receiver meet; nothing is buffered. Every send is synchronous whatever
// its `delivery` (commit too): it returns ok only once a receiver took the
// message. A sender first waits until a receiver waits (senders sleep on
// the meeting point's `arrivals` word, which a receiver bumps as it starts
// waiting), then places the message in the one slot of the ring and waits
// for the acknowledgement as above; on its deadline (close, receivers'
// death) it withdraws it: never delivered, and the next receive discards
// the withdrawn slot. try_send succeeds only when a receiver is waiting at
// that moment (else would_block at once); it then allows the receiver
// rendezvous_grace to take the message, else withdraws it (would_block).
// try_receive takes a message placed for a waiting receiver, or, when a
// sender waits, waits up to rendezvous_grace for it. A receiver counts as
// waiting in receive/receive_until/peek_until (not in wait_any on
// readable()). Crashes: a receiver killed while waiting leaves its bit set
// until its slot is reused: a sender may then place a message for it and
// waits for another receiver (or returns peer_gone when every receiver is
// dead); a sender killed after placing its message still has it delivered.
// The acknowledgement protocol is the one above, so the model check of
// detail/mailbox_ack.hpp covers it.
//
// Automatic buffering: mailbox_options{.capacity = automatic_buffering,
// .max_bytes = N}. The mailbox starts small (at most 16 slots) and, when a
// sender finds it full, grows by chaining a further mailbox twice the size
// (generations NAME.g1, NAME.g2 ...; every process maps them on demand), as
// long as the newest generation's slots stay within max_bytes; then sends
// wait as on a bounded mailbox. It shrinks back: a sender whose last 64
// sends each found the newest generation empty chains one at the head's
// size. Drained older generations are unlinked; generation numbers only
// count up. One FIFO per sender and exactly once hold across growth and
// shrinking; a handle opened before either follows it at its next call.
// capacity() is the newest generation's. Streams stay in one generation
// (they do not grow it); drop_queued() and release() act on the generation
// the receiver reads now. readable() (for wait_any) is ready when that
// generation is readable or the receiver may move on to a newer one; it
// parks on the head, so it stays valid for the receiver's life. A NAME.gN
// that is not one of the chain's own generations (a mailbox of yours named
// so) is never used nor removed. The protocol and its correctness
// argument: runtime/mailbox_auto.cpp.
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
// Keeping receivers: a receiver killed while it holds a message (between
// its claim and the release: a lent peek, or a receive cut short) loses it
// (counted in ringport stat's "held by dead receivers"), unless it is a
// keeping receiver, mailbox::keeping_receiver(tag). Then survivors leave
// that slot alone, and the next keeping_receiver(tag) with the same tag
// takes over the dead holder's role slot and delivers the held message
// first (its next receive or peek), at the same position(), so per-sender
// order holds when it is the mailbox's only receiver. For a process that
// journals what it receives (ringport bridge out): record position() with
// the message, and on inheriting a message already recorded just release
// it. Until a successor comes, the held slot stays taken: after one lap
// senders see a full mailbox. Limits: a stream fragment held so is
// dropped (streams are not kept); a synchronous message whose keeper died
// between dequeuing it and acknowledging it, and whose sender withdrew it
// meanwhile, is still delivered once; when a second receiver died in the
// same instant with a claim record over the same position, the message is
// dropped (counted) as before. The protocol: detail/ring_recovery.hpp,
// "Kept claims"; model-checked in tests/model/ring_model.cpp.
//
// Keeping senders: a sender killed after claiming a slot and before
// publishing it normally has its claim voided by a survivor (a receiver
// that waits at it), so nobody can later tell whether that message was
// published. A keeping sender, mailbox::keeping_sender(tag), is left alone
// instead: receivers wait at its claim until the next keeping_sender(tag)
// takes over its role slot and settles it (settle_inherited(): voided,
// with its position). A process that records position() after claiming
// and before commit (ringport bridge in) so knows after a crash whether
// the recorded message was delivered: voided, it was not; otherwise it was.
// Until a successor comes, receivers see nothing past the claim.
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
// and returns closed. reopen() opens a closed mailbox again in place with
// what is queued, as ring::reopen(): a sync sender still waiting when it
// sees the mailbox open again goes on waiting for its acknowledgement.
// There is no reset(): the acknowledgement words, stream table and
// rendezvous meeting after the ring have protocols of their own (see
// detail/mailbox_ack.hpp); start afresh with if_exists::replace. Peer death is reported as status::peer_gone
// by waiting calls, as for rings (ring.hpp, "Peer death").
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ringport/detail/ring_engine.hpp"
#include "ringport/result.hpp"
#include "ringport/segment.hpp"
#include "ringport/status.hpp"
#include "ringport/wait.hpp"

namespace ringport {

namespace mbx {
struct slot_header;  // runtime/mailbox_slots.hpp
}  // namespace mbx
namespace detail {
class ring_state;
struct chain_link;
class chain_tx;
class chain_rx;
}  // namespace detail

/// When a send returns: once queued, or once a receiver took the message.
enum class delivery : std::uint8_t { async, sync };

/// Bytes of every slot's header; a slot is this plus max_message_size.
inline constexpr std::size_t mailbox_header_bytes = 16;
/// How long try_send / try_receive on a rendezvous give the other side to
/// complete a meeting it announced ("Zero capacity").
inline constexpr std::chrono::milliseconds rendezvous_grace{20};
/// Largest max_message_size a mailbox accepts (slots are at most 16 MiB).
inline constexpr std::size_t mailbox_max_message_limit = (std::size_t{1} << 24) - mailbox_header_bytes;

/// mailbox_options::capacity for automatic buffering ("Automatic
/// buffering" above): the mailbox sizes its buffer itself, up to max_bytes.
inline constexpr std::size_t automatic_buffering = ~std::size_t{0};

struct mailbox_options {
  /// Messages; a power of two from 1 to 2^32, 0 for a rendezvous ("Zero
  /// capacity" above), or `automatic_buffering`.
  std::size_t capacity = 1024;
  std::size_t max_message_size = 4096 - mailbox_header_bytes;  ///< 1 .. mailbox_max_message_limit
  pages backing = pages::any;
  bool group_access = false;  ///< mode 0660 instead of 0600
  std::string domain;         ///< empty: RINGPORT_DOMAIN, else "default"
  /// When the name exists: fail (already_exists), open it (its sizes win,
  /// as open_or_create), or replace it when no recorded user lives (segment.hpp).
  existing if_exists = existing::fail;
  /// automatic only: the largest buffer, in bytes of slots (a slot is
  /// max_message_size + 16 bytes, rounded up to 8); at least one slot.
  std::uint64_t max_bytes = 0;
};

class mailbox;

namespace detail {
template <class T>
inline constexpr bool is_std_array = false;
template <class U, std::size_t N>
inline constexpr bool is_std_array<std::array<U, N>> = true;
/// A view (string_view, span...): trivially copyable, but only a pointer
/// to bytes that would not travel.
template <class T>
concept view_like = !is_std_array<T> && requires(const T& v) {
  v.data();
  v.size();
};
}  // namespace detail

/// A type the typed calls (send(const T&), receive(T&)) move as its bytes:
/// trivially copyable, and neither a pointer nor a view (their target would
/// not travel; a byte span is the untyped call). A struct holding pointers
/// passes this check but is the caller's mistake, as with memcpy.
template <class T>
concept message_value = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !detail::view_like<T> &&
                        !std::is_convertible_v<const T&, std::span<const std::byte>>;

/// The bytes of a typed message, to send or to receive into.
template <message_value T>
std::span<const std::byte, sizeof(T)> value_bytes(const T& v) noexcept {
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}
template <message_value T>
std::span<std::byte, sizeof(T)> value_bytes(T& v) noexcept {
  return std::as_writable_bytes(std::span<T, 1>(&v, 1));
}

namespace detail {
/// One sender's acknowledgement word for synchronous sends (a shared futex
/// word: generation << 2 | state), alone on its cache line: its sender
/// sleeps on it while receivers CAS it.
struct alignas(cache_line) mailbox_ack {
  std::atomic<std::uint32_t> word;
  /// 1 while this sender queues a message (between its check of the stream
  /// writer gate and its publish): a stream waits for these to clear.
  std::atomic<std::uint32_t> sending;
};
static_assert(sizeof(mailbox_ack) == cache_line, "one acknowledgement word per cache line");

/// The stream gates ("Streams"), one cache line after the acknowledgement
/// table. Gate words are 0 (free) or 1 + the role slot holding them, and
/// futex words their waiters sleep on; a dead holder's gate is freed by
/// whoever needs it.
struct alignas(cache_line) mailbox_streams {
  std::atomic<std::uint32_t> writer;   ///< the sender writing a stream message's fragments
  std::atomic<std::uint32_t> reader;   ///< the receiver reading one
  std::atomic<std::uint64_t> dropped;  ///< stream messages dropped incomplete (sender died or gave up...)
};
static_assert(sizeof(mailbox_streams) == cache_line, "the stream gates are one cache line");

/// Where the senders and receivers of a zero-capacity mailbox meet (its own
/// cache line after the acknowledgement table; only rendezvous mailboxes
/// have it). Bits are indexed by role slot and cleared by the next holder
/// of a slot whose holder died.
struct alignas(cache_line) mailbox_meeting {
  std::atomic<std::uint64_t> receivers;  ///< bit i: receiver slot i waits in a receive
  std::atomic<std::uint64_t> senders;    ///< bit i: sender slot i waits for a receiver
  std::atomic<std::uint32_t> arrivals;   ///< futex word senders sleep on: bumped as a receiver starts waiting
};
static_assert(sizeof(mailbox_meeting) == cache_line, "the meeting point is one cache line");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared words must be lock-free");

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

/// Test hook, null in use: an automatic mailbox's sender calls it between
/// its look at the newest generation and its send there (S-LOOK, S-SEND in
/// runtime/mailbox_auto.cpp), so that a test can widen that window.
extern std::atomic<void (*)()> auto_send_hook;
/// Test hook, null in use: called by the creator of a new generation
/// between the segment's appearance and its tag (runtime/mailbox_auto.cpp,
/// "Growing"), so that a test can kill a grower there.
extern std::atomic<void (*)()> auto_grow_hook;

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
  bool held() const noexcept { return st_ != nullptr; }

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

  /// Typed: sends the sizeof(T) bytes of v (too_large if that exceeds
  /// max_message_size()). Receive it with mailbox_receiver::receive(T&).
  template <message_value T>
  status try_send(const T& v) noexcept {
    return try_send(std::span<const std::byte>(value_bytes(v)));
  }
  template <message_value T>
  status send(const T& v, delivery d = delivery::async) noexcept {
    return send_until(std::span<const std::byte>(value_bytes(v)), clock::time_point::max(), d);
  }
  template <message_value T>
  status send_until(const T& v, clock::time_point deadline, delivery d = delivery::async) noexcept {
    return send_until(std::span<const std::byte>(value_bytes(v)), deadline, d);
  }
  template <message_value T, class Rep, class Period>
  status send_for(const T& v, std::chrono::duration<Rep, Period> dur, delivery d = delivery::async) noexcept {
    return send_until(std::span<const std::byte>(value_bytes(v)), clock::now() + dur, d);
  }

  /// Streams ("Streams" above): a message of any length (below 2^56 bytes)
  /// through a mailbox of any capacity, written in fragments as slots free
  /// up. try_send_stream writes only when every fragment fits now.
  status try_send_stream(std::span<const std::byte> msg) noexcept;
  status send_stream(std::span<const std::byte> msg, delivery d = delivery::async) noexcept {
    return send_stream_until(msg, clock::time_point::max(), d);
  }
  status send_stream_until(std::span<const std::byte> msg, clock::time_point deadline,
                           delivery d = delivery::async) noexcept;
  /// The same for `size` bytes made as they are needed: fill(std::span<
  /// std::byte> out) writes out.size() bytes in place (fragment by fragment,
  /// in order) and returns true; false gives the message up (abandoned).
  template <class Fill>
  status send_stream_until(std::uint64_t size, Fill&& fill, clock::time_point deadline,
                           delivery d = delivery::async) noexcept {
    using F = std::remove_reference_t<Fill>;
    const stream_source src{&fill, [](void* f, std::span<std::byte> out) noexcept {
                              return static_cast<bool>((*static_cast<F*>(f))(out));
                            }};
    return stream_out(size, src, deadline, d, false);
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

  /// The mailbox position (see mailbox_receiver::position()) of the slot
  /// this handle last claimed or sent: between claim and commit, the
  /// position the message will have.
  std::uint64_t position() const noexcept { return e_.pos(); }
  /// A keeping sender ("Keeping senders" above) that took over a dead
  /// keeper's slot: settles what that keeper had claimed and not
  /// published. It voids it (receivers skip it: never delivered) and sets
  /// `voided` to its position; nullopt when the keeper held nothing
  /// unpublished (every message it claimed was published). would_block
  /// while another live sender's claim record covers that position: call
  /// again. ok at once when there is nothing (left) to settle. The first
  /// send or claim on the handle does it too (would_block meanwhile).
  status settle_inherited(std::optional<std::uint64_t>& voided) noexcept;
  /// Whether settle_inherited() still has something to settle.
  bool inherits() const noexcept { return inherits_; }

  std::size_t max_message_size() const noexcept { return max_; }
  wait_policy policy() const noexcept { return policy_; }
  void set_policy(wait_policy p) noexcept { policy_ = p; }
  /// False for a handle default-constructed or moved from: it holds no role and its
  /// calls fail without reaching the mailbox (closed; too_large for a message longer
  /// than a default handle's max_message_size() of 0).
  bool valid() const noexcept { return max_ != 0 && (role_.held() || auto_); }

 private:
  friend class mailbox;
  friend class detail::chain_tx;
  mailbox_sender(detail::mailbox_role role, std::size_t max, wait_policy p,
                 detail::mailbox_meeting* meet) noexcept;
  status send_room(std::span<const std::byte> msg, bool wait, clock::time_point deadline, bool sync) noexcept;
  status enqueue(std::span<const std::byte> msg, bool sync) noexcept;
  status meet_until(std::span<const std::byte> msg, clock::time_point deadline, bool try_only) noexcept;
  struct stream_source {
    void* ctx;
    bool (*fill)(void* ctx, std::span<std::byte> out) noexcept;
  };
  status stream_out(std::uint64_t size, stream_source src, clock::time_point deadline, delivery d,
                    bool try_only) noexcept;
  status reserve_fragment(clock::time_point deadline, bool try_only) noexcept;
  status acquire_writer(clock::time_point deadline, bool try_only) noexcept;
  status await_plain_senders(clock::time_point deadline) noexcept;
  void release_writer() noexcept;
  void clear_dead_writer() noexcept;
  bool enter() noexcept;
  void leave() noexcept;
  status await_receiver(clock::time_point deadline, bool try_only) noexcept;
  status reserve_slot() noexcept;
  bool settled_first() noexcept;
  void finish(std::size_t n, bool sync) noexcept;
  status await_taken(clock::time_point deadline) noexcept;
  void chain_wake() noexcept;

  bool inherits_ = false;  // a keeping sender with a dead keeper's claims to settle
  detail::mailbox_role role_;
  detail::producer_engine<true, true> e_;
  std::atomic<std::uint32_t>* ack_ = nullptr;  // this sender's word in the shared table
  detail::mailbox_meeting* meet_ = nullptr;    // rendezvous mailboxes only
  detail::mailbox_ack* line_ = nullptr;        // this sender's line (ack word, sending flag)
  detail::mailbox_streams* streams_ = nullptr;
  std::uint32_t ack_gen_ = 0;  // generation of the pending sync message
  std::size_t max_ = 0;
  std::size_t claimed_ = 0;  // bytes of the open claim (with claiming_)
  bool claiming_ = false;
  wait_policy policy_ = wait_policy::adaptive;
  std::shared_ptr<detail::chain_tx> auto_;  // automatic mailboxes: the chain (runtime/mailbox_auto.cpp)
  // A generation's sender (automatic): the head's event, rung after each
  // publish for receivers that park there (readable()); else null.
  detail::event_count* chain_ec_ = nullptr;
  detail::doorbell_site* chain_bells_ = nullptr;
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

  /// Exact size: takes the next message only if it is exactly buf.size()
  /// bytes long (ok). A message of another length is not truncated nor
  /// taken: status::wrong_size, len = its length, and it stays queued (take
  /// it with the calls above). The typed calls below are built on these.
  status try_receive_exact(std::span<std::byte> buf, std::size_t& len) noexcept;
  status receive_exact_until(std::span<std::byte> buf, std::size_t& len, clock::time_point deadline) noexcept;

  /// Typed: receives a message of exactly sizeof(T) bytes into v (ok), else
  /// as the exact-size calls (wrong_size, the message stays queued; v is
  /// then untouched).
  template <message_value T>
  status try_receive(T& v) noexcept {
    std::size_t len = 0;
    return try_receive_exact(value_bytes(v), len);
  }
  template <message_value T>
  status receive(T& v) noexcept {
    return receive_until(v, clock::time_point::max());
  }
  template <message_value T>
  status receive_until(T& v, clock::time_point deadline) noexcept {
    std::size_t len = 0;
    return receive_exact_until(value_bytes(v), len, deadline);
  }
  template <message_value T, class Rep, class Period>
  status receive_for(T& v, std::chrono::duration<Rep, Period> d) noexcept {
    return receive_until(v, clock::now() + d);
  }

  /// Streams ("Streams" above). Incremental: read() hands out the next
  /// bytes of the current message (n of them, ok); once all were handed out,
  /// the next read returns ok with n = 0 (the end), and the read after that
  /// starts the next message. Any message can be read so, plain or stream.
  /// status::abandoned: the message broke midway (its sender died or gave
  /// up): dropped, counted in mailbox::streams_dropped(); read on.
  status try_read(std::span<std::byte> buf, std::size_t& n) noexcept;
  status read(std::span<std::byte> buf, std::size_t& n) noexcept {
    return read_until(buf, n, clock::time_point::max());
  }
  status read_until(std::span<std::byte> buf, std::size_t& n, clock::time_point deadline) noexcept;
  template <class Rep, class Period>
  status read_for(std::span<std::byte> buf, std::size_t& n, std::chrono::duration<Rep, Period> d) noexcept {
    return read_until(buf, n, clock::now() + d);
  }
  /// Length of the message read() is in (0 when none is open).
  std::uint64_t message_size() const noexcept { return in_.open ? in_.total : 0; }
  /// Whole: the next message (plain or stream) into buf, len = its length.
  /// too_large (len = the length, message kept queued) when buf is
  /// shorter. A deadline that passes midway returns timed_out and leaves
  /// the message open: read() continues it.
  status try_receive_stream(std::span<std::byte> buf, std::uint64_t& len) noexcept;
  status receive_stream(std::span<std::byte> buf, std::uint64_t& len) noexcept {
    return receive_stream_until(buf, len, clock::time_point::max());
  }
  status receive_stream_until(std::span<std::byte> buf, std::uint64_t& len,
                              clock::time_point deadline) noexcept;

  /// Zero copy: lends the next message in place until release() (or the
  /// next receive/peek on this handle). The view stays valid until then.
  status try_peek(std::span<const std::byte>& msg) noexcept;
  status peek_until(std::span<const std::byte>& msg, clock::time_point deadline) noexcept;
  void release() noexcept;
  /// The mailbox position (messages taken from it before, counted from 0
  /// at its creation) of the message last received or lent by this handle.
  /// With a keeping receiver, a message delivered again after its holder
  /// died comes back at the same position: a caller that recorded the
  /// position with what it made of the message can tell (the bridge does).
  std::uint64_t position() const noexcept { return e_.pos(); }
  /// Whether this handle is a keeping receiver that took over a dead
  /// keeper's slot and has not yet delivered what that keeper held.
  bool inherits() const noexcept { return kept_ != kept::none; }
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
  /// False for a handle default-constructed or moved from: it holds no role and its
  /// calls fail without reaching the mailbox (closed; too_large for a message longer
  /// than a default handle's max_message_size() of 0).
  bool valid() const noexcept { return max_ != 0 && (role_.held() || auto_); }

 private:
  friend class mailbox;
  friend class detail::chain_rx;
  mailbox_receiver(detail::mailbox_role role, std::size_t max, wait_policy p,
                   detail::mailbox_meeting* meet) noexcept;
  bool senders_waiting() const noexcept;
  template <class Attempt, class Alive>
  status wait_for_message(clock::time_point deadline, Attempt&& attempt, Alive&& alive) noexcept;
  // Streams (runtime/mailbox_stream.cpp).
  status read_impl(std::span<std::byte> buf, std::size_t& n, clock::time_point deadline, bool wait) noexcept;
  status open_next(std::uint64_t room, std::uint64_t& len, clock::time_point deadline, bool wait) noexcept;
  status try_open(std::uint64_t room, std::uint64_t& len, bool check_dead) noexcept;
  status next_fragment(clock::time_point deadline, bool wait) noexcept;
  status try_next_fragment() noexcept;
  bool take_reader_gate(bool check_dead) noexcept;
  void release_reader_gate() noexcept;
  void drop_read(bool count) noexcept;
  bool drain_orphans(bool check_dead) noexcept;
  status receive_stream_impl(std::span<std::byte> buf, std::uint64_t& len, clock::time_point deadline,
                             bool wait) noexcept;
  struct stream_in {
    std::uint64_t total = 0, done = 0;  // the open message's length; bytes handed out
    std::size_t off = 0, len = 0;       // within the fragment held reserved
    std::uint32_t sender = 0;           // sender slot of a stream message
    std::uint32_t next_index = 0;       // the next continuation's index
    bool open = false;                  // a message is being read
    bool gated = false;                 // we hold the reader gate for it
    bool held = false;                  // a fragment of it is reserved
    bool ended = false;                 // every byte handed out: the next read says end
  };
  status try_receive_exact_or_not(std::span<std::byte> buf, std::size_t& len, bool exact) noexcept;
  status take(std::span<std::byte>* buf, std::size_t& len, std::span<const std::byte>* view,
              bool exact = false) noexcept;
  status take_until(std::span<std::byte> buf, std::size_t& len, clock::time_point deadline,
                    bool exact) noexcept;
  status empty_status() noexcept;
  static bool ready(const void* self) noexcept;
  static void idle(const void* self) noexcept;
  static bool auto_ready(const void* self) noexcept;  // automatic: follows the chain
  static void auto_idle(const void* self) noexcept;

  status take_kept(std::span<std::byte>* buf, std::size_t& len, std::span<const std::byte>* view, bool exact,
                   bool& again) noexcept;
  status deliver(const mbx::slot_header& h, std::span<std::byte>* buf, std::size_t& len,
                 std::span<const std::byte>* view, bool exact, bool inherited, bool& again) noexcept;

  // A keeping receiver that took over a dead keeper's role slot: `pending`
  // until resolve_kept() ran (ring_recovery.hpp), `held` while an inherited
  // message waits for a receive that can take it.
  enum class kept : std::uint8_t { none, pending, held };
  detail::mailbox_role role_;
  detail::consumer_engine<true, true> e_;
  kept kept_ = kept::none;
  detail::mailbox_ack* acks_ = nullptr;      // the shared acknowledgement table (max_roles words)
  detail::mailbox_meeting* meet_ = nullptr;  // rendezvous mailboxes only
  detail::mailbox_streams* streams_ = nullptr;
  stream_in in_;
  std::size_t max_ = 0;
  wait_policy policy_ = wait_policy::adaptive;
  std::shared_ptr<detail::chain_rx> auto_;  // automatic mailboxes: the chain (runtime/mailbox_auto.cpp)
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
  /// A keeping sender ("Keeping senders" above): a message it claimed and
  /// had not published when its process died is left for the next
  /// keeping_sender(tag) with the same tag, which voids it and says so
  /// (settle_inherited()). errc::invalid_argument for tag 0, a rendezvous or
  /// an automatic mailbox.
  result<mailbox_sender> keeping_sender(std::uint64_t tag, wait_policy p = wait_policy::adaptive) const;
  /// A keeping receiver ("Keeping receivers" above): a message it holds
  /// when its process dies (received or lent, not yet released) is not
  /// dropped but kept in its slot for the next keeping_receiver(tag) with
  /// the same non-zero tag, which delivers it first, at the same
  /// position(). errc::invalid_argument for tag 0, a rendezvous or an
  /// automatic mailbox.
  result<mailbox_receiver> keeping_receiver(std::uint64_t tag, wait_policy p = wait_policy::adaptive) const;

  /// Closes the mailbox for every process: sends fail, receives drain.
  void close() const noexcept;
  bool closed() const noexcept;
  /// Opens a closed mailbox again, keeping what is queued; false when it
  /// was open. As ring::reopen() (ring.hpp, "Reopen, reset"); no reset().
  bool reopen() const noexcept;
  /// Reopens so far (mod 2^30).
  std::uint32_t generation() const noexcept;
  /// Who holds sender (producers_*) and receiver (consumers_*) roles now.
  peer_counts peers() const noexcept;
  /// Messages it buffers: 0 for a rendezvous; on an automatic mailbox, the
  /// capacity of its newest generation (what it has grown to).
  std::size_t capacity() const noexcept;
  /// Automatic buffering ("Automatic buffering" above).
  bool is_automatic() const noexcept { return chain_ != nullptr; }
  /// Automatic only (else 0): its limit; the newest buffer generation (0
  /// before any growth or shrink; it only counts up; not the reopen count
  /// generation()); the bytes of that generation's slots (its buffer now,
  /// which goes up and back down).
  std::uint64_t max_bytes() const noexcept;
  std::uint32_t buffer_generation() const noexcept;
  std::uint64_t buffer_bytes() const noexcept;
  bool rendezvous() const noexcept { return rendezvous_; }
  std::size_t max_message_size() const noexcept { return max_; }
  /// Stream messages dropped incomplete so far (sender died or gave up
  /// midway, a reader died holding one, a synchronous one withdrawn).
  std::uint64_t streams_dropped() const noexcept;
  /// Messages queued; an estimate while others send or receive (automatic:
  /// summed over its generations, opening them: not for a hot path).
  std::size_t size() const noexcept;
  const segment_info& info() const noexcept;
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  friend class detail::chain_tx;
  friend class detail::chain_rx;
  friend struct detail::chain_link;
  mailbox(std::shared_ptr<detail::ring_state> st, std::size_t max, bool rendezvous)
      : st_(std::move(st)), max_(max), rendezvous_(rendezvous) {}
  static result<mailbox> create_automatic(std::string_view name, const mailbox_options& opt);
  result<std::size_t> keeping_slot(detail::role r, std::uint64_t tag, bool& inherited) const;
  detail::mailbox_meeting* meeting() const noexcept;
  std::shared_ptr<detail::ring_state> st_;
  std::shared_ptr<detail::chain_link> chain_;  // automatic mailboxes only
  std::size_t max_ = 0;
  bool rendezvous_ = false;
};

}  // namespace ringport
