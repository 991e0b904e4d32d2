// ringport/detail/segment_header.hpp — the first bytes of every segment file.
//
// The creator fills every field, initialises the object payload, and only
// then stores init_state = ready with release; it does all of that under a
// temporary name and links the file to its real name afterwards (see
// segment.hpp), so a file at a real name is normally ready already. A process
// that opens the file checks magic and version first (a foreign file is
// refused at once), reads init_state with acquire (pairs with that release)
// before trusting any other byte, then validates every field against the
// file's real size. The header is never trusted after validation: users copy
// what they need into process-local variables once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ringport::detail {

inline constexpr std::uint64_t segment_magic = 0x54524f50474e4952ULL;  // "RINGPORT"
// Layout versions: 2 event_count.bells; 3 claim records; 4 creator_owner;
// 5 the fence mode moved into `waiters`.
inline constexpr std::uint32_t layout_version = 6;  // 6: the herd bit in `waiters` (counted wake-ups)
inline constexpr std::size_t header_bytes = 512;    // payload starts here (aligned)

enum class init_state : std::uint32_t { initialising = 0, ready = 1, failed = 2 };

struct segment_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t kind;            // ringport::object_kind
  std::uint64_t element_size;    // bytes per slot, 0 for raw segments
  std::uint64_t capacity;        // slots, 0 for raw segments
  std::uint64_t total_size;      // whole file, header included
  std::uint64_t payload_offset;  // == header_bytes
  std::uint64_t payload_size;    // bytes the object may use
  std::uint32_t cache_line;      // detail::cache_line of the creator
  std::uint32_t arch;            // detail::arch_id of the creator
  std::uint32_t creator_pid;
  std::uint32_t flags;               // reserved, 0
  std::uint64_t created_ns;          // CLOCK_REALTIME at creation
  std::uint64_t page_size;           // page size backing the mapping
  std::atomic<std::uint32_t> state;  // init_state; written last (release)
  std::uint32_t reserved0;
  // The creator's owner word (pid + process start time, detail::self_owner()),
  // so that a dead creator is told from a live process that reused its pid.
  std::uint64_t creator_owner;
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(segment_header) <= header_bytes, "header must fit before the payload");
static_assert(offsetof(segment_header, state) == 88, "layout change: bump layout_version");
static_assert(offsetof(segment_header, creator_owner) == 96, "layout change: bump layout_version");
static_assert(header_bytes % 128 == 0, "payload must start on a cache line on every target");

}  // namespace ringport::detail
