// Mailboxes: slot headers, synchronous acknowledgements, create/open.
// The design and its guarantees are described in ringport/mailbox.hpp.
#include "ringport/mailbox.hpp"

#include <cstddef>

#include "mailbox_auto.hpp"
#include "ringport/detail/ring_recovery.hpp"

namespace ringport {
namespace {
using namespace mbx;
using clock = std::chrono::steady_clock;
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

mailbox_sender::mailbox_sender(detail::mailbox_role role, std::size_t max, wait_policy p,
                               detail::mailbox_meeting* meet) noexcept
    : role_(std::move(role)),
      e_(role_.state().view(), role_.slot()),
      ack_(&ack_table(role_.state())[role_.slot()].word),
      meet_(meet),
      line_(&ack_table(role_.state())[role_.slot()]),
      streams_(streams_of(role_.state())),
      max_(max),
      policy_(p) {
  // A dead previous holder of this slot may have left its marks: clear them.
  const auto mine = static_cast<std::uint32_t>(role_.slot() + 1);
  line_->sending.store(0, std::memory_order_relaxed);
  if (std::uint32_t g = mine; streams_->writer.compare_exchange_strong(g, 0, std::memory_order_acq_rel))
    release_writer();
  if (meet_) meet_->senders.fetch_and(~role_bit(role_.slot()), std::memory_order_relaxed);
  prune_meeting(e_.view(), meet_);
}

// A keeping sender settles a dead keeper's claims before its first own.
bool mailbox_sender::settled_first() noexcept {
  std::optional<std::uint64_t> voided;
  return !inherits_ || settle_inherited(voided) == status::ok;
}

status mailbox_sender::settle_inherited(std::optional<std::uint64_t>& voided) noexcept {
  voided.reset();
  if (!inherits_) return status::ok;
  const detail::kept_claim k = detail::resolve_kept(e_.view(), detail::role::producer, e_.claims());
  if (k.state == detail::kept_state::wait) return status::would_block;
  inherits_ = false;
  e_.inherit(k.held);
  if (k.state != detail::kept_state::held) return status::ok;
  voided = k.held.pos;
  e_.abandon();  // void turns: receivers skip them, never delivered
  return status::ok;
}

// A plain message's slot; leave() once it is published (finish, abort).
status mailbox_sender::reserve_slot() noexcept {
  if (e_.closed()) [[unlikely]]
    return status::closed;
  if (!settled_first()) [[unlikely]]
    return status::would_block;
  if (!enter()) [[unlikely]]
    return status::would_block;  // a stream message is being written: wait for its end
  if (e_.reserve(1).count == 0) [[unlikely]] {
    leave();
    return e_.corrupt() ? status::corrupt : status::would_block;
  }
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
  chain_wake();
  leave();
}

void mailbox_sender::chain_wake() noexcept {
  if (chain_ec_) [[unlikely]]
    detail::notify(*chain_ec_, chain_bells_);
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
  if (auto_) [[unlikely]]
    return auto_->send(msg, clock::time_point::max(), false, true);
  if (meet_) [[unlikely]]
    return meet_until(msg, clock::time_point::max(), true);
  return enqueue(msg, false);
}

// Rendezvous: waits until a receiver waits (try_only: one look), with our
// bit set in `senders` meanwhile so that try_receive knows.
status mailbox_sender::await_receiver(clock::time_point deadline, bool try_only) noexcept {
  const std::uint64_t bit = role_bit(role_.slot());
  auto next_peer_check = clock::now() + detail::peer_poll;
  status why = status::ok;
  for (;;) {
    // (Re)announce: a pruning race may have cleared our bit.
    if (!try_only) meet_->senders.fetch_or(bit, std::memory_order_relaxed);
    if (e_.closed()) {
      why = status::closed;
      break;
    }
    // seq_cst, with the receiver's announce(): either we see its bit, or our
    // futex wait sees the arrivals value it bumped after setting it.
    const std::uint32_t epoch = meet_->arrivals.load(std::memory_order_seq_cst);
    if (meet_->receivers.load(std::memory_order_seq_cst) != 0) break;
    if (try_only) {
      why = status::would_block;
      break;
    }
    const auto now = clock::now();
    if (now >= deadline) {
      why = status::timed_out;
      break;
    }
    if (now >= next_peer_check) {
      if (!role_.state().peers_alive(detail::role::consumer)) {
        why = status::peer_gone;
        break;
      }
      next_peer_check = now + detail::peer_poll;
    }
    const auto slice = now + detail::peer_poll;
    detail::futex_wait_until(&meet_->arrivals, epoch, deadline < slice ? deadline : slice);
  }
  if (!try_only) meet_->senders.fetch_and(~bit, std::memory_order_relaxed);
  return why;
}

// Rendezvous send: meet a waiting receiver, place the message, wait until it
// took it (try_only: gives it rendezvous_grace, then withdraws).
status mailbox_sender::meet_until(std::span<const std::byte> msg, clock::time_point deadline,
                                  bool try_only) noexcept {
  if (status s = await_receiver(deadline, try_only); s != status::ok) return s;
  status s = enqueue(msg, true);
  if (s == status::would_block && !try_only)  // the one slot holds another sender's message
    s = detail::wait_loop(
        e_.view().shared->not_full, policy_, deadline, [&]() noexcept { return enqueue(msg, true); },
        [this]() noexcept {
          e_.poll_stall();
          clear_dead_writer();
          return role_.state().peers_alive(detail::role::consumer);
        });
  if (s == status::ok)
    s = await_taken(try_only ? std::min(deadline, clock::now() + rendezvous_grace) : deadline);
  if (s == status::ok || s == status::closed) return s;
  prune_meeting(e_.view(), meet_);  // the receiver we met may have died
  return try_only && s == status::timed_out ? status::would_block : s;
}

status mailbox_sender::send_until(std::span<const std::byte> msg, clock::time_point deadline,
                                  delivery d) noexcept {
  if (claiming_) [[unlikely]]
    return status::would_block;
  if (msg.size() > max_) [[unlikely]]
    return status::too_large;
  if (meet_) [[unlikely]]
    return meet_until(msg, deadline, false);
  if (auto_) [[unlikely]]
    return auto_->send(msg, deadline, d == delivery::sync, false);
  return send_room(msg, true, deadline, d == delivery::sync);
}

// A buffered send: waits for room only when `wait` (else would_block), then,
// when sync, for the acknowledgement until deadline.
status mailbox_sender::send_room(std::span<const std::byte> msg, bool wait, clock::time_point deadline,
                                 bool sync) noexcept {
  status s = enqueue(msg, sync);
  if (s == status::would_block && wait)
    s = detail::wait_loop(
        e_.view().shared->not_full, policy_, deadline, [&]() noexcept { return enqueue(msg, sync); },
        [this]() noexcept {
          e_.poll_stall();
          clear_dead_writer();
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
  if (auto_) [[unlikely]] {
    const status s = auto_->claim(size, out, clock::time_point::max(), true);
    claiming_ = s == status::ok;
    return s;
  }
  if (status s = reserve_slot(); s != status::ok) return s;
  claiming_ = true;
  claimed_ = size;
  out = {e_.view().slot(e_.pos()) + mailbox_header_bytes, size};
  return status::ok;
}

status mailbox_sender::claim_until(std::size_t size, std::span<std::byte>& out,
                                   clock::time_point deadline) noexcept {
  if (auto_ && !claiming_ && size <= max_) [[unlikely]] {
    const status s = auto_->claim(size, out, deadline, false);
    claiming_ = s == status::ok;
    return s;
  }
  status s = try_claim(size, out);
  if (s != status::would_block || claiming_) return s;
  return detail::wait_loop(
      e_.view().shared->not_full, policy_, deadline, [&]() noexcept { return try_claim(size, out); },
      [this]() noexcept {
        e_.poll_stall();
        clear_dead_writer();
        return role_.state().peers_alive(detail::role::consumer);
      });
}

status mailbox_sender::commit(std::size_t n, delivery d, clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]] {
    if (!claiming_) return status::too_large;
    const status s = auto_->commit(n, d, deadline);
    claiming_ = s == status::too_large;  // (n above the claim: still open)
    return s;
  }
  if (!claiming_ || n > claimed_) return status::too_large;
  claiming_ = false;
  const bool sync = d == delivery::sync || meet_ != nullptr;  // a rendezvous is always synchronous
  finish(n, sync);
  return sync ? await_taken(deadline) : status::ok;
}

void mailbox_sender::abort() noexcept {
  if (!claiming_) return;
  claiming_ = false;
  if (auto_) [[unlikely]]
    return auto_->abort();
  store_header(e_.view().slot(e_.pos()), slot_header{0, flag_void, 0, 0});
  e_.publish();
  leave();
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
    } else if (e_.closed()) {
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

mailbox_receiver::mailbox_receiver(detail::mailbox_role role, std::size_t max, wait_policy p,
                                   detail::mailbox_meeting* meet) noexcept
    : role_(std::move(role)),
      e_(role_.state().view(), role_.slot()),
      acks_(ack_table(role_.state())),
      meet_(meet),
      streams_(streams_of(role_.state())),
      max_(max),
      policy_(p) {
  // A dead previous holder of this slot may have held the reader gate.
  if (std::uint32_t g = static_cast<std::uint32_t>(role_.slot() + 1);
      streams_->reader.compare_exchange_strong(g, 0, std::memory_order_acq_rel))
    detail::notify(e_.view().shared->not_empty, e_.view().bells);
  if (meet_) meet_->receivers.fetch_and(~role_bit(role_.slot()), std::memory_order_relaxed);
  prune_meeting(e_.view(), meet_);
}

bool mailbox_receiver::senders_waiting() const noexcept {
  return meet_ && meet_->senders.load(std::memory_order_relaxed) != 0;
}

status mailbox_receiver::empty_status() noexcept {
  if (e_.corrupt()) return status::corrupt;
  // A send that raced with close() is still delivered: re-check after closed.
  if (e_.closed()) return e_.readable() ? status::would_block : status::closed;
  return status::would_block;
}

// The one receive path: copies into *buf, or lends the slot as *view. A
// message longer than *buf (or, when exact, of another length than *buf) is
// left queued: too_large (wrong_size) with its length.
status mailbox_receiver::take(std::span<std::byte>* buf, std::size_t& len, std::span<const std::byte>* view,
                              bool exact) noexcept {
  if (in_.open) drop_read(false);  // a plain receive gives up the message read() was in
  release();
  const std::size_t room = buf ? buf->size() : max_;
  for (;;) {
    if (kept_ != kept::none) [[unlikely]] {
      bool again = false;
      const status s = take_kept(buf, len, view, exact, again);
      if (!again) return s;
      continue;
    }
    slot_header h{};
    bool refused = false, stream = false;
    const std::size_t k = e_.reserve_one_if([&](const std::byte* slot) noexcept {
      h = load_header(slot);
      refused = false;
      stream = (h.flags & flag_stream) != 0 && (h.flags & flag_void) == 0 && h.length <= max_;
      if (stream) return false;  // only read() / receive_stream take fragments
      if ((h.flags & flag_void) != 0 || h.length > max_ || (exact ? h.length == room : h.length <= room))
        return true;
      // A withdrawn sync message is taken (and discarded) whatever its size.
      if ((h.flags & flag_sync) != 0 && h.ack_index < detail::max_roles && h.ack_gen <= gen_mask &&
          acks_[h.ack_index].word.load(std::memory_order_relaxed) != ack_word(h.ack_gen, ack_pending))
        return true;
      refused = true;
      return false;
    });
    if (k == 0) {
      if (stream && (h.flags & flag_first) != 0) {
        // A stream message: no single-slot receive can take it, whatever its
        // buffer (receive_stream and read do); it stays queued.
        len = static_cast<std::size_t>(std::min<std::uint64_t>(stream_total(h), SIZE_MAX));
        return status::wrong_size;
      }
      if (stream) {
        drain_orphans(false);  // remains of a dead reader's message, if its gate is free
        return status::would_block;
      }
      if (refused) {
        len = h.length;
        return exact ? status::wrong_size : status::too_large;
      }
      return empty_status();
    }
    // We own the slot now; h is the one copy of its header we act on.
    bool again = false;
    const status s = deliver(h, buf, len, view, exact, false, again);
    if (!again) return s;
  }
}

// A slot this handle holds (reserved by take(), or inherited from a dead
// keeper: `inherited`), with h its header read once: delivered into *buf or
// lent as *view, or dropped (again: nothing delivered, take the next).
status mailbox_receiver::deliver(const slot_header& h, std::span<std::byte>* buf, std::size_t& len,
                                 std::span<const std::byte>* view, bool exact, bool inherited,
                                 bool& again) noexcept {
  again = false;
  const std::byte* slot = e_.view().slot(e_.pos());
  const auto drop = [&](status s) noexcept {
    kept_ = kept::none;
    e_.publish();
    again = s == status::ok;
    return s;
  };
  if (h.length > max_ || (h.flags & ~known_flags) != 0) [[unlikely]]
    return drop(status::corrupt);  // a corrupt or hostile peer wrote it
  // An aborted claim; or a stream fragment, which take() leaves queued, so
  // an inherited one (streams are not kept: dropped as a dead reader's).
  if ((h.flags & (flag_void | flag_stream)) != 0) return drop(status::ok);
  if ((h.flags & flag_sync) != 0) {
    if (h.ack_index >= detail::max_roles || h.ack_gen > gen_mask) [[unlikely]]
      return drop(status::corrupt);
    std::atomic<std::uint32_t>& w = acks_[h.ack_index].word;
    // Inherited and no longer pending: the dead keeper took it (or its
    // sender withdrew it after the keeper died: delivered anyway, as
    // mailbox.hpp says). Else R-ACK: exactly one of this CAS and the
    // sender's withdrawing CAS wins.
    if (!inherited || w.load(std::memory_order_relaxed) == ack_word(h.ack_gen, ack_pending)) {
      if (!detail::ack_take<ack_env>(w, h.ack_gen)) return drop(status::ok);  // withdrawn: never delivered
      detail::futex_wake_all(&w);
    }
  }
  const std::size_t room = buf ? buf->size() : max_;
  if (!view && (exact ? h.length != room : h.length > room)) {
    if (!inherited) [[unlikely]]
      return drop(status::corrupt);  // only a peer rewriting a header we reserved gets here
    len = h.length;                  // stays held for a receive that can take it
    return exact ? status::wrong_size : status::too_large;
  }
  kept_ = kept::none;
  len = h.length;
  if (view) {
    *view = {slot + mailbox_header_bytes, h.length};
    return status::ok;  // stays reserved until release()
  }
  if (h.length != 0) std::memcpy(buf->data(), slot + mailbox_header_bytes, h.length);
  e_.publish();
  return status::ok;
}

// A keeping receiver's inheritance (mailbox.hpp, "Keeping receivers"):
// what the dead keeper held is delivered first, through deliver(), as a
// message take() reserved; `again` when there was nothing to deliver.
status mailbox_receiver::take_kept(std::span<std::byte>* buf, std::size_t& len,
                                   std::span<const std::byte>* view, bool exact, bool& again) noexcept {
  again = false;
  if (kept_ == kept::pending) {
    const detail::kept_claim k = detail::resolve_kept(e_.view(), detail::role::consumer, e_.claims());
    // Another live record covers the position: wait until it or the turn moves.
    if (k.state == detail::kept_state::wait) return status::would_block;
    e_.inherit(k.held);
    kept_ = k.state == detail::kept_state::held ? kept::held : kept::none;
    if (kept_ == kept::none) return again = true, status::ok;
  }
  return deliver(load_header(e_.view().slot(e_.pos())), buf, len, view, exact, true, again);
}

status mailbox_receiver::try_receive(std::span<std::byte> buf, std::size_t& len) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_receive(buf, len); }, nullptr,
                      clock::time_point::max(), true);
  return try_receive_exact_or_not(buf, len, false);
}

// try_receive: on a rendezvous with a sender waiting, meets it briefly.
status mailbox_receiver::try_receive_exact_or_not(std::span<std::byte> buf, std::size_t& len,
                                                  bool exact) noexcept {
  const status s = take(&buf, len, nullptr, exact);
  if (s != status::would_block || !senders_waiting()) return s;
  const status met = take_until(buf, len, clock::now() + rendezvous_grace, exact);
  if (met != status::timed_out) return met;
  prune_meeting(e_.view(), meet_);  // the sender may have died
  return status::would_block;
}

status mailbox_receiver::take_until(std::span<std::byte> buf, std::size_t& len, clock::time_point deadline,
                                    bool exact) noexcept {
  if (status s = take(&buf, len, nullptr, exact); s != status::would_block) return s;
  return wait_for_message(
      deadline, [&]() noexcept { return take(&buf, len, nullptr, exact); },
      [this]() noexcept {
        drain_orphans(true);  // a stream message's remains whose reader died block the queue
        return true;
      });
}

status mailbox_receiver::receive_until(std::span<std::byte> buf, std::size_t& len,
                                       clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run(
        [&](mailbox_receiver& r) noexcept { return r.try_receive(buf, len); },
        [&](mailbox_receiver& r, clock::time_point d) noexcept { return r.receive_until(buf, len, d); },
        deadline, false);
  return take_until(buf, len, deadline, false);
}

status mailbox_receiver::try_receive_exact(std::span<std::byte> buf, std::size_t& len) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_receive_exact(buf, len); }, nullptr,
                      clock::time_point::max(), true);
  return try_receive_exact_or_not(buf, len, true);
}

status mailbox_receiver::receive_exact_until(std::span<std::byte> buf, std::size_t& len,
                                             clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run(
        [&](mailbox_receiver& r) noexcept { return r.try_receive_exact(buf, len); },
        [&](mailbox_receiver& r, clock::time_point d) noexcept { return r.receive_exact_until(buf, len, d); },
        deadline, false);
  return take_until(buf, len, deadline, true);
}

status mailbox_receiver::try_peek(std::span<const std::byte>& msg) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_peek(msg); }, nullptr,
                      clock::time_point::max(), true);
  std::size_t len = 0;
  return take(nullptr, len, &msg);
}

status mailbox_receiver::peek_until(std::span<const std::byte>& msg, clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_peek(msg); },
                      [&](mailbox_receiver& r, clock::time_point d) noexcept { return r.peek_until(msg, d); },
                      deadline, false);
  std::size_t len = 0;
  if (status s = take(nullptr, len, &msg); s != status::would_block) return s;
  return wait_for_message(
      deadline, [&]() noexcept { return take(nullptr, len, &msg); },
      [this]() noexcept {
        drain_orphans(true);
        return true;
      });
}

void mailbox_receiver::release() noexcept {
  if (auto_) [[unlikely]]
    return auto_->rx().release();
  // A fragment read() holds stays, as does an inherited message not yet delivered.
  if (e_.reserved() != 0 && !in_.held && kept_ != kept::held) e_.publish();
}

std::size_t mailbox_receiver::drop_queued() noexcept {
  if (auto_) [[unlikely]]
    return auto_->rx().drop_queued();  // the generation it reads now
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
  return r->e_.readable() || r->e_.closed() || r->kept_ != kept::none;
}

// wait_any() parks for this handle's thread, which owns the engine.
void mailbox_receiver::idle(const void* self) noexcept {
  const_cast<mailbox_receiver*>(static_cast<const mailbox_receiver*>(self))->e_.poll_stall();
}

// Automatic: ready when the generation it reads now is, or when it could
// move on to a newer one (then it moves, and the caller takes readable()
// again: the event it parks on is that of the generation it reads).
bool mailbox_receiver::auto_ready(const void* self) noexcept {
  auto* r = const_cast<mailbox_receiver*>(static_cast<const mailbox_receiver*>(self));
  return ready(&r->auto_->rx()) || r->auto_->try_move();
}

void mailbox_receiver::auto_idle(const void* self) noexcept {
  idle(&static_cast<const mailbox_receiver*>(self)->auto_->rx());
}

waitable mailbox_receiver::readable() const noexcept {
  if (auto_) [[unlikely]] {
    // The head's event, stable for the handle's life: senders in every
    // generation ring it after they publish (mailbox_sender::chain_wake).
    const detail::ring_view& v = auto_->head_view();
    return waitable{&v.shared->not_empty, &mailbox_receiver::auto_ready, this, v.bells,
                    &mailbox_receiver::auto_idle};
  }
  return waitable{&e_.view().shared->not_empty, &mailbox_receiver::ready, this, e_.view().bells,
                  &mailbox_receiver::idle};
}

// ---------------------------------------------------------------- mailbox

result<mailbox> mailbox::create(std::string_view name, const mailbox_options& opt) {
  const std::string who = "mailbox '" + std::string(name) + "'";
  if (opt.capacity == ringport::automatic_buffering && opt.max_message_size >= 1 &&
      opt.max_message_size <= mailbox_max_message_limit)
    return create_automatic(name, opt);
  const bool rendezvous = opt.capacity == 0;
  if (!rendezvous && (opt.capacity > (std::size_t{1} << 32) || !std::has_single_bit(opt.capacity)))
    return error(errc::invalid_argument, who + ": capacity " + std::to_string(opt.capacity) +
                                             " is not a power of two from 1 to 2^32 (or 0 for a "
                                             "rendezvous): pick e.g. 1024");
  if (opt.max_message_size == 0 || opt.max_message_size > mailbox_max_message_limit)
    return error(errc::invalid_argument, who + ": max_message_size " + std::to_string(opt.max_message_size) +
                                             " is out of range: 1 to " +
                                             std::to_string(mailbox_max_message_limit) + " bytes");
  ring_options ro;
  ro.capacity = rendezvous ? 1 : opt.capacity;  // a rendezvous hands over through one slot
  ro.backing = opt.backing;
  ro.domain = opt.domain;
  ro.group_access = opt.group_access;
  // existing::open: the existing mailbox's sizes win, so open it by name
  // (mailbox::open reads them from its header) rather than by our sizes.
  ro.if_exists = opt.if_exists == existing::open ? existing::fail : opt.if_exists;
  auto st =
      detail::ring_state::create(name, object_kind::mailbox, mailbox_header_bytes + opt.max_message_size, 8,
                                 ro, rendezvous ? rendezvous_extra : buffered_extra);
  if (!st && opt.if_exists == existing::open && st.error() == errc::already_exists)
    return open(name, opt.domain);
  if (!st) return std::move(st).error();
  return mailbox(std::move(*st), opt.max_message_size, rendezvous);
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
  std::uint32_t extra = 0;
  {
    auto seg = segment::open(name, so);
    if (!seg) return std::move(seg).error();
    element = seg->info().element_size;
    // The extra region's length says buffered or rendezvous (read once;
    // ring_state::open then checks the whole geometry against it).
    detail::ring_geometry g{};
    if (seg->payload_size() >= sizeof g) std::memcpy(&g, seg->payload(), sizeof g);
    extra = g.extra_bytes;
  }
  if (extra != buffered_extra && extra != rendezvous_extra && extra != automatic_extra &&
      extra != generation_extra)
    return error(errc::bad_layout, "mailbox '" + std::string(name) + "' records a " + std::to_string(extra) +
                                       "-byte extra region, not a mailbox's of this build: remove it and "
                                       "create it again");
  if (element <= mailbox_header_bytes || element > mailbox_header_bytes + mailbox_max_message_limit)
    return error(errc::bad_layout,
                 "mailbox '" + std::string(name) + "' records " + std::to_string(element) +
                     "-byte slots, impossible for a mailbox: remove it and create it again");
  auto st = ring_state::open(name, object_kind::mailbox, element, 8, domain, extra);
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
  // adopt() checked the geometry's extra length against `extra` above.
  const std::uint32_t extra = (*st)->view().shared->geo.extra_bytes;
  const bool rendezvous = extra == rendezvous_extra;
  std::shared_ptr<detail::chain_link> chain;
  if (extra == automatic_extra) {
    auto l = detail::link_chain(name, domain, *st, max);
    if (!l) return std::move(l).error();
    chain = std::move(*l);
  }
  mailbox m(std::move(*st), max, rendezvous);
  m.chain_ = std::move(chain);
  return m;
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
  // An automatic mailbox takes its generations with it.
  // Only its own (the chain id in the head is read before the head goes).
  std::optional<std::uint64_t> chain;
  {
    std::size_t max = 0;
    auto st = detail::open_mailbox_state(name, domain, max);
    if (st && (*st)->view().shared->geo.extra_bytes == automatic_extra)
      chain = mbx::chain_of(**st)->id.load(std::memory_order_relaxed);
  }
  auto r = segment::remove(name, domain);
  if (r && chain && *chain != 0) detail::remove_generations(name, domain, *chain);
  return r;
}

result<mailbox_sender> mailbox::sender(wait_policy p) const {
  auto slot = st_->attach(detail::role::producer);
  if (!slot) return slot.error();
  mailbox_sender head(detail::mailbox_role(st_, true, *slot), max_, p, meeting());
  if (!chain_) return head;
  // Automatic: an outer handle that only dispatches to the chain.
  mailbox_sender outer;
  outer.max_ = max_;
  outer.policy_ = p;
  outer.auto_ = std::make_shared<detail::chain_tx>(chain_, std::move(head));
  return outer;
}

result<mailbox_receiver> mailbox::receiver(wait_policy p) const {
  auto slot = st_->attach(detail::role::consumer);
  if (!slot) return slot.error();
  mailbox_receiver head(detail::mailbox_role(st_, false, *slot), max_, p, meeting());
  if (!chain_) return head;
  mailbox_receiver outer;
  outer.max_ = max_;
  outer.policy_ = p;
  outer.auto_ = std::make_shared<detail::chain_rx>(chain_, std::move(head));
  return outer;
}

// A role slot for a keeping handle (ring_state::attach_keeping), refused
// where the mailbox cannot keep.
result<std::size_t> mailbox::keeping_slot(detail::role r, std::uint64_t tag, bool& inherited) const {
  if (chain_ || rendezvous_)
    return error(errc::invalid_argument,
                 "mailbox '" + info().name + "': keeping " +
                     (r == detail::role::producer ? "senders" : "receivers") +
                     " need a bounded mailbox (not a rendezvous, not automatic buffering)");
  return st_->attach_keeping(r, tag, inherited);
}

result<mailbox_sender> mailbox::keeping_sender(std::uint64_t tag, wait_policy p) const {
  bool inherited = false;
  auto slot = keeping_slot(detail::role::producer, tag, inherited);
  if (!slot) return slot.error();
  mailbox_sender s(detail::mailbox_role(st_, true, *slot), max_, p, meeting());
  s.inherits_ = inherited;
  return s;
}

result<mailbox_receiver> mailbox::keeping_receiver(std::uint64_t tag, wait_policy p) const {
  bool inherited = false;
  auto slot = keeping_slot(detail::role::consumer, tag, inherited);
  if (!slot) return slot.error();
  mailbox_receiver r(detail::mailbox_role(st_, false, *slot), max_, p, meeting());
  if (inherited) r.kept_ = mailbox_receiver::kept::pending;
  return r;
}

detail::mailbox_meeting* mailbox::meeting() const noexcept {
  return meeting_of(*st_, rendezvous_);
}

void mailbox::close() const noexcept {
  st_->close();
  // Rendezvous senders waiting for a receiver sleep on arrivals.
  if (detail::mailbox_meeting* m = meeting()) {
    m->arrivals.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake_all(&m->arrivals);
  }
  // Sync senders sleep on their own words: wake them to see the close.
  mailbox_ack* acks = ack_table(*st_);
  for (std::size_t i = 0; i < detail::max_roles; ++i) detail::futex_wake_all(&acks[i].word);
  if (chain_)  // and every generation (senders look at the head before each send too)
    chain_->each_generation([](mailbox& m) noexcept { m.close(); });
}

peer_counts mailbox::peers() const noexcept {
  return st_->peers();
}

bool mailbox::closed() const noexcept {
  return st_->closed();
}
bool mailbox::reopen() const noexcept {
  if (chain_)  // the generations first: a sender that sees the head open finds them open
    chain_->each_generation([](mailbox& m) noexcept { (void)m.st_->reopen(); });
  return st_->reopen();
}
std::uint32_t mailbox::generation() const noexcept {
  return st_->generation();
}
std::size_t mailbox::capacity() const noexcept {
  if (chain_) {
    std::uint32_t g = 0, level = 0;
    return static_cast<std::size_t>(chain_->newest(g, level) ? chain_->base << level : chain_->base);
  }
  return rendezvous_ ? 0 : st_->view().capacity;
}
std::uint64_t mailbox::streams_dropped() const noexcept {
  return streams_of(*st_)->dropped.load(std::memory_order_relaxed);
}
std::size_t mailbox::size() const noexcept {
  std::size_t n = st_->size();
  if (chain_) chain_->each_generation([&](mailbox& m) noexcept { n += m.size(); });
  return n;
}
const segment_info& mailbox::info() const noexcept {
  return st_->info();
}

}  // namespace ringport
