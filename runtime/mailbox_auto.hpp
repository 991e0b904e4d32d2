// runtime/mailbox_auto.hpp — private to the mailbox implementation:
// automatic buffering, a chain of bounded mailboxes ("generations") that
// grows when senders find the newest one full and shrinks back when they
// find it empty and idle. The argument for its
// guarantees is in runtime/mailbox_auto.cpp; the user's view in
// ringport/mailbox.hpp ("Automatic buffering").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "mailbox_slots.hpp"

namespace ringport::detail {

/// What every handle of one process knows about a chain: immutable after
/// open (read once from the head and checked), plus the head's mapping.
struct chain_link {
  std::string name, domain;
  std::size_t max = 0;          // max_message_size of every generation
  std::uint64_t base = 0;       // generation 0's capacity; a generation has base << level
  std::uint32_t limit = 0;      // levels allowed (1..max_generations)
  std::uint64_t max_bytes = 0;  // the user's limit
  std::uint64_t id = 0;         // the chain's id (nonzero), recorded by every generation
  pages backing = pages::any;
  bool group = false;
  std::shared_ptr<ring_state> head;
  mbx::mailbox_chain* hdr = nullptr;

  std::string gen_name(std::uint32_t g) const;
  /// The newest generation and its level, read once; false when out of range.
  bool newest(std::uint32_t& g, std::uint32_t& level) const noexcept;
  bool newest(std::uint32_t& g) const noexcept {
    std::uint32_t level = 0;
    return newest(g, level);
  }
  /// A generation's capacity (read from its segment) is base << level for
  /// a level below limit: that level, else false.
  bool level_of(std::uint64_t capacity, std::uint32_t& level) const noexcept;
  /// How many generations, the newest included, can still be linked (the
  /// bound is argued in mailbox_auto.cpp, "Shrinking").
  std::uint32_t window() const noexcept { return limit + 1; }
  /// How far below the newest a linked generation's number can be: window()
  /// generations, each up to name_tries numbers above the previous one
  /// (numbers taken by segments not of this chain are skipped).
  std::uint32_t span() const noexcept { return window() * name_tries; }
  static constexpr std::uint32_t name_tries = 4;
  std::uint64_t slot_bytes() const noexcept { return (mailbox_header_bytes + max + 7) / 8 * 8; }

  /// Generation g of this chain, with its level: errc::not_found when the
  /// name is free, not_ours when the segment there is anything but a
  /// generation g of this chain (a user's mailbox, an automatic one, another
  /// chain's), errc::init_timeout when it has no tag yet and its creator is
  /// dead (half-made) or slow past 2 s (or past `until`), errc::corrupt for
  /// impossible sizes.
  result<mailbox> open_gen(std::uint32_t g, std::uint32_t& level,
                           std::chrono::steady_clock::time_point until = {}) const;
  /// Makes generation g at `level` and tags it (if_exists: fail or replace).
  result<mailbox> make_gen(std::uint32_t g, std::uint32_t level, existing if_exists) const;
  /// Unlinks generation g if it is this chain's.
  void remove_gen(std::uint32_t g) const noexcept;
  /// Wakes receivers parked on generation `v`'s ring and on the head's
  /// event (readable() parks there).
  void wake(const ring_view& v) const noexcept;
  static constexpr errc not_ours = errc::wrong_kind;
  /// f(generation) for each generation of this chain that may be linked
  /// (close, reopen, size: the newest span() numbers), newest first.
  template <class F>
  void each_generation(F&& f) const noexcept {
    std::uint32_t c = 0;
    if (!newest(c)) return;
    for (std::uint32_t g = c; g >= 1 && c - g < span(); --g) try {
        std::uint32_t level = 0;
        if (auto m = open_gen(g, level)) f(*m);
      } catch (...) {
        // out of memory: that one is skipped
      }
  }
};

/// Validates an automatic head (just opened) and describes its chain.
result<std::shared_ptr<chain_link>> link_chain(std::string_view name, std::string_view domain,
                                               std::shared_ptr<ring_state> head, std::size_t max);
/// Removes the generations NAME.gN of chain `id` (0: of any chain, for the
/// leftovers of one whose head was removed by hand) and the half-made ones
/// whose creator is dead; anything else at those names is left alone.
void remove_generations(std::string_view name, std::string_view domain, std::uint64_t id) noexcept;
/// Generations and limits for a new chain (invalid_argument when max_bytes
/// cannot hold one slot, or the name leaves no room for the suffixes).
result<void> plan_chain(std::string_view name, const mailbox_options& opt, std::uint64_t& base,
                        std::uint32_t& limit);

/// A sender's side of a chain: its head handle (whose role slot names its
/// busy word) and a handle on the generation it sends into.
class chain_tx {
 public:
  using clock = std::chrono::steady_clock;
  chain_tx(std::shared_ptr<chain_link> l, mailbox_sender head) noexcept;
  ~chain_tx();
  status send(std::span<const std::byte> msg, clock::time_point deadline, bool sync, bool try_only) noexcept;
  status stream(std::uint64_t size, mailbox_sender::stream_source src, clock::time_point deadline, delivery d,
                bool try_only) noexcept;
  status claim(std::size_t size, std::span<std::byte>& out, clock::time_point deadline,
               bool try_only) noexcept;
  status commit(std::size_t n, delivery d, clock::time_point deadline) noexcept;
  void abort() noexcept;

 private:
  template <class Op>
  status run(Op&& op, clock::time_point deadline, bool may_grow, bool keep_busy) noexcept;
  bool move_to(std::uint32_t g, std::uint32_t level) noexcept;
  bool make_next(std::uint32_t level, clock::time_point until) noexcept;  // grow (lvl_ + 1) or shrink (0)
  bool may_grow_now() noexcept;
  void count_empty(bool was_empty) noexcept;
  mailbox_sender& tx() noexcept { return g_ == 0 ? head_ : cur_; }
  void idle() noexcept { busy_->store(0, std::memory_order_seq_cst); }

  std::shared_ptr<chain_link> link_;
  mailbox_sender head_;
  mailbox_sender cur_;           // generation g_ >= 1
  std::optional<mailbox> next_;  // the generation make_next() made or found, for move_to
  std::uint32_t next_g_ = 0;     // its number
  std::uint32_t g_ = 0;
  std::uint32_t lvl_ = 0;        // g_'s level: it has base << lvl_ slots
  std::uint32_t empty_run_ = 0;  // consecutive sends into g_ that found it empty
  std::atomic<std::uint32_t>* busy_ = nullptr;
  // A generation could not be made (no memory?): behave as bounded until
  // then, and try again (a wait is cut there to try again).
  clock::time_point retry_growth_{};
};

/// A receiver's side: drains generation g before it takes from g + 1.
class chain_rx {
 public:
  using clock = std::chrono::steady_clock;
  chain_rx(std::shared_ptr<chain_link> l, mailbox_receiver head) noexcept;
  /// try_one(rx) is a non-blocking call on one generation's handle;
  /// wait_one(rx, deadline) the same call waiting until deadline.
  template <class Try, class Wait>
  status run(Try&& try_one, Wait&& wait_one, clock::time_point deadline, bool try_only) noexcept;
  mailbox_receiver& rx() noexcept { return g_ == 0 ? head_ : cur_; }
  /// For readable() / wait_any (the handle's thread): moves to the next
  /// generation when R-FINISH allows it now; true when it moved.
  bool try_move() noexcept;
  const ring_view& head_view() const noexcept { return link_->head->view(); }

 private:
  bool finished(std::uint32_t g) const noexcept;
  bool drained() noexcept;
  bool advance(std::uint32_t newest, clock::time_point until) noexcept;  // false: could not follow the chain
  void park(clock::time_point until) noexcept;  // on the head's event, for any sender's publish
  static bool ready(const void* self) noexcept;
  static void stall(const void* self) noexcept;

  std::shared_ptr<chain_link> link_;
  mailbox_receiver head_;
  mailbox_receiver cur_;  // generation g_ >= 1
  std::uint32_t g_ = 0;
};

inline bool passes(status s) noexcept {
  return s == status::would_block || s == status::closed || s == status::peer_gone || s == status::timed_out;
}

template <class Try, class Wait>
status chain_rx::run(Try&& try_one, Wait&& wait_one, clock::time_point deadline, bool try_only) noexcept {
  for (;;) {
    if (status s = try_one(rx()); !passes(s)) return s;
    std::uint32_t c = 0;
    if (!link_->newest(c) || c < g_) return status::corrupt;
    if (c > g_) {
      // R-FINISH: move on only once no live sender can still write to g_
      // and everything written there has been taken (mailbox_auto.cpp).
      if (!rx().in_.open && finished(g_)) {
        if (status s = try_one(rx()); !passes(s)) return s;
        if (drained()) {
          if (!advance(c, deadline)) return status::corrupt;  // a newer generation cannot be followed
          continue;
        }
      }
    } else {
      if (rx().role_.state().closed() && !rx().e_.readable()) return status::closed;
      if (link_->head->closed() && !rx().e_.readable()) return status::closed;
    }
    if constexpr (std::is_null_pointer_v<std::remove_cvref_t<Wait>>) {
      return status::would_block;
    } else {
      if (try_only) return status::would_block;
      const auto now = clock::now();
      if (now >= deadline) return status::timed_out;
      // Waiting on g_'s ring: a grower wakes it after it bumps the generation;
      // while a move is pending (c > g_) the slice is short, so that a sender
      // leaving g_ (it does not wake receivers) is seen soon.
      const auto slice = now + (c > g_ ? std::chrono::milliseconds(1) : peer_poll);
      const status s = wait_one(rx(), deadline < slice ? deadline : slice);
      if (!passes(s)) return s;
      if (s == status::peer_gone) {
        // Every sender of g_ died, but one that has not moved here yet may
        // live: judged on the head, where every sender holds a role.
        if (c == g_ && !link_->head->peers_alive(role::producer)) return s;
        park(deadline < slice ? deadline : slice);
      }
    }
  }
}

}  // namespace ringport::detail
