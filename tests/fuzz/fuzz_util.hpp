// Helpers shared by the libFuzzer targets: reading the input, a private
// segment root, seed files, checks, and where a ring's shared words are.
//
// The layout is found through the public API (a consumer's readable() points
// at the ring's "not empty" event count) and the layout structs by name
// (offsetof), never through hard-coded offsets, so the targets follow layout
// changes of ring_layout.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "ringport/detail/ring_layout.hpp"
#include "ringport/segment.hpp"
#include "ringport/wait.hpp"

namespace fuzz {

/// Reads the fuzz input front to back; past its end every read is 0.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  std::size_t left() const { return n_; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | u8() << 8); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16() | std::uint32_t{u16()} << 16); }
  std::uint64_t u64() { return u32() | std::uint64_t{u32()} << 32; }
  /// A number below n (n >= 1), from one byte when n <= 256.
  std::size_t below(std::size_t n) { return n <= 256 ? u8() % n : u32() % n; }
  bool bit() { return (u8() & 1) != 0; }
  /// The rest of the input.
  std::span<const std::uint8_t> rest() {
    std::span<const std::uint8_t> r(p_, n_);
    p_ += n_;
    n_ = 0;
    return r;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// Fails the run (libFuzzer saves the input as a crash artifact).
[[noreturn]] void fail(const char* what, const char* file, int line);
#define FUZZ_CHECK(cond)                                  \
  do {                                                    \
    if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)

/// Points RINGPORT_SHM_DIR at a new private directory (removed at exit,
/// under RINGPORT_FUZZ_TMP or /dev/shm), disables huge pages for the run
/// (RINGPORT_HUGETLBFS at a directory that is not hugetlbfs) and silences
/// notices. Returns the root.
const std::string& private_root();
/// The domain directory of `domain` under the private root (created, 0700).
std::string domain_dir(const std::string& domain);

/// When RINGPORT_FUZZ_SEEDS names a directory: writes the seeds that
/// make() returns there (seed-000, seed-001, ...) and exits 0.
void seeds_mode(std::vector<std::vector<std::uint8_t>> (*make)());

/// Little-endian byte builders for seeds.
void put_u8(std::vector<std::uint8_t>& out, std::uint64_t v);
void put_u32(std::vector<std::uint8_t>& out, std::uint64_t v);
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v);

/// A ring's shared control block and regions, found from a consumer's (or
/// receiver's) readable() and checked against the segment's payload size.
struct ring_map {
  ringport::detail::ring_shared* shared = nullptr;
  ringport::detail::ring_geometry geo{};  // copied before any corruption
  std::atomic<std::uint64_t>* turns = nullptr;
  std::byte* payload = nullptr;
  std::size_t payload_size = 0;
  std::byte* data = nullptr;
  std::byte* data_end = nullptr;
  std::byte* extra = nullptr;  // the layer above's region (mailbox acknowledgements), or null

  /// True when p starts a slot and [p, p + bytes) lies inside the slots.
  bool in_slots(const void* p, std::size_t bytes) const;
  /// True when p is `offset` bytes into a slot and [p, p + bytes) lies
  /// inside that one slot.
  bool in_one_slot(const void* p, std::size_t bytes, std::size_t offset) const;
};
ring_map locate(const ringport::waitable& w, const ringport::segment_info& info);

/// One shared word the input may overwrite (either width).
struct word {
  std::atomic<std::uint64_t>* w64 = nullptr;
  std::atomic<std::uint32_t>* w32 = nullptr;
};
/// Every control word of the ring: geometry, positions, close flag, both
/// event counts, every role slot, claim record and recovery counter, and
/// every turn.
std::vector<word> control_words(const ring_map& m);
/// A value decoded from the input to replace `cur`: a small step from it, a
/// step of whole laps, a raw value, or one of the values rings care about.
std::uint64_t mutate(std::uint64_t cur, input& in, std::uint64_t capacity);
/// Overwrites w with mutate(its current value).
void overwrite(const word& w, input& in, std::uint64_t capacity);

}  // namespace fuzz
