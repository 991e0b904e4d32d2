// Automatic buffering: a mailbox that grows when its senders find it full.
//
// Layout. An automatic mailbox NAME is a chain of ordinary bounded mailboxes,
// its generations: generation 0 is NAME itself (the head), generation g >= 1
// is NAME.gG (same domain, message size, pages and mode), of capacity
// base << g. base (at most 16 messages) and the number of generations allowed
// (`limit`) follow from max_bytes at create: the newest generation's slots
// never exceed max_bytes. The head's extra region carries, after the
// acknowledgement table and stream gates, a mailbox_chain: the newest
// generation number, the limit, the pages, the mode, max_bytes, and one busy
// word per head sender role slot. Each process reads the fixed fields once
// at open (link_chain) and checks them; the generation number is read once
// per use and checked against the limit.
//
// Senders. A sender handle holds a sender role on the head for its whole
// life (its slot names its busy word) and one on the generation it sends
// into. Every send (claim, stream) goes:
//   S-BUSY  busy = g + 1            (seq_cst)
//   S-LOOK  c = generation          (seq_cst); c != g: busy = 0, move to c
//   S-SEND  the send into g; full and g + 1 < limit: busy = 0, grow, retry
//   S-IDLE  busy = 0                (seq_cst, after the publish)
// Growing makes NAME.g(g+1) (O_EXCL: one creator; the others open it), then
// CASes generation g -> g + 1 (whoever gets there first; a creator that died
// before its CAS is covered by the next grower) and wakes g's receivers. A
// sender only ever sends into the generation it saw as the newest after
// marking itself busy there, and it moves forward only: its messages are in
// generation order, each generation a FIFO.
//
// Receivers. A receiver takes from generation g until g is finished and
// drained, then moves to g + 1 (never back). R-FINISH: g is finished when
//   generation > g (seq_cst), and then no busy word equals g + 1 whose head
//   role slot is held by a live process (seq_cst loads).
// Why no message can reach g afterwards: a sender that sends into g did
// S-BUSY(g + 1) then S-LOOK and saw generation == g, so S-LOOK precedes the
// CAS to g + 1 in the single order of seq_cst operations, which precedes our
// load of generation, which precedes our load of its busy word: we read
// g + 1 (or it is past S-IDLE, its publish visible to us by that load), so
// we wait. A sender that died busy can publish nothing more (its slot, if it
// claimed one, is filled by the ring's stall recovery). Drained: once
// finished, one more try on g takes anything published before S-IDLE, then
// g's ring must be empty (tail == head: every claimed slot taken, a dead
// sender's claim recovered by poll_stall); only then does the receiver move.
// So exactly once holds (each generation is a ring with exactly once), and a
// receiver that takes a sender's message from g + 1 has seen every earlier
// message of that sender taken from g before: per-sender order.
//
// A receiver moving past g >= 1 unlinks NAME.gG (those that still map it keep
// it until they move on); a receiver that finds a generation below the
// newest missing knows it was finished and skips it. A process that opened
// the mailbox small follows the growth at its next call, without reopening.
// Shrinking: not done; the memory in use is the head plus the generations
// not yet finished (after a burst, the newest one only).
#include "mailbox_auto.hpp"

#include <thread>

#include "ringport/segment.hpp"

namespace ringport::detail {
namespace {
using clock = std::chrono::steady_clock;
constexpr std::uint64_t base_limit = 16;  // generation 0's capacity at most
}  // namespace

std::atomic<void (*)()> auto_send_hook{nullptr};

std::string chain_link::gen_name(std::uint32_t g) const {
  return name + ".g" + std::to_string(g);
}

bool chain_link::newest(std::uint32_t& g) const noexcept {
  g = hdr->generation.load(std::memory_order_seq_cst);
  return g < limit;
}

result<void> plan_chain(std::string_view name, const mailbox_options& opt, std::uint64_t& base,
                        std::uint32_t& limit) {
  const std::string who = "mailbox '" + std::string(name) + "'";
  const std::uint64_t slot = (mailbox_header_bytes + opt.max_message_size + 7) / 8 * 8;
  if (opt.max_bytes < slot)
    return error(errc::invalid_argument,
                 who + ": automatic buffering wants max_bytes of at least one slot (" + std::to_string(slot) +
                     " bytes for max_message_size " + std::to_string(opt.max_message_size) + ")");
  if (name.size() + 4 > 64)
    return error(errc::invalid_name, who +
                                         ": an automatic mailbox's name has at most 60 characters (its "
                                         "generations are NAME.g1 ... NAME.g31)");
  const std::uint64_t slots = opt.max_bytes / slot;
  base = std::min(base_limit, std::bit_floor(slots));
  limit = 1;
  while (limit < mbx::max_generations && (base << limit) <= slots &&
         (base << limit) <= (std::uint64_t{1} << 32))
    ++limit;
  return {};
}

result<std::shared_ptr<chain_link>> link_chain(std::string_view name, std::string_view domain,
                                               std::shared_ptr<ring_state> head, std::size_t max) {
  auto l = std::make_shared<chain_link>();
  l->name = std::string(name);
  l->domain = std::string(domain);
  l->max = max;
  l->hdr = mbx::chain_of(*head);
  l->base = head->view().capacity;
  // Its creator writes `limit` last: 0 for a moment after create.
  std::uint32_t limit = 0;
  for (int i = 0; i < 200 && (limit = l->hdr->limit.load(std::memory_order_acquire)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::uint32_t backing = l->hdr->backing.load(std::memory_order_relaxed);
  const std::uint32_t group = l->hdr->group.load(std::memory_order_relaxed);
  const std::uint64_t max_bytes = l->hdr->max_bytes.load(std::memory_order_relaxed);
  const std::uint64_t slots = max_bytes / l->slot_bytes();
  const bool ok = limit >= 1 && limit <= mbx::max_generations && l->base >= 1 && l->base <= base_limit &&
                  backing <= static_cast<std::uint32_t>(pages::normal) && group <= 1 &&
                  (l->base << (limit - 1)) <= slots;
  if (!ok)
    return error(errc::bad_layout, "automatic mailbox '" + std::string(name) +
                                       "' records an impossible chain (limit " + std::to_string(limit) +
                                       ", max_bytes " + std::to_string(max_bytes) +
                                       "): remove it and create it again");
  l->limit = limit;
  l->max_bytes = max_bytes;
  l->backing = static_cast<pages>(backing);
  l->group = group != 0;
  l->head = std::move(head);
  return l;
}

// ---------------------------------------------------------------- senders

chain_tx::chain_tx(std::shared_ptr<chain_link> l, mailbox_sender head) noexcept
    : link_(std::move(l)), head_(std::move(head)) {
  busy_ = &link_->hdr->busy[head_.role_.slot()].v;
  idle();  // a dead previous holder of the slot may have left its mark
}

chain_tx::~chain_tx() {
  if (busy_) idle();
}

bool chain_tx::move_to(std::uint32_t g) noexcept {
  try {
    std::optional<mailbox> box;
    if (next_ && next_->st_->info().name == link_->gen_name(g))
      box = std::move(next_);
    else if (auto b = mailbox::open(link_->gen_name(g), link_->domain))
      box = std::move(*b);
    next_.reset();
    if (!box || box->max_message_size() != link_->max || box->capacity() != (link_->base << g)) return false;
    auto s = box->sender(head_.policy());
    if (!s) return false;
    cur_ = std::move(*s);
    g_ = g;
    return true;
  } catch (...) {
    return false;  // out of memory: stay where we are
  }
}

bool chain_tx::grow() noexcept {
  const std::uint32_t g = g_ + 1;
  try {
    mailbox_options o;
    o.capacity = static_cast<std::size_t>(link_->base << g);
    o.max_message_size = link_->max;
    o.backing = link_->backing;
    o.group_access = link_->group;
    o.domain = link_->domain;
    auto box = mailbox::create(link_->gen_name(g), o);
    if (!box && box.error() == errc::already_exists)  // another sender made it, or is making it
      box = mailbox::open_wait(link_->gen_name(g), clock::now() + std::chrono::seconds(2), link_->domain);
    if (!box || box->capacity() != o.capacity || box->max_message_size() != link_->max) return false;
    std::uint32_t expected = g_;
    link_->hdr->generation.compare_exchange_strong(expected, g, std::memory_order_seq_cst);
    if (link_->head->closed()) box->st_->close();  // a close that raced with the growth
    const ring_view& v = tx().e_.view();           // wake g_'s receivers: they move on
    notify(v.shared->not_empty, v.bells);
    next_ = std::move(*box);
    return true;
  } catch (...) {
    return false;
  }
}

// op(tx, wait) is one call on a generation's handle (wait: it may block).
template <class Op>
status chain_tx::run(Op&& op, bool may_grow, bool keep_busy) noexcept {
  for (int failed_moves = 0;;) {
    if (link_->head->closed()) return status::closed;
    busy_->store(g_ + 1, std::memory_order_seq_cst);  // S-BUSY
    std::uint32_t c = 0;
    if (!link_->newest(c) || c < g_) {  // S-LOOK
      idle();
      return status::corrupt;
    }
    if (c != g_) {
      idle();
      if (move_to(c)) {
        failed_moves = 0;
      } else if (++failed_moves > 1000) {
        return status::corrupt;  // the newest generation cannot be opened (removed by hand?)
      } else {
        std::this_thread::yield();  // e.g. c was finished and removed meanwhile: look again
      }
      continue;
    }
    if (void (*hook)() = auto_send_hook.load(std::memory_order_relaxed)) [[unlikely]]
      hook();
    const bool grow_here = may_grow && !no_growth_ && g_ + 1 < link_->limit;
    const status s = op(tx(), !grow_here);  // S-SEND
    if (s == status::would_block && grow_here) {
      idle();
      if (!grow()) no_growth_ = true;  // cannot make it (no memory?): block as a bounded one
      continue;
    }
    if (!(keep_busy && s == status::ok)) idle();  // S-IDLE
    return s;
  }
}

status chain_tx::send(std::span<const std::byte> msg, clock::time_point deadline, bool sync,
                      bool try_only) noexcept {
  return run([&](mailbox_sender& tx,
                 bool wait) noexcept { return tx.send_room(msg, wait && !try_only, deadline, sync); },
             true, false);
}

status chain_tx::stream(std::uint64_t size, mailbox_sender::stream_source src, clock::time_point deadline,
                        delivery d, bool try_only) noexcept {
  // A stream stays in one generation (its fragments are one FIFO run).
  return run(
      [&](mailbox_sender& tx, bool) noexcept { return tx.stream_out(size, src, deadline, d, try_only); },
      false, false);
}

status chain_tx::claim(std::size_t size, std::span<std::byte>& out, clock::time_point deadline,
                       bool try_only) noexcept {
  // busy stays set from the claim to its commit or abort.
  return run(
      [&](mailbox_sender& tx, bool wait) noexcept {
        return wait && !try_only ? tx.claim_until(size, out, deadline) : tx.try_claim(size, out);
      },
      true, true);
}

status chain_tx::commit(std::size_t n, delivery d, clock::time_point deadline) noexcept {
  const status s = tx().commit(n, d, deadline);
  idle();
  return s;
}

void chain_tx::abort() noexcept {
  tx().abort();
  idle();
}

// ---------------------------------------------------------------- receivers

chain_rx::chain_rx(std::shared_ptr<chain_link> l, mailbox_receiver head) noexcept
    : link_(std::move(l)), head_(std::move(head)) {}

// R-FINISH (see the top of this file); the caller saw generation > g.
bool chain_rx::finished(std::uint32_t g) const noexcept {
  const role_table& senders = link_->head->view().shared->producers;
  for (std::size_t i = 0; i < max_roles; ++i)
    if (link_->hdr->busy[i].v.load(std::memory_order_seq_cst) == g + 1 && mbx::holder_alive(senders, i))
      return false;
  return true;
}

// Everything claimed in g_ was taken; else a dead sender's claim may be
// pending: the stall check recovers it.
bool chain_rx::drained() noexcept {
  if (rx().role_.state().size() == 0) return true;
  rx().e_.poll_stall();
  return false;
}

void chain_rx::advance() noexcept {
  const std::uint32_t from = g_;
  rx().release();
  try {
    std::uint32_t c = 0;
    if (!link_->newest(c)) return;
    for (std::uint32_t n = g_ + 1; n <= c; ++n) {
      auto box = mailbox::open(link_->gen_name(n), link_->domain);
      if (!box && box.error() == errc::not_found && n < c) continue;  // finished and removed by another
      if (!box || box->max_message_size() != link_->max || box->capacity() != (link_->base << n)) return;
      auto r = box->receiver(head_.policy());
      if (!r) return;
      cur_ = std::move(*r);
      g_ = n;
      break;
    }
  } catch (...) {
    return;  // out of memory: try again at the next call
  }
  if (from >= 1 && g_ != from) (void)segment::remove(link_->gen_name(from), link_->domain);
}

}  // namespace ringport::detail

namespace ringport {

result<mailbox> mailbox::create_automatic(std::string_view name, const mailbox_options& opt) {
  std::uint64_t base = 0;
  std::uint32_t limit = 0;
  if (auto ok = detail::plan_chain(name, opt, base, limit); !ok) return std::move(ok).error();
  // Generations of an earlier chain of that name (its head gone) would be
  // taken for ours: remove them first (a generation outlives its head only
  // when the head was removed by hand).
  segment_options so;
  so.domain = opt.domain;
  so.kind = object_kind::mailbox;
  if (auto old = segment::open(name, so); !old && old.error() == errc::not_found) {
    for (std::uint32_t g = 1; g < mbx::max_generations; ++g)
      (void)segment::remove(std::string(name) + ".g" + std::to_string(g), opt.domain);
  }
  mailbox_options o = opt;
  o.capacity = static_cast<std::size_t>(base);
  ring_options ro;
  ro.capacity = o.capacity;
  ro.backing = opt.backing;
  ro.domain = opt.domain;
  ro.group_access = opt.group_access;
  ro.if_exists = opt.if_exists == existing::open ? existing::fail : opt.if_exists;
  auto st = detail::ring_state::create(
      name, object_kind::mailbox, mailbox_header_bytes + opt.max_message_size, 8, ro, mbx::automatic_extra);
  if (!st && opt.if_exists == existing::open && st.error() == errc::already_exists)
    return open(name, opt.domain);
  if (!st) return std::move(st).error();
  mbx::mailbox_chain* c = mbx::chain_of(**st);
  c->generation.store(0, std::memory_order_relaxed);
  c->backing.store(static_cast<std::uint32_t>(opt.backing), std::memory_order_relaxed);
  c->group.store(opt.group_access ? 1 : 0, std::memory_order_relaxed);
  c->max_bytes.store(opt.max_bytes, std::memory_order_relaxed);
  c->limit.store(limit, std::memory_order_release);  // last: the chain is ready
  auto l = detail::link_chain(name, opt.domain, *st, opt.max_message_size);
  if (!l) return std::move(l).error();
  mailbox m(std::move(*st), opt.max_message_size, false);
  m.chain_ = std::move(*l);
  return m;
}

std::uint64_t mailbox::max_bytes() const noexcept {
  return chain_ ? chain_->max_bytes : 0;
}

std::uint32_t mailbox::generation() const noexcept {
  std::uint32_t g = 0;
  return chain_ && chain_->newest(g) ? g : 0;
}

std::uint64_t mailbox::buffer_bytes() const noexcept {
  return chain_ ? std::uint64_t{capacity()} * chain_->slot_bytes() : 0;
}

}  // namespace ringport
