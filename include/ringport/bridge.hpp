// ringport/bridge.hpp — moving mailbox messages to and from NATS (JetStream).
//
// ringport stays a single-machine runtime; a bridge process carries a
// mailbox's messages over an existing messaging engine, NATS, to another
// machine. Library ringport::bridge (libringport-bridge.a), built only when
// the NATS C client (libnats) is found; the core library does not need it.
//
//   host A: senders -> mailbox -> run_out() -> NATS subject / JetStream stream
//   host B: JetStream stream -> run_in() -> mailbox -> receivers
//
// Delivery
//  - JetStream (stream non-empty): at-least-once on the wire, de-duplicated
//    at both ends, so exactly once at the receivers across bridge crashes
//    (README.md, "Beyond one machine").
//    run_out() moves each message from the mailbox into an in-flight journal
//    (a memory-mapped file, `state_dir`/out-<domain>-<mailbox>.journal, of
//    `window` slots) before publishing it, and marks it done only once
//    JetStream acknowledged it. A journal slot survives a crash of the
//    bridge: a restarted bridge republishes every unacknowledged slot first,
//    with the same Nats-Msg-Id, and the stream's duplicate window drops the
//    copies it already holds. Nats-Msg-Id = "<domain>/<mailbox>/<epoch>/<seq>":
//    the source, a random journal epoch (a new journal never reuses ids) and
//    the journal's sequence number (per source, gap-free, increasing).
//    run_in() fetches from a durable pull consumer, queues each message in
//    the mailbox, records the highest sequence it delivered per source in a
//    memory-mapped file (`state_dir`/in-<domain>-<mailbox>-<durable>.seen),
//    and only then acknowledges it: a message JetStream redelivers after a
//    crash of run_in() (between queueing and the ack) is recognised by its
//    sequence and dropped. Sequences of one source have no holes, so a
//    message past a gap (its predecessor's delivery was lost, e.g. with a
//    server of a cluster, and JetStream redelivers it after the ack wait)
//    is refused (nak, retried 200 ms later) until the gap is filled: per-
//    source order and no loss. (A message removed from the stream by its
//    limits would hold its source up: size the stream for the backlog.)
//    run_out() takes messages as a keeping receiver (mailbox.hpp, "Keeping
//    receivers"; tag: a hash of the journal's path), and every journal
//    slot records its message's origin (the mailbox's creation time and
//    the message's position()). A SIGKILL between the mailbox lending a
//    message and its release leaves it in the mailbox; the next run_out()
//    on the same journal gets it first, at the same position, and journals
//    it, or, when the journal's last origin is that position (killed after
//    the append), only releases it. (On a rendezvous or automatic mailbox,
//    which cannot keep, it warns and a SIGKILL between peek and the append
//    loses that message.) run_in() queues as a keeping sender (mailbox.hpp,
//    "Keeping senders"; tag: a hash of the seen file's path): it claims the
//    slot, writes the message, records {SEQ, position} as "sending" in the
//    seen file, then commits. The next run_in() settles what a killed one
//    left: its unpublished claim is voided by it (so the recorded message
//    was not delivered: JetStream redelivers it), else the recorded SEQ
//    was published and is stored. (On a rendezvous or automatic mailbox it
//    warns and a SIGKILL between the send and the SEQ store queues that
//    message twice.) Test bridge_crash_points kills a bridge at every step,
//    RINGPORT_BRIDGE_CRASH=POINT:N.
//    The files are not fsynced: they survive the bridge's crash, not a power
//    loss of its host.
//  - Core NATS (stream empty): at-most-once. run_out() takes a message out of
//    the mailbox and publishes it; whatever the client had not yet written to
//    the socket when the bridge died, or the server could not deliver to a
//    subscriber at that moment, is lost. run_in() subscribes: messages
//    published while it is not running are never seen.
//
// Back-pressure: run_out() has at most `window` unacknowledged messages;
// then it stops draining and senders see a full mailbox. run_in() fetches at
// most `batch` messages and blocks on a full mailbox (nothing is dropped;
// JetStream keeps the rest). Pipelining: run_out() publishes each message as
// it enters the journal, keeps up to `window` publishes in flight, and takes
// messages for at most `linger` before it takes in acknowledgements (the
// journal's acked mark follows the leading run of acknowledged messages).
// Reconnects: the NATS client reconnects forever with a backoff from 50 ms
// doubling to 2 s; publishes that were not acknowledged are repeated.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ringport::bridge {

/// Why a bridge stopped (the ringport tool turns it into its exit code).
enum class failure : std::uint8_t {
  none,            ///< finished: the mailbox was closed and drained (out), or stop was set
  bad_url,         ///< the URL is not nats://HOST:PORT (or a comma-separated list)
  refused,         ///< no server answered at the URL
  unknown_stream,  ///< run_in(): the stream does not exist
  too_large,       ///< a message does not fit the server's max_payload
  mailbox,         ///< opening or using the mailbox failed
  state,           ///< the journal / seen file is unusable (corrupt, other geometry)
  nats,            ///< another NATS or JetStream error (message says which)
};

struct outcome {
  failure why = failure::none;
  std::string message;      ///< one line; empty for failure::none
  std::uint64_t moved = 0;  ///< messages published (out) or queued (in) by this run
};

struct common_options {
  std::string mailbox;
  std::string domain;  ///< empty: RINGPORT_DOMAIN, else "default"
  std::string url;     ///< nats://HOST:PORT[,nats://HOST:PORT...]
  std::string subject;
  std::string stream;     ///< empty: core NATS (at-most-once)
  std::string state_dir;  ///< empty: RINGPORT_BRIDGE_DIR, else /var/tmp/ringport-bridge
  /// Set from another thread or a signal handler to stop after the current batch.
  const std::atomic<bool>* stop = nullptr;
};

struct out_options : common_options {
  std::size_t window = 256;                    ///< in-flight messages (journal slots), 1 .. 65536
  std::chrono::milliseconds linger{2};         ///< longest run of takes between looks at the acks
  std::chrono::seconds duplicate_window{120};  ///< of a stream this bridge creates
  int replicas = 1;                            ///< of a stream this bridge creates (1 .. 5)
};

struct in_options : common_options {
  std::string durable;      ///< durable consumer name; empty: "ringport-<mailbox>"
  std::size_t batch = 256;  ///< messages per fetch, 1 .. 65536
};

/// Drains the mailbox to the subject until it is closed and drained (or
/// stop). With a stream: creates it (file storage, bound to the subject)
/// when missing, republishes the journal's unacknowledged messages first.
outcome run_out(const out_options& opt);
/// Feeds the mailbox (created with default sizes when missing) from the
/// subject until stop. With a stream: a durable pull consumer on it.
outcome run_in(const in_options& opt);

}  // namespace ringport::bridge
