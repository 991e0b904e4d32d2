// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI, ext4 and
// btrfs use it. x86-64 with SSE4.2 uses the crc32 instruction (chosen once at
// run time); everything else, ARM64 included, uses a slice-by-8 table, so the
// journal needs no CPU feature anywhere.
#include "ringport/crc32c.hpp"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ringport {
namespace {

constexpr std::uint32_t poly = 0x82F63B78u;

using table_t = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr table_t make_tables() {
  table_t t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::uint32_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}
constexpr table_t tables = make_tables();

std::uint32_t update_table(std::uint32_t c, const unsigned char* p, std::size_t n) noexcept {
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    w ^= c;
    c = tables[7][w & 0xff] ^ tables[6][(w >> 8) & 0xff] ^ tables[5][(w >> 16) & 0xff] ^
        tables[4][(w >> 24) & 0xff] ^ tables[3][(w >> 32) & 0xff] ^ tables[2][(w >> 40) & 0xff] ^
        tables[1][(w >> 48) & 0xff] ^ tables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- != 0) c = (c >> 8) ^ tables[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
[[gnu::target("sse4.2")]] std::uint32_t update_sse42(std::uint32_t c, const unsigned char* p,
                                                     std::size_t n) noexcept {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n-- != 0) c = _mm_crc32_u8(c, *p++);
  return c;
}
using update_fn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t) noexcept;
update_fn pick() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") ? &update_sse42 : &update_table;
}
const update_fn update = pick();
#else
constexpr auto update = &update_table;
#endif

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> data) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return ~update(~crc, p, data.size());
}

std::uint32_t crc32c_portable(std::uint32_t crc, std::span<const std::byte> data) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return ~update_table(~crc, p, data.size());
}

}  // namespace ringport
