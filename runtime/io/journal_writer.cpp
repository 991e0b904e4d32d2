// journal::writer: records packed into registered buffers, written in file
// order through io_uring (journal.hpp says why each flag is there).
#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "journal_format.hpp"
#include "ringport/journal.hpp"

namespace ringport::journal {
namespace {

constexpr std::size_t block = 4096;  // O_DIRECT granularity
constexpr std::uint64_t fsync_tag = ~std::uint64_t{0};
constexpr std::size_t end_bytes = format::record_bytes(8);

std::int64_t now_ns(clockid_t c) noexcept {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool exists(const std::string& p) noexcept {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

std::string part_path(std::string_view path, std::uint32_t n) {
  std::string p(path);
  if (n != 0) {
    const std::string suffix = std::to_string(n);
    p.push_back('.');
    p.append(suffix);
  }
  return p;
}

struct writer::impl {
  writer_options opt;
  std::string path;
  io_uring ring{};
  bool ring_ok = false;
  bool fixed = false;  // buffers registered (else plain IORING_OP_WRITE)
  int fd = -1;
  std::byte* mem = nullptr;
  std::vector<std::size_t> inflight_len;  // per buffer: bytes being written, 0 when free
  unsigned cur = 0;
  std::size_t used = 0;       // bytes of the current buffer holding data
  bool fresh = false;         // bytes added since its last submission
  std::uint64_t buf_off = 0;  // file offset of the current buffer's first byte
  std::size_t reserved = 0;
  bool reserving = false;
  std::uint64_t seq = 0, records = 0, part_records = 0;
  std::uint32_t part = 0;
  unsigned pending = 0;  // SQEs submitted, CQE not reaped
  bool unsynced = false;
  std::chrono::steady_clock::time_point next_sync{};
  ringport::error err;
  bool failed = false;

  ~impl() { release(); }

  std::byte* buf(unsigned i) const noexcept { return mem + std::size_t{i} * opt.buffer_bytes; }

  void fail(ringport::error e) noexcept {
    if (!failed) err = std::move(e);
    failed = true;
  }

  void release() noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (ring_ok) io_uring_queue_exit(&ring);
    ring_ok = false;
    if (mem) ::munmap(mem, opt.buffer_bytes * opt.buffers);
    mem = nullptr;
  }

  void handle(const io_uring_cqe* cqe) noexcept {
    --pending;
    if (cqe->user_data == fsync_tag) {
      if (cqe->res < 0 && cqe->res != -ECANCELED) fail(system_failure("journal fdatasync", -cqe->res));
      return;
    }
    const auto i = static_cast<unsigned>(cqe->user_data);
    if (i >= inflight_len.size()) return;
    if (cqe->res < 0)
      fail(system_failure("journal write", -cqe->res));
    else if (static_cast<std::size_t>(cqe->res) != inflight_len[i])
      fail(ringport::error(errc::system_error, "journal write: short write of " + std::to_string(cqe->res) +
                                                   " of " + std::to_string(inflight_len[i]) +
                                                   " bytes (file system full?)"));
    inflight_len[i] = 0;
  }

  // Reaps completions; waits for one when `wait`.
  void reap(bool wait) noexcept {
    io_uring_cqe* cqe = nullptr;
    if (wait && pending != 0) {
      int rc;
      do rc = io_uring_wait_cqe(&ring, &cqe);
      while (rc == -EINTR);
      if (rc < 0) {
        fail(system_failure("io_uring_wait_cqe", -rc));
        pending = 0;
        return;
      }
    }
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
      handle(cqe);
      io_uring_cqe_seen(&ring, cqe);
    }
  }

  void drain_all() noexcept {
    while (pending != 0 && !failed) reap(true);
  }

  io_uring_sqe* sqe() noexcept {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {  // the queue is full of unsubmitted entries: push them
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  bool sync_due() noexcept {
    if (opt.fsync == fsync_policy::every_batch) return true;
    if (opt.fsync != fsync_policy::interval) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_sync) return false;
    next_sync = now + opt.fsync_interval;
    return true;
  }

  void submit(unsigned count) noexcept {
    const int rc = io_uring_submit(&ring);
    if (rc < 0) {
      fail(system_failure("io_uring_submit", -rc));
      return;
    }
    pending += count;
  }

  // Starts the write of the current buffer and moves to the next one.
  void submit_current() noexcept {
    if (failed || !fresh || used == 0) return;
    const std::size_t len = opt.direct ? (used + block - 1) / block * block : used;
    std::byte* b = buf(cur);
    std::memset(b + used, 0, len - used);
    io_uring_sqe* w = sqe();
    if (w == nullptr) return fail(ringport::error(errc::system_error, "io_uring: no submission entry"));
    if (fixed)
      io_uring_prep_write_fixed(w, fd, b, static_cast<unsigned>(len), buf_off, static_cast<int>(cur));
    else
      io_uring_prep_write(w, fd, b, static_cast<unsigned>(len), buf_off);
    w->user_data = cur;
    // Every write waits for the ones before it: the file grows in order.
    w->flags |= IOSQE_IO_DRAIN;
    unsigned n = 1;
    if (sync_due()) {
      io_uring_sqe* f = sqe();
      if (f != nullptr) {
        w->flags |= IOSQE_IO_LINK;  // the fsync runs only after this write succeeded
        io_uring_prep_fsync(f, fd, IORING_FSYNC_DATASYNC);
        f->user_data = fsync_tag;
        n = 2;
        unsynced = false;
      }
    } else {
      unsynced = opt.fsync != fsync_policy::none;
    }
    inflight_len[cur] = len;
    submit(n);
    // The next buffer starts where this one's data ends; with O_DIRECT it
    // starts at the partial last block, which it copies and rewrites.
    const unsigned next = (cur + 1) % opt.buffers;
    while (inflight_len[next] != 0 && !failed) reap(true);
    const std::size_t tail = opt.direct ? used % block : 0;
    if (tail != 0) std::memcpy(buf(next), b + used - tail, tail);
    buf_off += used - tail;
    used = tail;
    cur = next;
    fresh = false;
  }

  result<void> open_part() {
    const std::string p = part_path(path, part);
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_TRUNC;
    if (part == 0 && !opt.overwrite) flags |= O_EXCL;
    if (opt.direct) flags |= O_DIRECT;
    fd = ::open(p.c_str(), flags, 0600);
    if (fd < 0) {
      const int e = errno;
      if (e == EEXIST)
        return ringport::error(errc::already_exists, p + ": the journal exists (overwrite it?)");
      if (e == EINVAL && opt.direct)
        return ringport::error(errc::unsupported, p + ": the file system refuses O_DIRECT (drop --direct)");
      return system_failure(("open " + p).c_str(), e);
    }
    part_info h;
    h.version = format_version;
    h.part = part;
    h.first_sequence = seq;
    h.created_realtime_ns = now_ns(CLOCK_REALTIME);
    h.created_monotonic_ns = now_ns(CLOCK_MONOTONIC);
    h.kind = opt.kind;
    h.element_size = opt.element_size;
    h.source_name = opt.source_name;
    buf_off = 0;
    used = 0;
    format::encode_header(buf(cur), h);
    used = file_header_bytes;
    fresh = true;
    part_records = 0;
    submit_current();  // an idle recorder still leaves a valid, empty journal
    if (failed) return err;
    return {};
  }

  // Appends the end record (next part follows or not) into the buffer.
  void put_end(bool continued) noexcept {
    std::byte* at = buf(cur) + used;
    format::store<std::uint64_t>(at + record_header_bytes, continued ? 1 : 0);
    format::seal_record(at, record_type::end, 0, seq, now_ns(CLOCK_REALTIME), now_ns(CLOCK_MONOTONIC), 8);
    used += end_bytes;
    fresh = true;
  }

  result<void> finish_part(bool continued) {
    put_end(continued);
    submit_current();
    drain_all();
    if (failed) return err;
    const std::uint64_t end = buf_off + used;
    if (opt.direct && ::ftruncate(fd, static_cast<off_t>(end)) != 0) fail(system_failure("ftruncate", errno));
    if (opt.fsync != fsync_policy::none && ::fdatasync(fd) != 0) fail(system_failure("fdatasync", errno));
    ::close(fd);
    fd = -1;
    if (failed) return err;
    return {};
  }

  void rotate() noexcept {
    if (auto r = finish_part(true); !r) return fail(r.error());
    ++part;
    if (opt.direct) used = 0;  // the carried tail belongs to the old part
    if (auto r = open_part(); !r) fail(r.error());
  }

  result<void> init() {
    if (opt.buffers < 2 || opt.buffers > 64)
      return ringport::error(errc::invalid_argument, "journal: buffers must be 2 to 64");
    if (opt.buffer_bytes < 2 * block || opt.buffer_bytes % block != 0 ||
        opt.buffer_bytes > (std::size_t{1} << 30))
      return ringport::error(errc::invalid_argument,
                             "journal: buffer_bytes must be a multiple of 4096 from 8192 to 1 GiB");
    if (opt.source_name.size() > max_source_name)
      return ringport::error(errc::invalid_argument, "journal: source name longer than 255 bytes");
    if (!opt.overwrite && exists(part_path(path, 0)))
      return ringport::error(errc::already_exists, path + ": the journal exists (overwrite it?)");
    // Parts of an earlier journal at this path would not chain (their
    // sequences differ), but remove them so that nobody mistakes them.
    for (std::uint32_t n = 1; exists(part_path(path, n)); ++n) ::unlink(part_path(path, n).c_str());
    const std::size_t total = opt.buffer_bytes * opt.buffers;
    void* m =
        ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) return system_failure("mmap journal buffers", errno);
    mem = static_cast<std::byte*>(m);
    inflight_len.assign(opt.buffers, 0);
    if (int rc = io_uring_queue_init(32, &ring, 0); rc < 0)
      return ringport::error(errc::unsupported,
                             std::string("io_uring_queue_init: ") + std::strerror(-rc) +
                                 " (io_uring disabled? see /proc/sys/kernel/io_uring_disabled, seccomp)");
    ring_ok = true;
    std::vector<iovec> iov(opt.buffers);
    for (unsigned i = 0; i < opt.buffers; ++i) iov[i] = {buf(i), opt.buffer_bytes};
    // Unregistered buffers (e.g. RLIMIT_MEMLOCK too low) still work, a little slower.
    fixed = io_uring_register_buffers(&ring, iov.data(), opt.buffers) == 0;
    seq = opt.first_sequence;
    next_sync = std::chrono::steady_clock::now() + opt.fsync_interval;
    return open_part();
  }
};

writer::writer() = default;
writer::writer(writer&&) noexcept = default;
writer& writer::operator=(writer&& o) noexcept {
  if (this != &o) {
    if (p_) (void)close();
    p_ = std::move(o.p_);
  }
  return *this;
}
writer::~writer() {
  if (p_) (void)close();
}

result<writer> writer::create(std::string path, const writer_options& opt) {
  writer w;
  w.p_ = std::make_unique<impl>();
  w.p_->opt = opt;
  w.p_->path = std::move(path);
  if (auto r = w.p_->init(); !r) return r.error();
  return w;
}

std::span<std::byte> writer::reserve(std::size_t max) noexcept {
  impl& s = *p_;
  s.reserving = false;
  if (s.failed) return {};
  const std::size_t need = format::record_bytes(max) + end_bytes;
  if (max > max_payload || need + block > s.opt.buffer_bytes) {
    s.fail(ringport::error(errc::invalid_argument, "journal: a record of " + std::to_string(max) +
                                                       " bytes does not fit a buffer of " +
                                                       std::to_string(s.opt.buffer_bytes) + " bytes"));
    return {};
  }
  if (s.opt.rotate_bytes != 0 && s.part_records != 0 && s.buf_off + s.used + need > s.opt.rotate_bytes)
    s.rotate();
  if (s.used + need > s.opt.buffer_bytes) s.submit_current();
  if (s.failed) return {};
  s.reserving = true;
  s.reserved = max;
  return {s.buf(s.cur) + s.used + record_header_bytes, max};
}

void writer::commit(std::size_t n) noexcept {
  impl& s = *p_;
  if (!s.reserving || s.failed) return;
  s.reserving = false;
  if (n > s.reserved) n = s.reserved;
  format::seal_record(s.buf(s.cur) + s.used, record_type::message, 0, s.seq, now_ns(CLOCK_REALTIME),
                      now_ns(CLOCK_MONOTONIC), static_cast<std::uint32_t>(n));
  s.used += format::record_bytes(n);
  s.fresh = true;
  ++s.seq;
  ++s.records;
  ++s.part_records;
}

bool writer::append(std::span<const std::byte> payload) noexcept {
  std::span<std::byte> room = reserve(payload.size());
  if (room.size() < payload.size() || failed()) return false;
  if (!payload.empty()) std::memcpy(room.data(), payload.data(), payload.size());
  commit(payload.size());
  return !failed();
}

void writer::flush() noexcept {
  impl& s = *p_;
  s.reserving = false;
  s.submit_current();
  if (!s.failed) s.reap(false);
}

void writer::tick() noexcept {
  impl& s = *p_;
  if (s.failed) return;
  s.reap(false);
  if (s.opt.fsync == fsync_policy::interval && s.unsynced && s.sync_due()) {
    if (io_uring_sqe* f = s.sqe()) {
      io_uring_prep_fsync(f, s.fd, IORING_FSYNC_DATASYNC);
      f->flags |= IOSQE_IO_DRAIN;  // after every write before it
      f->user_data = fsync_tag;
      s.submit(1);
      s.unsynced = false;
    }
  }
}

result<void> writer::close() {
  if (!p_) return {};
  impl& s = *p_;
  result<void> r;
  if (s.fd >= 0 && !s.failed)
    r = s.finish_part(false);
  else if (s.failed)
    r = s.err;
  s.release();
  p_.reset();
  return r;
}

const ringport::error& writer::error() const noexcept {
  return p_ ? p_->err : no_error();
}
bool writer::failed() const noexcept {
  return p_ && p_->failed;
}
std::uint64_t writer::next_sequence() const noexcept {
  return p_ ? p_->seq : 0;
}
std::uint64_t writer::records() const noexcept {
  return p_ ? p_->records : 0;
}
std::uint32_t writer::part() const noexcept {
  return p_ ? p_->part : 0;
}

}  // namespace ringport::journal
