// ringport-bridge-bench: the programs perf/bridge_bench.sh runs (issue #17).
//   loop URL SUBJECT STREAM|- BYTES COUNT WINDOW PACE_US
//       the NATS C client's own publish -> subscribe loop (the peer): one
//       connection publishes (core: natsConnection_Publish; JetStream:
//       js_PublishAsync, at most WINDOW unacknowledged), another consumes
//       (core: a subscription; JetStream: a pull consumer fetching WINDOW at a
//       time and acknowledging each message, as `ringport bridge in` does).
//   send MAILBOX DOMAIN BYTES COUNT PACE_US   a ringport sender (domain A)
//   recv MAILBOX DOMAIN COUNT                  a ringport receiver (domain B)
// Every message carries its send time (CLOCK_MONOTONIC, ns) in its first 8
// bytes. PACE_US 0: as fast as possible (throughput); > 0: one message every
// PACE_US microseconds (latency). The receiving side prints one line:
//   got=N seconds=S mps=M p50_ns=A p99_ns=B
// seconds: first send (stamp of the first message) to the last receive.
// A receiver gives up 3 s after the last message (core NATS may drop).
// exit: 0 ok (got may be < COUNT in core mode), 1 error, 2 usage.
#include <nats/nats.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ringport/mailbox.hpp"

namespace {

std::uint64_t now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(t.tv_nsec);
}

void pace_until(std::uint64_t t) {
  for (std::uint64_t n = now_ns(); n < t; n = now_ns())
    if (t - n > 60'000) std::this_thread::sleep_for(std::chrono::nanoseconds(t - n - 50'000));
}

/// Collects the one-way latencies of the received messages.
class tally {
 public:
  explicit tally(std::size_t expect) { lat_.reserve(expect); }
  void add(const void* data, std::size_t len) {
    std::uint64_t sent = 0;
    if (len >= sizeof sent) std::memcpy(&sent, data, sizeof sent);
    const std::uint64_t t = now_ns();
    if (lat_.empty()) first_sent_ = sent;
    last_ = t;
    lat_.push_back(t > sent ? t - sent : 0);
  }
  std::size_t count() const { return lat_.size(); }
  void print() {
    const double s = lat_.empty() ? 0 : static_cast<double>(last_ - first_sent_) / 1e9;
    std::sort(lat_.begin(), lat_.end());
    auto pct = [&](double q) {
      return lat_.empty() ? 0
                          : lat_[std::min(lat_.size() - 1,
                                          static_cast<std::size_t>(q * static_cast<double>(lat_.size())))];
    };
    std::printf("got=%zu seconds=%.6f mps=%.1f p50_ns=%llu p99_ns=%llu\n", lat_.size(), s,
                s > 0 ? static_cast<double>(lat_.size()) / s : 0.0,
                static_cast<unsigned long long>(pct(0.50)), static_cast<unsigned long long>(pct(0.99)));
  }

 private:
  std::vector<std::uint64_t> lat_;
  std::uint64_t first_sent_ = 0, last_ = 0;
};

bool ok(natsStatus s, const char* what) {
  if (s == NATS_OK) return true;
  std::fprintf(stderr, "ringport-bridge-bench: %s: %s\n", what, natsStatus_GetText(s));
  return false;
}

natsConnection* connect(const char* url) {
  natsConnection* nc = nullptr;
  return ok(natsConnection_ConnectTo(&nc, url), "connect") ? nc : nullptr;
}

// The stream, file storage, bound to the subject (as `bridge out` makes it).
bool make_stream(jsCtx* js, const char* stream, const char* subject) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {subject};
  cfg.Name = stream;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
  if (si != nullptr) jsStreamInfo_Destroy(si);
  return ok(s, "add stream");
}

std::vector<char> payload(std::size_t bytes) {
  std::vector<char> b(std::max<std::size_t>(bytes, 8), 'x');
  b.resize(bytes < 8 ? 8 : bytes);
  return b;
}

void core_consume(natsSubscription* sub, tally& t, std::size_t n) {
  while (t.count() < n) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, 3000) != NATS_OK) return;  // 3 s idle: lost ones
    t.add(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    natsMsg_Destroy(m);
  }
}

void js_consume(natsSubscription* sub, tally& t, std::size_t n, int batch) {
  auto idle = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (t.count() < n && std::chrono::steady_clock::now() < idle) {
    natsMsgList list{};
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (natsSubscription_Fetch(&list, sub, batch, 500, &jerr) != NATS_OK) continue;
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* m = list.Msgs[i];
      t.add(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
      natsMsg_Ack(m, nullptr);
    }
    natsMsgList_Destroy(&list);
    idle = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  }
}

int loop(const char* url, const char* subject, const char* stream, std::size_t bytes, std::size_t n,
         int window, unsigned pace_us) {
  const bool js_mode = std::strcmp(stream, "-") != 0;
  natsConnection* pub = connect(url);
  natsConnection* cons = connect(url);
  if (pub == nullptr || cons == nullptr) return 1;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = window;
  jsCtx* pjs = nullptr;
  jsCtx* cjs = nullptr;
  natsSubscription* sub = nullptr;
  if (js_mode) {
    if (!ok(natsConnection_JetStream(&pjs, pub, &jo), "jetstream") ||
        !ok(natsConnection_JetStream(&cjs, cons, nullptr), "jetstream") || !make_stream(pjs, stream, subject))
      return 1;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (!ok(js_PullSubscribe(&sub, cjs, subject, "loop", nullptr, &so, &jerr), "pull subscribe")) return 1;
  } else if (!ok(natsConnection_SubscribeSync(&sub, cons, subject), "subscribe") ||
             !ok(natsSubscription_SetPendingLimits(sub, -1, -1), "pending limits") ||
             !ok(natsConnection_Flush(cons), "flush")) {
    return 1;
  }
  tally t(n);
  std::thread consumer([&] { js_mode ? js_consume(sub, t, n, window) : core_consume(sub, t, n); });
  std::vector<char> b = payload(bytes);
  const std::uint64_t start = now_ns();
  for (std::size_t k = 0; k < n; ++k) {
    if (pace_us != 0) pace_until(start + k * pace_us * 1000u);
    const std::uint64_t ts = now_ns();
    std::memcpy(b.data(), &ts, sizeof ts);
    const int len = static_cast<int>(bytes);
    const natsStatus s = js_mode ? js_PublishAsync(pjs, subject, b.data(), len, nullptr)
                                 : natsConnection_Publish(pub, subject, b.data(), len);
    if (!ok(s, "publish")) break;
    if (pace_us != 0 && !js_mode) natsConnection_Flush(pub);  // one message on the wire now
  }
  if (js_mode) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    ok(js_PublishAsyncComplete(pjs, &po), "publish complete");
  } else {
    natsConnection_FlushTimeout(pub, 30000);
  }
  consumer.join();
  t.print();
  natsSubscription_Destroy(sub);
  if (pjs != nullptr) jsCtx_Destroy(pjs);
  if (cjs != nullptr) jsCtx_Destroy(cjs);
  natsConnection_Destroy(pub);
  natsConnection_Destroy(cons);
  return 0;
}

int send(const char* name, const char* domain, std::size_t bytes, std::size_t n, unsigned pace_us) {
  auto box = ringport::mailbox::open(name, domain);
  if (!box) return std::fprintf(stderr, "ringport-bridge-bench: %s\n", box.error().message.c_str()), 1;
  auto tx = box->sender();
  if (!tx) return std::fprintf(stderr, "ringport-bridge-bench: %s\n", tx.error().message.c_str()), 1;
  std::vector<char> b = payload(bytes);
  const std::uint64_t start = now_ns();
  for (std::size_t k = 0; k < n; ++k) {
    if (pace_us != 0) pace_until(start + k * pace_us * 1000u);
    const std::uint64_t ts = now_ns();
    std::memcpy(b.data(), &ts, sizeof ts);
    const ringport::status s =
        tx->send_for(std::as_bytes(std::span(b.data(), bytes)), std::chrono::seconds(30));
    if (s != ringport::status::ok) return std::fprintf(stderr, "send: %s\n", ringport::to_string(s)), 1;
  }
  return 0;
}

int recv(const char* name, const char* domain, std::size_t n) {
  auto box = ringport::mailbox::open(name, domain);
  if (!box) return std::fprintf(stderr, "ringport-bridge-bench: %s\n", box.error().message.c_str()), 1;
  auto rx = box->receiver();
  if (!rx) return std::fprintf(stderr, "ringport-bridge-bench: %s\n", rx.error().message.c_str()), 1;
  std::vector<std::byte> buf(rx->max_message_size());
  tally t(n);
  // The first message may wait for the bridges to start: 30 s; then 3 s idle.
  auto limit = std::chrono::seconds(30);
  while (t.count() < n) {
    std::size_t len = 0;
    const ringport::status s = rx->receive_for(buf, len, limit);
    if (s == ringport::status::timed_out) break;
    if (s == ringport::status::peer_gone) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (s != ringport::status::ok) return std::fprintf(stderr, "recv: %s\n", ringport::to_string(s)), 1;
    t.add(buf.data(), len);
    limit = std::chrono::seconds(3);
  }
  t.print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  auto num = [&](int i) { return std::strtoull(argv[i], nullptr, 10); };
  if (mode == "loop" && argc == 9)
    return loop(argv[2], argv[3], argv[4], num(5), num(6), static_cast<int>(num(7)),
                static_cast<unsigned>(num(8)));
  if (mode == "send" && argc == 7)
    return send(argv[2], argv[3], num(4), num(5), static_cast<unsigned>(num(6)));
  if (mode == "recv" && argc == 5) return recv(argv[2], argv[3], num(4));
  std::fputs(
      "usage: ringport-bridge-bench loop URL SUBJECT STREAM|- BYTES COUNT WINDOW PACE_US\n"
      "       ringport-bridge-bench send MAILBOX DOMAIN BYTES COUNT PACE_US\n"
      "       ringport-bridge-bench recv MAILBOX DOMAIN COUNT\n",
      stderr);
  return 2;
}
