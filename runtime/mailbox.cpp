// Mailboxes: slot headers, synchronous acknowledgements, create/open.
// The design and its guarantees are described in ringport/mailbox.hpp.
#include "ringport/mailbox.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstring>
#include <new>

#include "ringport/detail/mailbox_ack.hpp"
#include "ringport/detail/ring_state.hpp"
#include "ringport/detail/wait.hpp"

namespace ringport {
namespace {

using detail::mailbox_ack;
using clock = std::chrono::steady_clock;

// Slot header: four 32-bit fields before the payload. They are written and
// read with relaxed atomic accesses (std::atomic_ref): a consumer may look at
// a header before it owns the slot (reserve_one_if), racing with the next
// lap's producer; the turns, not these accesses, carry the ordering.
constexpr std::size_t off_length = 0;
constexpr std::size_t off_flags = 4;
constexpr std::size_t off_ack_index = 8;
constexpr std::size_t off_ack_gen = 12;
static_assert(off_ack_gen + 4 == mailbox_header_bytes, "the header is four 32-bit words");

constexpr std::uint32_t flag_sync = 1;  // ack_index/ack_gen name a pending acknowledgement
constexpr std::uint32_t flag_void = 2;  // an aborted claim: receivers skip it
constexpr std::uint32_t known_flags = flag_sync | flag_void;

// Acknowledgement word: generation << 2 | state; its protocol steps are in
// detail/mailbox_ack.hpp (model-checked in tests/model/).
using detail::ack_pending;
using detail::ack_word;
using ack_env = detail::shipped_ack_env;
constexpr std::uint32_t gen_mask = detail::ack_gen_mask;

constexpr std::uint32_t extra_bytes = static_cast<std::uint32_t>(sizeof(mailbox_ack) * detail::max_roles);

struct slot_header {
  std::uint32_t length, flags, ack_index, ack_gen;
};
static_assert(sizeof(slot_header) == mailbox_header_bytes && offsetof(slot_header, ack_gen) == off_ack_gen,
              "slot_header mirrors the slot's header words (summarize_slot copies it)");

std::atomic_ref<std::uint32_t> field(const std::byte* slot, std::size_t off) noexcept {
  // The slot lives in a writable shared mapping; const only says we read.
  return std::atomic_ref<std::uint32_t>(
      *std::launder(reinterpret_cast<std::uint32_t*>(const_cast<std::byte*>(slot) + off)));
}

slot_header load_header(const std::byte* slot) noexcept {
  // Each field is read exactly once here; callers check the copy.
  return {field(slot, off_length).load(std::memory_order_relaxed),
          field(slot, off_flags).load(std::memory_order_relaxed),
          field(slot, off_ack_index).load(std::memory_order_relaxed),
          field(slot, off_ack_gen).load(std::memory_order_relaxed)};
}

void store_header(std::byte* slot, const slot_header& h) noexcept {
  // relaxed: published by R-TURN-FULL in producer_engine::publish().
  field(slot, off_length).store(h.length, std::memory_order_relaxed);
  field(slot, off_flags).store(h.flags, std::memory_order_relaxed);
  field(slot, off_ack_index).store(h.ack_index, std::memory_order_relaxed);
  field(slot, off_ack_gen).store(h.ack_gen, std::memory_order_relaxed);
}

mailbox_ack* ack_table(detail::ring_state& st) noexcept {
  return std::launder(reinterpret_cast<mailbox_ack*>(st.extra()));
}

}  // namespace

// ---------------------------------------------------------------- roles

namespace detail {

mailbox_role::mailbox_role(std::shared_ptr<ring_state> st, bool producer, std::size_t slot) noexcept
    : st_(std::move(st)), producer_(producer), slot_(slot) {}
mailbox_role::mailbox_role(mailbox_role&& o) noexcept
    : st_(std::move(o.st_)), producer_(o.producer_), slot_(std::exchange(o.slot_, ~std::size_t{0})) {}
mailbox_role& mailbox_role::operator=(mailbox_role&& o) noexcept {
  if (this != &o) {
    reset();
    st_ = std::move(o.st_);
    producer_ = o.producer_;
    slot_ = std::exchange(o.slot_, ~std::size_t{0});
  }
  return *this;
}
mailbox_role::~mailbox_role() {
  reset();
}
void mailbox_role::reset() noexcept {
  if (st_ && slot_ < max_roles) st_->detach(producer_ ? role::producer : role::consumer, slot_);
  slot_ = ~std::size_t{0};
}

}  // namespace detail

// ---------------------------------------------------------------- sender

mailbox_sender::mailbox_sender(detail::mailbox_role role, std::size_t max, wait_policy p) noexcept
    : role_(std::move(role)),
      e_(role_.state().view(), role_.slot()),
      ack_(&ack_table(role_.state())[role_.slot()].word),
      max_(max),
      policy_(p) {}

status mailbox_sender::reserve_slot() noexcept {
  if (role_.state().closed()) [[unlikely]]
    return status::closed;
  if (e_.reserve(1) == 0) [[unlikely]]
    return e_.corrupt() ? status::corrupt : status::would_block;
  return status::ok;
}

void mailbox_sender::finish(std::size_t n, bool sync) noexcept {
  std::byte* slot = e_.view().slot(e_.pos());
  slot_header h{static_cast<std::uint32_t>(n), 0, 0, 0};
  if (sync) {
    ack_gen_ = detail::ack_start<ack_env>(*ack_);  // published to receivers by R-TURN-FULL
    h.flags = flag_sync;
    h.ack_index = static_cast<std::uint32_t>(role_.slot());
    h.ack_gen = ack_gen_;
  }
  store_header(slot, h);
  e_.publish();
}

status mailbox_sender::enqueue(std::span<const std::byte> msg, bool sync) noexcept {
  if (status s = reserve_slot(); s != status::ok) return s;
  if (!msg.empty()) std::memcpy(e_.view().slot(e_.pos()) + mailbox_header_bytes, msg.data(), msg.size());
  finish(msg.size(), sync);
  return status::ok;
}

status mailbox_sender::try_send(std::span<const std::byte> msg) noexcept {
  if (claiming_) [[unlikely]]
    return status::would_block;
  if (msg.size() > max_) [[unlikely]]
    return status::too_large;
  return enqueue(msg, false);
}

status mailbox_sender::send_until(std::span<const std::byte> msg, clock::time_point deadline,
                                  delivery d) noexcept {
  if (claiming_) [[unlikely]]
    return status::would_block;
  if (msg.size() > max_) [[unlikely]]
    return status::too_large;
  const bool sync = d == delivery::sync;
  status s = enqueue(msg, sync);
  if (s == status::would_block)
    s = detail::wait_loop(
        e_.view().shared->not_full, policy_, deadline, [&]() noexcept { return enqueue(msg, sync); },
        [this]() noexcept {
          e_.poll_stall();
          return role_.state().peers_alive(detail::role::consumer);
        });
  if (s != status::ok || !sync) return s;
  return await_taken(deadline);
}

status mailbox_sender::try_claim(std::size_t size, std::span<std::byte>& out) noexcept {
  out = {};
  if (claiming_) [[unlikely]]
    return status::would_block;
  if (size > max_) [[unlikely]]
    return status::too_large;
  if (status s = reserve_slot(); s != status::ok) return s;
  claiming_ = true;
  claimed_ = size;
  out = {e_.view().slot(e_.pos()) + mailbox_header_bytes, size};
  return status::ok;
}

status mailbox_sender::claim_until(std::size_t size, std::span<std::byte>& out,
                                   clock::time_point deadline) noexcept {
  status s = try_claim(size, out);
  if (s != status::would_block || claiming_) return s;
  return detail::wait_loop(
      e_.view().shared->not_full, policy_, deadline, [&]() noexcept { return try_claim(size, out); },
      [this]() noexcept {
        e_.poll_stall();
        return role_.state().peers_alive(detail::role::consumer);
      });
}

status mailbox_sender::commit(std::size_t n, delivery d, clock::time_point deadline) noexcept {
  if (!claiming_ || n > claimed_) return status::too_large;
  claiming_ = false;
  const bool sync = d == delivery::sync;
  finish(n, sync);
  return sync ? await_taken(deadline) : status::ok;
}

void mailbox_sender::abort() noexcept {
  if (!claiming_) return;
  claiming_ = false;
  store_header(e_.view().slot(e_.pos()), slot_header{0, flag_void, 0, 0});
  e_.publish();
}

// Waits until a receiver took the pending sync message (ok), or withdraws it
// on deadline, close or receivers' death. See "Delivery" in mailbox.hpp.
status mailbox_sender::await_taken(clock::time_point deadline) noexcept {
  const std::uint32_t gen = ack_gen_;
  const std::uint32_t pending = ack_word(gen, ack_pending);
  auto finished = [&](std::uint32_t w) noexcept { return detail::ack_finished<ack_env>(*ack_, gen, w); };
  auto load = [&]() noexcept { return detail::ack_load<ack_env>(*ack_); };  // A-ACK
  const detail::wait_budget b = detail::budget_for(policy_);
  for (std::uint32_t i = 0; i < b.spins / 4; ++i) {  // a receiver often takes it at once
    if (const std::uint32_t w = load(); w != pending) return finished(w);
    detail::cpu_relax();
  }
  for (std::uint32_t i = 0; i < b.yields; ++i) {
    if (const std::uint32_t w = load(); w != pending) return finished(w);
    detail::yield_cpu();
  }
  auto next_peer_check = clock::now() + detail::peer_poll;
  for (;;) {
    if (const std::uint32_t w = load(); w != pending) return finished(w);
    const auto now = clock::now();
    status why = status::would_block;
    if (now >= deadline) {
      why = status::timed_out;
    } else if (role_.state().closed()) {
      why = status::closed;
    } else if (now >= next_peer_check) {
      if (!role_.state().peers_alive(detail::role::consumer)) why = status::peer_gone;
      next_peer_check = now + detail::peer_poll;
    }
    // Withdraw: if it wins, the receiver that dequeues the message discards it.
    if (why != status::would_block) return detail::ack_withdraw<ack_env>(*ack_, gen, why);
    const auto slice = now + detail::peer_poll;
    detail::futex_wait_until(ack_, pending, deadline < slice ? deadline : slice);
  }
}

// ---------------------------------------------------------------- receiver

mailbox_receiver::mailbox_receiver(detail::mailbox_role role, std::size_t max, wait_policy p) noexcept
    : role_(std::move(role)),
      e_(role_.state().view(), role_.slot()),
      acks_(ack_table(role_.state())),
      max_(max),
      policy_(p) {}

status mailbox_receiver::empty_status() noexcept {
  if (e_.corrupt()) return status::corrupt;
  // A send that raced with close() is still delivered: re-check after closed.
  if (role_.state().closed()) return e_.readable() ? status::would_block : status::closed;
  return status::would_block;
}

// The one receive path: copies into *buf, or lends the slot as *view.
status mailbox_receiver::take(std::span<std::byte>* buf, std::size_t& len,
                              std::span<const std::byte>* view) noexcept {
  release();
  const std::size_t room = buf ? buf->size() : max_;
  for (;;) {
    slot_header h{};
    bool too_big = false;
    const std::size_t k = e_.reserve_one_if([&](const std::byte* slot) noexcept {
      h = load_header(slot);
      too_big = false;
      if ((h.flags & flag_void) != 0 || h.length > max_ || h.length <= room) return true;
      // A withdrawn sync message is taken (and discarded) whatever its size.
      if ((h.flags & flag_sync) != 0 && h.ack_index < detail::max_roles && h.ack_gen <= gen_mask &&
          acks_[h.ack_index].word.load(std::memory_order_relaxed) != ack_word(h.ack_gen, ack_pending))
        return true;
      too_big = true;
      return false;
    });
    if (k == 0) {
      if (too_big) {
        len = h.length;
        return status::too_large;
      }
      return empty_status();
    }
    // We own the slot now; h is the one copy of its header we act on.
    const std::byte* slot = e_.view().slot(e_.pos());
    if (h.length > max_ || (h.flags & ~known_flags) != 0) [[unlikely]] {
      e_.publish();  // drop it: a corrupt or hostile peer wrote it
      return status::corrupt;
    }
    if ((h.flags & flag_void) != 0) {
      e_.publish();
      continue;
    }
    if ((h.flags & flag_sync) != 0) {
      if (h.ack_index >= detail::max_roles || h.ack_gen > gen_mask) [[unlikely]] {
        e_.publish();
        return status::corrupt;
      }
      std::atomic<std::uint32_t>& w = acks_[h.ack_index].word;
      // R-ACK: exactly one of this CAS and the sender's withdrawing CAS wins.
      if (!detail::ack_take<ack_env>(w, h.ack_gen)) {
        e_.publish();  // withdrawn (timed out): never delivered
        continue;
      }
      detail::futex_wake_all(&w);
    }
    len = h.length;
    if (view) {
      *view = {slot + mailbox_header_bytes, h.length};
      return status::ok;  // stays reserved until release()
    }
    if (h.length != 0) std::memcpy(buf->data(), slot + mailbox_header_bytes, h.length);
    e_.publish();
    return status::ok;
  }
}

status mailbox_receiver::try_receive(std::span<std::byte> buf, std::size_t& len) noexcept {
  return take(&buf, len, nullptr);
}

status mailbox_receiver::receive_until(std::span<std::byte> buf, std::size_t& len,
                                       clock::time_point deadline) noexcept {
  if (status s = take(&buf, len, nullptr); s != status::would_block) return s;
  return detail::wait_loop(
      e_.view().shared->not_empty, policy_, deadline, [&]() noexcept { return take(&buf, len, nullptr); },
      [this]() noexcept {
        e_.poll_stall();
        return role_.state().peers_alive(detail::role::producer);
      });
}

status mailbox_receiver::try_peek(std::span<const std::byte>& msg) noexcept {
  std::size_t len = 0;
  return take(nullptr, len, &msg);
}

status mailbox_receiver::peek_until(std::span<const std::byte>& msg, clock::time_point deadline) noexcept {
  std::size_t len = 0;
  if (status s = take(nullptr, len, &msg); s != status::would_block) return s;
  return detail::wait_loop(
      e_.view().shared->not_empty, policy_, deadline, [&]() noexcept { return take(nullptr, len, &msg); },
      [this]() noexcept {
        e_.poll_stall();
        return role_.state().peers_alive(detail::role::producer);
      });
}

void mailbox_receiver::release() noexcept {
  if (e_.reserved() != 0) e_.publish();
}

std::size_t mailbox_receiver::drop_queued() noexcept {
  release();
  // acquire: every position below `end` was claimed by a sender before now.
  const std::uint64_t end = e_.view().shared->tail.load(std::memory_order_acquire);
  std::size_t dropped = 0;
  for (;;) {
    // The slot offered is at the head as the engine read it, which is at or
    // below the head read here (it only grows): below `end` when this is.
    const std::size_t k = e_.reserve_one_if([&](const std::byte*) noexcept {
      const std::uint64_t head = e_.view().shared->head.load(std::memory_order_relaxed);
      return static_cast<std::int64_t>(end - head) > 0;
    });
    if (k == 0) return dropped;
    e_.publish();  // not delivered: no acknowledgement, no copy
    ++dropped;
  }
}

bool mailbox_receiver::ready(const void* self) noexcept {
  const auto* r = static_cast<const mailbox_receiver*>(self);
  return r->e_.readable() || r->role_.state().closed();
}

// wait_any() parks for this handle's thread, which owns the engine.
void mailbox_receiver::idle(const void* self) noexcept {
  const_cast<mailbox_receiver*>(static_cast<const mailbox_receiver*>(self))->e_.poll_stall();
}

waitable mailbox_receiver::readable() const noexcept {
  return waitable{&e_.view().shared->not_empty, &mailbox_receiver::ready, this, e_.view().bells,
                  &mailbox_receiver::idle};
}

// ---------------------------------------------------------------- mailbox

result<mailbox> mailbox::create(std::string_view name, const mailbox_options& opt) {
  const std::string who = "mailbox '" + std::string(name) + "'";
  if (opt.capacity == 0 || opt.capacity > (std::size_t{1} << 32) || !std::has_single_bit(opt.capacity))
    return error(errc::invalid_argument, who + ": capacity " + std::to_string(opt.capacity) +
                                             " is not a power of two from 1 to 2^32: pick e.g. 1024");
  if (opt.max_message_size == 0 || opt.max_message_size > mailbox_max_message_limit)
    return error(errc::invalid_argument, who + ": max_message_size " + std::to_string(opt.max_message_size) +
                                             " is out of range: 1 to " +
                                             std::to_string(mailbox_max_message_limit) + " bytes");
  ring_options ro;
  ro.capacity = opt.capacity;
  ro.backing = opt.backing;
  ro.domain = opt.domain;
  ro.group_access = opt.group_access;
  // existing::open: the existing mailbox's sizes win, so open it by name
  // (mailbox::open reads them from its header) rather than by our sizes.
  ro.if_exists = opt.if_exists == existing::open ? existing::fail : opt.if_exists;
  auto st = detail::ring_state::create(name, object_kind::mailbox,
                                       mailbox_header_bytes + opt.max_message_size, 8, ro, extra_bytes);
  if (!st && opt.if_exists == existing::open && st.error() == errc::already_exists)
    return open(name, opt.domain);
  if (!st) return std::move(st).error();
  return mailbox(std::move(*st), opt.max_message_size);
}

namespace detail {

result<std::shared_ptr<ring_state>> open_mailbox_state(std::string_view name, std::string_view domain,
                                                       std::size_t& max) {
  // The slot size is in the segment header: read it, then open the ring
  // with it (the ring validates its whole geometry against that size).
  segment_options so;
  so.domain = std::string(domain);
  so.kind = object_kind::mailbox;
  std::uint64_t element = 0;
  {
    auto seg = segment::open(name, so);
    if (!seg) return std::move(seg).error();
    element = seg->info().element_size;
  }
  if (element <= mailbox_header_bytes || element > mailbox_header_bytes + mailbox_max_message_limit)
    return error(errc::bad_layout,
                 "mailbox '" + std::string(name) + "' records " + std::to_string(element) +
                     "-byte slots, impossible for a mailbox: remove it and create it again");
  auto st = ring_state::open(name, object_kind::mailbox, element, 8, domain, extra_bytes);
  if (!st) return std::move(st).error();
  max = static_cast<std::size_t>(element - mailbox_header_bytes);
  return st;
}

mailbox_slot_summary summarize_slot(const ring_state& st, const std::byte* copy, std::size_t max) noexcept {
  slot_header h{};
  std::memcpy(&h, copy, sizeof h);
  mailbox_slot_summary out;
  out.length = h.length;
  out.valid = h.length <= max && (h.flags & ~known_flags) == 0 &&
              ((h.flags & flag_sync) == 0 || (h.ack_index < max_roles && h.ack_gen <= gen_mask));
  if (!out.valid || (h.flags & flag_void) != 0) return out;
  const mailbox_ack* acks = std::launder(reinterpret_cast<const mailbox_ack*>(st.extra()));
  // relaxed: a report; the caller re-checks the slot's turn after this.
  out.deliverable = (h.flags & flag_sync) == 0 || acks[h.ack_index].word.load(std::memory_order_relaxed) ==
                                                      ack_word(h.ack_gen, ack_pending);
  return out;
}

}  // namespace detail

result<mailbox> mailbox::open(std::string_view name, std::string_view domain) {
  std::size_t max = 0;
  auto st = detail::open_mailbox_state(name, domain, max);
  if (!st) return std::move(st).error();
  return mailbox(std::move(*st), max);
}

result<mailbox> mailbox::open_wait(std::string_view name, std::chrono::steady_clock::time_point deadline,
                                   std::string_view domain) {
  for (detail::appear_backoff wait(deadline);;)
    if (auto m = open(name, domain); m || !wait.retry(m.error())) return m;
}

result<mailbox> mailbox::open_or_create(std::string_view name, const mailbox_options& opt) {
  mailbox_options o = opt;
  o.if_exists = existing::open;
  return create(name, o);
}

result<void> mailbox::remove(std::string_view name, std::string_view domain) {
  return segment::remove(name, domain);
}

result<mailbox_sender> mailbox::sender(wait_policy p) const {
  auto slot = st_->attach(detail::role::producer);
  if (!slot) return slot.error();
  return mailbox_sender(detail::mailbox_role(st_, true, *slot), max_, p);
}

result<mailbox_receiver> mailbox::receiver(wait_policy p) const {
  auto slot = st_->attach(detail::role::consumer);
  if (!slot) return slot.error();
  return mailbox_receiver(detail::mailbox_role(st_, false, *slot), max_, p);
}

void mailbox::close() const noexcept {
  st_->close();
  // Sync senders sleep on their own words: wake them to see the close.
  mailbox_ack* acks = ack_table(*st_);
  for (std::size_t i = 0; i < detail::max_roles; ++i) detail::futex_wake_all(&acks[i].word);
}

peer_counts mailbox::peers() const noexcept {
  return st_->peers();
}

bool mailbox::closed() const noexcept {
  return st_->closed();
}
std::size_t mailbox::capacity() const noexcept {
  return st_->view().capacity;
}
std::size_t mailbox::size() const noexcept {
  return st_->size();
}
const segment_info& mailbox::info() const noexcept {
  return st_->info();
}

}  // namespace ringport
