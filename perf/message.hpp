// Benchmark payloads: fixed-size messages stamped with who sent them and a
// sequence number, checked by the receiver.
//
// A message of N bytes carries one 64-bit stamp in its first and its last
// word; a receiver that sees the two differ has read a torn copy. The words
// between keep whatever the sender's buffer held: every transport still
// moves all N bytes. Stamp layout: bit 63 end-of-stream marker, bits 48..62
// producer index, bits 0..47 sequence number.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bench {

inline constexpr std::uint64_t end_bit = 1ULL << 63;
inline constexpr std::uint64_t seq_mask = (1ULL << 48) - 1;

constexpr std::uint64_t make_stamp(unsigned producer, std::uint64_t seq) noexcept {
  return (std::uint64_t{producer} << 48) | (seq & seq_mask);
}
constexpr std::uint64_t end_stamp(unsigned producer) noexcept {
  return end_bit | make_stamp(producer, 0);
}
constexpr bool is_end(std::uint64_t s) noexcept {
  return (s & end_bit) != 0;
}
constexpr unsigned producer_of(std::uint64_t s) noexcept {
  return static_cast<unsigned>((s >> 48) & 0x7fff);
}
constexpr std::uint64_t seq_of(std::uint64_t s) noexcept {
  return s & seq_mask;
}

template <std::size_t N>
struct message {
  static_assert(N >= 8 && N % 8 == 0, "messages are whole 64-bit words");
  static constexpr std::size_t bytes = N;
  std::uint64_t w[N / 8];

  void put(std::uint64_t stamp) noexcept {
    w[0] = stamp;
    w[N / 8 - 1] = stamp;
  }
  /// The stamp, or false when the first and last words disagree (torn copy).
  bool get(std::uint64_t& stamp) const noexcept {
    stamp = w[0];
    return w[0] == w[N / 8 - 1];
  }
};

}  // namespace bench
