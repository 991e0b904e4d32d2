// Length-prefixed frames (pump.hpp: a 4-byte little-endian length, then the
// payload) reassembled from a byte stream that arrives in pieces of any
// size: a single-shot receive's buffer or a multishot receive's provided
// buffers, with frames (and their length prefix) cut anywhere. A whole
// frame inside a piece is delivered from it in place; a frame cut at a
// piece's end is copied into a staging buffer and completed from the next.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "ringport/status.hpp"

namespace ringport::io_detail {

class frame_reader {
 public:
  static constexpr std::size_t prefix = 4;
  enum class fed : std::uint8_t {
    all,       ///< every byte of the piece is used (delivered or staged)
    blocked,   ///< deliver() answered would_block: feed the rest again later
    too_long,  ///< a frame longer than the maximum (bad_length())
    stopped,   ///< deliver() answered something else (last_status())
  };

  explicit frame_reader(std::size_t max_payload) : max_(max_payload), stage_(prefix + max_payload) {}

  /// Feeds `in`; `used` (out) counts the bytes taken from it. deliver(span)
  /// returns a status: ok takes the frame, would_block stops here.
  template <class Deliver>
  fed feed(std::span<const std::byte> in, std::size_t& used, Deliver&& deliver) {
    used = 0;
    for (;;) {
      if (staged_ != 0) {  // finish the frame begun in an earlier piece
        fill(in, used, prefix);
        if (staged_ < prefix) return fed::all;
        const std::uint32_t len = load(stage_.data());
        if (len > max_) return too_long(len);
        fill(in, used, prefix + len);
        if (staged_ < prefix + len) return fed::all;
        if (const fed f = hand(deliver, {stage_.data() + prefix, len}); f != fed::all) return f;
        staged_ = 0;
        continue;
      }
      const std::size_t rest = in.size() - used;
      if (rest == 0) return fed::all;
      if (rest >= prefix) {
        const std::uint32_t len = load(in.data() + used);
        if (len > max_) return too_long(len);
        if (rest >= prefix + len) {
          if (const fed f = hand(deliver, in.subspan(used + prefix, len)); f != fed::all) return f;
          used += prefix + len;
          continue;
        }
      }
      std::memcpy(stage_.data(), in.data() + used, rest);  // rest < prefix + len <= stage_.size()
      staged_ = rest;
      used = in.size();
      return fed::all;
    }
  }

  /// Inside a frame: some of it was received, not all.
  bool mid_frame() const noexcept { return staged_ != 0; }
  std::uint32_t bad_length() const noexcept { return bad_; }
  status last_status() const noexcept { return last_; }

 private:
  static std::uint32_t load(const std::byte* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, prefix);
    return v;  // little-endian hosts only (journal_format.hpp asserts it)
  }
  void fill(std::span<const std::byte> in, std::size_t& used, std::size_t upto) noexcept {
    if (staged_ >= upto) return;
    const std::size_t take = std::min(upto - staged_, in.size() - used);
    if (take == 0) return;  // (an empty piece may have no data pointer: memcpy must not see it)
    std::memcpy(stage_.data() + staged_, in.data() + used, take);
    staged_ += take;
    used += take;
  }
  fed too_long(std::uint32_t len) noexcept {
    bad_ = len;
    return fed::too_long;
  }
  template <class Deliver>
  fed hand(Deliver& deliver, std::span<const std::byte> frame) {
    last_ = deliver(frame);
    if (last_ == status::ok) return fed::all;
    return last_ == status::would_block ? fed::blocked : fed::stopped;
  }

  std::size_t max_;
  std::vector<std::byte> stage_;
  std::size_t staged_ = 0;
  std::uint32_t bad_ = 0;
  status last_ = status::ok;
};

}  // namespace ringport::io_detail
