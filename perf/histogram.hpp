// A log-linear latency histogram in the style of HdrHistogram: values below
// 64 get a bucket each; above, every power of two is split into 64 equal
// sub-buckets, so a bucket is at most 1/64 (1.6%) of its values wide. Fixed
// size and free of pointers, so it can live in memory shared by processes.
// Percentiles walk the bucket counts; no sample array is kept or sorted.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace bench {

class histogram {
 public:
  static constexpr unsigned sub_bits = 6;
  static constexpr std::uint64_t sub = 1ULL << sub_bits;
  static constexpr unsigned bucket_count = sub + (64 - sub_bits) * sub;

  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    min_ = total_ == 0 ? v : std::min(min_, v);
    max_ = std::max(max_, v);
    ++total_;
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return min_; }
  std::uint64_t max() const noexcept { return max_; }

  /// The value at quantile q (0..1]: the highest value of the bucket that
  /// holds the ceil(q * count)-th smallest sample, capped at the maximum.
  std::uint64_t percentile(double q) const noexcept {
    if (total_ == 0) return 0;
    const double want = std::ceil(q * static_cast<double>(total_));
    const std::uint64_t rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(want), 1, total_);
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
  }

  static constexpr unsigned index(std::uint64_t v) noexcept {
    if (v < sub) return static_cast<unsigned>(v);
    const unsigned e = 63U - static_cast<unsigned>(std::countl_zero(v));  // >= sub_bits
    const unsigned shift = e - sub_bits;
    const std::uint64_t top = v >> shift;  // in [sub, 2*sub)
    return static_cast<unsigned>(sub + shift * sub + (top - sub));
  }

  static constexpr std::uint64_t highest_in(unsigned i) noexcept {
    if (i < sub) return i;
    const unsigned shift = (i - static_cast<unsigned>(sub)) / static_cast<unsigned>(sub);
    const std::uint64_t top = sub + (i - sub) % sub;
    return (top << shift) + ((1ULL << shift) - 1);
  }

 private:
  std::uint64_t counts_[bucket_count] = {};
  std::uint64_t total_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
};

static_assert(histogram::index(63) == 63 && histogram::index(64) == 64);
static_assert(histogram::index(127) == 127 && histogram::index(128) == 128);
static_assert(histogram::highest_in(histogram::index(1000)) >= 1000);
static_assert(histogram::index(~0ULL) == histogram::bucket_count - 1);

}  // namespace bench
