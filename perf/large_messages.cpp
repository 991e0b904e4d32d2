// Large messages (issue 15): 1 MiB, 64 MiB and 1 GiB messages through a
// 1 MiB mailbox (16 slots of 64 KiB: each message streamed in fragments,
// mailbox.hpp "Streams") beside a pipe and a Unix-domain socket given the
// same 1 MiB of buffer, moving the same bytes in the same run (one group
// per size, so the report pairs them). Thread mode: a sender and a receiver
// thread in the measuring process; the sender writes from one 1 MiB source
// buffer, the receiver reads into one 1 MiB buffer, so no row holds a whole
// message. A repetition moves messages until its time is up, at least one.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "peers_kernel.hpp"
#include "ringport/mailbox.hpp"
#include "ringport_channels.hpp"
#include "scenario.hpp"

namespace bench {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t buffer_bytes = std::size_t{1} << 20;

// Moves messages of `size` bytes with send(i) / receive() until ctx.seconds
// passed (at least one), then an end marker (send_end); receive() returns
// the bytes of one message, or 0 at the end marker, or -1 on failure.
template <class Send, class End, class Receive>
void transfer(const run_context& ctx, measurement& out, Send&& send, End&& send_end, Receive&& receive) {
  std::atomic<bool> send_failed{false};
  const auto t0 = clock_type::now();
  const auto span = std::chrono::duration<double>(ctx.seconds);
  std::thread tx([&] {
    do {
      if (!send()) {
        send_failed = true;
        break;
      }
    } while (clock_type::now() - t0 < span);
    if (!send_end()) send_failed = true;
  });
  std::uint64_t messages = 0;
  bool failed = false;
  for (;;) {
    const long long got = receive();
    if (got <= 0) {
      failed = got < 0;
      break;
    }
    ++messages;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  tx.join();
  if (failed || send_failed || messages == 0) return out.fail("a transfer failed");
  out.ok = true;
  out.messages = messages;
  out.seconds = seconds;
}

// Pipe or socket pair: an 8-byte length, then the bytes (written and read
// in 1 MiB calls). Length 0 ends the run.
void run_descriptor(const run_context& ctx, measurement& out, std::size_t size, bool socket) {
  int fds[2] = {-1, -1};
  auto opened = socket ? uds_kind::open(fds) : pipe_kind::open(fds);
  if (!opened) return out.fail(opened.error().message);
  if (socket) {
    const int b = static_cast<int>(buffer_bytes);
    (void)::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
    (void)::setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
  } else {
    (void)::fcntl(fds[1], F_SETPIPE_SZ,
                  static_cast<int>(buffer_bytes));  // may be refused above pipe-max-size
  }
  std::vector<std::byte> src(buffer_bytes, std::byte{0x5a}), dst(buffer_bytes);
  auto send_len = [&](std::uint64_t n) { return write_full(fds[1], &n, sizeof n); };
  auto send = [&] {
    if (!send_len(size)) return false;
    for (std::size_t at = 0; at < size;) {
      const std::size_t k = std::min(buffer_bytes, size - at);
      if (!write_full(fds[1], src.data(), k)) return false;
      at += k;
    }
    return true;
  };
  auto receive = [&]() -> long long {
    std::uint64_t n = 0;
    if (!read_full(fds[0], &n, sizeof n)) return -1;
    for (std::uint64_t at = 0; at < n;) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_bytes, n - at));
      if (!read_full(fds[0], dst.data(), k)) return -1;
      at += k;
    }
    return static_cast<long long>(n);
  };
  transfer(
      ctx, out, send, [&] { return send_len(0); }, receive);
  close_pair(fds);
  set_text(out.note, socket ? "SOCK_STREAM socketpair, 1 MiB socket buffers" : "pipe, 1 MiB pipe buffer");
}

// The mailbox: send_stream_until with a fill that copies from the source
// buffer; read() piece by piece. An empty message ends the run.
void run_mailbox(const run_context& ctx, measurement& out, std::size_t size) {
  const std::string name = bench_ring_name();
  ringport::mailbox_options o;
  o.capacity = 16;
  o.max_message_size = 65536 - ringport::mailbox_header_bytes;
  auto box = ringport::mailbox::create(name, o);
  if (!box) return out.fail(box.error().message);
  (void)ringport::mailbox::remove(name);  // the handles keep it mapped
  auto tx = box->sender();
  auto rx = box->receiver();
  if (!tx || !rx) return out.fail("no mailbox handles");
  std::vector<std::byte> src(buffer_bytes, std::byte{0x5a}), dst(buffer_bytes);
  auto send = [&] {
    std::size_t at = 0;
    auto fill = [&](std::span<std::byte> piece) {
      std::memcpy(piece.data(), src.data() + at, piece.size());
      at = (at + piece.size()) % (buffer_bytes - o.max_message_size);
      return true;
    };
    return tx->send_stream_until(size, fill, clock_type::time_point::max()) == ringport::status::ok;
  };
  auto receive = [&]() -> long long {
    std::uint64_t got = 0;
    for (;;) {
      std::size_t n = 0;
      if (rx->read(dst, n) != ringport::status::ok) return -1;
      if (n == 0) return static_cast<long long>(got);  // the end (of the empty marker: 0)
      got += n;
    }
  };
  transfer(
      ctx, out, send, [&] { return tx->send(std::span<const std::byte>{}) == ringport::status::ok; },
      receive);
  set_text(out.note, "1 MiB mailbox: 16 slots of 64 KiB, streamed");
}

void add(registry& r, std::size_t size, const char* impl, const char* wait, std::size_t capacity,
         row_role role, void (*run)(const run_context&, measurement&, std::size_t)) {
  scenario s;
  s.name = "large";
  s.impl = impl;
  s.mode = run_mode::thread;
  s.msg_bytes = size;
  s.wait = wait;
  s.capacity = capacity;
  s.role = role;
  s.run = [run, size](const run_context& ctx, measurement& out) { run(ctx, out, size); };
  r.push_back(std::move(s));
}

}  // namespace

void register_large_messages(registry& r) {
  for (std::size_t size : {std::size_t{1} << 20, std::size_t{64} << 20, std::size_t{1} << 30}) {
    add(r, size, "ringport-mailbox-stream", "adaptive", 16, row_role::subject, &run_mailbox);
    add(r, size, "pipe", "kernel", 0, row_role::peer,
        [](const run_context& c, measurement& m, std::size_t n) { run_descriptor(c, m, n, false); });
    add(r, size, "uds", "kernel", 0, row_role::peer,
        [](const run_context& c, measurement& m, std::size_t n) { run_descriptor(c, m, n, true); });
  }
}

}  // namespace bench
