// Mailbox streams: messages of any length, in fragments ("Streams" in
// ringport/mailbox.hpp). The writer gate keeps one message's fragments
// contiguous in the ring; the reader gate gives them to one receiver.
#include <time.h>

#include "mailbox_auto.hpp"
#include "ringport/detail/cpu.hpp"

namespace ringport {
namespace {
using namespace mbx;
using clock = std::chrono::steady_clock;

// Pacing of a wait for short critical sections of other processes (plain
// senders between their gate check and their publish): spin, then yield,
// then sleep briefly; never forever (callers check deadlines and deaths).
void pause_round(unsigned& round) noexcept {
  if (round < 64) {
    detail::cpu_relax();
  } else if (round < 256) {
    detail::yield_cpu();
  } else {
    const timespec nap{0, 50'000};
    ::nanosleep(&nap, nullptr);
  }
  ++round;
}

}  // namespace

// ---------------------------------------------------------------- sender

// D-ENTER: a plain send announces itself (seq_cst store), then reads the
// writer gate (seq_cst); pairs with D-GATE in acquire_writer() (the gate's
// CAS, then seq_cst loads of every `sending`): either we see the gate
// taken and stay out, or the stream writer sees our flag and waits for us.
bool mailbox_sender::enter() noexcept {
  line_->sending.store(1, std::memory_order_seq_cst);
  const std::uint32_t g = streams_->writer.load(std::memory_order_seq_cst);
  if (g == 0 || g == role_.slot() + 1) [[likely]]
    return true;
  line_->sending.store(0, std::memory_order_relaxed);
  return false;
}

void mailbox_sender::leave() noexcept {
  // release: our publish happens before a stream writer's first fragment.
  line_->sending.store(0, std::memory_order_release);
}

// At peer polls of a blocked send: a writer gate held by a dead sender
// would block every plain send; free it (its partial message is dropped by
// the receiver that reads it).
void mailbox_sender::clear_dead_writer() noexcept {
  const std::uint32_t g = streams_->writer.load(std::memory_order_acquire);
  if (g != 0 && g != role_.slot() + 1 && free_if_dead(streams_->writer, g, e_.view().shared->producers))
    release_writer();
}

void mailbox_sender::release_writer() noexcept {
  std::uint32_t mine = static_cast<std::uint32_t>(role_.slot() + 1);
  // R-WRITER: our fragments' publishes happen before; pairs with the
  // acquire load in try_next_fragment() (a reader seeing the gate free and
  // no continuation knows none will come).
  streams_->writer.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
  detail::futex_wake_all(&streams_->writer);
  detail::notify(e_.view().shared->not_full, e_.view().bells);   // plain senders kept out
  detail::notify(e_.view().shared->not_empty, e_.view().bells);  // a reader waiting for more
}

status mailbox_sender::acquire_writer(clock::time_point deadline, bool try_only) noexcept {
  const auto mine = static_cast<std::uint32_t>(role_.slot() + 1);
  auto next_check = clock::now() + detail::peer_poll;
  for (;;) {
    if (e_.closed()) return status::closed;
    std::uint32_t g = 0;
    // D-GATE (first half): see enter().
    if (streams_->writer.compare_exchange_strong(g, mine, std::memory_order_seq_cst)) break;
    if (g == mine) break;
    if (try_only) return status::would_block;
    const auto now = clock::now();
    if (now >= deadline) return status::timed_out;
    if (now >= next_check) {
      free_if_dead(streams_->writer, g, e_.view().shared->producers);
      next_check = now + detail::peer_poll;
      continue;
    }
    detail::futex_wait_until(&streams_->writer, g, std::min(deadline, now + detail::peer_poll));
  }
  const status s = await_plain_senders(deadline);
  if (s != status::ok) release_writer();
  return s;
}

// D-GATE (second half): plain sends that passed their gate check before we
// took it publish before our first fragment.
status mailbox_sender::await_plain_senders(clock::time_point deadline) noexcept {
  mailbox_ack* acks = ack_table(role_.state());
  for (std::size_t i = 0; i < detail::max_roles; ++i) {
    if (i == role_.slot()) continue;
    unsigned round = 0;
    auto next_check = clock::now() + detail::peer_poll;
    while (acks[i].sending.load(std::memory_order_seq_cst) != 0) {
      if (round >= 256) {
        const auto now = clock::now();
        if (now >= deadline) return status::timed_out;
        if (now >= next_check) {
          if (!holder_alive(e_.view().shared->producers, i)) {
            acks[i].sending.store(0, std::memory_order_relaxed);  // it died mid-send
            break;
          }
          next_check = now + detail::peer_poll;
        }
      }
      pause_round(round);
    }
  }
  return status::ok;
}

// One fragment's slot, waiting for room (we hold the writer gate).
status mailbox_sender::reserve_fragment(clock::time_point deadline, bool try_only) noexcept {
  auto attempt = [this]() noexcept {
    if (e_.closed()) return status::closed;
    if (!settled_first()) return status::would_block;
    if (e_.reserve(1).count != 0) return status::ok;
    return e_.corrupt() ? status::corrupt : status::would_block;
  };
  const status s = attempt();
  if (s != status::would_block || try_only) return s;
  return detail::wait_loop(e_.view().shared->not_full, policy_, deadline, attempt, [this]() noexcept {
    e_.poll_stall();
    return role_.state().peers_alive(detail::role::consumer);
  });
}

status mailbox_sender::stream_out(std::uint64_t size, stream_source src, clock::time_point deadline,
                                  delivery d, bool try_only) noexcept {
  if (claiming_) [[unlikely]]
    return status::would_block;
  if (auto_) [[unlikely]]
    return auto_->stream(size, src, deadline, d, try_only);
  if (size <= max_) {  // one slot: a plain message, written in place
    std::span<std::byte> out;
    const status s = try_only ? try_claim(size, out) : claim_until(size, out, deadline);
    if (s != status::ok) return s;
    if (!src.fill(src.ctx, out)) {
      abort();
      return status::abandoned;
    }
    return commit(size, d, deadline);
  }
  if (size >= stream_total_limit) return status::too_large;
  if (status s = acquire_writer(deadline, try_only); s != status::ok) return s;
  const std::uint64_t fragments = (size + max_ - 1) / max_;
  if (try_only &&
      fragments > e_.view().capacity - std::min<std::uint64_t>(role_.state().size(), e_.view().capacity)) {
    release_writer();
    return status::would_block;
  }
  if (meet_) {
    if (status s = await_receiver(deadline, try_only); s != status::ok) {
      release_writer();
      return s;
    }
  }
  const bool sync = d == delivery::sync || meet_ != nullptr;
  const auto me = static_cast<std::uint32_t>(role_.slot());
  std::uint64_t done = 0;
  for (std::uint32_t index = 0; done < size; ++index) {
    if (status s = reserve_fragment(deadline, try_only); s != status::ok) {
      release_writer();  // the fragments already out are dropped by their reader
      return s;
    }
    std::byte* slot = e_.view().slot(e_.pos());
    const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(max_, size - done));
    if (!src.fill(src.ctx, {slot + mailbox_header_bytes, chunk})) {
      store_header(slot, slot_header{0, flag_void, 0, 0});
      e_.publish();
      release_writer();
      return status::abandoned;
    }
    const bool last = done + chunk == size;
    slot_header h{static_cast<std::uint32_t>(chunk), flag_stream, me, index};
    if (index == 0) {
      h.flags |= flag_first;
      h.ack_index = static_cast<std::uint32_t>(size >> 32) << 8 | me;
      h.ack_gen = static_cast<std::uint32_t>(size);
    }
    if (last) {
      h.flags |= flag_last;
      if (sync) {
        ack_gen_ = detail::ack_start<ack_env>(*ack_);  // published by R-TURN-FULL
        h.flags |= flag_sync;
        h.ack_gen = ack_gen_;
      }
    }
    store_header(slot, h);
    e_.publish();
    chain_wake();
    done += chunk;
  }
  release_writer();
  return sync ? await_taken(deadline) : status::ok;
}

namespace {
struct span_source {
  std::span<const std::byte> msg;
  std::size_t at = 0;
  bool operator()(std::span<std::byte> out) noexcept {
    if (!out.empty()) std::memcpy(out.data(), msg.data() + at, out.size());
    at += out.size();
    return true;
  }
};
}  // namespace

status mailbox_sender::try_send_stream(std::span<const std::byte> msg) noexcept {
  span_source src{msg};
  return stream_out(
      msg.size(),
      {&src, [](void* c, std::span<std::byte> o) noexcept { return (*static_cast<span_source*>(c))(o); }},
      clock::time_point::max(), delivery::async, true);
}

status mailbox_sender::send_stream_until(std::span<const std::byte> msg, clock::time_point deadline,
                                         delivery d) noexcept {
  span_source src{msg};
  return stream_out(
      msg.size(),
      {&src, [](void* c, std::span<std::byte> o) noexcept { return (*static_cast<span_source*>(c))(o); }},
      deadline, d, false);
}

// ---------------------------------------------------------------- receiver

// The reader gate: held from a stream message's first fragment to its last.
// check_dead (a /proc read) only at peer polls.
bool mailbox_receiver::take_reader_gate(bool check_dead) noexcept {
  const auto mine = static_cast<std::uint32_t>(role_.slot() + 1);
  std::uint32_t g = streams_->reader.load(std::memory_order_acquire);
  if (g == mine) return true;
  if (g != 0 && !(check_dead && free_if_dead(streams_->reader, g, e_.view().shared->consumers))) return false;
  g = 0;
  return streams_->reader.compare_exchange_strong(g, mine, std::memory_order_acq_rel) || g == mine;
}

void mailbox_receiver::release_reader_gate() noexcept {
  std::uint32_t mine = static_cast<std::uint32_t>(role_.slot() + 1);
  streams_->reader.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
  detail::notify(e_.view().shared->not_empty, e_.view().bells);  // receivers kept waiting
}

// Gives up the open message (count: it broke; else the caller chose to).
void mailbox_receiver::drop_read(bool count) noexcept {
  if (in_.held) e_.publish();
  if (in_.gated) release_reader_gate();
  if (count) streams_->dropped.fetch_add(1, std::memory_order_relaxed);
  in_ = {};
}

// Continuation fragments at the head with no live reader (it died, or gave
// the message up): they can never be delivered whole; take and drop them,
// counting each message once (at its last fragment or where it broke off).
// True when it dropped any.
bool mailbox_receiver::drain_orphans(bool check_dead) noexcept {
  if (in_.open) return false;
  auto continuation = [](const slot_header& h) noexcept {
    return (h.flags & (flag_stream | flag_first | flag_void)) == flag_stream;
  };
  bool orphan = false;
  (void)e_.reserve_one_if([&](const std::byte* slot) noexcept {
    orphan = continuation(load_header(slot));
    return false;  // only a look
  });
  // With the gate free (or its holder dead) nobody is reading that message.
  if (!orphan || !take_reader_gate(check_dead)) return false;
  bool counted = false, any = false;
  for (;;) {
    slot_header h{};
    if (e_.reserve_one_if([&](const std::byte* slot) noexcept {
          h = load_header(slot);
          return continuation(h);
        }) == 0)
      break;
    e_.publish();  // (a synchronous last fragment stays unacknowledged: its sender never gets ok)
    if (!counted) streams_->dropped.fetch_add(1, std::memory_order_relaxed);
    counted = (h.flags & flag_last) == 0;
    any = true;
  }
  release_reader_gate();
  return any;
}

// One attempt to start reading the next message (plain or stream) of at
// most `room` bytes; len = its length (also on too_large, message kept).
status mailbox_receiver::try_open(std::uint64_t room, std::uint64_t& len, bool check_dead) noexcept {
  for (;;) {
    enum class seen : std::uint8_t { nothing, too_big, continuation, busy };
    seen what = seen::nothing;
    slot_header h{};
    const std::size_t k = e_.reserve_one_if([&](const std::byte* slot) noexcept {
      h = load_header(slot);
      what = seen::nothing;
      if ((h.flags & flag_void) != 0 || h.length > max_ || (h.flags & ~known_flags) != 0) return true;
      if ((h.flags & flag_stream) == 0) {
        if (h.length <= room) return true;
        // A withdrawn sync message is taken (and discarded) whatever its size.
        if ((h.flags & flag_sync) != 0 && h.ack_index < detail::max_roles && h.ack_gen <= gen_mask &&
            acks_[h.ack_index].word.load(std::memory_order_relaxed) != ack_word(h.ack_gen, ack_pending))
          return true;
        what = seen::too_big;
        return false;
      }
      if ((h.flags & flag_first) == 0) {
        what = seen::continuation;
        return false;
      }
      if (stream_total(h) > room) {
        what = seen::too_big;
        return false;
      }
      if (take_reader_gate(check_dead)) return true;
      what = seen::busy;  // a reader still finishing (or dropping) the message before
      return false;
    });
    if (k == 0) {
      if (what == seen::too_big) {
        len = (h.flags & flag_stream) != 0 ? stream_total(h) : h.length;
        return status::too_large;
      }
      if (what == seen::continuation && drain_orphans(check_dead)) continue;
      if (what != seen::nothing) return status::would_block;
      return empty_status();
    }
    const bool first = (h.flags & flag_stream) != 0 && (h.flags & flag_first) != 0;
    if (!first && streams_->reader.load(std::memory_order_relaxed) == role_.slot() + 1) release_reader_gate();
    if ((h.flags & flag_void) != 0) {
      e_.publish();
      continue;
    }
    if (h.length > max_ || (h.flags & ~known_flags) != 0) [[unlikely]] {
      e_.publish();
      return status::corrupt;
    }
    if (!first) {  // a plain message, read as a one-piece stream
      if ((h.flags & flag_sync) != 0) {
        if (h.ack_index >= detail::max_roles || h.ack_gen > gen_mask) [[unlikely]] {
          e_.publish();
          return status::corrupt;
        }
        if (!detail::ack_take<ack_env>(acks_[h.ack_index].word, h.ack_gen)) {  // R-ACK, as in take()
          e_.publish();
          continue;
        }
        detail::futex_wake_all(&acks_[h.ack_index].word);
      }
      in_ = stream_in{};
      in_.open = in_.held = true;
      in_.total = in_.len = h.length;
      len = h.length;
      return status::ok;
    }
    // A first fragment: every fragment but the last fills a slot.
    const std::uint64_t total = stream_total(h);
    const std::uint32_t sender = h.ack_index & 0xff;
    if ((h.flags & (flag_last | flag_sync)) != 0 || sender >= detail::max_roles || h.length != max_ ||
        total <= h.length || total >= stream_total_limit) [[unlikely]] {
      e_.publish();
      release_reader_gate();
      return status::corrupt;
    }
    in_ = stream_in{};
    in_.open = in_.held = in_.gated = true;
    in_.total = total;
    in_.len = h.length;
    in_.sender = sender;
    in_.next_index = 1;
    len = total;
    return status::ok;
  }
}

status mailbox_receiver::open_next(std::uint64_t room, std::uint64_t& len, clock::time_point deadline,
                                   bool wait) noexcept {
  const status s = try_open(room, len, false);
  if (s != status::would_block || !wait) return s;
  return wait_for_message(
      deadline, [&]() noexcept { return try_open(room, len, false); },
      [this]() noexcept {
        // A dead reader's gate, or its message's remains, would block us.
        const std::uint32_t g = streams_->reader.load(std::memory_order_acquire);
        if (g != 0 && g != role_.slot() + 1) free_if_dead(streams_->reader, g, e_.view().shared->consumers);
        drain_orphans(true);
        return true;
      });
}

// The next fragment of the open stream message (we hold the reader gate).
status mailbox_receiver::try_next_fragment() noexcept {
  for (;;) {
    // A-WRITER: pairs with R-WRITER in release_writer(); read before we look
    // at the head, so a free gate means every fragment its holder published
    // is visible to that look.
    const std::uint32_t writer = streams_->writer.load(std::memory_order_acquire);
    slot_header h{};
    bool other = false;
    const std::size_t k = e_.reserve_one_if([&](const std::byte* slot) noexcept {
      h = load_header(slot);
      other = false;
      if ((h.flags & flag_void) != 0) return true;
      if ((h.flags & (flag_stream | flag_first)) == flag_stream && h.ack_index == in_.sender) return true;
      other = true;
      return false;
    });
    if (k == 0) {
      if (other || writer != in_.sender + 1) return status::abandoned;  // ours broke off
      return status::would_block;
    }
    if ((h.flags & flag_void) != 0) {
      e_.publish();
      continue;
    }
    const bool last = (h.flags & flag_last) != 0, sync = (h.flags & flag_sync) != 0;
    const bool fits =
        last ? in_.done + h.length == in_.total : h.length == max_ && in_.done + h.length < in_.total;
    if (h.length > max_ || (h.flags & ~known_flags) != 0 || !fits || (sync && !last) ||
        (!sync && h.ack_gen != in_.next_index)) {
      e_.publish();  // a fragment went missing (a dead reader's slot), or a hostile header
      return status::abandoned;
    }
    if (sync) {
      if (h.ack_gen > gen_mask || !detail::ack_take<ack_env>(acks_[in_.sender].word, h.ack_gen)) {
        e_.publish();  // withdrawn: the sender gave up, never delivered whole
        return status::abandoned;
      }
      detail::futex_wake_all(&acks_[in_.sender].word);
    }
    in_.held = true;
    in_.off = 0;
    in_.len = h.length;
    ++in_.next_index;
    return status::ok;
  }
}

status mailbox_receiver::next_fragment(clock::time_point deadline, bool wait) noexcept {
  const status s = try_next_fragment();
  if (s != status::would_block || !wait) return s;
  const status w = wait_for_message(
      deadline, [this]() noexcept { return try_next_fragment(); },
      [this]() noexcept {
        // Our writer died holding its gate: nothing more will come.
        const std::uint32_t g = streams_->writer.load(std::memory_order_acquire);
        return g != in_.sender + 1 || holder_alive(e_.view().shared->producers, in_.sender);
      });
  return w == status::peer_gone ? status::abandoned : w;
}

status mailbox_receiver::read_impl(std::span<std::byte> buf, std::size_t& n, clock::time_point deadline,
                                   bool wait) noexcept {
  n = 0;
  if (in_.ended) {  // the end of the message read so far
    in_ = stream_in{};
    return status::ok;
  }
  if (!in_.open) {
    release();  // a peeked message
    std::uint64_t len = 0;
    if (status s = open_next(UINT64_MAX, len, deadline, wait); s != status::ok) return s;
    if (in_.total == 0) {  // nothing to hand out: this read is its end
      e_.publish();
      in_ = stream_in{};
      return status::ok;
    }
  }
  if (!in_.held) {
    const status s = next_fragment(deadline, wait);
    if (s == status::abandoned) drop_read(true);
    if (s != status::ok) return s;  // else (would_block, timed_out...) the message stays open
  }
  const std::size_t c = std::min(buf.size(), in_.len - in_.off);
  if (c != 0) std::memcpy(buf.data(), e_.view().slot(e_.pos()) + mailbox_header_bytes + in_.off, c);
  in_.off += c;
  in_.done += c;
  n = c;
  if (in_.off == in_.len) {
    e_.publish();
    in_.held = false;
    if (in_.done == in_.total) {
      if (in_.gated) release_reader_gate();
      in_.gated = false;
      in_.ended = true;
    }
  }
  return status::ok;
}

status mailbox_receiver::try_read(std::span<std::byte> buf, std::size_t& n) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_read(buf, n); }, nullptr,
                      clock::time_point::max(), true);
  return read_impl(buf, n, clock::now(), false);
}

status mailbox_receiver::read_until(std::span<std::byte> buf, std::size_t& n,
                                    clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run(
        [&](mailbox_receiver& r) noexcept { return r.try_read(buf, n); },
        [&](mailbox_receiver& r, clock::time_point d) noexcept { return r.read_until(buf, n, d); }, deadline,
        false);
  return read_impl(buf, n, deadline, true);
}

status mailbox_receiver::try_receive_stream(std::span<std::byte> buf, std::uint64_t& len) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_receive_stream(buf, len); }, nullptr,
                      clock::time_point::max(), true);
  return receive_stream_impl(buf, len, clock::now(), false);
}

status mailbox_receiver::receive_stream_until(std::span<std::byte> buf, std::uint64_t& len,
                                              clock::time_point deadline) noexcept {
  if (auto_) [[unlikely]]
    return auto_->run([&](mailbox_receiver& r) noexcept { return r.try_receive_stream(buf, len); },
                      [&](mailbox_receiver& r, clock::time_point d) noexcept {
                        return r.receive_stream_until(buf, len, d);
                      },
                      deadline, false);
  return receive_stream_impl(buf, len, deadline, true);
}

// The whole message into buf; a message opened before (by read(), or a
// receive_stream that timed out) is continued where it stands.
status mailbox_receiver::receive_stream_impl(std::span<std::byte> buf, std::uint64_t& len,
                                             clock::time_point deadline, bool wait) noexcept {
  if (in_.ended) in_ = stream_in{};
  if (!in_.open) {
    release();
    if (status s = open_next(buf.size(), len, deadline, wait); s != status::ok) return s;
  }
  len = in_.total;
  if (in_.total > buf.size()) return status::too_large;  // opened by read(): it stays open
  if (in_.total == 0) {
    e_.publish();
    in_ = stream_in{};
    return status::ok;
  }
  while (!in_.ended) {
    std::size_t n = 0;
    if (status s = read_impl(buf.subspan(static_cast<std::size_t>(in_.done)), n, deadline, wait);
        s != status::ok)
      return s;
  }
  in_ = stream_in{};
  return status::ok;
}

}  // namespace ringport
