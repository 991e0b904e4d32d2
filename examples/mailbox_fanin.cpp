// Example 2: one mailbox that three sender processes fill and three receiver
// processes drain. Each message is "<sender> <n>"; receivers tally what they
// got in a shared table, and the parent checks every message arrived once.
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "example_util.hpp"
#include "ringport/mailbox.hpp"

namespace {

constexpr int senders = 3, receivers = 3, per_sender = 20000;

struct tally {
  std::atomic<int> got[senders][per_sender];
};

int send_all(int id) {
  auto box = ringport::mailbox::open("jobs");
  if (!box) return 1;
  auto tx = box->sender();
  if (!tx) return 1;
  char msg[64];
  for (int n = 0; n < per_sender; ++n) {
    const int len = std::snprintf(msg, sizeof msg, "%d %d", id, n);
    if (tx->send(std::as_bytes(std::span(msg, static_cast<std::size_t>(len)))) != ringport::status::ok)
      return 1;
  }
  return 0;
}

int receive_all(tally* t) {
  auto box = ringport::mailbox::open("jobs");
  if (!box) return 1;
  auto rx = box->receiver();
  if (!rx) return 1;
  std::vector<std::byte> buf(rx->max_message_size() + 1);
  for (;;) {
    std::size_t len = 0;
    const ringport::status s = rx->receive(std::span(buf).first(buf.size() - 1), len);
    if (s == ringport::status::closed) return 0;  // closed and drained
    if (s != ringport::status::ok) return 1;
    buf[len] = std::byte{0};
    int id = -1, n = -1;
    if (std::sscanf(reinterpret_cast<const char*>(buf.data()), "%d %d", &id, &n) != 2 || id < 0 ||
        id >= senders || n < 0 || n >= per_sender)
      return 1;
    t->got[id][n].fetch_add(1);
  }
}

}  // namespace

int main() {
  const std::string domain = example::private_domain();
  ringport::mailbox_options opt;
  opt.capacity = 256;
  opt.max_message_size = 64;
  opt.backing = ringport::pages::normal;
  auto box = ringport::mailbox::create("jobs", opt);
  if (!box) return std::fprintf(stderr, "%s\n", box.error().message.c_str()), 1;
  void* mem = ::mmap(nullptr, sizeof(tally), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  auto* t = new (mem) tally{};

  std::vector<pid_t> rx, tx;
  for (int i = 0; i < receivers; ++i) rx.push_back(example::spawn([t] { return receive_all(t); }));
  for (int i = 0; i < senders; ++i) tx.push_back(example::spawn([i] { return send_all(i); }));
  bool ok = true;
  for (pid_t p : tx) ok = example::succeeded(p) && ok;
  box->close();  // every sender is done: receivers drain and stop
  for (pid_t p : rx) ok = example::succeeded(p) && ok;
  int once = 0;
  for (auto& row : t->got)
    for (auto& n : row) once += n.load() == 1;
  ok = ok && once == senders * per_sender;
  std::printf("mailbox_fanin: %d of %d messages delivered exactly once: %s\n", once, senders * per_sender,
              ok ? "ok" : "FAILED");
  example::remove_domain(domain);
  return ok ? 0 : 1;
}
