// ringport/pump.hpp — pumps between mailboxes and stream sockets through
// io_uring (the `io` layer; link ringport::io).
//
// A pump_loop drives any number of pumps from one thread:
//  - to_socket(rx, fd): takes the messages of a mailbox receiver and writes
//    them to a connected stream socket (TCP or Unix) as frames;
//  - from_socket(fd, tx): reads frames from a socket and sends each message
//    into a mailbox.
// Frame: a 4-byte little-endian payload length, then the payload (at most
// the mailbox's max_message_size; a longer frame is a protocol error).
//
// Back-pressure, never loss: a full mailbox stops a from_socket pump
// reading its socket (it retries the send every millisecond; the kernel's
// socket buffer, then TCP's window, hold the peer back); a slow socket
// stops a to_socket pump draining its mailbox (one send in flight per pump,
// from one buffer). A to_socket pump waits for messages with a futex wait
// on the mailbox's event count in the loop's own ring (prep_readable_wait),
// cut after 50 ms by a linked timeout so that it runs the receiver's crash
// recovery (a receiver killed while holding a slot stalls the others), or,
// on kernels without the io_uring futex ops, polls every millisecond.
// Writes use IORING_OP_SEND with MSG_NOSIGNAL and are resubmitted after a
// short send; reads use single-shot IORING_OP_RECV (no multishot: it needs
// provided buffers, and one buffer per pump keeps framing simple).
//
// Ends: a to_socket pump ends when its mailbox is closed and drained (it
// then shuts the socket's write side) or the peer closed (messages taken
// from the mailbox but not yet sent are lost: `unsent` counts them); a
// from_socket pump ends at the peer's orderly close once every whole frame
// was delivered (a partial last frame is an error), or when its mailbox
// closes. The loop never closes the sockets; their owner does.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ringport/mailbox.hpp"
#include "ringport/result.hpp"

namespace ringport {

enum class pump_state : std::uint8_t {
  running,
  done,         ///< mailbox closed and drained (to_socket) or peer closed cleanly (from_socket)
  peer_closed,  ///< to_socket: the peer stopped reading (EPIPE, ECONNRESET)
  failed,       ///< an error: see pump_stats::error
};

struct pump_stats {
  pump_state state = pump_state::running;
  std::uint64_t messages = 0;  ///< sent to the socket / delivered to the mailbox
  std::uint64_t bytes = 0;     ///< socket bytes
  std::uint64_t unsent = 0;    ///< to_socket: messages taken but lost when the peer closed
  std::string error;
};

class pump_loop {
 public:
  pump_loop();
  pump_loop(pump_loop&&) noexcept;
  pump_loop& operator=(pump_loop&&) noexcept;
  ~pump_loop();

  static result<pump_loop> create(std::size_t buffer_bytes = std::size_t{1} << 18);

  /// Adds a pump; returns its index. The handles and fds must outlive the loop's run().
  result<std::size_t> to_socket(mailbox_receiver& rx, int fd);
  result<std::size_t> from_socket(int fd, mailbox_sender& tx);

  /// Runs until every pump has ended, or *stop becomes true (checked every 50 ms).
  result<void> run(const std::atomic<bool>* stop = nullptr);
  const pump_stats& stats(std::size_t pump) const noexcept;
  std::size_t size() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace ringport
