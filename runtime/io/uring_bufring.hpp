// A provided buffer ring (Linux 5.19) for multishot receive. liburing 2.3
// (Debian 12) registers one (io_uring_register_buf_ring) and fills it
// (io_uring_buf_ring_add / _advance) but has no io_uring_setup_buf_ring
// (2.4) to allocate it: this maps the ring's memory itself. Whether the
// kernel has buffer rings is found out at run time: registering fails
// (-EINVAL) where it does not.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringport::uring {

class buf_ring {
 public:
  buf_ring() = default;
  buf_ring(const buf_ring&) = delete;
  buf_ring& operator=(const buf_ring&) = delete;
  /// Unmaps; the io_uring must be gone or the group unregistered first.
  ~buf_ring() {
    if (br_ != nullptr) ::munmap(br_, map_bytes());
  }

  /// Registers `entries` (a power of two, at most 32768) buffers of `size`
  /// bytes as buffer group `bgid` of `ring`, all given to the kernel.
  /// Returns 0 or -errno (-EINVAL: the kernel has no buffer rings).
  int setup(io_uring* ring, std::uint16_t bgid, unsigned entries, unsigned size) {
    if (entries == 0 || (entries & (entries - 1)) != 0 || entries > 32768) return -EINVAL;
    entries_ = entries;
    size_ = size;
    void* m = ::mmap(nullptr, map_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -errno;
    br_ = static_cast<io_uring_buf_ring*>(m);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
    reg.ring_entries = entries;
    reg.bgid = bgid;
    if (const int rc = io_uring_register_buf_ring(ring, &reg, 0); rc < 0) return rc;
    bgid_ = bgid;
    data_.resize(std::size_t{entries} * size);
    for (unsigned b = 0; b < entries; ++b)
      io_uring_buf_ring_add(br_, buffer(b), size, static_cast<std::uint16_t>(b), mask(), static_cast<int>(b));
    io_uring_buf_ring_advance(br_, static_cast<int>(entries));
    return 0;
  }

  std::uint16_t group() const noexcept { return bgid_; }
  unsigned entries() const noexcept { return entries_; }
  unsigned size() const noexcept { return size_; }
  std::byte* buffer(unsigned bid) noexcept { return data_.data() + std::size_t{bid} * size_; }

  /// Hands buffer `bid` back to the kernel (at the ring's tail: the kernel
  /// fills buffers in the order they were given back).
  void give_back(unsigned bid) noexcept {
    io_uring_buf_ring_add(br_, buffer(bid), size_, static_cast<std::uint16_t>(bid), mask(), 0);
    io_uring_buf_ring_advance(br_, 1);
  }

 private:
  int mask() const noexcept { return static_cast<int>(entries_ - 1); }
  std::size_t map_bytes() const noexcept { return std::size_t{entries_} * sizeof(io_uring_buf); }

  io_uring_buf_ring* br_ = nullptr;
  std::vector<std::byte> data_;
  unsigned entries_ = 0, size_ = 0;
  std::uint16_t bgid_ = 0;
};

}  // namespace ringport::uring
