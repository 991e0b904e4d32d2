// Private to ringport::bridge: one NATS connection (and its JetStream
// context) with the bridge's reconnect policy and error classification.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ringport/bridge.hpp"

namespace ringport::bridge::detail {

/// An outcome for failure `why` with message `text`.
inline outcome fail(failure why, std::string text) {
  return outcome{why, std::move(text), 0};
}
/// "<what>: <NATS status text>[: <last error>]".
std::string nats_text(const std::string& what, natsStatus s);

/// Checks the URL list's shape: nats://HOST:PORT (or tls://), comma-separated.
bool url_ok(const std::string& url);

class link {
 public:
  link() = default;
  link(const link&) = delete;
  link& operator=(const link&) = delete;
  ~link();
  /// Connects (one attempt per server; failure::refused when none answered)
  /// and, with `jetstream`, makes a JetStream context whose async publishes
  /// are bounded by `max_pending`.
  outcome connect(const std::string& url, bool jetstream, int max_pending);
  natsConnection* conn() const noexcept { return nc_; }
  jsCtx* js() const noexcept { return js_; }
  /// Failed asynchronous publishes since the last call (ack handler).
  int take_publish_errors() noexcept;
  std::string last_publish_error() const;
  /// Where the ack handler records acknowledged publishes: the sequence of
  /// the Nats-Msg-Id "<...>/<seq>" of each one goes to slots[seq % n]
  /// (release). Set before the first publish (n > 0); (nullptr, 0) before
  /// the slots go away: no handler touches them after this returns.
  void record_acks(std::atomic<std::uint64_t>* slots, std::size_t n) noexcept;
  /// Waits up to `d` for an acknowledgement (or error) after the one seen
  /// by the last call.
  void wait_ack(std::chrono::milliseconds d);
  std::int64_t max_payload() const noexcept { return natsConnection_GetMaxPayload(nc_); }

 private:
  static void on_pub_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr* e, void* self);
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  mutable std::mutex mu_;  // the error handler runs on the client's thread
  std::condition_variable acked_;
  std::uint64_t events_ = 0, events_seen_ = 0;  // acks and errors, under mu_
  int pub_errors_ = 0;
  std::string pub_err_;
  std::atomic<std::uint64_t>* slots_ = nullptr;
  std::size_t n_slots_ = 0;
};

}  // namespace ringport::bridge::detail
