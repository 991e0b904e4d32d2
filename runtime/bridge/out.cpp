// ringport::bridge::run_out(): a mailbox drained to a NATS subject.
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "nats_link.hpp"
#include "ringport/mailbox.hpp"
#include "state_files.hpp"

namespace ringport::bridge {
namespace {

using clock = std::chrono::steady_clock;
using detail::fail;
using detail::nats_text;

// Headroom for the protocol line and the Nats-Msg-Id header of one message.
constexpr std::int64_t header_room = 512;

// The stream exists, or is created: file storage, bound to the subject.
outcome ensure_stream(jsCtx* js, const out_options& o) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js, o.stream.c_str(), nullptr, &jerr);
  if (s == NATS_OK) return jsStreamInfo_Destroy(si), outcome{};
  if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
    return fail(failure::nats, nats_text("stream " + o.stream, s));
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {o.subject.c_str()};
  cfg.Name = o.stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = o.replicas;
  cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(o.duplicate_window).count();
  s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
  if (s != NATS_OK)
    return fail(failure::nats,
                nats_text("creating stream " + o.stream + " (error " + std::to_string(jerr) + ")", s));
  jsStreamInfo_Destroy(si);
  return {};
}

class out_bridge {
 public:
  out_bridge(const out_options& o, mailbox_receiver& rx, detail::link& l, std::uint64_t mailbox_id)
      : o_(o), rx_(rx), l_(l), mailbox_id_(mailbox_id) {}
  out_bridge(const out_bridge&) = delete;
  out_bridge& operator=(const out_bridge&) = delete;
  ~out_bridge() { l_.record_acks(nullptr, 0); }  // publishes may still be outstanding

  outcome core() {
    const std::string subject = o_.subject;
    outcome r;
    for (;;) {
      std::span<const std::byte> msg;
      const status st = rx_.peek_until(msg, clock::now() + std::chrono::milliseconds(100));
      if (st == status::timed_out) {
        natsConnection_FlushTimeout(l_.conn(), 1000);
        if (detail::stopping(o_)) return r;
        continue;
      }
      if (st == status::closed) return natsConnection_FlushTimeout(l_.conn(), 5000), r;
      if (st != status::ok) return fail(failure::mailbox, std::string("mailbox: ") + to_string(st));
      // At-most-once: a message the client buffered is lost if we die now.
      const natsStatus s =
          natsConnection_Publish(l_.conn(), subject.c_str(), msg.data(), static_cast<int>(msg.size()));
      rx_.release();
      if (s != NATS_OK) std::fprintf(stderr, "ringport: bridge out: %s\n", nats_text("publish", s).c_str());
      ++r.moved;
    }
  }

  // Pipelined: each message taken from the mailbox goes into the journal
  // and is published at once; the journal's acked() advances over the
  // leading run of acknowledged sequences (the ack handler marks them in
  // done_), so up to `window` publishes are in flight at any time. After a
  // failed publish, publish_window() republishes the whole window (same ids).
  outcome jetstream(detail::journal& j) {
    source_ = detail::domain_of(o_.domain) + "/" + o_.mailbox + "/" + hex(j.epoch()) + "/";
    done_ = std::vector<std::atomic<std::uint64_t>>(j.window());
    l_.record_acks(done_.data(), done_.size());
    outcome r;
    if (auto e = publish_window(j); e.why != failure::none) return e;  // what the last run left
    const std::uint64_t start = j.next();
    bool closed = false;
    while (!closed && !detail::stopping(o_)) {
      if (auto e = take(j, closed); e.why != failure::none) return e;
      advance(j);
      if (l_.take_publish_errors() != 0 || failed_) {
        failed_ = false;
        drain();
        advance(j);
        if (auto e = publish_window(j); e.why != failure::none) return e;
      }
    }
    drain();
    advance(j);
    if (auto e = publish_window(j); e.why != failure::none) return e;
    r.moved = j.next() - start;
    return r;
  }

 private:
  static std::string hex(std::uint64_t v) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
  }

  // acked() past every leading acknowledged sequence.
  void advance(detail::journal& j) noexcept {
    std::uint64_t a = j.acked();
    const std::uint64_t to = j.next();
    while (a < to && done_[a % done_.size()].load(std::memory_order_acquire) == a) ++a;
    if (a != j.acked()) j.acknowledge(a);
  }

  // Waits until no publish is outstanding (acknowledged, failed or timed out).
  void drain() {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    js_PublishAsyncComplete(l_.js(), &po);
  }

  // Moves messages from the mailbox into the journal, publishing each: while
  // the window has room, for at most `linger` after the first one (which
  // waits 100 ms when nothing is in flight, else 1 ms, so that
  // acknowledgements are taken in); with the window full, waits for an
  // acknowledgement.
  outcome take(detail::journal& j, bool& closed) {
    const bool idle = j.acked() == j.next();
    clock::time_point deadline = clock::now() + std::chrono::milliseconds(idle ? 100 : 1);
    if (j.next() - j.acked() >= j.window()) return l_.wait_ack(std::chrono::milliseconds(100)), outcome{};
    for (bool first = true; j.next() - j.acked() < j.window(); first = false) {
      if (!first && clock::now() >= deadline) return {};
      std::span<const std::byte> msg;
      const bool inherited = rx_.inherits();  // this peek may return what a killed bridge held
      const status st = rx_.peek_until(msg, deadline);
      if (st == status::timed_out) return {};
      if (st == status::closed) return closed = true, outcome{};
      if (st != status::ok) return fail(failure::mailbox, std::string("mailbox: ") + to_string(st));
      // A SIGKILL from the peek to the release leaves msg in the mailbox for
      // the next bridge (a keeping receiver: mailbox.hpp), which gets it
      // first, at the same position: in the journal already when its origin
      // is the last one appended (died after append()), so only released.
      detail::crash_point("out-taken");
      const detail::journal::origin from{mailbox_id_, rx_.position()};
      if (inherited && j.last_origin() == from) {
        rx_.release();
        continue;
      }
      const std::uint64_t seq = j.next();
      j.append(msg, from);  // in the journal first; the mailbox drops it on release
      detail::crash_point("out-journaled");
      rx_.release();
      const auto copy = j.entry(seq);
      if (!copy || publish(seq, *copy) != NATS_OK) failed_ = true;  // publish_window() retries it
      if (first) deadline = clock::now() + o_.linger;
    }
    return {};
  }

  // Publishes journal messages acked()..next() until JetStream acknowledged
  // them all (retrying with backoff; the stream drops repeated Msg-Ids).
  outcome publish_window(detail::journal& j) {
    detail::backoff pace;
    while (j.acked() != j.next()) {
      const std::uint64_t to = j.next();
      natsStatus s = NATS_OK;
      for (std::uint64_t seq = j.acked(); seq < to && s == NATS_OK; ++seq) {
        const auto msg = j.entry(seq);
        if (!msg)
          return fail(failure::state, "journal slot of message " + std::to_string(seq) + " is corrupt");
        s = publish(seq, *msg);
      }
      if (s == NATS_MAX_PAYLOAD)
        return fail(failure::too_large,
                    "a message exceeds the server's max_payload; it stays in the journal");
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 5000;
      if (s == NATS_OK) s = js_PublishAsyncComplete(l_.js(), &po);
      const int errors = l_.take_publish_errors();
      if (s == NATS_OK && errors == 0) {
        j.acknowledge(to);
        return {};
      }
      natsMsgList left{};
      if (js_PublishAsyncGetPendingList(&left, l_.js()) == NATS_OK) natsMsgList_Destroy(&left);
      std::fprintf(stderr, "ringport: bridge out: %s; republishing %llu messages\n",
                   errors != 0 ? l_.last_publish_error().c_str() : nats_text("publish", s).c_str(),
                   static_cast<unsigned long long>(to - j.acked()));
      if (detail::stopping(o_))
        return fail(failure::nats, "stopped with unacknowledged messages in the journal");
      pace.wait();
    }
    return {};
  }

  natsStatus publish(std::uint64_t seq, std::span<const std::byte> data) {
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, o_.subject.c_str(), nullptr, reinterpret_cast<const char*>(data.data()),
                                  static_cast<int>(data.size()));
    if (s != NATS_OK) return s;
    const std::string id = source_ + std::to_string(seq);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    po.MaxWait = 5000;  // then the ack handler reports a timeout: republished
    s = js_PublishMsgAsync(l_.js(), &m, &po);
    if (m != nullptr) natsMsg_Destroy(m);  // still ours when the publish failed
    return s;
  }

  const out_options& o_;
  mailbox_receiver& rx_;
  detail::link& l_;
  const std::uint64_t mailbox_id_;  // the mailbox's instance (its creation time), for journal origins
  std::string source_;
  std::vector<std::atomic<std::uint64_t>> done_;  // slot seq % window: seq once acknowledged
  bool failed_ = false;                           // a publish call failed: republish the window
};

}  // namespace

outcome run_out(const out_options& o) {
  if (o.subject.empty()) return fail(failure::nats, "no subject");
  if (o.window < 1 || o.window > 65536) return fail(failure::state, "window must be 1 .. 65536");
  auto box = mailbox::open(o.mailbox, o.domain);
  if (!box) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + box.error().message);
  detail::link l;
  if (auto r = l.connect(o.url, !o.stream.empty(), static_cast<int>(o.window)); r.why != failure::none)
    return r;
  const auto need = static_cast<std::int64_t>(box->max_message_size()) + header_room;
  if (need > l.max_payload())
    return fail(failure::too_large,
                "mailbox " + o.mailbox + " allows messages of " + std::to_string(box->max_message_size()) +
                    " bytes but the server's max_payload is " + std::to_string(l.max_payload()) +
                    " bytes; nothing was taken from the mailbox");
  if (o.stream.empty()) {
    auto rx = box->receiver();
    if (!rx) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + rx.error().message);
    out_bridge b(o, *rx, l, box->info().created_ns);
    return b.core();
  }
  if (auto r = ensure_stream(l.js(), o); r.why != failure::none) return r;
  std::string err;
  const std::string dir = detail::state_dir_of(o.state_dir);
  if (!detail::ensure_state_dir(dir, err)) return fail(failure::state, err);
  const std::string path = dir + "/out-" + detail::domain_of(o.domain) + "-" + o.mailbox + ".journal";
  auto j = detail::journal::open(path, static_cast<std::uint32_t>(o.window),
                                 static_cast<std::uint32_t>(box->max_message_size()), err);
  if (!j) return fail(failure::state, err);
  // A keeping receiver, tagged by the journal's path: what a killed bridge
  // held comes back to the next bridge on this journal.
  auto rx = box->keeping_receiver(detail::keep_tag(path));
  if (!rx && rx.error().code == errc::invalid_argument) {
    std::fprintf(stderr,
                 "ringport: bridge out: %s: a SIGKILL between taking a message and journaling it loses it\n",
                 rx.error().message.c_str());
    rx = box->receiver();
  }
  if (!rx) return fail(failure::mailbox, "mailbox " + o.mailbox + ": " + rx.error().message);
  out_bridge b(o, *rx, l, box->info().created_ns);
  return b.jetstream(*j);
}

}  // namespace ringport::bridge
