// The journal's on-disk layout (journal.hpp, README): encoding and checks of
// the part header and the record header. Byte offsets are fixed here and
// nowhere else; all integers are little-endian.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "ringport/crc32c.hpp"
#include "ringport/journal.hpp"

namespace ringport::journal::format {

static_assert(std::endian::native == std::endian::little,
              "the journal is little-endian; add byte swaps for a big-endian port");

inline constexpr char magic[8] = {'R', 'P', 'J', 'O', 'U', 'R', 'N', 'L'};

// Part header offsets.
inline constexpr std::size_t h_magic = 0;                    // 8 bytes
inline constexpr std::size_t h_version = 8;                  // u32
inline constexpr std::size_t h_header_bytes = 12;            // u32, 4096
inline constexpr std::size_t h_part = 16;                    // u32
inline constexpr std::size_t h_kind = 20;                    // u32 source_kind
inline constexpr std::size_t h_first_seq = 24;               // u64
inline constexpr std::size_t h_real = 32;                    // i64 ns
inline constexpr std::size_t h_mono = 40;                    // i64 ns
inline constexpr std::size_t h_elem = 48;                    // u32
inline constexpr std::size_t h_name_len = 52;                // u32, <= max_source_name
inline constexpr std::size_t h_name = 64;                    // name bytes
inline constexpr std::size_t h_crc = file_header_bytes - 4;  // u32 over bytes [0, h_crc)
static_assert(h_name + max_source_name < h_crc);

// Record header offsets.
inline constexpr std::size_t r_length = 0;     // u32 payload bytes
inline constexpr std::size_t r_type = 4;       // u16 record_type
inline constexpr std::size_t r_source = 6;     // u16
inline constexpr std::size_t r_seq = 8;        // u64
inline constexpr std::size_t r_real = 16;      // i64 ns
inline constexpr std::size_t r_mono = 24;      // i64 ns
inline constexpr std::size_t r_reserved = 32;  // u32, 0
inline constexpr std::size_t r_crc = 36;       // u32 over [0, 36) and the payload
static_assert(r_crc + 4 == record_header_bytes);

template <class T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

constexpr std::size_t padded(std::size_t n) noexcept {
  return (n + 7) & ~std::size_t{7};
}
/// Bytes a record of n payload bytes takes in the file.
constexpr std::size_t record_bytes(std::size_t n) noexcept {
  return record_header_bytes + padded(n);
}

/// Fills `out` (file_header_bytes) with a part header.
inline void encode_header(std::byte* out, const part_info& h) noexcept {
  std::memset(out, 0, file_header_bytes);
  std::memcpy(out + h_magic, magic, sizeof magic);
  store<std::uint32_t>(out + h_version, h.version);
  store<std::uint32_t>(out + h_header_bytes, file_header_bytes);
  store<std::uint32_t>(out + h_part, h.part);
  store<std::uint32_t>(out + h_kind, static_cast<std::uint32_t>(h.kind));
  store<std::uint64_t>(out + h_first_seq, h.first_sequence);
  store<std::int64_t>(out + h_real, h.created_realtime_ns);
  store<std::int64_t>(out + h_mono, h.created_monotonic_ns);
  store<std::uint32_t>(out + h_elem, h.element_size);
  const std::size_t n = h.source_name.size() < max_source_name ? h.source_name.size() : max_source_name;
  store<std::uint32_t>(out + h_name_len, static_cast<std::uint32_t>(n));
  std::memcpy(out + h_name, h.source_name.data(), n);
  store<std::uint32_t>(out + h_crc, crc32c(0, {out, h_crc}));
}

/// Checks and decodes a part header; an empty string on success, else why not.
inline std::string decode_header(std::span<const std::byte> in, part_info& h) {
  if (in.size() < file_header_bytes) return "shorter than its 4096-byte header";
  const std::byte* p = in.data();
  if (std::memcmp(p + h_magic, magic, sizeof magic) != 0) return "not a ringport journal (bad magic)";
  h.version = load<std::uint32_t>(p + h_version);
  if (h.version != format_version)
    return "journal format version " + std::to_string(h.version) + ", this build reads version " +
           std::to_string(format_version);
  if (load<std::uint32_t>(p + h_crc) != crc32c(0, {p, h_crc})) return "header CRC32C mismatch";
  if (load<std::uint32_t>(p + h_header_bytes) != file_header_bytes) return "header size is not 4096";
  const auto n = load<std::uint32_t>(p + h_name_len);
  if (n > max_source_name) return "source name longer than 255 bytes";
  h.part = load<std::uint32_t>(p + h_part);
  h.kind = static_cast<source_kind>(load<std::uint32_t>(p + h_kind));
  h.first_sequence = load<std::uint64_t>(p + h_first_seq);
  h.created_realtime_ns = load<std::int64_t>(p + h_real);
  h.created_monotonic_ns = load<std::int64_t>(p + h_mono);
  h.element_size = load<std::uint32_t>(p + h_elem);
  h.source_name.assign(reinterpret_cast<const char*>(p + h_name), n);
  return {};
}

/// Writes a record header (and its CRC over header and payload) at out; the
/// payload must already be at out + record_header_bytes, and the padding
/// after it is zeroed here.
inline void seal_record(std::byte* out, record_type type, std::uint16_t source, std::uint64_t seq,
                        std::int64_t real, std::int64_t mono, std::uint32_t length) noexcept {
  store<std::uint32_t>(out + r_length, length);
  store<std::uint16_t>(out + r_type, static_cast<std::uint16_t>(type));
  store<std::uint16_t>(out + r_source, source);
  store<std::uint64_t>(out + r_seq, seq);
  store<std::int64_t>(out + r_real, real);
  store<std::int64_t>(out + r_mono, mono);
  store<std::uint32_t>(out + r_reserved, 0);
  std::byte* payload = out + record_header_bytes;
  std::memset(payload + length, 0, padded(length) - length);
  const std::uint32_t crc = crc32c(crc32c(0, {out, r_crc}), {payload, length});
  store<std::uint32_t>(out + r_crc, crc);
}

}  // namespace ringport::journal::format
