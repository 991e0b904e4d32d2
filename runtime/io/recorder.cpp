// journal::record() and journal::replay(): a mailbox into a journal and back.
#include <algorithm>
#include <cmath>
#include <thread>

#include "ringport/journal.hpp"

namespace ringport::journal {
namespace {

using clock = std::chrono::steady_clock;

bool stopping(const std::atomic<bool>* stop) noexcept {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

ringport::error status_error(const char* what, status s) {
  switch (s) {
    case status::corrupt:
      return {errc::corrupt, std::string(what) + ": the mailbox's shared state is corrupt"};
    case status::too_large:
      return {errc::invalid_argument, std::string(what) + ": a message does not fit the destination"};
    case status::closed:
      return {errc::invalid_argument, std::string(what) + ": closed"};
    default:
      return {errc::system_error, std::string(what) + ": unexpected status"};
  }
}

}  // namespace

result<record_outcome> record(mailbox_receiver& rx, writer& w, const record_options& opt) {
  const source src{
      &rx, rx.max_message_size(),
      [](void* ctx, std::span<std::byte> into, std::size_t& len, clock::time_point deadline) noexcept {
        auto& r = *static_cast<mailbox_receiver*>(ctx);
        return deadline == clock::time_point::min() ? r.try_receive(into, len)
                                                    : r.receive_until(into, len, deadline);
      }};
  return record(src, w, opt);
}

result<replay_outcome> replay(reader& r, mailbox_sender& tx, const replay_options& opt) {
  const sink dst{&tx, tx.max_message_size(),
                 [](void* ctx, std::span<const std::byte> msg, clock::time_point deadline) noexcept {
                   return static_cast<mailbox_sender*>(ctx)->send_until(msg, deadline);
                 }};
  return replay(r, dst, opt);
}

result<record_outcome> record(const source& src, writer& w, const record_options& opt) {
  record_outcome out;
  const std::size_t max = src.max;
  auto last_message = clock::now();
  auto limit_reached = [&]() noexcept { return opt.count != 0 && out.messages >= opt.count; };
  while (!limit_reached() && !stopping(opt.stop)) {
    // One batch: everything queued now, received straight into the buffer.
    std::size_t batch = 0;
    status s = status::ok;
    while (!limit_reached()) {
      std::span<std::byte> room = w.reserve(max);
      if (room.empty()) return w.error();
      std::size_t len = 0;
      s = src.take(src.ctx, room, len, clock::time_point::min());
      if (s != status::ok) break;
      w.commit(len);
      ++out.messages;
      ++batch;
    }
    if (batch != 0) {
      w.flush();
      last_message = clock::now();
    }
    if (w.failed()) return w.error();
    if (limit_reached()) break;
    if (s == status::closed) {
      out.last = status::closed;
      break;
    }
    if (s != status::would_block && s != status::ok) return status_error("record", s);
    // Wait for the next message, a slice at most.
    auto until = clock::now() + opt.slice;
    if (opt.idle.count() != 0) until = std::min(until, last_message + opt.idle);
    std::span<std::byte> room = w.reserve(max);
    if (room.empty()) return w.error();
    std::size_t len = 0;
    s = src.take(src.ctx, room, len, until);
    if (s == status::ok) {
      w.commit(len);
      ++out.messages;
      last_message = clock::now();
      continue;  // the rest of this burst goes into the same batch
    }
    w.tick();
    if (s == status::closed) {
      out.last = status::closed;
      break;
    }
    if (s == status::peer_gone && clock::now() < until)
      std::this_thread::sleep_until(until);  // no sender yet
    if (s != status::timed_out && s != status::peer_gone) return status_error("record", s);
    if (opt.idle.count() != 0 && clock::now() >= last_message + opt.idle) break;
  }
  w.flush();
  if (w.failed()) return w.error();
  return out;
}

clock::time_point due_time(clock::time_point start, std::int64_t first_mono, std::int64_t mono,
                           double pace) noexcept {
  if (pace <= 0 || mono <= first_mono) return start;
  const double ns = static_cast<double>(mono - first_mono) / pace;
  if (!(ns < 1e18)) return clock::time_point::max();
  return start + std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

result<replay_outcome> replay(reader& r, const sink& dst, const replay_options& opt) {
  replay_outcome out;
  bool started = false;
  clock::time_point start;
  std::int64_t first_mono = 0;
  entry rec;
  for (;;) {
    if (stopping(opt.stop)) break;
    const read_result rr = r.next(rec);
    if (rr != read_result::record) {
      out.end = rr;
      break;
    }
    if (rec.sequence < opt.from_sequence || rec.realtime_ns < opt.from_realtime_ns) continue;
    if (!started) {
      started = true;
      start = clock::now();
      first_mono = rec.monotonic_ns;
    }
    if (opt.pace > 0) {
      const auto due = due_time(start, first_mono, rec.monotonic_ns, opt.pace);
      while (clock::now() < due && !stopping(opt.stop))
        std::this_thread::sleep_until(std::min(due, clock::now() + std::chrono::milliseconds(50)));
      if (stopping(opt.stop)) break;
    }
    if (rec.payload.size() > dst.max)
      return ringport::error(errc::invalid_argument, "replay: record " + std::to_string(rec.sequence) +
                                                         " holds " + std::to_string(rec.payload.size()) +
                                                         " bytes, more than the destination's " +
                                                         std::to_string(dst.max));
    for (;;) {
      const status s = dst.put(dst.ctx, rec.payload, clock::now() + std::chrono::milliseconds(50));
      if (s == status::ok) break;
      if (s != status::timed_out && s != status::peer_gone) return status_error("replay", s);
      if (stopping(opt.stop)) return out;
    }
    ++out.messages;
    if (opt.count != 0 && out.messages >= opt.count) break;
  }
  return out;
}

}  // namespace ringport::journal
