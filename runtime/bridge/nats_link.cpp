// One NATS connection for a bridge (nats_link.hpp).
#include "nats_link.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "state_files.hpp"

namespace ringport::bridge::detail {
namespace {

// Reconnect backoff: 50 ms doubling to 2 s.
int64_t reconnect_delay(natsConnection*, int attempts, void*) {
  const int shift = std::min(attempts, 6);
  return std::min<int64_t>(int64_t{50} << shift, 2000);
}

bool host_port_ok(std::string_view hp) {
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hp.size()) return false;
  const std::string_view port = hp.substr(colon + 1);
  if (port.size() > 5) return false;
  unsigned v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v >= 1 && v <= 65535 && hp.substr(0, colon).find_first_of("/ @") == std::string_view::npos;
}

}  // namespace

std::string nats_text(const std::string& what, natsStatus s) {
  std::string t = what + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0') t += std::string(" (") + detail + ")";
  return t;
}

bool url_ok(const std::string& url) {
  std::string_view rest = url;
  if (rest.empty()) return false;
  while (true) {
    const auto comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    if (one.starts_with("nats://")) {
      one.remove_prefix(7);
    } else if (one.starts_with("tls://")) {
      one.remove_prefix(6);
    } else {
      return false;
    }
    if (!host_port_ok(one)) return false;
    if (comma == std::string_view::npos) return true;
    rest.remove_prefix(comma + 1);
  }
}

link::~link() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  if (opts_ != nullptr) natsOptions_Destroy(opts_);
}

void link::on_pub_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr* e, void* self) {
  auto* l = static_cast<link*>(self);
  std::uint64_t seq = 0;
  const char* id = nullptr;
  if (pa != nullptr && natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr)
    if (auto parts = split_msg_id(id)) seq = parts->second;
  natsMsg_Destroy(m);                           // ours in an ack handler
  const std::lock_guard<std::mutex> g(l->mu_);  // record_acks() changes slots_ under it
  if (seq != 0 && l->slots_ != nullptr) l->slots_[seq % l->n_slots_].store(seq, std::memory_order_release);
  ++l->events_;
  if (e != nullptr) {
    std::string text = e->ErrText != nullptr ? e->ErrText : natsStatus_GetText(e->Err);
    if (e->ErrCode != 0) text += " (JetStream error " + std::to_string(e->ErrCode) + ")";
    ++l->pub_errors_;
    l->pub_err_ = std::move(text);
  }
  l->acked_.notify_one();
}

void link::record_acks(std::atomic<std::uint64_t>* slots, std::size_t n) noexcept {
  const std::lock_guard<std::mutex> g(mu_);
  slots_ = slots;
  n_slots_ = n;
}

void link::wait_ack(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> g(mu_);
  acked_.wait_for(g, d, [&] { return events_ != events_seen_; });
  events_seen_ = events_;
}

int link::take_publish_errors() noexcept {
  const std::lock_guard<std::mutex> g(mu_);
  return std::exchange(pub_errors_, 0);
}

std::string link::last_publish_error() const {
  const std::lock_guard<std::mutex> g(mu_);
  return pub_err_;
}

outcome link::connect(const std::string& url, bool jetstream, int max_pending) {
  if (!url_ok(url))
    return fail(failure::bad_url, "bad --url '" + url + "': want nats://HOST:PORT[,nats://HOST:PORT...]");
  natsStatus s = natsOptions_Create(&opts_);
  std::vector<std::string> servers;  // a list goes to SetServers (SetURL takes one)
  for (std::size_t from = 0; from <= url.size();) {
    const auto comma = std::min(url.find(',', from), url.size());
    servers.push_back(url.substr(from, comma - from));
    from = comma + 1;
  }
  std::vector<const char*> list;
  for (const auto& one : servers) list.push_back(one.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts_, list.data(), static_cast<int>(list.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts_, 2000);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts_, -1);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts_, &reconnect_delay, nullptr);
  if (s != NATS_OK) return fail(failure::bad_url, nats_text("--url '" + url + "'", s));
  s = natsConnection_Connect(&nc_, opts_);
  if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR)
    return fail(failure::refused, nats_text("cannot connect to " + url, s));
  if (s != NATS_OK) return fail(failure::nats, nats_text("connect to " + url, s));
  if (!jetstream) return {};
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = max_pending;
  jo.PublishAsync.AckHandler = &link::on_pub_ack;  // errors too (ErrHandler is then unused)
  jo.PublishAsync.AckHandlerClosure = this;
  jo.Wait = 5000;
  s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) return fail(failure::nats, nats_text("JetStream context", s));
  return {};
}

}  // namespace ringport::bridge::detail
