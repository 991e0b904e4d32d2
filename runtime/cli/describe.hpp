// What `ls`, `stat` and `top` say about a segment, shared by the text and
// the --json forms. The JSON field names are stable (documented in
// `ringport ls --help` and the README); new kinds add fields, never rename.
#pragma once

#include <functional>
#include <string>

#include "inspect.hpp"
#include "json.hpp"

namespace ringport::cli {

/// Rings and mailboxes: slots, a shared head and tail, role tables.
bool is_queue_kind(object_kind k) noexcept;
/// Largest message in bytes ("-" when the kind has no messages).
std::string max_message(const segment_info& info);
/// The CAPACITY column / stat line of a mailbox: "auto:N" for an automatic
/// one (N: what it has grown to), else the segment's capacity.
std::string capacity_text(const segment_info& info);

/// One segment as a JSON object: identity, state, users and, for queues,
/// a "queue" object with positions, fill, waiters and every role holder.
/// `extra` adds the caller's own fields (top's rates) before the object ends.
void describe(json& out, const detail::segment_usage& u, const std::function<void(json&)>& extra = {});
/// The "queue" object alone (describe() calls it).
void describe_queue(json& out, const detail::segment_usage& u);

/// Items a consumer at `position` has still to take when the producers are
/// at `tail` (0 when the position is not behind the tail).
std::uint64_t lag_of(std::uint64_t position, std::uint64_t tail) noexcept;

}  // namespace ringport::cli
