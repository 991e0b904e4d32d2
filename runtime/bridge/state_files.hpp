// Private to ringport::bridge: the two small memory-mapped files that let a
// bridge survive its own crash (see ringport/bridge.hpp, "Delivery").
//  - journal: run_out()'s in-flight window. Header {magic, epoch, window,
//    slot_bytes, acked, next}; slot seq % window holds message seq while
//    acked <= seq < next, with its origin (the mailbox's instance and the
//    message's position there). Messages below `acked` are in JetStream.
//  - seen_table: run_in()'s highest delivered sequence per source, and the
//    one message it is sending: {sequence, entry, mailbox, position},
//    valid while the sequence word (stored last, 8 bytes) is not 0.
// Every field read from a file is checked before use (a bad one is
// failure::state, never an out-of-bounds access). Stores that mark progress
// are single aligned 8-byte stores (std::atomic_ref), so a SIGKILL never
// leaves a torn counter; nothing is fsynced (process crash, not power loss).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringport::bridge::detail {

/// A file mapped MAP_SHARED; unmapped and closed on destruction.
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(mapped_file&& o) noexcept;
  mapped_file& operator=(mapped_file&& o) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();
  /// Opens or creates `path` (mode 0600) and maps its first `bytes` bytes
  /// (growing the file to that size). `fresh`: the file was empty.
  static std::optional<mapped_file> open(const std::string& path, std::size_t bytes, bool& fresh,
                                         std::string& err);
  std::byte* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t n_ = 0;
};

/// mkdir -p `dir` (mode 0700); false with a reason in err.
bool ensure_state_dir(const std::string& dir, std::string& err);
/// The directory of the state files: `given`, else RINGPORT_BRIDGE_DIR,
/// else /var/tmp/ringport-bridge.
std::string state_dir_of(const std::string& given);

class journal {
 public:
  /// Opens or creates the journal. An existing one must have the same
  /// geometry, unless it holds no unacknowledged message (then it is
  /// re-laid out, keeping its epoch and sequence).
  static std::optional<journal> open(const std::string& path, std::uint32_t window, std::uint32_t slot_bytes,
                                     std::string& err);
  std::uint64_t epoch() const noexcept;
  std::uint64_t acked() const noexcept;
  std::uint64_t next() const noexcept;
  std::uint32_t window() const noexcept { return window_; }
  /// Where a message came from: the mailbox (its creation time) and its
  /// position there (mailbox_receiver::position()).
  struct origin {
    std::uint64_t mailbox = 0, position = 0;
    bool operator==(const origin&) const = default;
  };
  /// Copies msg (len <= slot_bytes) and its origin into the slot of next(),
  /// then advances next() (one 8-byte store: the message is in from there).
  void append(std::span<const std::byte> msg, origin from) noexcept;
  /// The origin of the last message appended (next() - 1), while its slot
  /// still holds it (always: a slot is reused only by the next lap).
  std::optional<origin> last_origin() const noexcept;
  /// Message seq (acked() <= seq < next()), checked; nullopt when the slot is bad.
  std::optional<std::span<const std::byte>> entry(std::uint64_t seq) const noexcept;
  /// Every message below seq is acknowledged (seq <= next()).
  void acknowledge(std::uint64_t seq) noexcept;

 private:
  std::byte* slot(std::uint64_t seq) const noexcept;
  mapped_file f_;
  std::uint32_t window_ = 0, slot_bytes_ = 0;
};

class seen_table {
 public:
  static constexpr std::size_t max_sources = 256;
  static constexpr std::size_t max_source_len = 239;
  static std::optional<seen_table> open(const std::string& path, std::string& err);
  /// The highest delivered sequence of `source`, added (0: none yet) when
  /// new; nullptr when the source is too long or the table is full.
  std::uint64_t* last_of(std::string_view source) noexcept;
  static std::uint64_t load(const std::uint64_t* w) noexcept;
  static void store(std::uint64_t* w, std::uint64_t v) noexcept;

  /// The message being sent: sequence seq of the source whose word is
  /// `last`, claimed at `position` of the mailbox made at `mailbox`.
  struct sending {
    std::uint64_t* last = nullptr;
    std::uint64_t seq = 0, mailbox = 0, position = 0;
  };
  /// Records it (the sequence last); clear_sending() once its fate is
  /// recorded in *last.
  void set_sending(const sending& s) noexcept;
  void clear_sending() noexcept;
  /// What a killed run left, checked (nullopt: nothing, or a bad entry).
  std::optional<sending> left_sending() noexcept;

 private:
  mapped_file f_;
};

/// "<source>/<seq>" with seq decimal, 1 .. 2^63: source and seq, else nullopt.
std::optional<std::pair<std::string_view, std::uint64_t>> split_msg_id(std::string_view id) noexcept;

}  // namespace ringport::bridge::detail
