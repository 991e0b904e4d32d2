// Helpers of the automatic-buffering tests (test_mailbox_auto*.cpp).
#pragma once

#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "ringport/mailbox.hpp"

namespace auto_test {

struct note {
  std::uint32_t sender, seq;
};
constexpr std::size_t note_slot = 24;  // 16-byte header + 8 bytes, already a multiple of 8

/// n value-initialised T in memory shared with the children forked later.
template <class T>
T* shared_block(std::size_t n = 1) {
  void* p = ::mmap(nullptr, sizeof(T) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  return new (p) T[n]();
}

/// An automatic mailbox of notes (normal pages: no huge-page notice).
inline ringport::mailbox make_auto(const char* name, std::uint64_t max_bytes) {
  ringport::mailbox_options o;
  o.capacity = ringport::automatic_buffering;
  o.max_message_size = sizeof(note);
  o.max_bytes = max_bytes;
  o.backing = ringport::pages::normal;
  auto b = ringport::mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  REQUIRE(b->is_automatic());
  return std::move(*b);
}

/// In a forked child: mailbox `name` opened again and a sender on it, or
/// _exit(10) (no mailbox) / _exit(11) (no sender).
struct child_sender {
  ringport::mailbox box;
  ringport::mailbox_sender tx;
};
inline child_sender open_child_sender(const char* name) {
  auto b = ringport::mailbox::open(name);
  if (!b) _exit(10);
  auto tx = b->sender();
  if (!tx) _exit(11);
  return {std::move(*b), std::move(*tx)};
}
/// In a forked child: notes (s, 0) .. (s, n - 1), each accepted at once, or _exit(12).
inline void send_or_exit(ringport::mailbox_sender& tx, std::uint32_t s, std::uint32_t n) {
  for (std::uint32_t q = 0; q < n; ++q)
    if (tx.try_send(note{s, q}) != ringport::status::ok) _exit(12);
}

inline bool gen_exists(const char* name, std::uint32_t g) {
  ringport::segment_options so;
  so.kind = ringport::object_kind::mailbox;
  return static_cast<bool>(ringport::segment::open(std::string(name) + ".g" + std::to_string(g), so));
}

}  // namespace auto_test
