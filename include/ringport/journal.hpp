// ringport/journal.hpp — record what flows through a mailbox or ring into an
// append-only file, read it back, replay it (the `io` layer; link
// ringport::io, which needs liburing).
//
// Writing: a journal_writer packs records into a few registered buffers
// (io_uring_register_buffers) and writes each full buffer, and each partial
// one at the end of a batch, with IORING_OP_WRITE_FIXED at its file offset.
// Every write carries IOSQE_IO_DRAIN, so the kernel runs them one after the
// other in file order: a process killed at any instant leaves a file whose
// bytes are the header, whole records in order, then at most one torn
// write. An fsync (IORING_OP_FSYNC, data-sync) is linked (IOSQE_IO_LINK)
// behind a write per the fsync policy: never, when the interval passed,
// or behind every write. Rotation starts a new part once a part would grow
// past rotate_bytes. O_DIRECT (options.direct) writes whole 4 KiB blocks:
// a partial last block is zero-filled, rewritten by the next write and cut
// to its real length by close().
//
// Format (version 1; little-endian; described in full in the README,
// "io_uring: journals, pumps, event loops"):
//   file header, 4096 bytes: magic "RPJOURNL", version, header size, part
//     number, first sequence, creation times, source kind, element size,
//     source name, CRC32C of the header's other bytes;
//   records from offset 4096, each 8-byte aligned: a 40-byte header
//     {length, type, source, sequence, realtime_ns, monotonic_ns, reserved,
//     crc32c} then `length` payload bytes, zero-padded to a multiple of 8.
//     The CRC32C covers the header's first 36 bytes and the payload. Types:
//     1 message; 2 end of part (payload: 8 bytes, 1 when part N+1 follows,
//     0 at a clean close).
//   Part 0 is at PATH, part N >= 1 at PATH.N.
//
// Reading trusts nothing: every length is checked against the file's size
// and the format's limits before use, and the first record that fails
// (length, type, sequence order or CRC) ends the readable part; its offset
// is reported and nothing after it is returned.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ringport/mailbox.hpp"
#include "ringport/result.hpp"
#include "ringport/status.hpp"

namespace ringport::journal {

inline constexpr std::uint32_t format_version = 1;
inline constexpr std::size_t file_header_bytes = 4096;
inline constexpr std::size_t record_header_bytes = 40;
inline constexpr std::size_t max_source_name = 255;
/// The longest payload a record may carry (the reader refuses longer).
inline constexpr std::size_t max_payload = std::size_t{1} << 26;  // 64 MiB

enum class record_type : std::uint16_t { message = 1, end = 2 };
enum class source_kind : std::uint32_t { mailbox = 1, ring = 2, other = 3 };
enum class fsync_policy : std::uint8_t { none, interval, every_batch };

struct writer_options {
  std::string source_name;                          ///< recorded in every part's header
  source_kind kind = source_kind::mailbox;          ///< what was recorded
  std::uint32_t element_size = 0;                   ///< a ring's item size (0: variable)
  fsync_policy fsync = fsync_policy::none;          ///< when to fdatasync
  std::chrono::milliseconds fsync_interval{10};     ///< with fsync_policy::interval
  std::uint64_t rotate_bytes = 0;                   ///< start a new part past this size (0: never)
  bool direct = false;                              ///< O_DIRECT (the filesystem must support it)
  std::size_t buffer_bytes = std::size_t{1} << 20;  ///< per registered buffer (multiple of 4096)
  unsigned buffers = 4;                             ///< registered buffers (2 .. 64)
  std::uint64_t first_sequence = 0;                 ///< sequence of the first record
  bool overwrite = false;                           ///< replace existing parts instead of failing
};

/// Appends records to a journal. Move-only; not thread-safe.
class writer {
 public:
  writer();
  writer(writer&&) noexcept;
  writer& operator=(writer&&) noexcept;
  ~writer();  ///< close()s, ignoring errors

  /// A new journal at `path` (errc::already_exists unless overwrite).
  static result<writer> create(std::string path, const writer_options& opt);

  /// Room for a payload of up to `max` bytes in the current buffer (empty
  /// after an I/O error or when max cannot fit a buffer: see error()).
  /// Finish with commit(); a new reserve() drops an uncommitted one.
  std::span<std::byte> reserve(std::size_t max) noexcept;
  /// Seals the reserved payload's first n bytes as the next record.
  void commit(std::size_t n) noexcept;
  /// reserve + copy + commit.
  bool append(std::span<const std::byte> payload) noexcept;
  /// End of a batch: starts the write of what is buffered (does not wait).
  void flush() noexcept;
  /// Housekeeping while idle: reaps completions, runs an interval fsync due.
  void tick() noexcept;
  /// Writes everything, waits for it, ends the part (clean close), closes.
  result<void> close();

  /// The first I/O error (then every call is a no-op), or none.
  const ringport::error& error() const noexcept;
  bool failed() const noexcept;
  std::uint64_t next_sequence() const noexcept;
  std::uint64_t records() const noexcept;  ///< records committed
  std::uint32_t part() const noexcept;     ///< current part number

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

/// One part's header as read from disk.
struct part_info {
  std::uint32_t version = 0;
  std::uint32_t part = 0;
  std::uint64_t first_sequence = 0;
  std::int64_t created_realtime_ns = 0;
  std::int64_t created_monotonic_ns = 0;
  source_kind kind = source_kind::other;
  std::uint32_t element_size = 0;
  std::string source_name;
};

struct entry {
  std::uint64_t sequence = 0;
  std::int64_t realtime_ns = 0;
  std::int64_t monotonic_ns = 0;
  std::uint16_t source = 0;
  std::span<const std::byte> payload;  ///< valid until the next call on the reader
  std::uint32_t part = 0;              ///< the part it is in
  std::uint64_t offset = 0;            ///< of its header in that part
};

/// What reader::next() found.
enum class read_result : std::uint8_t {
  record,    ///< a valid record
  end,       ///< the journal's clean end (a closed writer's end record)
  unclosed,  ///< the data stops without an end record: a writer still running or killed
  bad,       ///< a torn or corrupt record at bad_offset(): nothing past it is trusted
};

/// Reads the parts of a journal in order. Move-only.
class reader {
 public:
  reader();
  reader(reader&&) noexcept;
  reader& operator=(reader&&) noexcept;
  ~reader();
  /// Opens part 0 at path (errc::bad_magic, bad_version, corrupt for a bad header).
  static result<reader> open(std::string path);
  read_result next(entry& out) noexcept;
  const part_info& info() const noexcept;  ///< the current part's header
  /// Where the readable part stops (read_result::bad/unclosed): the part, the
  /// offset in it, and what was wrong there.
  std::uint32_t bad_part() const noexcept;
  std::uint64_t bad_offset() const noexcept;
  const std::string& problem() const noexcept;
  const std::string& current_path() const noexcept;
  /// After read_result::bad: whether a valid record header follows somewhere
  /// past the bad offset in that part (corruption in the middle rather than a
  /// torn tail). Scans the rest of the part.
  bool valid_record_after_bad() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

/// The path of part n of the journal at path (path itself for n == 0).
std::string part_path(std::string_view path, std::uint32_t n);

// ---- Recording and replay ----------------------------------------------

/// Where record() takes messages from: `take` copies the next message into
/// `into` (at least `max` bytes) and sets len, waiting until `deadline`
/// (time_point::min(): never waits); it returns what a receive returns.
struct source {
  void* ctx = nullptr;
  std::size_t max = 0;
  status (*take)(void* ctx, std::span<std::byte> into, std::size_t& len,
                 std::chrono::steady_clock::time_point deadline) noexcept = nullptr;
};
/// Where replay() sends messages: `put` sends one (0..max bytes), waiting
/// until `deadline`; it returns what a send returns.
struct sink {
  void* ctx = nullptr;
  std::size_t max = 0;
  status (*put)(void* ctx, std::span<const std::byte> msg,
                std::chrono::steady_clock::time_point deadline) noexcept = nullptr;
};

struct record_options {
  std::uint64_t count = 0;                  ///< stop after this many messages (0: no limit)
  std::chrono::milliseconds idle{0};        ///< stop after this long without one (0: never)
  const std::atomic<bool>* stop = nullptr;  ///< stop when it becomes true (checked every slice)
  std::chrono::milliseconds slice{50};      ///< longest sleep between checks
};

struct record_outcome {
  std::uint64_t messages = 0;
  status last = status::ok;  ///< closed when the source closed; ok otherwise
};

/// Drains src into w (one batch per burst of queued messages, received
/// straight into the registered buffers) until a stop condition, the
/// source's close, or an I/O error (the result's error). Does not close w.
result<record_outcome> record(const source& src, writer& w, const record_options& opt = {});
/// record() from a mailbox receiver.
result<record_outcome> record(mailbox_receiver& rx, writer& w, const record_options& opt = {});

struct replay_options {
  double pace = 0;                    ///< 0: as fast as possible; X: X times the recorded pace
  std::uint64_t from_sequence = 0;    ///< skip records before this sequence
  std::int64_t from_realtime_ns = 0;  ///< skip records stamped (CLOCK_REALTIME) earlier
  std::uint64_t count = 0;            ///< stop after this many (0: all)
  const std::atomic<bool>* stop = nullptr;
};

struct replay_outcome {
  std::uint64_t messages = 0;
  read_result end = read_result::end;  ///< how the journal ended
};

/// Sends the journal's records into dst in order (waiting for room), at the
/// pace asked. A record longer than dst.max fails the replay.
result<replay_outcome> replay(reader& r, const sink& dst, const replay_options& opt = {});
/// replay() into a mailbox sender.
result<replay_outcome> replay(reader& r, mailbox_sender& tx, const replay_options& opt = {});

/// A source that pops items of T from a ring's consumer handle (record
/// with writer_options::kind = ring and element_size = sizeof(T)).
template <class T, class Consumer>
source ring_source(Consumer& c) noexcept {
  return {&c, sizeof(T),
          [](void* ctx, std::span<std::byte> into, std::size_t& len,
             std::chrono::steady_clock::time_point deadline) noexcept {
            auto& h = *static_cast<Consumer*>(ctx);
            T item;
            const status s = deadline == std::chrono::steady_clock::time_point::min()
                                 ? h.try_pop(item)
                                 : h.pop_until(item, deadline);
            if (s == status::ok) {
              std::memcpy(into.data(), &item, sizeof(T));
              len = sizeof(T);
            }
            return s;
          }};
}
/// A sink that pushes records of exactly sizeof(T) bytes into a ring's
/// producer handle (any other length: status::too_large).
template <class T, class Producer>
sink ring_sink(Producer& p) noexcept {
  return {
      &p, sizeof(T),
      [](void* ctx, std::span<const std::byte> msg, std::chrono::steady_clock::time_point deadline) noexcept {
        if (msg.size() != sizeof(T)) return status::too_large;
        T item;
        std::memcpy(&item, msg.data(), sizeof(T));
        return static_cast<Producer*>(ctx)->push_until(item, deadline);
      }};
}

/// When record r (recorded at monotonic time `mono`) is due, for a replay
/// that started at `start` with the first record at `first_mono`.
std::chrono::steady_clock::time_point due_time(std::chrono::steady_clock::time_point start,
                                               std::int64_t first_mono, std::int64_t mono,
                                               double pace) noexcept;

}  // namespace ringport::journal
