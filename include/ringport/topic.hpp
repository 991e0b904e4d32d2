// ringport/topic.hpp — publish–subscribe: every subscriber sees every message.
//
// A topic is a named broadcast ring. One publisher writes messages; up to 64
// subscribers, in any processes, joining and leaving at any time, each read
// every message on their own cursor. byte_topic carries variable-length
// messages (0..max_message_size bytes, the slots and limits of a mailbox);
// topic<T> carries one trivially copyable T per message over the same code.
//
// Publishers: one at a time (the publisher role). A second live publisher()
// gets errc::role_taken; the role of a publisher that died (pid + start
// time) is taken over by the next publisher(), which continues after the
// last message the dead one completed (the one it was writing is lost, and
// no subscriber ever sees it half written). Order is the publisher's order.
//
// Overflow modes, chosen at creation (topic_options::mode):
//  - lossy: the publisher never waits; it overwrites the oldest slot. A
//    subscriber that was lapped gets status::overrun from its next receive,
//    with missed() = the exact number of messages it lost, and then goes on
//    from near the oldest message still retained: capacity/8 messages (at
//    least one) past the slot the publisher is overwriting, so that a
//    publisher still running does not lap it again at once (see "Design").
//    received + missed == published, exactly, for every subscriber.
//  - backpressure: the publisher waits (try_/timed/blocking forms) while the
//    slowest live subscriber has not read the slot it would overwrite. A
//    subscriber that died stops holding it back once the waiting publisher
//    notices (it checks holders' liveness every detail::peer_poll = 50 ms
//    while it waits: within about 100 ms plus the /proc reads). With
//    lag_limit = L (1..capacity; 0, the default, means never), the publisher
//    evicts every subscriber that is L or more messages behind whenever it
//    re-reads the cursors (at least every capacity/8 messages, and whenever
//    it would otherwise wait): that subscriber's next receive returns
//    status::evicted (for good: subscribe again), and the publisher no
//    longer waits for it. So with lag_limit = capacity it never waits for a
//    live subscriber at all; it drops the laggard instead.
// Trade-offs: lossy protects the publisher and the other subscribers from a
// slow one, at the price of that one's messages; backpressure loses nothing
// and lets the slowest live subscriber set the pace (a stuck live
// subscriber stops the publisher unless a lag_limit evicts it).
//
// Late join: subscriber(start_at::next) (default) sees messages published
// from now on; start_at::oldest first replays what the topic retains: up to
// `capacity` messages in lossy mode; in backpressure mode those the
// publisher has not yet been cleared to overwrite: at least the last
// capacity - capacity/8 messages (the publisher never clears more than
// capacity/8 ahead of its last look at the cursors), and every message the
// slowest subscriber has not read.
//
// latest(): copies the most recent message without subscribing (a
// "blackboard"), torn-free; would_block when nothing was published yet (or,
// rarely, when the publisher lapped the copy 64 times in a row).
//
// Waiting: subscribers park on the topic's "not empty" event count, and a
// back-pressured publisher on its "not full" one, with the wait policies of
// rings (busy_spin / adaptive / block; detail/wait.hpp): no system call
// while nobody waits. subscriber::readable() is a waitable for wait_any().
// A subscriber waiting on a publisher role whose holder died gets
// status::peer_gone (a topic with no publisher yet is simply empty).
//
// close(): publishes fail with status::closed; subscribers drain what they
// can still read, then get status::closed.
//
// Design (runtime/topic.cpp has the orderings, each labelled with its pair)
//  - Message n lives in slot n % capacity. Each slot has a 64-bit sequence
//    word: 2n+1 while the publisher writes message n, 2n+2 once it is
//    complete. The publisher stores seq = 2n+1, a release fence, the length
//    and payload words (relaxed), then seq = 2n+2 (release), then head = n+1.
//    A subscriber at cursor c loads the slot's seq (acquire): below 2c+2 it
//    is not there yet (would_block); above, the slot was reused (overrun);
//    equal: it copies the length and payload words (relaxed), issues an
//    acquire fence and loads seq again. Only if it still reads 2c+2 are the
//    words it copied message c's, all of them: if any word it read had been
//    written by a later message, that store came after the publisher's
//    release fence, so (fence-to-fence synchronization through that word)
//    the later 2m+1 store happens before the second load, which then cannot
//    read 2c+2. A half-overwritten message is therefore never returned.
//  - ARM64: the release fence is a DMB ISH (orders the 2n+1 store before
//    every later store of the publisher, for every observer: ARMv8 is
//    other-multi-copy atomic), the acquire fence a DMB ISHLD (orders the
//    payload loads before the second seq load); aligned 64-bit accesses are
//    single-copy atomic, so each word is old or new, never mixed, and the
//    fence pair catches any mixture across words. x86-64 needs no barrier
//    instruction for either fence. ThreadSanitizer builds, which cannot
//    model fences, store each payload word with release and load it with
//    acquire instead (the same argument through each word; correct but
//    slower on ARM64, so not the shipped form).
//  - Subscribers poll only their slot's seq: one cache line per message
//    (two for messages that span more), never the publisher's line.
//  - Lossy re-sync: a lapped subscriber reads head once and moves its
//    cursor to head - capacity + capacity/8 (at least head - capacity + 1,
//    the oldest slot not being rewritten), counting every message it skips
//    in missed(). Landing on the very oldest slot would be exact but
//    useless: the publisher overwrites that slot next, so a subscriber that
//    is slower than the publisher (or was descheduled: more workers than
//    CPUs) was lapped again on nearly every receive, reading head each
//    time, and received almost nothing (a flat 0.26 Mmsg/s per subscriber
//    on 2 vCPUs). The margin gives it capacity/8 messages of lead; they are
//    lost either way (received + missed == published still holds exactly),
//    so the price is only that a subscriber lapped once by a burst skips up
//    to capacity/8 - 1 messages it could still have read.
//  - Back-pressure (the Disruptor's gating sequences): each subscriber
//    stores its cursor (release) after each message; while the publisher
//    is parked, the one whose cursor frees a batch (a quarter of the ring)
//    wakes it, not every read (runtime/topic.cpp, above arm_wake(),
//    has the ordering); the publisher keeps a cached limit (lowest live
//    cursor + capacity) and rescans the 64 entries only when it reaches it;
//    while it waits, it re-reads only the cursor of the entry that blocked
//    it, and rescans once that one has moved or left. A joiner
//    and a rescan meet on the shared `gate` word with read-modify-writes:
//    the publisher scans, raises gate to the lowest message its new window
//    may not overwrite (exchange, acq_rel), and scans again, keeping the
//    lower of the two results; a joiner publishes its entry and then reads
//    gate with fetch_add(0, acq_rel), starting no lower than it. Either the
//    joiner's RMW comes later (it starts at or above every position the
//    publisher relies on) or the publisher's exchange reads it and
//    synchronizes with it (the second scan sees the joiner).
//  - Never trust shared memory: geometry is copied once and checked against
//    the file; every seq, length, head and cursor is read once, compared or
//    clamped (seq by equality, lengths <= max_size, cursors into
//    [head - capacity, head]); entries are indexed below 64 only.
//
// Handles are move-only, one per thread, and hold their role (pid + start
// time) in the segment while they live. Data-path calls are noexcept and
// never allocate.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ringport/result.hpp"
#include "ringport/segment.hpp"
#include "ringport/status.hpp"
#include "ringport/wait.hpp"

namespace ringport {

namespace detail {
struct topic_shared;
struct topic_subscriber_entry;
struct topic_state;
}  // namespace detail

enum class topic_mode : std::uint8_t { lossy = 0, backpressure = 1 };
/// Where a new subscriber starts: the next message published, or the oldest retained.
enum class start_at : std::uint8_t { next, oldest };

const char* to_string(topic_mode m) noexcept;

/// Bytes of a topic slot's header; a slot is this plus max_message_size (rounded up to 8).
inline constexpr std::size_t topic_header_bytes = 16;
inline constexpr std::size_t topic_max_message_limit = (std::size_t{1} << 24) - topic_header_bytes;
inline constexpr std::size_t topic_subscriber_limit = 64;

struct topic_options {
  std::size_t capacity = 1024;                               ///< messages retained; a power of two, 2 .. 2^32
  std::size_t max_message_size = 4096 - topic_header_bytes;  ///< 1 .. topic_max_message_limit
  topic_mode mode = topic_mode::lossy;
  std::size_t lag_limit = 0;  ///< backpressure only: evict a subscriber this far behind (0: never)
  pages backing = pages::any;
  bool group_access = false;
  std::string domain;  ///< empty: RINGPORT_DOMAIN, else "default"
};

/// A snapshot for `ringport stat` and tests (control path; allocates).
struct topic_stats {
  struct subscriber {
    std::size_t index = 0;  ///< entry 0..63
    std::uint32_t pid = 0;
    bool alive = false;
    bool evicted = false;
    std::uint64_t cursor = 0;  ///< next message number it reads
    std::uint64_t lag = 0;     ///< published - cursor (messages not yet read or lost)
  };
  std::uint64_t published = 0;  ///< the publisher's position: messages published so far
  std::uint64_t gate = 0;       ///< backpressure: the first message the publisher may not overwrite yet
  std::uint32_t publisher_pid = 0;
  bool publisher_alive = false;
  std::uint64_t takeovers = 0, evictions = 0, reaped = 0;
  std::vector<subscriber> subscribers;
};

class byte_topic;

/// Publishes into one topic. Move-only; one per thread; at most one live per topic.
class topic_publisher {
 public:
  using clock = std::chrono::steady_clock;
  topic_publisher() = default;
  topic_publisher(topic_publisher&& o) noexcept;
  topic_publisher& operator=(topic_publisher&& o) noexcept;
  ~topic_publisher();

  /// Publishes msg, or (backpressure) would_block when the slowest live
  /// subscriber has not read the slot it needs. too_large: longer than max.
  status try_publish(std::span<const std::byte> msg) noexcept;
  status publish(std::span<const std::byte> msg) noexcept {
    return publish_until(msg, clock::time_point::max());
  }
  status publish_until(std::span<const std::byte> msg, clock::time_point deadline) noexcept;
  template <class Rep, class Period>
  status publish_for(std::span<const std::byte> msg, std::chrono::duration<Rep, Period> d) noexcept {
    return publish_until(msg, clock::now() + d);
  }
  /// Messages published so far (by every holder of the role).
  std::uint64_t position() const noexcept { return head_; }
  std::size_t max_message_size() const noexcept;
  void set_policy(wait_policy p) noexcept { policy_ = p; }
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  friend class byte_topic;
  topic_publisher(std::shared_ptr<detail::topic_state> st, wait_policy p) noexcept;
  status attempt(std::span<const std::byte> msg) noexcept;
  void arm_wake() noexcept;
  bool rescan() noexcept;
  bool still_blocked() const noexcept;
  bool reap_dead() noexcept;
  void reset() noexcept;

  std::shared_ptr<detail::topic_state> st_;
  std::uint64_t head_ = 0;   // next message number (we are the only writer of head)
  std::uint64_t limit_ = 0;  // backpressure: may publish while head_ < limit_
  std::size_t blocker_ =
      topic_subscriber_limit;  // backpressure: the entry with the lowest cursor at the last rescan
  wait_policy policy_ = wait_policy::adaptive;
};

/// Reads every message of one topic on its own cursor. Move-only; one per thread.
class topic_subscriber {
 public:
  using clock = std::chrono::steady_clock;
  topic_subscriber() = default;
  topic_subscriber(topic_subscriber&& o) noexcept;
  topic_subscriber& operator=(topic_subscriber&& o) noexcept;
  ~topic_subscriber();

  /// Copies the next message into buf (ok, len = its length). would_block:
  /// nothing new. overrun: lapped, missed() messages lost, the next call
  /// goes on from the oldest retained. too_large: buf is shorter than the
  /// message (len = its length; it stays next). evicted: dropped for
  /// lagging (backpressure with a lag limit), for good. closed: closed and
  /// drained. corrupt: shared words failed validation. buf's content is
  /// unspecified unless ok.
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

  /// Messages lost in the last overrun, and in all overruns of this handle.
  std::uint64_t missed() const noexcept { return missed_; }
  std::uint64_t total_missed() const noexcept { return total_missed_; }
  /// The next message number this subscriber reads.
  std::uint64_t position() const noexcept { return cursor_; }
  /// For wait_any(): ready when a message (or an overrun, eviction, close) is there.
  waitable readable() const noexcept;
  std::size_t max_message_size() const noexcept;
  void set_policy(wait_policy p) noexcept { policy_ = p; }
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  friend class byte_topic;
  topic_subscriber(std::shared_ptr<detail::topic_state> st, std::size_t index, std::uint64_t cursor,
                   wait_policy p) noexcept;
  status attempt(std::span<std::byte> buf, std::size_t& len) noexcept;
  status lapped() noexcept;
  static bool ready(const void* self) noexcept;
  void reset() noexcept;

  std::shared_ptr<detail::topic_state> st_;
  detail::topic_subscriber_entry* entry_ = nullptr;
  std::size_t index_ = 0;
  std::uint64_t cursor_ = 0;
  std::uint64_t missed_ = 0, total_missed_ = 0;
  wait_policy policy_ = wait_policy::adaptive;
};

/// A topic of variable-length byte messages.
class byte_topic {
 public:
  byte_topic() = default;

  /// errc::already_exists if the name is taken; errc::invalid_argument for
  /// a bad capacity, size or lag limit.
  static result<byte_topic> create(std::string_view name, const topic_options& opt = {});
  static result<byte_topic> open(std::string_view name, std::string_view domain = {});
  static result<byte_topic> open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                      std::string_view domain = {});
  static result<byte_topic> open_or_create(std::string_view name, const topic_options& opt = {});
  static result<void> remove(std::string_view name, std::string_view domain = {});

  /// The publisher role (errc::role_taken while a live process holds it).
  result<topic_publisher> publisher(wait_policy p = wait_policy::adaptive) const;
  /// A subscriber (errc::too_many_roles beyond 64 live ones).
  result<topic_subscriber> subscriber(start_at from = start_at::next,
                                      wait_policy p = wait_policy::adaptive) const;

  /// The most recent message, without subscribing (see the top of this file).
  status latest(std::span<std::byte> buf, std::size_t& len) const noexcept;

  void close() const noexcept;
  bool closed() const noexcept;
  std::uint64_t published() const noexcept;
  std::size_t capacity() const noexcept;
  std::size_t max_message_size() const noexcept;
  topic_mode mode() const noexcept;
  std::size_t lag_limit() const noexcept;
  /// topic<T>: sizeof(T); a byte topic: 0.
  std::size_t element_size() const noexcept;
  topic_stats stats() const;
  const segment_info& info() const noexcept;
  bool valid() const noexcept { return st_ != nullptr; }

 protected:
  static result<byte_topic> create_typed(std::string_view name, const topic_options& opt,
                                         std::size_t element);
  static result<byte_topic> open_typed(std::string_view name, std::string_view domain, std::size_t element);

 private:
  explicit byte_topic(std::shared_ptr<detail::topic_state> st) : st_(std::move(st)) {}
  std::shared_ptr<detail::topic_state> st_;
};

/// A topic of fixed-size items (one trivially copyable T per message).
/// Opening checks that the topic was created for an item of sizeof(T).
template <class T>
class topic : public byte_topic {
  static_assert(std::is_trivially_copyable_v<T>, "topic items are copied as bytes");
  static_assert(sizeof(T) <= topic_max_message_limit, "item too large for a topic slot");

 public:
  class publisher_handle {
   public:
    publisher_handle() = default;
    explicit publisher_handle(topic_publisher p) noexcept : p_(std::move(p)) {}
    status try_publish(const T& v) noexcept { return p_.try_publish(as_bytes(v)); }
    status publish(const T& v) noexcept { return p_.publish(as_bytes(v)); }
    status publish_until(const T& v, std::chrono::steady_clock::time_point d) noexcept {
      return p_.publish_until(as_bytes(v), d);
    }
    template <class Rep, class Period>
    status publish_for(const T& v, std::chrono::duration<Rep, Period> d) noexcept {
      return p_.publish_for(as_bytes(v), d);
    }
    std::uint64_t position() const noexcept { return p_.position(); }
    void set_policy(wait_policy p) noexcept { p_.set_policy(p); }
    topic_publisher& bytes() noexcept { return p_; }

   private:
    static std::span<const std::byte> as_bytes(const T& v) noexcept {
      return {reinterpret_cast<const std::byte*>(&v), sizeof(T)};
    }
    topic_publisher p_;
  };

  class subscriber_handle {
   public:
    subscriber_handle() = default;
    explicit subscriber_handle(topic_subscriber s) noexcept : s_(std::move(s)) {}
    status try_receive(T& v) noexcept { return checked(s_.try_receive(buf(v), len_)); }
    status receive(T& v) noexcept { return checked(s_.receive(buf(v), len_)); }
    status receive_until(T& v, std::chrono::steady_clock::time_point d) noexcept {
      return checked(s_.receive_until(buf(v), len_, d));
    }
    template <class Rep, class Period>
    status receive_for(T& v, std::chrono::duration<Rep, Period> d) noexcept {
      return checked(s_.receive_for(buf(v), len_, d));
    }
    std::uint64_t missed() const noexcept { return s_.missed(); }
    std::uint64_t total_missed() const noexcept { return s_.total_missed(); }
    std::uint64_t position() const noexcept { return s_.position(); }
    waitable readable() const noexcept { return s_.readable(); }
    void set_policy(wait_policy p) noexcept { s_.set_policy(p); }
    topic_subscriber& bytes() noexcept { return s_; }

   private:
    static std::span<std::byte> buf(T& v) noexcept { return {reinterpret_cast<std::byte*>(&v), sizeof(T)}; }
    // Every message of a topic<T> is sizeof(T) bytes; another length is a
    // foreign writer's.
    status checked(status s) const noexcept {
      return s == status::ok && len_ != sizeof(T) ? status::corrupt : s;
    }
    topic_subscriber s_;
    std::size_t len_ = 0;
  };

  topic() = default;
  static result<topic> create(std::string_view name, topic_options opt = {}) {
    opt.max_message_size = sizeof(T) == 0 ? 1 : sizeof(T);
    auto t = create_typed(name, opt, sizeof(T));
    if (!t) return std::move(t).error();
    return topic(std::move(*t));
  }
  static result<topic> open(std::string_view name, std::string_view domain = {}) {
    auto t = open_typed(name, domain, sizeof(T));
    if (!t) return std::move(t).error();
    return topic(std::move(*t));
  }
  static result<topic> open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                 std::string_view domain = {}) {
    for (detail::appear_backoff wait(deadline);;)
      if (auto t = open(name, domain); t || !wait.retry(t.error())) return t;
  }

  result<publisher_handle> publisher(wait_policy p = wait_policy::adaptive) const {
    auto h = byte_topic::publisher(p);
    if (!h) return std::move(h).error();
    return publisher_handle(std::move(*h));
  }
  result<subscriber_handle> subscriber(start_at from = start_at::next,
                                       wait_policy p = wait_policy::adaptive) const {
    auto h = byte_topic::subscriber(from, p);
    if (!h) return std::move(h).error();
    return subscriber_handle(std::move(*h));
  }
  status latest(T& v) const noexcept {
    std::size_t len = 0;
    const status s = byte_topic::latest({reinterpret_cast<std::byte*>(&v), sizeof(T)}, len);
    return s == status::ok && len != sizeof(T) ? status::corrupt : s;
  }

 private:
  explicit topic(byte_topic b) : byte_topic(std::move(b)) {}
};

}  // namespace ringport
