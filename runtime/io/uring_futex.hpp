// The io_uring futex opcodes (Linux 6.7) for headers that predate them
// (Debian 12: liburing 2.3, kernel headers 6.1). The numbers are the
// kernel's ABI (include/uapi/linux/io_uring.h); they are checked against
// the last opcode these headers know, and at run time with
// IORING_REGISTER_PROBE before any use.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <cstring>

namespace ringport::uring {

// liburing 2.3 stops at IORING_OP_SENDMSG_ZC (48); 49 READ_MULTISHOT and
// 50 WAITID follow in 6.7's list, then the futex operations.
static_assert(IORING_OP_SENDMSG_ZC == 48, "io_uring opcode numbering differs from the one the shim assumes");
inline constexpr std::uint8_t op_futex_wait = 51;
inline constexpr std::uint8_t op_futex_waitv = 53;

/// futex2 flags (include/uapi/linux/futex.h, 6.7): a 32-bit word, shared
/// (FUTEX2_PRIVATE, 128, left out: the words are in shared memory).
inline constexpr std::uint32_t futex2_size_u32 = 0x02;
inline constexpr std::uint64_t futex_bitset_match_any = 0xffffffffu;

/// The kernel's struct futex_waitv (5.16).
struct futex_waitv {
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};
static_assert(sizeof(futex_waitv) == 24);

/// FUTEX_WAIT: sqe->fd = futex2 flags, addr = word, addr2 = expected value,
/// addr3 = wake mask; everything else zero (the kernel refuses otherwise).
inline void prep_futex_wait(io_uring_sqe* sqe, const std::uint32_t* word, std::uint32_t expected) noexcept {
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = op_futex_wait;
  sqe->fd = static_cast<std::int32_t>(futex2_size_u32);
  sqe->addr = reinterpret_cast<std::uintptr_t>(word);
  sqe->off = expected;  // the union member addr2
  sqe->addr3 = futex_bitset_match_any;
}

/// FUTEX_WAITV: addr = the entries (read at submission), len = how many.
inline void prep_futex_waitv(io_uring_sqe* sqe, const futex_waitv* v, unsigned n) noexcept {
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = op_futex_waitv;
  sqe->addr = reinterpret_cast<std::uintptr_t>(v);
  sqe->len = n;
}

}  // namespace ringport::uring
