// The mailbox's synchronous-send acknowledgement (ringport/detail/mailbox_ack.hpp,
// the steps runtime/mailbox.cpp calls) under the Relacy model checker: one
// sender makes two sync sends whose deadline may fire at any poll, one or
// two receivers dequeue them; exactly one of take and withdraw wins, the
// sender's result says which, a withdrawn message is never delivered, and a
// delivered payload is the one sent. Then every mutant must fail a check.
// README.md beside this file describes the model. Exit 0: as expected;
// 1: a check failed on the shipped protocol or a mutant survived.
//
// Usage: mailbox_ack_model [--long] [--only CONFIG] [--check CHECK]
//   --long   one more preemption, then 200000 random schedules per check
#include <cstdlib>
#include <cstring>
#include <string>

#include "relacy_env.hpp"
#include "ringport/detail/mailbox_ack.hpp"

namespace model {
namespace {

namespace rd = ringport::detail;
using rd::ack_mutation;

// ---------------------------------------------------------------------------
// Configurations: Env of the protocol steps (`mutation`), plus the one
// model-level mutant (the receiver delivers before its CAS decides).
template <ack_mutation M, bool DeliverFirst = false>
struct ack_env {
  static constexpr ack_mutation mutation = M;
  static constexpr bool deliver_first = DeliverFirst;
};
using shipped = ack_env<ack_mutation::none>;

// ---------------------------------------------------------------------------
// Checks: one sender, `receivers` receivers with `attempts` dequeue attempts
// each (a failed attempt ends nothing: the receiver tries again, as
// receive_until does, but not forever), on a ring of two slots.
constexpr unsigned sends = 2;  // one message per slot: the second send is a new generation

struct check {
  const char* name;
  unsigned receivers;
  unsigned attempts;
  std::uint32_t first_gen;  // the word's generation before the first send
  const char* what;
};

const check checks[] = {
    {"one_receiver", 1, 3, 7, "a sender's two sync sends, one receiver"},
    {"two_receivers", 2, 2, rd::ack_gen_mask, "two receivers, one per message; generations wrap (2^30-1, 0)"},
};

const check* current = nullptr;

// How often the shipped protocol's executions reached each case (so that no
// check passes for want of the interesting interleavings).
struct coverage {
  unsigned long long withdrawn, taken, lost_withdraw, stale_discard;
} seen;

constexpr std::uint32_t payload_of(unsigned m) {
  return 100 + m;
}

template <class Cfg, unsigned N>
struct ack_test : rl::test_suite<ack_test<Cfg, N>, N> {
  kernel k;                                     // no system calls here: its atomics only need a scheduler
  atomic<std::uint32_t> ack;                    // the sender's acknowledgement word
  atomic<std::uint32_t> turn[sends];            // 1: slot m holds message m (release by the sender)
  atomic<std::uint32_t> head;                   // the receivers' claim position
  rl::var<std::uint32_t> gen_in_header[sends];  // the slot header's ack_gen (published by the turn)
  rl::var<std::uint32_t> payload[sends];
  rl::var<int> before_receive[kernel::max_threads];  // what a receiver did before it received

  // The harness's bookkeeping (plain: Relacy runs every thread in one OS
  // thread, and no scheduling point separates an update from its event).
  status result[sends];
  unsigned taker[sends];  // the thread (1, 2) of the receiver whose CAS won; 0: none
  unsigned takes[sends], dequeued[sends], delivered[sends], discarded[sends];
  std::uint32_t delivered_value[sends];
  unsigned started;    // generations the sender started so far
  bool lost_withdraw;  // a withdrawing CAS failed: a receiver's take came first
  bool stale_discard;  // a receiver discarded a message while a newer send was pending

  void before() {
    kernel::options o;
    o.threads = N;
    k.reset(o);
    the_kernel = &k;
    ack.init(rd::ack_word(current->first_gen, rd::ack_free));
    head.init(0);
    started = 0;
    lost_withdraw = stale_discard = false;
    for (unsigned m = 0; m < sends; ++m) {
      turn[m].init(0);
      result[m] = status::would_block;
      taker[m] = takes[m] = dequeued[m] = delivered[m] = discarded[m] = delivered_value[m] = 0;
    }
  }

  void thread(unsigned i) {
    if (i == 0)
      send_all();
    else
      receive(i);
  }

  void after() {
    for (unsigned m = 0; m < sends; ++m) {
      seen.withdrawn += result[m] == status::timed_out;
      seen.taken += result[m] == status::ok;
    }
    seen.lost_withdraw += lost_withdraw;
    seen.stale_discard += stale_discard;
    for (unsigned m = 0; m < sends; ++m) {
      const bool ok = result[m] == status::ok;
      const bool withdrawn = result[m] == status::timed_out;
      RL_ASSERT(ok || withdrawn);                      // finished, never corrupt
      RL_ASSERT(takes[m] + (withdrawn ? 1 : 0) == 1);  // exactly one of the two CASes won
      RL_ASSERT(ok == (taker[m] != 0));                // ok: a receiver took that very message
      RL_ASSERT(!withdrawn || delivered[m] == 0);      // a withdrawn message is never delivered
      RL_ASSERT(delivered[m] == takes[m]);             // a taken message is delivered, once
      RL_ASSERT(delivered[m] == 0 || delivered_value[m] == payload_of(m));  // the one sent
      RL_ASSERT(dequeued[m] <= 1 && delivered[m] + discarded[m] == dequeued[m]);
    }
  }

  // mailbox_sender::finish() then await_taken(), message by message.
  void send_all() {
    for (unsigned m = 0; m < sends; ++m) {
      const std::uint32_t gen = rd::ack_start<Cfg>(ack);
      ++started;
      gen_in_header[m]($) = gen;
      payload[m]($) = payload_of(m);
      turn[m].store(1, std::memory_order_release);  // R-TURN-FULL
      result[m] = await(gen);
      // ok orders what the taker did before it received before our return
      // (R-ACK's release, A-ACK's acquire): a race here is a lost acquire.
      if (result[m] == status::ok && taker[m] != 0) {
        const int seen = before_receive[taker[m] - 1]($);
        RL_ASSERT(seen == 1);
      }
    }
    k.exit();
  }

  // await_taken(): polls the word; at each poll the deadline may fire (the
  // checker chooses), at the third it does.
  status await(std::uint32_t gen) {
    const std::uint32_t pending = rd::ack_word(gen, rd::ack_pending);
    for (unsigned poll = 0;; ++poll) {
      const std::uint32_t w = rd::ack_load<Cfg>(ack);
      if (w != pending) return rd::ack_finished<Cfg>(ack, gen, w);
      if (poll == 2 || rl::rand(2) == 0) {
        const status s = rd::ack_withdraw<Cfg>(ack, gen, status::timed_out);
        lost_withdraw |= s != status::timed_out;
        return s;
      }
    }
  }

  // mailbox_receiver::take(): claims the next published slot, then takes
  // or discards its message.
  void receive(unsigned me) {
    before_receive[me - 1]($) = 1;
    for (unsigned a = 0; a < current->attempts; ++a) {
      const std::uint32_t h = head.load(std::memory_order_relaxed);
      if (h >= sends) break;
      if (turn[h].load(std::memory_order_acquire) != 1) continue;  // A-TURN
      std::uint32_t expected = h;
      if (!head.compare_exchange_strong(expected, h + 1, std::memory_order_relaxed)) continue;
      ++dequeued[h];
      const std::uint32_t gen = gen_in_header[h]($);
      if constexpr (Cfg::deliver_first) deliver(h);
      if (rd::ack_take<Cfg>(ack, gen)) {
        ++takes[h];
        taker[h] = me;
        if constexpr (!Cfg::deliver_first) deliver(h);
      } else {
        ++discarded[h];  // withdrawn (or an older generation): dropped
        stale_discard |= started > h + 1;
      }
    }
    k.exit();
  }

  void deliver(unsigned m) {
    delivered_value[m] = payload[m]($);
    ++delivered[m];
  }
};

// ---------------------------------------------------------------------------
template <class Cfg>
outcome run(const check& c, rl::scheduler_type_e type, unsigned bound, unsigned long long iterations) {
  current = &c;
  return c.receivers == 1 ? run_search<ack_test<Cfg, 2>>(type, bound, iterations, 4000)
                          : run_search<ack_test<Cfg, 3>>(type, bound, iterations, 4000);
}

struct config {
  const char* name;
  const char* what;
  outcome (*run)(const check&, rl::scheduler_type_e, unsigned, unsigned long long);
  const char* kills;  // mutants: the checks that must fail (space-separated); null: shipped
};

const config configs[] = {
    {"shipped", "the protocol of runtime/mailbox.cpp", run<shipped>, nullptr},
    {"relaxed-await", "the sender's A-ACK load relaxed", run<ack_env<ack_mutation::relaxed_await>>,
     "one_receiver two_receivers"},
    {"relaxed-withdraw", "the withdrawing CAS relaxed (success and failure)",
     run<ack_env<ack_mutation::relaxed_withdraw>>, "one_receiver two_receivers"},
    {"store-withdraw", "the withdrawing CAS replaced by a plain (release) store of free",
     run<ack_env<ack_mutation::store_withdraw>>, "one_receiver two_receivers"},
    {"load-store-take", "the receiver's CAS replaced by an acquire load, then a release store",
     run<ack_env<ack_mutation::load_store_take>>, "one_receiver two_receivers"},
    {"deliver-first", "the receiver copies the message out before its CAS (then discards it)",
     run<ack_env<ack_mutation::none, true>>, "one_receiver two_receivers"},
    {"no-generation-bump", "a new send reuses the last generation",
     run<ack_env<ack_mutation::no_generation_bump>>, "one_receiver two_receivers"},
};

}  // namespace
}  // namespace model

int main(int argc, char** argv) {
  using namespace model;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const model_args args = parse_model_args(argc, argv);
  const bool long_mode = args.long_mode;
  const char* only = args.only;
  const char* only_check = args.only_check;
  bool all_good = true;
  for (const config& cfg : configs) {
    if (only && std::strcmp(only, cfg.name) != 0) continue;
    const bool is_mutant = cfg.kills != nullptr;
    std::printf("%s: %s\n", cfg.name, cfg.what);
    for (const check& c : checks) {
      if (only_check && std::strcmp(only_check, c.name) != 0) continue;
      const bool must_fail = is_mutant && listed(cfg.kills, c.name);
      if (is_mutant && !long_mode && !must_fail) continue;
      bool failed = false;
      for (int pass = 0; pass < (long_mode ? 2 : 1) && !failed; ++pass) {
        // Every schedule with at most 3 preemptions (two threads) or 2 (three),
        // one more in the long mode; then 200000 random schedules.
        const unsigned bound = (c.receivers == 1 ? 3u : 2u) + (long_mode ? 1u : 0u);
        seen = {};
        const outcome o =
            pass == 0 ? cfg.run(c, rl::sched_bound, bound, 0) : cfg.run(c, rl::sched_random, 0, 200000);
        failed = !o.passed;
        char label[16];
        std::snprintf(label, sizeof label, pass == 1 ? "random" : "bound %u", bound);
        std::printf("  %-14s %-8s %-4s %9llu executions  %s\n", c.name, label, o.passed ? "pass" : "FAIL",
                    o.iterations, c.what);
        if (!is_mutant)
          std::printf(
              "  %-14s reached: %llu withdrawn, %llu taken, %llu lost withdraws, %llu stale discards\n", "",
              seen.withdrawn, seen.taken, seen.lost_withdraw, seen.stale_discard);
        if (failed && !is_mutant) std::printf("%s\n", o.report.c_str());
        if (failed && is_mutant && std::getenv("MODEL_VERBOSE")) std::printf("%s\n", o.report.c_str());
      }
      if (!is_mutant && failed) all_good = false;
      if (must_fail && !failed) {
        std::printf("  MUTANT NOT CAUGHT by %s\n", c.name);
        all_good = false;
      }
    }
  }
  std::printf("%s\n", all_good ? "model: all as expected" : "model: UNEXPECTED RESULTS");
  return all_good ? 0 : 1;
}
