// ringport/detail/mailbox_ack.hpp — the steps of a synchronous send's
// acknowledgement protocol (the "Delivery" section of ringport/mailbox.hpp).
//
// A sender's acknowledgement word is generation << 2 | state (free 0,
// pending 1, taken 2). The sender starts a generation (ack_start) before it
// queues the message, then waits (ack_load) until a receiver took it
// (ack_finished) or withdraws it (ack_withdraw); a receiver that dequeues the
// message takes it (ack_take) and only then copies it out, else discards it.
// Exactly one of the two CASes succeeds.
//
// Each step is a template over an environment `Env` (as in event_count.hpp)
// and a word type with std::atomic<std::uint32_t>'s interface. The library
// instantiates them with shipped_ack_env and std::atomic (runtime/mailbox.cpp);
// the model checker (tests/model/mailbox_ack_model.cpp) with relacy's atomics
// and with the mutants below. So the checked code is the shipped code.
// Env provides `mutation` (ack_mutation::none in the library).
#pragma once

#include <atomic>
#include <cstdint>

#include "ringport/status.hpp"

namespace ringport::detail {

inline constexpr std::uint32_t ack_free = 0;
inline constexpr std::uint32_t ack_pending = 1;
inline constexpr std::uint32_t ack_taken = 2;
inline constexpr std::uint32_t ack_gen_mask = (std::uint32_t{1} << 30) - 1;

constexpr std::uint32_t ack_word(std::uint32_t gen, std::uint32_t state) noexcept {
  return gen << 2 | state;
}

/// Deliberate bugs, for the model checker's mutation test only.
enum class ack_mutation : std::uint8_t {
  none,
  relaxed_await,       // the sender's A-ACK load relaxed
  relaxed_withdraw,    // the withdrawing CAS relaxed (success and failure)
  store_withdraw,      // the withdrawing CAS replaced by a plain store of free
  load_store_take,     // the receiver's CAS replaced by a load, then a store
  no_generation_bump,  // a new send reuses the last generation
};

struct shipped_ack_env {
  static constexpr ack_mutation mutation = ack_mutation::none;
};

/// Sender: starts a new generation on its word, marked pending; returns it.
/// relaxed: only the holder of the sender role slot starts generations on
/// its word (receivers only move pending -> taken), so this reads our own
/// last value; the new pending word reaches receivers through the slot's
/// turn release (R-TURN-FULL) that publishes the message.
template <class Env, class Word>
std::uint32_t ack_start(Word& w) noexcept {
  const std::uint32_t last = w.load(std::memory_order_relaxed) >> 2;
  const std::uint32_t gen =
      Env::mutation == ack_mutation::no_generation_bump ? last : (last + 1) & ack_gen_mask;
  w.store(ack_word(gen, ack_pending), std::memory_order_relaxed);
  return gen;
}

/// Sender: A-ACK, the load of its wait; pairs with R-ACK (ack_take).
template <class Env, class Word>
std::uint32_t ack_load(Word& w) noexcept {
  return w.load(Env::mutation == ack_mutation::relaxed_await ? std::memory_order_relaxed
                                                             : std::memory_order_acquire);
}

/// Sender: the result once its word left `pending` (seen: the word then).
template <class Env, class Word>
status ack_finished(Word& w, std::uint32_t gen, std::uint32_t seen) noexcept {
  if (seen != ack_word(gen, ack_taken)) return status::corrupt;  // nobody else may write our word
  // relaxed: the word is ours again; the next generation starts from here.
  w.store(ack_word(gen, ack_free), std::memory_order_relaxed);
  return status::ok;
}

/// Sender: withdraws the pending message on deadline, close or peer death
/// (why); returns why if withdrawn (the receiver that dequeues it discards
/// it), else ack_finished() of the `taken` a receiver wrote first.
/// acq_rel / acquire: exactly one of this CAS and R-ACK succeeds; on failure
/// we read the receiver's `taken`, with what it did before.
template <class Env, class Word>
status ack_withdraw(Word& w, std::uint32_t gen, status why) noexcept {
  std::uint32_t expected = ack_word(gen, ack_pending);
  if constexpr (Env::mutation == ack_mutation::store_withdraw) {
    w.store(ack_word(gen, ack_free), std::memory_order_release);
    return why;
  }
  constexpr bool relaxed = Env::mutation == ack_mutation::relaxed_withdraw;
  if (w.compare_exchange_strong(expected, ack_word(gen, ack_free),
                                relaxed ? std::memory_order_relaxed : std::memory_order_acq_rel,
                                relaxed ? std::memory_order_relaxed : std::memory_order_acquire))
    return why;
  return ack_finished<Env>(w, gen, expected);
}

/// Receiver: R-ACK, takes the dequeued message of generation gen (it may
/// copy it out only if this returns true; false: withdrawn, discard it).
/// Pairs with A-ACK; exactly one of this CAS and the withdrawing CAS wins.
template <class Env, class Word>
bool ack_take(Word& w, std::uint32_t gen) noexcept {
  std::uint32_t expected = ack_word(gen, ack_pending);
  if constexpr (Env::mutation == ack_mutation::load_store_take) {
    if (w.load(std::memory_order_acquire) != expected) return false;
    w.store(ack_word(gen, ack_taken), std::memory_order_release);
    return true;
  }
  return w.compare_exchange_strong(expected, ack_word(gen, ack_taken), std::memory_order_acq_rel,
                                   std::memory_order_relaxed);
}

}  // namespace ringport::detail
