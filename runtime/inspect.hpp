// Private: who uses a segment, and what a domain holds (for `ringport ls`,
// `stat` and `gc`). Nothing here writes to a segment.
//
// Recorded users of a segment, each judged alive or dead from /proc by pid
// and process start time (never by pid alone, so a reused pid is dead):
//  - rings and mailboxes: every non-zero producer and consumer role slot
//    (ring_shared::producers / consumers; detail::owner_alive);
//  - node segments ("node.<name>"): the node's owner word;
//  - every segment: its creator (the header's creator_owner, pid + start
//    time, judged by detail::owner_alive). A creator that attached and
//    detached cannot be told from one that has not attached yet, so a live
//    creator always counts as a user;
//  - link mailboxes ("link.<from>.<to>"): also the two nodes, while a live
//    process holds either name (it may open the link at any time).
// A segment is stale when every recorded user is dead or absent. Its unread
// messages are the ring's or mailbox's fill (tail - head); raw and node
// segments hold none. A segment whose control block does not validate is
// "unknown": never stale, so nothing acts on what cannot be read.
//
// Limits: /proc is read in this process's pid namespace; users in another
// one look dead (run gc where the users run). A process that opens a
// segment and has not attached a role yet is not recorded anywhere, and
// raw segments record only their creator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringport/result.hpp"
#include "ringport/segment.hpp"

namespace ringport::detail {

/// How many recorded users of one kind are alive, how many dead.
struct user_count {
  unsigned alive = 0;
  unsigned dead = 0;
  void add(bool is_alive) noexcept { ++(is_alive ? alive : dead); }
};

/// One occupied role slot of a ring or mailbox.
struct role_holder {
  std::uint32_t slot = 0;  ///< index in the role table
  std::uint32_t pid = 0;
  bool alive = false;
  /// Multi-side roles: the end of this holder's last claim (its claim
  /// record), i.e. the next position it would take; single roles: the
  /// shared cursor (head or tail).
  std::uint64_t position = 0;
};

enum class usage : std::uint8_t { in_use, stale, unknown };
const char* to_string(usage u) noexcept;

struct segment_usage {
  segment_info info;
  usage state = usage::unknown;
  std::string reason;      ///< why unknown (empty otherwise)
  bool has_roles = false;  ///< a ring or mailbox whose role tables were read
  user_count producers, consumers;
  bool is_node = false;  ///< a node segment whose owner word was read
  user_count node_holder;
  bool creator_alive = false;
  bool creator_is_holder = false;  ///< the creator's pid is among the role/node holders
  bool is_link = false;            ///< "link.<from>.<to>"
  unsigned link_nodes_alive = 0;   ///< of the two nodes, how many a live process holds
  std::uint64_t unread = 0;        ///< queued messages (rings and mailboxes)
  /// Rings and mailboxes: the shared positions (items ever pushed: tail;
  /// ever popped: head; each read once, not together), and the parked
  /// registrations on the not-empty (consumers) and not-full (producers)
  /// event counts: waiters registered since the last wake-up, an upper
  /// bound on who sleeps now.
  std::uint64_t head = 0, tail = 0;
  std::uint32_t waiting_consumers = 0, waiting_producers = 0;
  std::vector<role_holder> producer_list, consumer_list;
  bool closed = false;
  /// Rings and mailboxes: reopens and resets so far (ring.hpp, "Reopen, reset").
  std::uint32_t generation = 0;
  /// Crash recovery so far (rings and mailboxes): messages of dead
  /// producers skipped, messages held by dead consumers, single-role takeovers,
  /// messages held by dead keeping receivers handed to their successors.
  std::uint64_t abandoned = 0, reclaimed = 0, takeovers = 0, kept = 0;
  /// Every recorded user: role or node holders, plus the creator when it is
  /// not one of them.
  user_count users() const noexcept;
};

/// Opens the segment named by `info` again and reports its users.
segment_usage inspect(const segment_info& info);

/// What a domain directory holds.
struct domain_contents {
  std::string domain;
  std::vector<std::string> dirs;  ///< the domain's directories that exist (huge pages first)
  std::string doorbell_file;      ///< path of the doorbell table, if it exists
  std::vector<segment_info> segments;
  /// Files at segment names that this build cannot open (another layout
  /// version, damaged, foreign): path and why. Never opened further.
  struct unreadable_file {
    std::string name, path, reason;
  };
  std::vector<unreadable_file> unreadable;
};
/// The domain's directories, valid segments and unreadable files at
/// segment names (dot-files are internal and left out). Errors: a bad domain name, no directory at all
/// (not_found), a directory that cannot be read or is not a real directory.
result<domain_contents> read_domain(std::string_view domain);
/// Names in `dir` other than "." and ".." (empty on error).
std::vector<std::string> dir_entries(const std::string& dir);

}  // namespace ringport::detail
