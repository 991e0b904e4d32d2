// ringport::bridge::run_in(): a mailbox fed from a NATS subject.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "common.hpp"
#include "nats_link.hpp"
#include "ringport/mailbox.hpp"
#include "state_files.hpp"

namespace ringport::bridge {
namespace {

using clock = std::chrono::steady_clock;
using detail::fail;
using detail::nats_text;

// How long JetStream waits for an ack before it redelivers; while a full
// mailbox blocks us, the messages in hand are marked in progress every second.
constexpr std::int64_t ack_wait_ns = 5'000'000'000;

// deliver()'s message when stop was set before the mailbox had room.
constexpr const char* stopped = "stopped";

std::span<const std::byte> payload(natsMsg* m) {
  return {reinterpret_cast<const std::byte*>(natsMsg_GetData(m)),
          static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

class in_bridge {
 public:
  // keeping: tx is a keeping sender (else sendings are not recorded: a
  // plain sender's dead claim is voided by survivors, unseen).
  in_bridge(const in_options& o, mailbox_sender& tx, std::uint64_t mailbox_id, bool keeping = false)
      : o_(o), tx_(tx), mailbox_id_(mailbox_id), keeping_(keeping) {}

  // What a killed run left: the message it was sending was delivered
  // unless our keeping sender voided its claim (mailbox.hpp, "Keeping
  // senders"); the seen file then says so. False when stopped first.
  bool settle_left(detail::seen_table& seen) {
    std::optional<std::uint64_t> voided;
    while (tx_.settle_inherited(voided) == status::would_block) {
      if (detail::stopping(o_)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // another sender's claim moves on
    }
    if (const auto s = seen.left_sending()) {
      const bool delivered = !(voided && *voided == s->position && s->mailbox == mailbox_id_);
      if (delivered && s->seq > detail::seen_table::load(s->last)) detail::seen_table::store(s->last, s->seq);
      seen.clear_sending();
    }
    return true;
  }

  // Sends one message, waiting while the mailbox is full (no drop); calls
  // `keepalive` about once a second while it waits. With `sending`: claims
  // the slot, writes it, records the sending (its position) in the seen
  // file, then publishes (settle_left() tells what a crash left).
  template <class F>
  outcome deliver(std::span<const std::byte> msg, F&& keepalive, detail::seen_table* seen = nullptr,
                  detail::seen_table::sending sending = {}) {
    for (;;) {
      status st;
      if (seen == nullptr) {
        st = tx_.send_until(msg, clock::now() + std::chrono::seconds(1));
      } else {
        std::span<std::byte> out;
        st = tx_.claim_until(msg.size(), out, clock::now() + std::chrono::seconds(1));
        if (st == status::ok) {
          if (!msg.empty()) std::memcpy(out.data(), msg.data(), msg.size());
          sending.mailbox = mailbox_id_;
          sending.position = tx_.position();
          seen->set_sending(sending);
          detail::crash_point("in-claimed");
          st = tx_.commit(msg.size());
        }
      }
      if (st == status::ok) return {};
      if (st == status::too_large)
        return fail(failure::too_large, "a message of " + std::to_string(msg.size()) +
                                            " bytes exceeds the mailbox's maximum of " +
                                            std::to_string(tx_.max_message_size()) + "; it stays in NATS");
      if (st != status::timed_out) return fail(failure::mailbox, std::string("mailbox: ") + to_string(st));
      if (detail::stopping(o_)) return fail(failure::none, stopped);
      keepalive();
    }
  }

  outcome core(natsConnection* nc) {
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_SubscribeSync(&sub, nc, o_.subject.c_str());
    if (s != NATS_OK) return fail(failure::nats, nats_text("subscribe " + o_.subject, s));
    outcome r;
    while (!detail::stopping(o_)) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, 200);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {
        std::fprintf(stderr, "ringport: bridge in: %s\n", nats_text("next message", s).c_str());
        continue;
      }
      const outcome d = deliver(payload(m), [] {});
      natsMsg_Destroy(m);
      if (d.why != failure::none) r = outcome{d.why, d.message, r.moved};
      if (d.why == failure::none && d.message.empty()) ++r.moved;
      if (r.why != failure::none || detail::stopping(o_)) break;
    }
    natsSubscription_Destroy(sub);
    return r;
  }

  outcome jetstream(jsCtx* js, detail::seen_table& seen, const std::string& durable) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o_.stream.c_str();
    so.Config.AckWait = ack_wait_ns;
    natsSubscription* sub = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_PullSubscribe(&sub, js, o_.subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK)
      return fail(failure::nats,
                  nats_text("pull consumer " + durable + " (error " + std::to_string(jerr) + ")", s));
    outcome r;
    detail::backoff pace;
    while (r.why == failure::none && !detail::stopping(o_)) {
      natsMsgList list{};
      s = natsSubscription_Fetch(&list, sub, static_cast<int>(o_.batch), 500, &jerr);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {
        std::fprintf(stderr, "ringport: bridge in: %s\n", nats_text("fetch", s).c_str());
        pace.wait();
        continue;
      }
      pace.reset();
      for (int i = 0; i < list.Count && r.why == failure::none; ++i) r = take(list, i, seen, r.moved);
      natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return r;
  }

 private:
  // Message i of a fetched batch: dropped when already delivered, else
  // queued, recorded as delivered, and only then acknowledged.
  outcome take(natsMsgList& list, int i, detail::seen_table& seen, std::uint64_t moved) {
    natsMsg* m = list.Msgs[i];
    const char* id = nullptr;
    std::uint64_t* last = nullptr;
    std::uint64_t seq = 0;
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) {
      if (auto parts = detail::split_msg_id(id)) {
        last = seen.last_of(parts->first);
        seq = parts->second;
      }
    }
    const std::uint64_t seen_to = last != nullptr ? detail::seen_table::load(last) : 0;
    if (last != nullptr && seq <= seen_to) {
      natsMsg_Ack(m, nullptr);  // a redelivery of what the mailbox already has
      return outcome{failure::none, {}, moved};
    }
    if (last != nullptr && seen_to != 0 && seq > seen_to + 1) {
      // A gap: an earlier message of this source is still to be redelivered
      // (its delivery to us was lost, e.g. with the server we read from).
      // Per-source sequences have no holes, so wait for it: ask again later.
      natsMsg_NakWithDelay(m, 200, nullptr);
      return outcome{failure::none, {}, moved};
    }
    const auto keepalive = [&] {
      for (int k = i; k < list.Count; ++k) natsMsg_InProgress(list.Msgs[k], nullptr);
    };
    const outcome r = last != nullptr && keeping_ ? deliver(payload(m), keepalive, &seen, {last, seq})
                                                  : deliver(payload(m), keepalive);
    if (r.why != failure::none) return outcome{r.why, r.message, moved};
    if (r.message == stopped) return outcome{failure::none, {}, moved};  // not queued, not acked
    // A SIGKILL from the commit to this store: the restarted bridge finds
    // the sending recorded and its claim published (settle_left()).
    detail::crash_point("in-queued");
    if (last != nullptr) {
      detail::seen_table::store(last, seq);  // before the ack
      seen.clear_sending();
    }
    detail::crash_point("in-recorded");
    natsMsg_Ack(m, nullptr);
    return outcome{failure::none, {}, moved + 1};
  }

  const in_options& o_;
  mailbox_sender& tx_;
  const std::uint64_t mailbox_id_;  // the mailbox's instance (its creation time)
  const bool keeping_;
};

outcome check_stream(jsCtx* js, const std::string& stream) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&si, js, stream.c_str(), nullptr, &jerr);
  if (s == NATS_OK) return jsStreamInfo_Destroy(si), outcome{};
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
    return fail(failure::unknown_stream, "stream " + stream + " does not exist (bridge out creates it)");
  return fail(failure::nats, nats_text("stream " + stream, s));
}

}  // namespace

outcome run_in(const in_options& o) {
  if (o.subject.empty()) return fail(failure::nats, "no subject");
  if (o.batch < 1 || o.batch > 65536) return fail(failure::state, "batch must be 1 .. 65536");
  mailbox_options mo;
  mo.domain = o.domain;
  auto box = mailbox::open_or_create(o.mailbox, mo);
  if (!box) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + box.error().message);
  detail::link l;
  if (auto r = l.connect(o.url, !o.stream.empty(), 0); r.why != failure::none) return r;
  const std::uint64_t id = box->info().created_ns;
  if (o.stream.empty()) {
    auto tx = box->sender();
    if (!tx) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + tx.error().message);
    in_bridge b(o, *tx, id);
    return b.core(l.conn());
  }
  if (auto r = check_stream(l.js(), o.stream); r.why != failure::none) return r;
  const std::string durable = o.durable.empty() ? "ringport-" + o.mailbox : o.durable;
  std::string err;
  const std::string dir = detail::state_dir_of(o.state_dir);
  if (!detail::ensure_state_dir(dir, err)) return fail(failure::state, err);
  const std::string path =
      dir + "/in-" + detail::domain_of(o.domain) + "-" + o.mailbox + "-" + durable + ".seen";
  auto seen = detail::seen_table::open(path, err);
  if (!seen) return fail(failure::state, err);
  // A keeping sender, tagged by the seen file's path: a message claimed by
  // a killed bridge and never published is voided by the next one, which
  // so knows it was not delivered.
  auto tx = box->keeping_sender(detail::keep_tag(path));
  const bool keeping = static_cast<bool>(tx);
  if (!tx && tx.error().code == errc::invalid_argument) {
    std::fprintf(stderr,
                 "ringport: bridge in: %s: a SIGKILL between queueing a message and recording it queues it "
                 "twice\n",
                 tx.error().message.c_str());
    tx = box->sender();
  }
  if (!tx) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + tx.error().message);
  in_bridge b(o, *tx, id, keeping);
  if (!b.settle_left(*seen)) return {};
  return b.jetstream(l.js(), *seen, durable);
}

}  // namespace ringport::bridge
