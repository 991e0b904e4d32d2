// ringport/crc32c.hpp — CRC32C (Castagnoli), the journal's record checksum.
//
// crc32c(0, "123456789") == 0xE3069283 (the check value of CRC-32C). Chain
// calls to checksum pieces: crc32c(crc32c(0, a), b) == crc32c(0, a + b).
// crc32c() uses the SSE4.2 crc32 instruction where the CPU has it (checked
// once at run time) and a slice-by-8 table elsewhere (ARM64 included);
// crc32c_portable() is always the table, for tests that compare the two.
#pragma once

#include <cstdint>
#include <span>

namespace ringport {

std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> data) noexcept;
std::uint32_t crc32c_portable(std::uint32_t crc, std::span<const std::byte> data) noexcept;

}  // namespace ringport
