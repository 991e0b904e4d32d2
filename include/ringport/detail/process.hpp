// ringport/detail/process.hpp — who a process is, as shared memory records it.
//
// An owner word identifies one process for as long as the machine runs:
// bits 0..23 its pid, bits 24..63 its start time in clock ticks since boot
// (/proc/<pid>/stat field 22), so that a reused pid never passes for a dead
// owner. 0 means nobody. Role slots, node holders and segment creators all
// record owner words; this is the one place that makes and judges them.
// Judged in this process's pid namespace (see the README's limits).
#pragma once

#include <cstdint>

namespace ringport::detail {

inline constexpr unsigned owner_pid_bits = 24;
inline constexpr std::uint64_t owner_pid_mask = (std::uint64_t{1} << owner_pid_bits) - 1;

inline std::uint32_t owner_pid(std::uint64_t owner) noexcept {
  return static_cast<std::uint32_t>(owner & owner_pid_mask);
}

/// This process's owner word (recomputed after fork).
std::uint64_t self_owner() noexcept;
/// True when the process an owner word names still runs (not a zombie).
bool owner_alive(std::uint64_t owner) noexcept;
/// Start time (clock ticks since boot) of a process that exists and is not
/// a zombie; false otherwise.
bool process_start_time(std::uint32_t pid, std::uint64_t& start) noexcept;

}  // namespace ringport::detail
