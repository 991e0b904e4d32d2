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
// short send.
//
// Reads: multishot receive (IORING_OP_RECV with IORING_RECV_MULTISHOT,
// Linux 6.0) into a provided buffer ring of the pump's own (16 buffers of
// buffer_bytes / 16 bytes, at least 64), found at run time: where the
// kernel refuses the buffer ring or the multishot flag (-EINVAL), and when
// forced (pump_recv::single_shot, or RINGPORT_PUMP_RECV=single in the
// environment), a single-shot IORING_OP_RECV into one buffer per pump.
// Frames may span buffers (they are reassembled). A buffer goes
// back to the kernel only once every frame in it was delivered, so a full
// mailbox leaves the kernel without buffers: the multishot receive ends
// with -ENOBUFS (pump_stats::buffers_exhausted) and the socket is no longer
// read; it is re-armed once the mailbox took everything (so also after a
// completion without IORING_CQE_F_MORE).
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
  std::uint64_t messages = 0;           ///< sent to the socket / delivered to the mailbox
  std::uint64_t bytes = 0;              ///< socket bytes
  std::uint64_t unsent = 0;             ///< to_socket: messages taken but lost when the peer closed
  bool multishot = false;               ///< from_socket: receives with multishot recv (else single-shot)
  std::uint64_t buffers_exhausted = 0;  ///< from_socket, multishot: -ENOBUFS (back-pressure)
  std::string error;
};

/// How from_socket pumps read: multishot where the kernel has it, or
/// always single-shot (the fallback; also RINGPORT_PUMP_RECV=single).
enum class pump_recv : std::uint8_t { automatic, single_shot };

class pump_loop {
 public:
  pump_loop();
  pump_loop(pump_loop&&) noexcept;
  pump_loop& operator=(pump_loop&&) noexcept;
  ~pump_loop();

  static result<pump_loop> create(std::size_t buffer_bytes = std::size_t{1} << 18,
                                  pump_recv recv = pump_recv::automatic);

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
