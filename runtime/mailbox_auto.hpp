// runtime/mailbox_auto.hpp — private to the mailbox implementation:
// automatic buffering, a chain of bounded mailboxes ("generations") that
// grows when senders find the newest one full. The argument for its
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
  std::uint64_t base = 0;       // generation 0's capacity; generation g has base << g
  std::uint32_t limit = 0;      // generations allowed (1..max_generations)
  std::uint64_t max_bytes = 0;  // the user's limit
  pages backing = pages::any;
  bool group = false;
  std::shared_ptr<ring_state> head;
  mbx::mailbox_chain* hdr = nullptr;

  std::string gen_name(std::uint32_t g) const;
  /// The newest generation, read once; false when it is out of range.
  bool newest(std::uint32_t& g) const noexcept;
  std::uint64_t slot_bytes() const noexcept { return (mailbox_header_bytes + max + 7) / 8 * 8; }
};

/// Validates an automatic head (just opened) and describes its chain.
result<std::shared_ptr<chain_link>> link_chain(std::string_view name, std::string_view domain,
                                               std::shared_ptr<ring_state> head, std::size_t max);
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
  status run(Op&& op, bool may_grow, bool keep_busy) noexcept;
  bool move_to(std::uint32_t g) noexcept;
  bool grow() noexcept;
  mailbox_sender& tx() noexcept { return g_ == 0 ? head_ : cur_; }
  void idle() noexcept { busy_->store(0, std::memory_order_seq_cst); }

  std::shared_ptr<chain_link> link_;
  mailbox_sender head_;
  mailbox_sender cur_;           // generation g_ >= 1
  std::optional<mailbox> next_;  // the generation grow() made or found, for move_to
  std::uint32_t g_ = 0;
  std::atomic<std::uint32_t>* busy_ = nullptr;
  bool no_growth_ = false;  // a generation could not be made: behave as bounded
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

 private:
  bool finished(std::uint32_t g) const noexcept;
  bool drained() noexcept;
  void advance() noexcept;

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
          advance();
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
      if (s == status::peer_gone && c == g_) return s;  // every sender of the newest generation died
    }
  }
}

}  // namespace ringport::detail
