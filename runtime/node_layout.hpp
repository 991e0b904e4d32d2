// Private: the payload of a node segment ("node.<name>"), shared by the node
// code (node.cpp) and the inspection behind `ringport ls/stat/gc` (inspect.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringport/detail/cpu.hpp"
#include "ringport/detail/ring_layout.hpp"

namespace ringport::detail {

struct node_shared {
  // Who holds the name: pid + start time (detail::self_owner()), 0 = free.
  alignas(cache_line) std::atomic<std::uint64_t> owner;
  // Bumped by senders after they created or opened a link to this node.
  alignas(cache_line) std::atomic<std::uint32_t> links_gen;
  // Rung with links_gen, so receive_any() sleeping in wait_any() wakes up.
  alignas(cache_line) event_count doorbell;
};
static_assert(offsetof(node_shared, links_gen) == cache_line, "owner and links_gen on their own lines");
static_assert(offsetof(node_shared, doorbell) == 2 * cache_line, "the doorbell has its own line");

}  // namespace ringport::detail
