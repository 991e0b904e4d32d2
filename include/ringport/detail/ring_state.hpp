// ringport/detail/ring_state.hpp — a ring's segment, validated view and roles.
//
// Non-template, out-of-line control path shared by every ring kind and by
// mailboxes: create/open the segment, validate the geometry once into a
// process-local ring_view, attach/detach producer and consumer roles, check
// peer liveness, close, reopen, reset.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ringport/detail/process.hpp"
#include "ringport/detail/ring_engine.hpp"
#include "ringport/result.hpp"
#include "ringport/segment.hpp"

namespace ringport {

/// Options for creating a ring (or the ring under a mailbox).
struct ring_options {
  std::size_t capacity = 1024;  ///< slots; a power of two from 1 to 2^32
  pages backing = pages::any;
  std::string domain;         ///< empty: RINGPORT_DOMAIN, else "default"
  bool group_access = false;  ///< mode 0660 instead of 0600
  bool lock_memory = false;   ///< mlock the ring
  /// When the name exists: fail, open, or replace if no user lives (segment.hpp).
  existing if_exists = existing::fail;
};

/// How long a position claimed by another process may stay unfinished
/// before a blocked side checks whether its claimer died (and, if so,
/// settles it: ring_engine.hpp, "Crashes"). Default 100 ms, or
/// RINGPORT_RECOVERY_MS; applies to this process.
void set_recovery_delay(std::chrono::milliseconds d) noexcept;
std::chrono::milliseconds recovery_delay() noexcept;

/// Crash-recovery counters of one ring or mailbox (for `ringport stat`).
struct recovery_stats {
  std::uint64_t abandoned = 0;  ///< positions of dead producers skipped: messages lost
  std::uint64_t reclaimed = 0;  ///< messages a dead consumer held, handed back: lost
  std::uint64_t takeovers = 0;  ///< single roles taken over from a dead holder
  std::uint64_t kept = 0;       ///< messages a dead keeping receiver held, given to its successor
};

namespace detail {

/// Bytes of payload a ring of this shape needs, and its geometry.
ring_geometry make_geometry(object_kind kind, std::uint64_t capacity, std::uint64_t element_size,
                            std::uint64_t element_align, std::uint32_t extra_bytes = 0) noexcept;
/// Offset of the extra region from the payload start.
std::uint64_t extra_offset(const ring_geometry& g) noexcept;
bool kind_has_turns(object_kind kind) noexcept;
bool kind_single(object_kind kind, role r) noexcept;

/// Test hook: reset() calls it after marking the ring, before rewriting it
/// (a test kills the process there). Null in normal use.
inline void (*reset_hook)() = nullptr;

class ring_state {
 public:
  static result<std::shared_ptr<ring_state>> create(std::string_view name, object_kind kind,
                                                    std::uint64_t element_size, std::uint64_t element_align,
                                                    const ring_options& opt, std::uint32_t extra_bytes = 0);
  static result<std::shared_ptr<ring_state>> create_local(object_kind kind, std::uint64_t element_size,
                                                          std::uint64_t element_align,
                                                          const ring_options& opt,
                                                          std::uint32_t extra_bytes = 0);
  static result<std::shared_ptr<ring_state>> open(std::string_view name, object_kind kind,
                                                  std::uint64_t element_size, std::uint64_t element_align,
                                                  std::string_view domain, std::uint32_t extra_bytes = 0);

  const ring_view& view() const noexcept { return view_; }
  /// The extra region (extra_bytes long, cache-line aligned), or null.
  std::byte* extra() const noexcept { return extra_; }
  const segment_info& info() const noexcept { return seg_.info(); }
  object_kind kind() const noexcept { return kind_; }

  /// Registers this process in a role slot; returns the slot index.
  result<std::size_t> attach(role r);
  /// A slot in role r for a keeping receiver or sender (ring_recovery.hpp,
  /// "Kept claims"; tag non-zero, multi sides only): the slot of a dead
  /// holder whose record carries `tag`, taken over record and all
  /// (*inherited true: resolve_kept() next), else a slot as attach() gives,
  /// tagged.
  result<std::size_t> attach_keeping(role r, std::uint64_t tag, bool& inherited);
  void detach(role r, std::size_t slot) noexcept;
  /// False only when at least one attached peer in role r died and none is
  /// alive: the wait loops turn that into status::peer_gone.
  bool peers_alive(role r) const noexcept;
  peer_counts peers() const noexcept;

  void close() noexcept;
  bool closed() const noexcept {
    // A-CLOSE: pairs with R-CLOSE in close() and R-REOPEN in reopen().
    return (view_.shared->closed.load(std::memory_order_acquire) & state_closed) != 0;
  }
  /// Clears the closed bit and bumps the generation in one CAS; false (and
  /// nothing changes) when the ring was open. See ring.hpp, "Reopen, reset".
  bool reopen() noexcept;
  /// How many times the ring was reopened or reset (mod 2^30).
  std::uint32_t generation() const noexcept {
    return (view_.shared->closed.load(std::memory_order_acquire) & state_generation_mask) >> 1;
  }
  /// Back to empty and open (a new generation) when no live process holds
  /// a role; errc::busy otherwise (nothing changes). A reset killed midway
  /// leaves the ring marked (state_resetting): attach() refuses it with
  /// errc::busy until another reset completes the rewrite.
  result<void> reset();
  std::uint64_t size() const noexcept;
  recovery_stats recovery() const noexcept;

 private:
  static result<std::shared_ptr<ring_state>> adopt(segment seg, object_kind kind, std::uint64_t element_size,
                                                   std::uint64_t element_align, std::uint32_t extra_bytes);
  segment seg_;
  std::byte* extra_ = nullptr;
  ring_view view_{};
  object_kind kind_ = object_kind::raw;
};

}  // namespace detail
}  // namespace ringport
