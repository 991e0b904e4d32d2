// Automatic buffering: a mailbox that grows when its senders find it full
// and shrinks back when they find it empty and idle.
//
// Layout. An automatic mailbox NAME is a chain of bounded mailboxes, its
// generations: generation 0 is NAME itself (the head), generation g >= 1 is
// NAME.gG (same domain, message size, pages and mode). Generation numbers
// only count up (32 bits; at 2^32 - 2 the chain stops changing and behaves as
// bounded); a generation's size is its level: base << level slots, level <
// `limit`. base (at most 16 messages) and `limit` follow from max_bytes at
// create: no generation's slots exceed max_bytes. The head's extra region
// carries, after the acknowledgement table and stream gates, a
// mailbox_chain: the word `newest` (number << 8 | level of the newest
// generation), the limit, the pages, the mode, max_bytes, the chain's id (64
// random bits, nonzero) and one busy word per head sender role slot. Each
// process reads the fixed fields once at open (link_chain) and checks them;
// `newest` is read once per use and its level checked against the limit; a
// generation's own capacity, read from its segment, must be base << level
// for a valid level. Names are never reused (a new number each time), so
// that a slow receiver unlinking the generation it leaves can only ever
// unlink that one.
// Ours. NAME.gN is a valid name for anyone's mailbox, so a generation is
// told by its segment: its extra region has a length of its own
// (mbx::generation_extra: no plain, rendezvous or automatic mailbox has it)
// and ends in a tag, the chain's id and N, written by its creator just after
// the segment appears (id last, release). open_gen() takes a segment at
// NAME.gN only if it is all that (else not_ours); nothing else is ever sent
// into, received from, closed, reopened or removed, and remove() removes the
// generations that carry the head's id (and half-made ones, below). A
// growth that finds a segment not of this chain at the next number skips to
// the one after (at most name_tries numbers): so linked generations are at
// most span() = window() * name_tries numbers below the newest.
//
// Senders. A sender handle holds a sender role on the head for its whole
// life (its slot names its busy word) and one on the generation it sends
// into. Every send (claim, stream) goes:
//   S-BUSY  busy = g + 1            (seq_cst)
//   S-LOOK  c = generation          (seq_cst); c != g: busy = 0, move to c
//   S-SEND  the send into g; full and level + 1 < limit: busy = 0, grow, retry
//   S-IDLE  busy = 0                (seq_cst, after the publish)
// Growing makes NAME.g(g+1) at level + 1 (O_EXCL: one creator; the others
// open it, and accept whatever level it has: a grower and a shrinker may
// race), then CASes newest (g, level) -> (g + 1, its level) (whoever gets
// there first; a creator that died before its CAS is covered by the next
// one) and wakes g's receivers. A creator that died between the segment's
// appearance and its tag left it half-made (id 0): an opener waits (up to 2 s)
// for a tag while the recorded creator lives, else the next grower replaces
// it (existing::replace: only when no recorded user lives, under the lock
// creators share, so two replacers cannot remove each other's new one). A
// growth that fails (no memory?) makes that sender behave as bounded for 50
// ms (a wait is cut there, except a synchronous send's wait for its
// receiver), then it tries again. A sender that finds a newer generation at
// S-LOOK wakes g's receivers too (one may wait in wait_any for it to leave). A
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
// newest missing (or not ours: a skipped number) knows it was finished and
// skips it, and it starts looking no lower than newest - span() (below, none
// is linked: "Window"), so a hostile newest costs at most span() opens. A
// newest it cannot follow (missing, not ours, no receiver slot there) is
// reported as status::corrupt, never retried in a loop. A process that
// opened the mailbox small follows the growth at its next call, without
// reopening.
// Peer death. A receiver on the newest generation whose senders there all
// died is told peer_gone only when no sender holds a role on the head
// either: every sender holds one for its life, and a live one still in an
// older generation sends into the newest at its next send.
//
// Shrinking. A sender shrinks the chain when the newest generation g is
// *empty and idle*: K = shrink_after (64) sends in a row by that sender into
// g, above level 0, each found g's ring empty (tail == head) just before it
// sent. It then makes g + 1 at level 0 (the head's size) exactly as a grower
// does (same O_EXCL, same CAS, same wake-up). Nothing else changes: senders
// move forward only and receivers keep R-FINISH and drained for every
// generation whatever its size, so exactly once and per-sender FIFO hold by
// the argument above, which never used the sizes. Sends only (not claims,
// which keep their sender busy, nor streams) count; at level 0 nothing is
// counted (no cost on the hot path of a small mailbox).
// Why the head's size and not half: K empty finds in a row say that the
// receivers keep up with that sender; one step down makes one generation
// per idle stretch, and the next burst regrows in log steps.
// No thrash: a growth needs the newest generation full, a shrink needs it
// found empty K times in a row, and a shrink starts from a level > 0 that
// only growths make. So between two shrinks there are at most limit - 1
// growths, and a burst (the newest full again) after an idle stretch creates
// at most limit generations: one shrink, then limit - 1 growths.
// Window: after K >= 2 empty finds, the sender's previous message in g was
// taken, by a receiver that had moved through every generation before g,
// unlinking each: when g + 1 is made, the generations below g are gone. Up
// to the next shrink only growths follow (at most limit - 1), so at most
// limit + 1 generations (window()) can be linked at once, the newest
// included: close(), reopen() and size() look at those only (the newest
// span() numbers).
// readable() (for wait_any) parks on the head's event, mapped for the
// handle's life (a generation's is unmapped once the receiver moves past it,
// so a waitable taken earlier must not point there); its ready test is true
// when the generation the receiver reads is readable, or when R-FINISH lets
// the receiver move on right then (it moves). Senders in a generation g >= 1
// ring the head's event after each publish (mailbox_sender::chain_wake: one
// load when nobody parks), growers/shrinkers and senders leaving g ring it
// too; a wait_any slice (peer_poll) bounds a missed one.
#include "mailbox_auto.hpp"

#include <random>
#include <thread>

#include "ringport/detail/process.hpp"
#include "ringport/segment.hpp"

namespace ringport::detail {
namespace {
using clock = std::chrono::steady_clock;
constexpr std::uint64_t base_limit = 16;    // generation 0's capacity at most
constexpr std::uint32_t shrink_after = 64;  // K: empty finds in a row that make a sender shrink
constexpr auto growth_retry = std::chrono::milliseconds(50);  // after a generation could not be made
constexpr auto tag_wait = std::chrono::seconds(2);            // for a live creator to tag its generation

std::uint64_t new_chain_id() {
  std::random_device rd;
  const std::uint64_t t = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  const std::uint64_t id = (std::uint64_t{rd()} << 32 | rd()) ^ (t * 0x9e3779b97f4a7c15ULL);
  return id != 0 ? id : 1;
}

// The tag of a generation just opened: its chain id and number, waiting
// while its live creator has not written them yet, up to tag_wait (or
// `until` if earlier and set). 0: half-made (or not made in time).
std::uint64_t read_tag(ring_state& st, std::uint32_t& number, clock::time_point until) noexcept {
  mbx::generation_tag* t = mbx::tag_of(st);
  const auto cap = clock::now() + tag_wait;
  const auto give_up = until != clock::time_point{} && until < cap ? until : cap;
  for (;;) {
    if (const std::uint64_t id = t->chain.load(std::memory_order_acquire); id != 0) {
      number = t->number.load(std::memory_order_relaxed);
      return id;
    }
    if (!owner_alive(st.info().creator_owner) || clock::now() >= give_up) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}
}  // namespace

std::atomic<void (*)()> auto_send_hook{nullptr};
std::atomic<void (*)()> auto_grow_hook{nullptr};

std::string chain_link::gen_name(std::uint32_t g) const {
  return name + ".g" + std::to_string(g);
}

bool chain_link::newest(std::uint32_t& g, std::uint32_t& level) const noexcept {
  const std::uint64_t w = hdr->newest.load(std::memory_order_seq_cst);
  level = static_cast<std::uint32_t>(w & 0xff);
  g = static_cast<std::uint32_t>(w >> 8);
  return level < limit && (w >> 8) <= mbx::last_generation;
}

bool chain_link::level_of(std::uint64_t capacity, std::uint32_t& level) const noexcept {
  for (level = 0; level < limit; ++level)
    if ((base << level) == capacity) return true;
  return false;
}

result<mailbox> chain_link::open_gen(std::uint32_t g, std::uint32_t& level, clock::time_point until) const {
  const std::string n = gen_name(g);
  std::size_t m = 0;
  auto st = open_mailbox_state(n, domain, m);
  if (!st) {
    const error& e = st.error();
    if (e == errc::not_found || e == errc::system_error || e == errc::out_of_memory) return e;
    return error(not_ours, e.message);  // another kind of segment, a foreign file, garbage
  }
  // The extra length was read once from the header and the geometry
  // checked against it: a plain, rendezvous or automatic mailbox is not
  // a generation.
  if ((*st)->view().shared->geo.extra_bytes != mbx::generation_extra || m != max)
    return error(not_ours, "mailbox '" + n + "' is not a generation of automatic mailbox '" + name + "'");
  std::uint32_t number = 0;
  const std::uint64_t tag = read_tag(**st, number, until);
  if (tag == 0)
    return error(errc::init_timeout,
                 "generation '" + n + "' was never finished (its creator died or stalls)");
  if (tag != id || number != g)
    return error(not_ours, "mailbox '" + n + "' is a generation of another chain than '" + name + "''s");
  if (!level_of((*st)->view().capacity, level))
    return error(errc::corrupt, "generation '" + n + "' has an impossible capacity");
  return mailbox(std::move(*st), max, false);
}

result<mailbox> chain_link::make_gen(std::uint32_t g, std::uint32_t level, existing if_exists) const {
  ring_options ro;
  ro.capacity = static_cast<std::size_t>(base << level);
  ro.backing = backing;
  ro.domain = domain;
  ro.group_access = group;
  ro.if_exists = if_exists;
  auto st = ring_state::create(gen_name(g), object_kind::mailbox, mailbox_header_bytes + max, 8, ro,
                               mbx::generation_extra);
  if (!st) return std::move(st).error();
  if (void (*hook)() = auto_grow_hook.load(std::memory_order_relaxed)) [[unlikely]]
    hook();
  mbx::generation_tag* t = mbx::tag_of(**st);
  t->number.store(g, std::memory_order_relaxed);
  t->chain.store(id, std::memory_order_release);  // last: the generation is ours
  return mailbox(std::move(*st), max, false);
}

void chain_link::remove_gen(std::uint32_t g) const noexcept {
  try {
    std::uint32_t level = 0;
    if (open_gen(g, level)) (void)segment::remove(gen_name(g), domain);
  } catch (...) {
    // out of memory: it stays linked until the chain is removed
  }
}

void chain_link::wake(const ring_view& v) const noexcept {
  notify(v.shared->not_empty, v.bells);
  const ring_view& h = head->view();
  if (h.shared != v.shared) notify(h.shared->not_empty, h.bells);
}

void remove_generations(std::string_view name, std::string_view domain, std::uint64_t id) noexcept {
  try {
    const std::string prefix = std::string(name) + ".g";
    auto all = segment::list(domain);
    if (!all) return;
    for (const segment_info& i : *all) {
      const std::string_view n = i.name;
      if (n.size() <= prefix.size() || n.substr(0, prefix.size()) != prefix) continue;
      if (n.substr(prefix.size()).find_first_not_of("0123456789") != std::string_view::npos) continue;
      std::size_t m = 0;
      auto st = open_mailbox_state(n, domain, m);
      if (!st || (*st)->view().shared->geo.extra_bytes != mbx::generation_extra)
        continue;  // not a generation
      const std::uint64_t tag = mbx::tag_of(**st)->chain.load(std::memory_order_acquire);
      const bool half_made = tag == 0 && !owner_alive((*st)->info().creator_owner);
      if (id == 0 || tag == id || half_made) (void)segment::remove(n, domain);
    }
  } catch (...) {
    // out of memory: leftovers stay (not of a new chain: its growth skips their numbers)
  }
}

result<void> plan_chain(std::string_view name, const mailbox_options& opt, std::uint64_t& base,
                        std::uint32_t& limit) {
  const std::string who = "mailbox '" + std::string(name) + "'";
  const std::uint64_t slot = (mailbox_header_bytes + opt.max_message_size + 7) / 8 * 8;
  if (opt.max_bytes < slot)
    return error(errc::invalid_argument,
                 who + ": automatic buffering wants max_bytes of at least one slot (" + std::to_string(slot) +
                     " bytes for max_message_size " + std::to_string(opt.max_message_size) + ")");
  if (name.size() + 12 > 64)
    return error(errc::invalid_name, who +
                                         ": an automatic mailbox's name has at most 52 characters (its "
                                         "generations are NAME.g1, NAME.g2 ..., up to 10 digits)");
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
  const std::uint64_t id = l->hdr->id.load(std::memory_order_relaxed);
  const std::uint64_t slots = max_bytes / l->slot_bytes();
  const bool ok = limit >= 1 && limit <= mbx::max_generations && l->base >= 1 && l->base <= base_limit &&
                  backing <= static_cast<std::uint32_t>(pages::normal) && group <= 1 &&
                  (l->base << (limit - 1)) <= slots && id != 0;
  if (!ok)
    return error(errc::bad_layout, "automatic mailbox '" + std::string(name) +
                                       "' records an impossible chain (limit " + std::to_string(limit) +
                                       ", max_bytes " + std::to_string(max_bytes) +
                                       "): remove it and create it again");
  l->limit = limit;
  l->max_bytes = max_bytes;
  l->id = id;
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

bool chain_tx::move_to(std::uint32_t g, std::uint32_t level) noexcept {
  try {
    std::optional<mailbox> box;
    std::uint32_t made = 0;
    if (next_ && next_g_ == g) {
      box = std::move(next_);
      (void)link_->level_of(box->capacity(), made);
    } else if (auto b = link_->open_gen(g, made)) {
      box = std::move(*b);
    }
    next_.reset();
    if (!box || made != level) return false;  // the newest word and the generation disagree
    auto s = box->sender(head_.policy());
    if (!s) return false;
    cur_ = std::move(*s);
    const ring_view& h = link_->head->view();  // readable() parks there: ring it after each publish
    cur_.chain_ec_ = &h.shared->not_empty;
    cur_.chain_bells_ = h.bells;
    g_ = g;
    lvl_ = level;
    empty_run_ = 0;
    return true;
  } catch (...) {
    return false;  // out of memory: stay where we are
  }
}

// Makes generation g_ + 1 with base << level slots (grow: lvl_ + 1; shrink:
// 0), or opens the one another sender made first, whatever its level; a
// number whose name holds a segment not of this chain is skipped ("Growing"
// at the top of this file). True when the chain moved on (by us or not).
bool chain_tx::make_next(std::uint32_t level, clock::time_point until) noexcept {
  const std::uint64_t seen = mbx::pack_newest(g_, lvl_);
  const auto moved_on = [&] { return link_->hdr->newest.load(std::memory_order_seq_cst) != seen; };
  try {
    for (std::uint32_t k = 0; k < chain_link::name_tries; ++k) {
      if (g_ + k >= mbx::last_generation) return false;
      const std::uint32_t g = g_ + 1 + k;
      std::uint32_t made = level;  // its level: a grower and a shrinker may race to make g
      auto box = link_->make_gen(g, level, existing::fail);
      if (!box && box.error() == errc::already_exists) box = link_->open_gen(g, made, until);
      if (!box && box.error() == errc::init_timeout) {
        // Half-made: its creator died before tagging it (or stalls). Replace
        // it, which the segment layer does only when no recorded user of it
        // (its creator included) lives, under the lock creators share.
        if (moved_on()) return true;
        box = link_->make_gen(g, level, existing::replace);
        if (!box && box.error() == errc::already_exists) box = link_->open_gen(g, made, until);
      }
      if (!box && box.error() == chain_link::not_ours) continue;  // someone else's NAME.gN: the next number
      if (!box) return moved_on();
      std::uint64_t expected = seen;
      link_->hdr->newest.compare_exchange_strong(expected, mbx::pack_newest(g, made),
                                                 std::memory_order_seq_cst);
      if (link_->head->closed()) box->st_->close();  // a close that raced with the growth
      link_->wake(tx().e_.view());                   // g_'s receivers move on
      next_ = std::move(*box);
      next_g_ = g;
      return true;
    }
  } catch (...) {
  }
  return moved_on();
}

bool chain_tx::may_grow_now() noexcept {
  if (retry_growth_ == clock::time_point{}) return true;
  if (clock::now() < retry_growth_) return false;
  retry_growth_ = {};
  return true;
}

// op(tx, wait, until) is one call on a generation's handle (wait: it may
// block until `until`).
template <class Op>
status chain_tx::run(Op&& op, clock::time_point deadline, bool may_grow, bool keep_busy) noexcept {
  for (int failed_moves = 0;;) {
    if (link_->head->closed()) return status::closed;
    busy_->store(g_ + 1, std::memory_order_seq_cst);  // S-BUSY
    std::uint32_t c = 0, level = 0;
    if (!link_->newest(c, level) || c < g_) {  // S-LOOK
      idle();
      return status::corrupt;
    }
    if (c != g_) {
      idle();
      // A receiver parked in wait_any on g_ may wait for this sender (busy
      // there) before it moves on: wake it.
      link_->wake(tx().e_.view());
      if (move_to(c, level)) {
        failed_moves = 0;
      } else if (++failed_moves > 100 || clock::now() >= deadline) {
        return status::corrupt;  // the newest generation cannot be opened (removed by hand?)
      } else {
        std::this_thread::yield();  // e.g. c was finished and removed meanwhile: look again
      }
      continue;
    }
    if (void (*hook)() = auto_send_hook.load(std::memory_order_relaxed)) [[unlikely]]
      hook();
    const bool can_grow = may_grow && lvl_ + 1 < link_->limit && g_ < mbx::last_generation;
    const bool grow_here = can_grow && may_grow_now();
    // Growth put off: a wait stops at the retry time to try again.
    const auto until = can_grow && !grow_here && retry_growth_ < deadline ? retry_growth_ : deadline;
    const bool may_shrink = may_grow && !keep_busy && lvl_ > 0;
    const bool was_empty = may_shrink && tx().role_.state().size() == 0;
    const status s = op(tx(), !grow_here, until);  // S-SEND
    if (s == status::would_block && grow_here) {
      idle();
      if (!make_next(lvl_ + 1, deadline))
        retry_growth_ = clock::now() + growth_retry;  // block as a bounded one meanwhile
      continue;
    }
    if (s == status::timed_out && until < deadline) {
      idle();
      continue;
    }
    if (!(keep_busy && s == status::ok)) idle();  // S-IDLE
    if (may_shrink && s == status::ok) count_empty(was_empty);
    return s;
  }
}

// Shrinking (top of this file): K sends in a row into g_ that each found it
// empty make g_ + 1 at the head's size.
void chain_tx::count_empty(bool was_empty) noexcept {
  empty_run_ = was_empty ? empty_run_ + 1 : 0;
  if (empty_run_ < shrink_after) return;
  empty_run_ = 0;
  (void)make_next(0, clock::now());  // best effort, no wait: on failure it stays at its size
}

status chain_tx::send(std::span<const std::byte> msg, clock::time_point deadline, bool sync,
                      bool try_only) noexcept {
  return run(
      [&](mailbox_sender& tx, bool wait, clock::time_point until) noexcept {
        // (a synchronous send's wait for its receiver is not cut: a cut one is withdrawn)
        return tx.send_room(msg, wait && !try_only, sync ? deadline : until, sync);
      },
      deadline, true, false);
}

status chain_tx::stream(std::uint64_t size, mailbox_sender::stream_source src, clock::time_point deadline,
                        delivery d, bool try_only) noexcept {
  // A stream stays in one generation (its fragments are one FIFO run).
  return run([&](mailbox_sender& tx, bool,
                 clock::time_point) noexcept { return tx.stream_out(size, src, deadline, d, try_only); },
             deadline, false, false);
}

status chain_tx::claim(std::size_t size, std::span<std::byte>& out, clock::time_point deadline,
                       bool try_only) noexcept {
  // busy stays set from the claim to its commit or abort.
  return run(
      [&](mailbox_sender& tx, bool wait, clock::time_point until) noexcept {
        return wait && !try_only ? tx.claim_until(size, out, until) : tx.try_claim(size, out);
      },
      deadline, true, true);
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

bool chain_rx::try_move() noexcept {
  std::uint32_t c = 0;
  if (!link_->newest(c) || c <= g_ || rx().in_.open || !finished(g_) || !drained()) return false;
  return advance(c, clock::now());  // (in wait_any's ready test: no waiting)
}

// To the oldest generation above g_ that is still linked, at most c (the
// newest, read once by the caller). Below c - span() none is (window()).
bool chain_rx::advance(std::uint32_t c, clock::time_point until) noexcept {
  const std::uint32_t from = g_;
  try {
    for (std::uint32_t n = c - g_ > link_->span() ? c - link_->span() + 1 : g_ + 1; n <= c; ++n) {
      std::uint32_t level = 0;
      auto box = link_->open_gen(n, level, until);
      if (!box && n < c && (box.error() == errc::not_found || box.error() == chain_link::not_ours))
        continue;  // finished and removed by another receiver, or a number skipped by growth
      if (!box) return false;
      auto r = box->receiver(head_.policy());
      if (!r) return false;  // no receiver slot free there: stay (the caller reports it)
      rx().release();
      cur_ = std::move(*r);
      g_ = n;
      break;
    }
  } catch (...) {
    return false;  // out of memory
  }
  if (g_ == from) return false;
  if (from >= 1) link_->remove_gen(from);
  return true;
}

bool chain_rx::ready(const void* self) noexcept {
  auto* r = const_cast<chain_rx*>(static_cast<const chain_rx*>(self));
  return r->rx().e_.readable() || r->rx().e_.closed() || r->link_->head->closed();
}

void chain_rx::stall(const void* self) noexcept {
  const_cast<chain_rx*>(static_cast<const chain_rx*>(self))->rx().e_.poll_stall();
}

void chain_rx::park(clock::time_point until) noexcept {
  const ring_view& h = link_->head->view();
  const waitable w[] = {waitable{&h.shared->not_empty, &chain_rx::ready, this, h.bells, &chain_rx::stall}};
  (void)wait_any(w, until, head_.policy());
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
  if (auto old = segment::open(name, so); !old && old.error() == errc::not_found)
    detail::remove_generations(name, opt.domain, 0);
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
  c->newest.store(mbx::pack_newest(0, 0), std::memory_order_relaxed);
  c->backing.store(static_cast<std::uint32_t>(opt.backing), std::memory_order_relaxed);
  c->group.store(opt.group_access ? 1 : 0, std::memory_order_relaxed);
  c->max_bytes.store(opt.max_bytes, std::memory_order_relaxed);
  c->id.store(detail::new_chain_id(), std::memory_order_relaxed);
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

std::uint32_t mailbox::buffer_generation() const noexcept {
  std::uint32_t g = 0;
  return chain_ && chain_->newest(g) ? g : 0;
}

std::uint64_t mailbox::buffer_bytes() const noexcept {
  return chain_ ? std::uint64_t{capacity()} * chain_->slot_bytes() : 0;
}

}  // namespace ringport
