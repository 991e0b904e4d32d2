// journal rows (issue 14): record throughput through the real recorder
// (journal::record() draining a mailbox into a journal::writer, as
// `ringport record` does) beside a plain write(2) loop that drains the same
// kind of mailbox into the same batches: the same file header and record
// bytes (the journal's own encoder, so the file it leaves is a journal the
// same reader checks), one buffer of the writer's default size, written
// when full and at the end of every burst of queued messages, as record()
// flushes. Only the write differs: io_uring WRITE_FIXED in the background
// against a write(2) the loop waits for. Both at fsync none and fsync every
// 10 ms (fdatasync after a write once 10 ms passed), 64 B and 4 KiB; and
// replay throughput (journal::replay() of a journal written beforehand into
// a mailbox, a receiver thread taking every message).
// A producer thread sends stamped messages for the repetition's time, then
// closes the mailbox; the recorder stops when it has drained it. Every file
// is read back afterwards (untimed) with journal::reader: every message once,
// in order, untorn, or the row fails. The files go to
// $RINGPORT_BENCH_JOURNAL_DIR, else /dev/shm, else /tmp; the note says
// whether that is a tmpfs or a disk (the same directory for every row). A
// file is unlinked as soon as it exists (a descriptor keeps it): a repetition
// killed by the watchdog leaves nothing there.
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "io/journal_format.hpp"
#include "peers_kernel.hpp"
#include "ringport/journal.hpp"
#include "ringport/mailbox.hpp"
#include "ringport_channels.hpp"

namespace bench {
namespace {

namespace jr = ringport::journal;
using clock_type = std::chrono::steady_clock;
// The writer's default buffer (not constexpr: clang refuses the std::string member).
const std::size_t batch_bytes = jr::writer_options{}.buffer_bytes;
constexpr auto fsync_interval = std::chrono::milliseconds(10);

struct journal_dir {
  std::string path;
  std::string what;  // "tmpfs /dev/shm" or "disk /tmp"
};

const journal_dir& pick_dir() {
  static const journal_dir d = [] {
    const char* env = std::getenv("RINGPORT_BENCH_JOURNAL_DIR");
    std::string p = env != nullptr && *env != '\0' ? env : "/dev/shm";
    if (env == nullptr && ::access(p.c_str(), W_OK) != 0) p = "/tmp";
    struct statfs fs {};
    const bool tmpfs = ::statfs(p.c_str(), &fs) == 0 && fs.f_type == 0x01021994;  // TMPFS_MAGIC
    return journal_dir{p, std::string(tmpfs ? "tmpfs " : "disk ") + p};
  }();
  return d;
}

// One repetition's journal file. hold() unlinks it as soon as it exists,
// keeping a descriptor, so that a repetition the watchdog kills leaves
// nothing behind; it is read back through view() (/proc/self/fd/N).
struct scratch_file {
  std::string path = pick_dir().path + "/" + bench_ring_name() + ".journal";
  owned_fd keep;

  scratch_file() = default;
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;
  ~scratch_file() { ::unlink(path.c_str()); }  // in case hold() was not reached
  std::string hold() {
    keep = owned_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    const int e = errno;
    ::unlink(path.c_str());
    return keep.fd < 0 ? "open " + path + ": " + std::strerror(e) : std::string();
  }
  std::string view() const { return "/proc/self/fd/" + std::to_string(keep.fd); }
};

std::int64_t clock_ns(clockid_t c) noexcept {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A mailbox of 1024 messages of N bytes, unlinked at once (the handles keep it).
struct box_pair {
  ringport::mailbox box;
  std::optional<ringport::mailbox_sender> tx;
  std::optional<ringport::mailbox_receiver> rx;
};
ringport::result<box_pair> make_box(std::size_t n) {
  const std::string name = bench_ring_name();
  ringport::mailbox_options o;
  o.capacity = queue_slots;
  o.max_message_size = n;
  auto b = ringport::mailbox::create(name, o);
  if (!b) return b.error();
  (void)ringport::mailbox::remove(name);
  auto tx = b->sender();
  if (!tx) return tx.error();
  auto rx = b->receiver();
  if (!rx) return rx.error();
  return box_pair{*b, std::move(*tx), std::move(*rx)};
}

// Sends stamped N-byte messages for `seconds` (at least one), then closes
// the mailbox; returns how many, or -1 when a send failed.
long long produce_for(box_pair& bp, std::size_t n, double seconds) {
  std::vector<std::uint64_t> w(n / 8, 0);
  const auto until = clock_type::now() + std::chrono::duration<double>(seconds);
  std::uint64_t seq = 0;
  for (;;) {
    w[0] = w[n / 8 - 1] = make_stamp(0, seq);
    if (bp.tx->send(std::as_bytes(std::span(w))) != ringport::status::ok) {
      bp.box.close();
      return -1;
    }
    ++seq;
    if ((seq & 63) == 0 && clock_type::now() >= until) break;
  }
  bp.box.close();
  return static_cast<long long>(seq);
}

// Reads the journal back: `count` messages of n bytes stamped 0..count-1, a clean end.
std::string verify(const std::string& path, std::size_t n, std::uint64_t count) {
  auto r = jr::reader::open(path);
  if (!r) return "read back: " + r.error().message;
  jr::entry e;
  std::uint64_t seq = 0;
  for (;;) {
    const jr::read_result rr = r->next(e);
    if (rr == jr::read_result::end) break;
    if (rr != jr::read_result::record)
      return "read back: the journal stops at offset " + std::to_string(r->bad_offset()) + ": " +
             r->problem();
    std::uint64_t first = 0, last = 0;
    if (e.payload.size() != n) return "read back: a record of " + std::to_string(e.payload.size()) + " bytes";
    std::memcpy(&first, e.payload.data(), 8);
    std::memcpy(&last, e.payload.data() + n - 8, 8);
    if (first != last || first != make_stamp(0, seq))
      return "read back: record " + std::to_string(seq) + " wrong";
    ++seq;
  }
  if (seq != count)
    return "read back " + std::to_string(seq) + " messages of " + std::to_string(count) + " sent";
  return {};
}

// ---- the write(2) loop ----------------------------------------------------------

struct plain_writer {
  int fd = -1;
  std::vector<std::byte> buf = std::vector<std::byte>(batch_bytes);
  std::size_t used = 0;
  std::uint64_t seq = 0;
  bool fsync = false;
  clock_type::time_point next_sync = clock_type::now() + fsync_interval;

  bool write_out() noexcept {
    if (used == 0) return true;
    if (!write_full(fd, buf.data(), used)) return false;
    used = 0;
    if (fsync && clock_type::now() >= next_sync) {
      next_sync = clock_type::now() + fsync_interval;
      return ::fdatasync(fd) == 0;
    }
    return true;
  }
  std::byte* room(std::size_t max) noexcept {
    if (used + jr::format::record_bytes(max) + jr::format::record_bytes(8) > buf.size() && !write_out())
      return nullptr;
    return buf.data() + used + jr::record_header_bytes;
  }
  void seal(jr::record_type t, std::size_t len) noexcept {
    jr::format::seal_record(buf.data() + used, t, 0, seq, clock_ns(CLOCK_REALTIME), clock_ns(CLOCK_MONOTONIC),
                            static_cast<std::uint32_t>(len));
    used += jr::format::record_bytes(len);
    if (t == jr::record_type::message) ++seq;
  }
};

// Drains rx into fd the way record() does, with write(2).
std::string write_loop(ringport::mailbox_receiver& rx, int fd, std::size_t max, bool fsync) {
  plain_writer w;
  w.fsync = fsync;
  w.fd = fd;
  jr::part_info h;
  h.version = jr::format_version;
  h.kind = jr::source_kind::mailbox;
  h.source_name = "bench";
  h.created_realtime_ns = clock_ns(CLOCK_REALTIME);
  h.created_monotonic_ns = clock_ns(CLOCK_MONOTONIC);
  jr::format::encode_header(w.buf.data(), h);
  w.used = jr::file_header_bytes;
  std::string err;
  for (bool closed = false; !closed && err.empty();) {
    ringport::status s = ringport::status::ok;
    while (s == ringport::status::ok) {  // one batch: everything queued now
      std::byte* at = w.room(max);
      if (at == nullptr) return "write(2) failed";
      std::size_t len = 0;
      s = rx.try_receive({at, max}, len);
      if (s == ringport::status::ok) w.seal(jr::record_type::message, len);
    }
    if (!w.write_out()) return "write(2) failed";
    if (s == ringport::status::closed) break;
    if (s != ringport::status::would_block) return "try_receive failed";
    std::byte* at = w.room(max);  // wait for the next message, 50 ms at most
    if (at == nullptr) return "write(2) failed";
    std::size_t len = 0;
    s = rx.receive_until({at, max}, len, clock_type::now() + std::chrono::milliseconds(50));
    if (s == ringport::status::ok) w.seal(jr::record_type::message, len);
    closed = s == ringport::status::closed;
    if (s != ringport::status::ok && s != ringport::status::timed_out && !closed) err = "receive failed";
  }
  std::byte* at = w.room(8);  // the end record of a clean close
  if (at == nullptr) return "write(2) failed";
  const std::uint64_t no_next_part = 0;
  std::memcpy(at, &no_next_part, 8);
  w.seal(jr::record_type::end, 8);
  if (!w.write_out() || (fsync && ::fdatasync(w.fd) != 0)) err = "write(2)/fdatasync failed";
  return err;
}

// ---- rows ------------------------------------------------------------------------

// One record repetition: through the recorder (plain = false) or the write(2) loop.
void run_record(const run_context& ctx, measurement& out, std::size_t n, bool fsync, bool plain) {
  auto bp = make_box(n);
  if (!bp) return out.fail(bp.error().message);
  scratch_file file;
  std::optional<jr::writer> w;
  owned_fd plain_fd;
  if (plain) {
    plain_fd = owned_fd(::open(file.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (plain_fd.fd < 0) return out.fail("open " + file.path + ": " + std::strerror(errno));
  } else {
    jr::writer_options o;
    o.source_name = "bench";
    o.fsync = fsync ? jr::fsync_policy::interval : jr::fsync_policy::none;
    o.fsync_interval = fsync_interval;
    auto made = jr::writer::create(file.path, o);
    if (!made) {
      if (made.error() == ringport::errc::unsupported) return out.skip(made.error().message);
      return out.fail(made.error().message);
    }
    w.emplace(std::move(*made));
  }
  if (std::string e = file.hold(); !e.empty()) return out.fail(e);
  long long sent = 0;
  const auto t0 = clock_type::now();
  std::thread producer([&] { sent = produce_for(*bp, n, ctx.seconds); });
  std::string err;
  if (plain) {
    err = write_loop(*bp->rx, plain_fd.fd, n, fsync);
  } else if (auto rec = jr::record(*bp->rx, *w); !rec) {
    err = rec.error().message;
  } else if (auto c = w->close(); !c) {
    err = c.error().message;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  producer.join();
  if (err.empty() && sent < 0) err = "a send failed";
  if (err.empty()) err = verify(file.view(), n, static_cast<std::uint64_t>(sent));
  if (!err.empty()) return out.fail(err);
  out.ok = true;
  out.messages = static_cast<std::uint64_t>(sent);
  out.seconds = seconds;
  const std::string how = plain ? "write(2) of 1 MiB batches" : "io_uring, 4 x 1 MiB registered buffers";
  set_text(out.note, how + ", " + pick_dir().what + ", 1024-slot mailbox");
}

// One replay repetition: a journal of about `seconds` worth of messages
// (written beforehand, untimed) replayed as fast as possible into a mailbox.
void run_replay(const run_context& ctx, measurement& out, std::size_t n) {
  const double guess = n <= 64 ? 5e6 : 2.5e5;  // messages per second, to size the journal
  const auto count = static_cast<std::uint64_t>(std::max(1000.0, ctx.seconds * guess));
  scratch_file file;
  {
    jr::writer_options o;
    o.source_name = "bench";
    auto w = jr::writer::create(file.path, o);
    if (!w) {
      if (w.error() == ringport::errc::unsupported) return out.skip(w.error().message);
      return out.fail(w.error().message);
    }
    if (std::string e = file.hold(); !e.empty()) return out.fail(e);
    std::vector<std::uint64_t> m(n / 8, 0);
    for (std::uint64_t i = 0; i < count; ++i) {
      m[0] = m[n / 8 - 1] = make_stamp(0, i);
      if (!w->append(std::as_bytes(std::span(m)))) break;
    }
    if (auto c = w->close(); !c) return out.fail(c.error().message);
  }
  auto bp = make_box(n);
  auto r = jr::reader::open(file.view());
  if (!bp || !r) return out.fail(!bp ? bp.error().message : r.error().message);
  std::uint64_t got = 0, wrong = 0;
  const auto t0 = clock_type::now();
  std::thread consumer([&] {
    std::vector<std::uint64_t> m(n / 8, 0);
    for (; got < count; ++got) {
      std::size_t len = 0;
      if (bp->rx->receive(std::as_writable_bytes(std::span(m)), len) != ringport::status::ok) break;
      if (len != n || m[0] != m[n / 8 - 1] || m[0] != make_stamp(0, got)) ++wrong;
    }
  });
  auto rep = jr::replay(*r, *bp->tx);
  if (!rep) bp->box.close();  // lets the consumer out
  consumer.join();
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (!rep) return out.fail(rep.error().message);
  if (got != count || wrong != 0 || rep->messages != count)
    return out.fail("replay delivered " + std::to_string(got) + " of " + std::to_string(count) + " (" +
                    std::to_string(wrong) + " wrong)");
  out.ok = true;
  out.messages = count;
  out.seconds = seconds;
  set_text(out.note,
           "journal -> 1024-slot mailbox, " + std::to_string(count) + " messages, " + pick_dir().what);
}

void add(registry& r, const char* impl, std::size_t n, row_role role, const char* peer,
         std::function<void(const run_context&, measurement&)> run) {
  scenario s;
  s.name = "journal";
  s.impl = impl;
  s.mode = run_mode::thread;
  s.msg_bytes = n;
  s.wait = "adaptive";  // the mailbox receiver's wait between bursts
  s.capacity = queue_slots;
  s.role = role;
  s.peer = peer;
  s.run = std::move(run);
  r.push_back(std::move(s));
}

}  // namespace

void register_journal(registry& r) {
  for (std::size_t n : {std::size_t{64}, std::size_t{4096}}) {
    for (bool fsync : {false, true}) {
      add(r, fsync ? "write-loop-fsync10ms" : "write-loop", n, row_role::peer, "",
          [n, fsync](const run_context& c, measurement& m) { run_record(c, m, n, fsync, true); });
      add(r, fsync ? "ringport-record-fsync10ms" : "ringport-record", n, row_role::subject,
          fsync ? "write-loop-fsync10ms" : "write-loop",
          [n, fsync](const run_context& c, measurement& m) { run_record(c, m, n, fsync, false); });
    }
    add(r, "ringport-replay", n, row_role::subject, "-",
        [n](const run_context& c, measurement& m) { run_replay(c, m, n); });
  }
}

}  // namespace bench
