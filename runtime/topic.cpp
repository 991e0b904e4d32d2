// Topics: the seqlock slots, the back-pressure gate, roles, create/open.
// The design and its guarantees are described in ringport/topic.hpp.
#include "ringport/topic.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <new>

#include "ringport/detail/doorbell.hpp"
#include "ringport/detail/process.hpp"
#include "ringport/detail/topic_layout.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport {

namespace detail {
/// One process's view of a topic segment: the validated geometry copy and
/// pointers computed from it. Shared by the topic object and its handles.
struct topic_state {
  segment seg;
  topic_shared* sh = nullptr;
  std::byte* slots = nullptr;
  topic_geometry geo{};
  std::uint64_t mask = 0;
  doorbell_site* bells = nullptr;

  std::byte* slot(std::uint64_t n) const noexcept { return slots + (n & mask) * geo.stride; }
  bool backpressure() const noexcept {
    return geo.mode == static_cast<std::uint32_t>(topic_mode::backpressure);
  }
};
}  // namespace detail

namespace {

using detail::seq_done;
using detail::seq_writing;
using detail::topic_shared;
using detail::topic_state;
using detail::topic_subscriber_entry;
using clock = std::chrono::steady_clock;

constexpr std::size_t off_length = 8;  // after the 64-bit seq
constexpr std::uint64_t max_capacity = std::uint64_t{1} << 32;

// Payload words: relaxed in the shipped build (the fences order them);
// release/acquire per word under TSan, which cannot model fences
// (topic.hpp, "Design").
constexpr auto word_store = detail::tsan_build ? std::memory_order_release : std::memory_order_relaxed;
constexpr auto word_load = detail::tsan_build ? std::memory_order_acquire : std::memory_order_relaxed;

std::atomic_ref<std::uint64_t> word64(std::byte* p) noexcept {
  return std::atomic_ref<std::uint64_t>(*std::launder(reinterpret_cast<std::uint64_t*>(p)));
}
std::atomic_ref<std::uint32_t> word32(std::byte* p) noexcept {
  return std::atomic_ref<std::uint32_t>(*std::launder(reinterpret_cast<std::uint32_t*>(p)));
}

std::uint64_t stride_for(std::uint64_t max_size) noexcept {
  return (detail::topic_slot_header + max_size + 7) & ~std::uint64_t{7};
}

// ------------------------------------------------------------ seqlock slots

// Writes message n into its slot.
void write_message(std::byte* slot, std::uint64_t n, std::span<const std::byte> msg) noexcept {
  // relaxed: F-WRITE orders it before the payload stores.
  word64(slot).store(seq_writing(n), std::memory_order_relaxed);
  // F-WRITE: pairs with F-READ in read_message(): a reader that reads any
  // word stored below also sees seq_writing(n) (or later) on its re-check.
  if constexpr (!detail::tsan_build) std::atomic_thread_fence(std::memory_order_release);
  word32(slot + off_length).store(static_cast<std::uint32_t>(msg.size()), word_store);
  std::byte* dst = slot + detail::topic_slot_header;
  std::size_t i = 0;
  for (; i + 8 <= msg.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, msg.data() + i, 8);
    word64(dst + i).store(w, word_store);
  }
  if (i < msg.size()) {
    std::uint64_t w = 0;
    std::memcpy(&w, msg.data() + i, msg.size() - i);
    word64(dst + i).store(w, word_store);
  }
  // R-DONE: pairs with A-SEQ in read_message(): message n is complete.
  word64(slot).store(seq_done(n), std::memory_order_release);
}

enum class slot_read : std::uint8_t { ok, not_yet, lapped, too_large, corrupt };

// Copies message n out of its slot into buf if the slot still holds it,
// whole. len: its length (ok, too_large).
slot_read read_message(std::byte* slot, std::uint64_t n, std::uint64_t max, std::span<std::byte> buf,
                       std::size_t& len) noexcept {
  // A-SEQ: pairs with R-DONE in write_message().
  const std::uint64_t s1 = word64(slot).load(std::memory_order_acquire);
  if (s1 != seq_done(n)) return s1 < seq_done(n) ? slot_read::not_yet : slot_read::lapped;
  const std::uint32_t l = word32(slot + off_length).load(word_load);  // read once, checked
  const bool fits = l <= buf.size() && l <= max;
  if (fits) {
    const std::byte* src = slot + detail::topic_slot_header;
    std::size_t i = 0;
    for (; i + 8 <= l; i += 8) {
      const std::uint64_t w = word64(const_cast<std::byte*>(src) + i).load(word_load);
      std::memcpy(buf.data() + i, &w, 8);
    }
    if (i < l) {
      const std::uint64_t w = word64(const_cast<std::byte*>(src) + i).load(word_load);
      std::memcpy(buf.data() + i, &w, l - i);
    }
  }
  // F-READ: pairs with F-WRITE: orders the loads above before the re-check.
  if constexpr (!detail::tsan_build) std::atomic_thread_fence(std::memory_order_acquire);
  // relaxed: F-READ (TSan: the acquire loads above) orders it.
  if (word64(slot).load(std::memory_order_relaxed) != s1) return slot_read::lapped;
  len = l;
  if (l > max) return slot_read::corrupt;
  return fits ? slot_read::ok : slot_read::too_large;
}

// ------------------------------------------------------------ subscriber entries

bool entry_active(const topic_subscriber_entry& e) noexcept {
  // A-STATE: pairs with R-STATE in byte_topic::subscriber().
  return e.state.load(std::memory_order_acquire) == detail::sub_active;
}

// A cursor read from shared memory, clamped into [head - capacity, head]:
// a corrupt one can stall the publisher or unblock it, never make it
// overwrite what it was told is unread.
std::uint64_t clamp_cursor(std::uint64_t c, std::uint64_t head, std::uint64_t cap) noexcept {
  if (c > head) return head;
  if (head - c > cap) return head - cap;
  return c;
}

// An owner word no process has (its start-time field is all ones): the
// entry is being freed by whoever stored it.
constexpr std::uint64_t reaping_owner = ~std::uint64_t{0};

// Frees the entry of dead holder `dead`: claims it (so that exactly one
// reaper frees it), stops it gating, then lets joiners take it. Joiners
// only take entries whose owner is 0, so none can be active here before
// the last store. (A reaper that dies between these steps leaks the entry.)
bool reap_entry(topic_state& st, topic_subscriber_entry& e, std::uint64_t dead) noexcept {
  if (!e.owner.compare_exchange_strong(dead, reaping_owner, std::memory_order_acquire)) return false;
  e.state.store(detail::sub_free, std::memory_order_relaxed);
  // release: the free state is visible to whoever takes the entry next.
  e.owner.store(0, std::memory_order_release);
  st.sh->reaped.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace

const char* to_string(topic_mode m) noexcept {
  return m == topic_mode::backpressure ? "backpressure" : "lossy";
}

// ------------------------------------------------------------ publisher

topic_publisher::topic_publisher(std::shared_ptr<topic_state> st, wait_policy p) noexcept
    : st_(std::move(st)), policy_(p) {
  // A-HEAD: pairs with R-HEAD of the previous holder (a takeover continues there).
  head_ = st_->sh->head.load(std::memory_order_acquire);
  limit_ = 0;  // rescan before the first back-pressured publish
}
topic_publisher::topic_publisher(topic_publisher&& o) noexcept
    : st_(std::move(o.st_)), head_(o.head_), limit_(o.limit_), blocker_(o.blocker_), policy_(o.policy_) {}
topic_publisher& topic_publisher::operator=(topic_publisher&& o) noexcept {
  if (this != &o) {
    reset();
    st_ = std::move(o.st_);
    head_ = o.head_;
    limit_ = o.limit_;
    blocker_ = o.blocker_;
    policy_ = o.policy_;
  }
  return *this;
}
topic_publisher::~topic_publisher() {
  reset();
}
void topic_publisher::reset() noexcept {
  if (!st_) return;
  std::uint64_t me = detail::self_owner();
  st_->sh->publisher.compare_exchange_strong(me, 0, std::memory_order_release);
  st_.reset();
}
std::size_t topic_publisher::max_message_size() const noexcept {
  return st_ ? st_->geo.max_size : 0;
}

// The lowest cursor of the active subscribers (head_ if none), evicting
// those lag_limit or more behind. at: the entry that holds it
// (topic_max_subscribers if none).
static std::uint64_t scan_min(topic_state& st, std::uint64_t head, std::size_t& at) noexcept {
  std::uint64_t m = head;
  at = detail::topic_max_subscribers;
  std::size_t i = 0;
  const std::uint64_t lag_limit = st.geo.lag_limit;
  for (auto& e : st.sh->subscribers) {
    const std::size_t index = i++;
    if (!entry_active(e)) continue;
    // A-CURSOR: pairs with R-CURSOR in topic_subscriber::attempt(): the
    // subscriber finished reading every message below it.
    const std::uint64_t c = clamp_cursor(e.cursor.load(std::memory_order_acquire), head, st.geo.capacity);
    if (lag_limit != 0 && head - c >= lag_limit) {
      std::uint32_t active = detail::sub_active;
      if (e.state.compare_exchange_strong(active, detail::sub_evicted, std::memory_order_relaxed)) {
        st.sh->evictions.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (active != detail::sub_active) continue;
    }
    if (c < m) {
      m = c;
      at = index;
    }
  }
  return m;
}

// Back-pressure: recomputes how far the publisher may go (topic.hpp,
// "Design"). True when the next message fits.
bool topic_publisher::rescan() noexcept {
  topic_state& st = *st_;
  const std::uint64_t cap = st.geo.capacity;
  // Never run more than an eighth of the ring ahead of the last scan, so
  // that a history join still finds most of the ring (the gate lags head).
  const std::uint64_t step = std::max<std::uint64_t>(1, cap / 8);
  std::size_t at = 0;
  const std::uint64_t first = scan_min(st, head_, at);
  const std::uint64_t want = std::min(first + cap, head_ + step);
  const std::uint64_t floor = want >= cap ? want - cap : 0;
  // Only the publisher writes gate; keep it monotone.
  const std::uint64_t gate = std::max(st.sh->gate.load(std::memory_order_relaxed), floor);
  // R-GATE: pairs with A-GATE of a joiner (byte_topic::subscriber()): a
  // joiner whose RMW is later starts at or above gate; one whose RMW is
  // earlier is read here, and the scan below sees its entry.
  st.sh->gate.exchange(gate, std::memory_order_acq_rel);
  const std::uint64_t second = scan_min(st, head_, at);
  limit_ = std::min(want, second + cap);
  blocker_ = at;
  return head_ < limit_;
}

// While a back-pressured publish waits: true when the entry that held the
// lowest cursor at the last rescan is still active and still has not read
// the slot the next message needs. Then the publisher is blocked for sure
// (the lowest cursor is at most that one), and the full rescan (the 64
// entries twice, the exchange on gate) can wait: a publisher spinning on
// rescans made every waiting retry cost some 130 line reads and a write,
// and kept the subscriber it waits for off a CPU it shares. Otherwise (or
// when closed, or with a lag limit, which the rescan enforces) it answers
// false and the caller rescans. Only a sufficient condition for blocked,
// so it never makes a retry sleep that a rescan would have let through.
bool topic_publisher::still_blocked() const noexcept {
  const topic_state& st = *st_;
  if (blocker_ >= detail::topic_max_subscribers || st.geo.lag_limit != 0 ||
      st.sh->closed.load(std::memory_order_acquire) != 0)
    return false;
  const topic_subscriber_entry& e = st.sh->subscribers[blocker_];
  if (!entry_active(e)) return false;
  // A-CURSOR (as in scan_min()).
  const std::uint64_t c = clamp_cursor(e.cursor.load(std::memory_order_acquire), head_, st.geo.capacity);
  return head_ - c >= st.geo.capacity;
}

// While blocked: frees the entries of subscribers that died (pid + start
// time), so that they stop gating. Always true: the publisher has no peer
// whose death ends its wait (with no subscribers it publishes freely).
bool topic_publisher::reap_dead() noexcept {
  bool any = false;
  for (auto& e : st_->sh->subscribers) {
    const std::uint64_t o = e.owner.load(std::memory_order_relaxed);
    if (o != 0 && o != reaping_owner && !detail::owner_alive(o)) any = reap_entry(*st_, e, o) || any;
  }
  if (any) limit_ = 0;
  return true;
}

status topic_publisher::attempt(std::span<const std::byte> msg) noexcept {
  topic_state& st = *st_;
  if (st.sh->closed.load(std::memory_order_acquire) != 0) [[unlikely]]
    return status::closed;
  if (st.backpressure() && head_ >= limit_ && !rescan()) return status::would_block;
  write_message(st.slot(head_), head_, msg);
  ++head_;
  // R-HEAD: pairs with A-HEAD (joiners, latest(), overrun recovery, a takeover).
  st.sh->head.store(head_, std::memory_order_release);
  detail::notify(st.sh->not_empty, st.bells);
  return status::ok;
}

status topic_publisher::try_publish(std::span<const std::byte> msg) noexcept {
  if (!st_) [[unlikely]]
    return status::closed;  // default-constructed or moved from
  if (msg.size() > st_->geo.max_size) [[unlikely]]
    return status::too_large;
  return attempt(msg);
}

// Back-pressure wake batching. A parked publisher is woken only by the
// subscriber whose cursor reaches wake_at = head - capacity + wake_batch
// (a quarter of the ring free behind the slowest one), not once per freed
// slot: a publisher that parks when full and is woken for each single slot
// parks again at once, a futex round trip per message.
//
// No lost wake-up. The publisher (arm_wake(), before its wait loop) stores
// wake_at, then a release fence (W-WAKE), then registers on not_full
// (register_waiter's RMW on `waiters`), F-WAIT, and retries (rescans the
// cursors). A subscriber stores its cursor (R-CURSOR), F-NOTIFY, loads
// `waiters` (must_wake()); only if it reads a registration does it issue an
// acquire fence (A-WAKE) and load wake_at.
//  - F-NOTIFY / F-WAIT (the event count's Dekker pair): either the
//    publisher's retry sees the cursor store, or the subscriber's load of
//    `waiters` reads this registration (or a later RMW of its release
//    sequence).
//  - In the first case a cursor that reached wake_at > head - capacity
//    leaves a slot free, so the retry publishes and never sleeps.
//  - In the second, W-WAKE/A-WAKE synchronize through that RMW (TSan
//    builds: the acq_rel RMWs themselves), so the subscriber reads this
//    wait's wake_at or a later one, never an earlier one; a later one
//    belongs to a later wait, whose own retry the same argument covers.
// A subscriber wakes the publisher when its cursor becomes exactly
// wake_at (cursors move one message at a time here), so each subscriber
// wakes a parked publisher at most once per batch. The price: a parked
// publisher whose slowest subscriber stops reading with less than a batch
// freed waits until its next time slice (detail::peer_poll, 50 ms), when it
// retries anyway; subscribers that leave, close() and the lossy re-sync
// still notify unconditionally.
static std::uint64_t wake_batch(std::uint64_t cap) noexcept {
  return std::max<std::uint64_t>(1, cap / 4);
}

void topic_publisher::arm_wake() noexcept {
  const std::uint64_t cap = st_->geo.capacity;
  const std::uint64_t batch = wake_batch(cap);
  // relaxed: W-WAKE below orders it before the registrations of the wait.
  st_->sh->wake_at.store(head_ >= cap ? head_ - cap + batch : batch, std::memory_order_relaxed);
  // W-WAKE: pairs with A-WAKE in wake_publisher() (see above).
  if constexpr (!detail::tsan_build) std::atomic_thread_fence(std::memory_order_release);
}

status topic_publisher::publish_until(std::span<const std::byte> msg, clock::time_point deadline) noexcept {
  if (!st_) [[unlikely]]
    return status::closed;
  if (msg.size() > st_->geo.max_size) [[unlikely]]
    return status::too_large;
  if (status s = attempt(msg); s != status::would_block) return s;
  // Before the wait's first registration; head_ stays put while it waits,
  // so wake_at stays right for every park of this publish.
  arm_wake();
  return detail::wait_loop(
      st_->sh->not_full, policy_, deadline,
      [&]() noexcept { return still_blocked() ? status::would_block : attempt(msg); },
      [this]() noexcept { return reap_dead(); });
}

// ------------------------------------------------------------ subscriber

topic_subscriber::topic_subscriber(std::shared_ptr<topic_state> st, std::size_t index, std::uint64_t cursor,
                                   wait_policy p) noexcept
    : st_(std::move(st)), entry_(&st_->sh->subscribers[index]), index_(index), cursor_(cursor), policy_(p) {}
topic_subscriber::topic_subscriber(topic_subscriber&& o) noexcept
    : st_(std::move(o.st_)),
      entry_(std::exchange(o.entry_, nullptr)),
      index_(o.index_),
      cursor_(o.cursor_),
      missed_(o.missed_),
      total_missed_(o.total_missed_),
      policy_(o.policy_) {}
topic_subscriber& topic_subscriber::operator=(topic_subscriber&& o) noexcept {
  if (this != &o) {
    reset();
    st_ = std::move(o.st_);
    entry_ = std::exchange(o.entry_, nullptr);
    index_ = o.index_;
    cursor_ = o.cursor_;
    missed_ = o.missed_;
    total_missed_ = o.total_missed_;
    policy_ = o.policy_;
  }
  return *this;
}
topic_subscriber::~topic_subscriber() {
  reset();
}
void topic_subscriber::reset() noexcept {
  if (!st_ || !entry_) return;
  entry_->state.store(detail::sub_free, std::memory_order_release);
  std::uint64_t me = detail::self_owner();
  entry_->owner.compare_exchange_strong(me, 0, std::memory_order_release);
  // A publisher waiting for us rescans.
  if (st_->backpressure()) detail::notify(st_->sh->not_full, st_->bells);
  entry_ = nullptr;
  st_.reset();
}
std::size_t topic_subscriber::max_message_size() const noexcept {
  return st_ ? st_->geo.max_size : 0;
}

// Our slot was reused: count what we lost and go on near the oldest message
// still retained (the one being overwritten now, if any, is not), a
// re-sync margin of capacity/8 ahead of it (topic.hpp, "Design": landing on
// the very oldest slot, the one the running publisher overwrites next,
// laps us again at once, receive after receive).
status topic_subscriber::lapped() noexcept {
  topic_state& st = *st_;
  if (entry_->state.load(std::memory_order_relaxed) == detail::sub_evicted) return status::evicted;
  // A-HEAD: pairs with R-HEAD. Read once; any value only moves our cursor.
  const std::uint64_t h = st.sh->head.load(std::memory_order_acquire);
  const std::uint64_t cap = st.geo.capacity;
  const std::uint64_t margin = std::max<std::uint64_t>(1, cap / 8);
  const std::uint64_t oldest = h >= cap ? h - cap + margin : 0;
  const std::uint64_t next = std::max(cursor_ + 1, oldest);
  missed_ = next - cursor_;
  total_missed_ += missed_;
  cursor_ = next;
  entry_->cursor.store(cursor_, std::memory_order_release);  // R-CURSOR
  if (st.backpressure()) detail::notify(st.sh->not_full, st.bells);
  return status::overrun;
}

// After our cursor store: wakes a parked back-pressured publisher once our
// cursor reaches its wake_at (the batching and its ordering are described
// above topic_publisher::arm_wake()). No system call and no read of the
// publisher's line while nobody waits.
static void wake_publisher(topic_state& st, std::uint64_t cursor) noexcept {
  if (!detail::must_wake<detail::shipped_env>(st.sh->not_full)) [[likely]]
    return;
  // A-WAKE: pairs with W-WAKE in topic_publisher::arm_wake().
  if constexpr (!detail::tsan_build) std::atomic_thread_fence(std::memory_order_acquire);
  if (st.sh->wake_at.load(std::memory_order_relaxed) != cursor) return;
  detail::notify_slow(st.sh->not_full, st.bells);
}

status topic_subscriber::attempt(std::span<std::byte> buf, std::size_t& len) noexcept {
  topic_state& st = *st_;
  if (st.geo.lag_limit != 0 && entry_->state.load(std::memory_order_relaxed) == detail::sub_evicted)
      [[unlikely]]
    return status::evicted;
  switch (read_message(st.slot(cursor_), cursor_, st.geo.max_size, buf, len)) {
    case slot_read::ok:
      ++cursor_;
      // R-CURSOR: pairs with A-CURSOR in scan_min(): our reads of the slot
      // are done before the publisher may reuse it.
      entry_->cursor.store(cursor_, std::memory_order_release);
      if (st.backpressure()) wake_publisher(st, cursor_);
      return status::ok;
    case slot_read::not_yet:
      if (st.sh->closed.load(std::memory_order_acquire) != 0 &&
          cursor_ >= st.sh->head.load(std::memory_order_acquire))
        return status::closed;
      return status::would_block;
    case slot_read::lapped:
      return lapped();
    case slot_read::too_large:
      return status::too_large;
    case slot_read::corrupt:
      return status::corrupt;
  }
  return status::corrupt;
}

status topic_subscriber::try_receive(std::span<std::byte> buf, std::size_t& len) noexcept {
  if (!st_) [[unlikely]]
    return status::closed;  // default-constructed or moved from
  return attempt(buf, len);
}

status topic_subscriber::receive_until(std::span<std::byte> buf, std::size_t& len,
                                       clock::time_point deadline) noexcept {
  if (!st_) [[unlikely]]
    return status::closed;
  if (status s = attempt(buf, len); s != status::would_block) return s;
  return detail::wait_loop(
      st_->sh->not_empty, policy_, deadline, [&]() noexcept { return attempt(buf, len); },
      [this]() noexcept {
        const std::uint64_t o = st_->sh->publisher.load(std::memory_order_relaxed);
        return o == 0 || detail::owner_alive(o);
      });
}

bool topic_subscriber::ready(const void* self) noexcept {
  const auto* s = static_cast<const topic_subscriber*>(self);
  const topic_state& st = *s->st_;
  const std::uint64_t seq = word64(st.slot(s->cursor_)).load(std::memory_order_acquire);
  return seq >= seq_done(s->cursor_) || st.sh->closed.load(std::memory_order_acquire) != 0 ||
         s->entry_->state.load(std::memory_order_relaxed) == detail::sub_evicted;
}

waitable topic_subscriber::readable() const noexcept {
  return waitable{&st_->sh->not_empty, &topic_subscriber::ready, this, st_->bells, nullptr};
}

// ------------------------------------------------------------ topic

namespace {

std::string topic_who(std::string_view name) {
  std::string s = "topic '";
  s += name;
  s += "'";
  return s;
}

result<void> check_options(const std::string& who, const topic_options& opt) {
  if (opt.capacity < 2 || opt.capacity > max_capacity || !std::has_single_bit(opt.capacity))
    return result<void>(errc::invalid_argument, who + ": capacity " + std::to_string(opt.capacity) +
                                                    " is not a power of two from 2 to 2^32: pick e.g. 1024");
  if (opt.max_message_size == 0 || opt.max_message_size > topic_max_message_limit)
    return result<void>(errc::invalid_argument,
                        who + ": max_message_size " + std::to_string(opt.max_message_size) +
                            " is out of range: 1 to " + std::to_string(topic_max_message_limit) + " bytes");
  if (opt.lag_limit > opt.capacity || (opt.lag_limit != 0 && opt.mode != topic_mode::backpressure))
    return result<void>(errc::invalid_argument,
                        who + ": lag_limit " + std::to_string(opt.lag_limit) +
                            " needs mode backpressure and at most the capacity (0: never evict)");
  return {};
}

detail::topic_geometry make_geometry(const topic_options& opt, std::size_t element) noexcept {
  detail::topic_geometry g{};
  g.capacity = opt.capacity;
  g.max_size = opt.max_message_size;
  g.stride = stride_for(opt.max_message_size);
  g.slots_offset = sizeof(topic_shared);
  g.bytes = g.slots_offset + g.capacity * g.stride;
  g.lag_limit = opt.lag_limit;
  g.mode = static_cast<std::uint32_t>(opt.mode);
  g.element_size = static_cast<std::uint32_t>(element);
  return g;
}

// Copies the geometry once and checks every field of the copy against the
// header and the file before anything else is touched.
result<std::shared_ptr<topic_state>> adopt(segment seg, std::size_t element, bool typed) {
  const std::string who = topic_who(seg.info().name);
  if (seg.payload_size() < sizeof(topic_shared))
    return error(errc::truncated,
                 who + ": the segment is too small for a topic: remove it and create it again");
  detail::topic_geometry g{};
  std::memcpy(&g, seg.payload(), sizeof g);
  topic_options o;
  o.capacity = g.capacity;
  o.max_message_size = g.max_size;
  o.lag_limit = g.lag_limit;
  o.mode = g.mode == 1 ? topic_mode::backpressure : topic_mode::lossy;
  const detail::topic_geometry want = make_geometry(o, g.element_size);
  if (g.mode > 1 || !check_options(who, o) || std::memcmp(&g, &want, sizeof g) != 0 ||
      g.capacity != seg.info().capacity || g.stride != seg.info().element_size)
    return error(errc::bad_layout, who + " has a damaged or foreign geometry: remove it and create it again");
  if (g.bytes > seg.payload_size())
    return error(errc::truncated, who + " needs " + std::to_string(g.bytes) + " bytes, the segment has " +
                                      std::to_string(seg.payload_size()));
  if (typed && g.element_size != element)
    return error(errc::bad_layout, who + " carries " + std::to_string(g.element_size) + "-byte items, not " +
                                       std::to_string(element) + " (a byte topic is 0): another type?");
  detail::init_barriers();
  auto st = std::make_shared<topic_state>();
  st->sh = std::launder(reinterpret_cast<topic_shared*>(seg.payload()));
  st->slots = seg.payload() + g.slots_offset;
  st->geo = g;
  st->mask = g.capacity - 1;
  st->bells = detail::doorbell_site_of(seg);
  st->seg = std::move(seg);
  return st;
}

}  // namespace

result<byte_topic> byte_topic::create_typed(std::string_view name, const topic_options& opt,
                                            std::size_t element) {
  const std::string who = topic_who(name);
  if (auto ok = check_options(who, opt); !ok) return ok.error();
  const detail::topic_geometry g = make_geometry(opt, element);
  segment_options so;
  so.domain = opt.domain;
  so.backing = opt.backing;
  so.group_access = opt.group_access;
  so.kind = object_kind::topic;
  so.element_size = g.stride;
  so.capacity = g.capacity;
  auto seg = segment::create(name, g.bytes, so, [g](std::byte* payload, std::size_t) {
    auto* sh = new (payload) topic_shared{};
    sh->geo = g;
  });
  if (!seg) return std::move(seg).error();
  auto st = adopt(std::move(*seg), element, true);
  if (!st) return std::move(st).error();
  return byte_topic(std::move(*st));
}

result<byte_topic> byte_topic::open_typed(std::string_view name, std::string_view domain,
                                          std::size_t element) {
  segment_options so;
  so.domain = std::string(domain);
  so.kind = object_kind::topic;
  auto seg = segment::open(name, so);
  if (!seg) return std::move(seg).error();
  auto st = adopt(std::move(*seg), element, true);
  if (!st) return std::move(st).error();
  return byte_topic(std::move(*st));
}

result<byte_topic> byte_topic::create(std::string_view name, const topic_options& opt) {
  return create_typed(name, opt, 0);
}

result<byte_topic> byte_topic::open(std::string_view name, std::string_view domain) {
  // A byte view opens typed topics too (messages are sizeof(T) bytes).
  segment_options so;
  so.domain = std::string(domain);
  so.kind = object_kind::topic;
  auto seg = segment::open(name, so);
  if (!seg) return std::move(seg).error();
  auto st = adopt(std::move(*seg), 0, false);
  if (!st) return std::move(st).error();
  return byte_topic(std::move(*st));
}

result<byte_topic> byte_topic::open_wait(std::string_view name,
                                         std::chrono::steady_clock::time_point deadline,
                                         std::string_view domain) {
  for (detail::appear_backoff wait(deadline);;)
    if (auto t = open(name, domain); t || !wait.retry(t.error())) return t;
}

result<byte_topic> byte_topic::open_or_create(std::string_view name, const topic_options& opt) {
  auto r = create(name, opt);
  if (r || !(r.error() == errc::already_exists)) return r;
  return open(name, opt.domain);
}

result<void> byte_topic::remove(std::string_view name, std::string_view domain) {
  return segment::remove(name, domain);
}

result<topic_publisher> byte_topic::publisher(wait_policy p) const {
  topic_shared& sh = *st_->sh;
  const std::uint64_t me = detail::self_owner();
  std::uint64_t o = sh.publisher.load(std::memory_order_acquire);
  for (;;) {
    if (o == me)
      return error(errc::role_taken, topic_who(info().name) + ": this process holds its publisher already");
    const bool dead = o != 0 && !detail::owner_alive(o);
    if (o != 0 && !dead)
      return error(errc::role_taken, topic_who(info().name) + ": process " +
                                         std::to_string(detail::owner_pid(o)) +
                                         " is its publisher (one publisher per topic)");
    // acquire: pairs with the release of a holder that left cleanly.
    if (sh.publisher.compare_exchange_weak(o, me, std::memory_order_acq_rel)) {
      if (dead) sh.takeovers.fetch_add(1, std::memory_order_relaxed);
      return topic_publisher(st_, p);
    }
  }
}

result<topic_subscriber> byte_topic::subscriber(start_at from, wait_policy p) const {
  topic_shared& sh = *st_->sh;
  const std::uint64_t me = detail::self_owner();
  for (std::size_t i = 0; i < detail::topic_max_subscribers; ++i) {
    topic_subscriber_entry& e = sh.subscribers[i];
    std::uint64_t o = e.owner.load(std::memory_order_relaxed);
    if (o == reaping_owner || (o != 0 && (detail::owner_alive(o) || !reap_entry(*st_, e, o)))) continue;
    o = 0;
    // acquire: pairs with the release that freed the entry.
    if (!e.owner.compare_exchange_strong(o, me, std::memory_order_acquire)) continue;
    // A-HEAD: pairs with R-HEAD.
    const std::uint64_t h = sh.head.load(std::memory_order_acquire);
    const std::uint64_t cap = st_->geo.capacity;
    std::uint64_t c = from == start_at::oldest ? (h >= cap ? h - cap : 0) : h;
    e.cursor.store(c, std::memory_order_relaxed);
    e.from_oldest.store(from == start_at::oldest ? 1 : 0, std::memory_order_relaxed);
    // R-STATE: pairs with A-STATE in the publisher's scans.
    e.state.store(detail::sub_active, std::memory_order_release);
    // A-GATE: pairs with R-GATE in topic_publisher::rescan().
    const std::uint64_t g = sh.gate.fetch_add(0, std::memory_order_acq_rel);
    if (st_->backpressure() && c < g) {
      c = std::min(g, h);
      e.cursor.store(c, std::memory_order_release);
    }
    return topic_subscriber(st_, i, c, p);
  }
  return error(errc::too_many_roles, topic_who(info().name) + " has 64 live subscribers: the limit");
}

status byte_topic::latest(std::span<std::byte> buf, std::size_t& len) const noexcept {
  for (int tries = 0; tries < 64; ++tries) {
    // A-HEAD: pairs with R-HEAD: message h - 1 is complete.
    const std::uint64_t h = st_->sh->head.load(std::memory_order_acquire);
    if (h == 0) return status::would_block;
    switch (read_message(st_->slot(h - 1), h - 1, st_->geo.max_size, buf, len)) {
      case slot_read::ok:
        return status::ok;
      case slot_read::too_large:
        return status::too_large;
      case slot_read::corrupt:
        return status::corrupt;
      case slot_read::not_yet:  // only a corrupt head says so; try again
      case slot_read::lapped:
        break;
    }
  }
  return status::would_block;
}

void byte_topic::close() const noexcept {
  st_->sh->closed.store(1, std::memory_order_release);
  detail::notify_slow(st_->sh->not_empty, st_->bells);
  detail::notify_slow(st_->sh->not_full, st_->bells);
}
bool byte_topic::closed() const noexcept {
  return st_->sh->closed.load(std::memory_order_acquire) != 0;
}
std::uint64_t byte_topic::published() const noexcept {
  return st_->sh->head.load(std::memory_order_acquire);
}
std::size_t byte_topic::capacity() const noexcept {
  return st_->geo.capacity;
}
std::size_t byte_topic::max_message_size() const noexcept {
  return st_->geo.max_size;
}
topic_mode byte_topic::mode() const noexcept {
  return st_->backpressure() ? topic_mode::backpressure : topic_mode::lossy;
}
std::size_t byte_topic::lag_limit() const noexcept {
  return st_->geo.lag_limit;
}
std::size_t byte_topic::element_size() const noexcept {
  return st_->geo.element_size;
}
const segment_info& byte_topic::info() const noexcept {
  return st_->seg.info();
}

topic_stats byte_topic::stats() const {
  const topic_shared& sh = *st_->sh;
  topic_stats s;
  s.published = sh.head.load(std::memory_order_acquire);
  s.gate = sh.gate.load(std::memory_order_relaxed);
  const std::uint64_t p = sh.publisher.load(std::memory_order_relaxed);
  s.publisher_pid = detail::owner_pid(p);
  s.publisher_alive = p != 0 && detail::owner_alive(p);
  s.takeovers = sh.takeovers.load(std::memory_order_relaxed);
  s.evictions = sh.evictions.load(std::memory_order_relaxed);
  s.reaped = sh.reaped.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < detail::topic_max_subscribers; ++i) {
    const topic_subscriber_entry& e = sh.subscribers[i];
    const std::uint64_t o = e.owner.load(std::memory_order_relaxed);
    const std::uint32_t state = e.state.load(std::memory_order_relaxed);
    if (o == 0 || o == reaping_owner || state == detail::sub_free) continue;
    topic_stats::subscriber sub;
    sub.index = i;
    sub.pid = detail::owner_pid(o);
    sub.alive = detail::owner_alive(o);
    sub.evicted = state == detail::sub_evicted;
    sub.cursor = e.cursor.load(std::memory_order_relaxed);
    sub.lag = s.published >= sub.cursor ? s.published - sub.cursor : 0;
    s.subscribers.push_back(sub);
  }
  return s;
}

}  // namespace ringport
