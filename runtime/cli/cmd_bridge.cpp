// ringport bridge out / in: a mailbox to and from NATS (ringport/bridge.hpp).
// Compiled into the tool only when ringport::bridge is built (libnats found).
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "ringport/bridge.hpp"

namespace ringport::cli {
namespace {

const char* help_bridge = R"(usage: ringport bridge out MAILBOX --url URL --subject SUBJ [--stream STREAM]
                         [--window N] [--linger MS] [--replicas R] [--state DIR]
                         [--domain D]
       ringport bridge in MAILBOX --url URL --subject SUBJ [--stream STREAM]
                         [--durable NAME] [--batch N] [--state DIR] [--domain D]
out drains MAILBOX to the NATS subject SUBJ until the mailbox is closed and
drained; in feeds MAILBOX (created when missing) from SUBJ until SIGTERM or
SIGINT. URL is nats://HOST:PORT, or several, comma-separated.
With --stream (JetStream): exactly once at the receivers across crashes of
either bridge (README.md, "Beyond one machine"): out takes messages as a
keeping receiver (one it held when killed goes to the next out on the same
journal, which journals it unless its journal has it already); in queues
them as a keeping sender (the next in voids a claim a killed one left
unpublished, so it knows the message was not delivered).
out creates STREAM (file storage, bound to SUBJ, 2 min
duplicate window, R replicas: 1 to 5, default 1) when missing, keeps up to N (1 to 65536; default 256)
unacknowledged messages in a journal file under DIR (default
$RINGPORT_BRIDGE_DIR, else /var/tmp/ringport-bridge) and publishes each with
Nats-Msg-Id DOMAIN/MAILBOX/EPOCH/SEQ; a message leaves the mailbox for the
journal, and the journal once JetStream acknowledged it (and all before
it); each is published as it enters the journal, and out takes messages for
at most MS (0 to 60000; default 2) before it looks at the acks. in reads a
durable pull consumer NAME (default ringport-MAILBOX), N messages (default
256) per fetch, queues each, records its SEQ per source in DIR, then
acknowledges it; a redelivered SEQ is dropped. A full mailbox stops it.
Without --stream (core NATS): at most once; what is in flight when a bridge
or the network fails is lost.
exit: 0 ok (out: mailbox closed and drained; in: stopped by a signal),
1 error (mailbox, NATS), 2 usage, 10 bad URL, 11 no server answered,
12 unknown stream (in), 13 message larger than the server's max_payload or
the mailbox's maximum (nothing is lost: it stays queued), 14 unusable state
file.
)";

enum bridge_exit : int {
  exit_bad_url = 10,
  exit_refused = 11,
  exit_no_stream = 12,
  exit_too_large = 13,
  exit_state = 14
};

std::atomic<bool> stop_flag{false};
extern "C" void on_stop(int) {
  stop_flag.store(true, std::memory_order_relaxed);
}

int code_of(bridge::failure f) {
  switch (f) {
    case bridge::failure::none:
      return exit_ok;
    case bridge::failure::bad_url:
      return exit_bad_url;
    case bridge::failure::refused:
      return exit_refused;
    case bridge::failure::unknown_stream:
      return exit_no_stream;
    case bridge::failure::too_large:
      return exit_too_large;
    case bridge::failure::state:
      return exit_state;
    case bridge::failure::mailbox:
    case bridge::failure::nats:
      break;
  }
  return exit_error;
}

parsed<std::uint64_t> parse_window(std::string_view t) {
  return parse_number(t, 1, 65536, "--window");
}
parsed<std::uint64_t> parse_batch(std::string_view t) {
  return parse_number(t, 1, 65536, "--batch");
}
parsed<std::uint64_t> parse_replicas(std::string_view t) {
  return parse_number(t, 1, 5, "--replicas");
}
parsed<std::uint64_t> parse_linger(std::string_view t) {
  return parse_number(t, 0, 60000, "--linger");
}

bool fill_common(const args& a, bridge::common_options& o, std::string_view cmd) {
  if (a.positional.size() != 2) return fail(cmd, "wants exactly one MAILBOX (see --help)", exit_usage), false;
  if (!a.has("--url") || !a.has("--subject"))
    return fail(cmd, "wants --url and --subject", exit_usage), false;
  o.mailbox = a.positional[1];
  o.domain = a.get("--domain");
  o.url = a.get("--url");
  o.subject = a.get("--subject");
  o.stream = a.get("--stream");
  o.state_dir = a.get("--state");
  o.stop = &stop_requested;  // set by catch_stop_signals() (cli.hpp)
  return true;
}

int finish(std::string_view cmd, const bridge::outcome& r) {
  if (r.why == bridge::failure::none) return exit_ok;
  return fail(cmd, r.message, code_of(r.why));
}

}  // namespace

int cmd_bridge(int argc, char** argv, int first) {
  std::string cmd = "bridge";
  auto a = parse(argc, argv, first, cmd,
                 {{"--url", "", true},
                  {"--subject", "", true},
                  {"--stream", "", true},
                  {"--durable", "", true},
                  {"--window", "", true},
                  {"--linger", "", true},
                  {"--batch", "", true},
                  {"--state", "", true},
                  {"--replicas", "", true}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_bridge, stdout), exit_ok;
  const std::string dir = a->positional.empty() ? "" : a->positional[0];
  if (dir != "out" && dir != "in") return fail(cmd, "wants out or in (see --help)", exit_usage);
  cmd += " " + dir;
  catch_stop_signals();
  if (dir == "out") {
    if (a->has("--durable") || a->has("--batch"))
      return fail(cmd, "--durable and --batch are for bridge in", exit_usage);
    bridge::out_options o;
    if (!fill_common(*a, o, cmd)) return exit_usage;
    auto window = option(*a, "--window", &parse_window, std::uint64_t{o.window}, cmd);
    auto linger = option(*a, "--linger", &parse_linger, std::uint64_t(o.linger.count()), cmd);
    auto replicas = option(*a, "--replicas", &parse_replicas, std::uint64_t{1}, cmd);
    if (!window || !linger || !replicas) return exit_usage;
    o.replicas = static_cast<int>(*replicas);
    o.window = static_cast<std::size_t>(*window);
    o.linger = std::chrono::milliseconds(*linger);
    return finish(cmd, bridge::run_out(o));
  }
  if (a->has("--window") || a->has("--linger") || a->has("--replicas"))
    return fail(cmd, "--window, --linger and --replicas are for bridge out", exit_usage);
  bridge::in_options o;
  if (!fill_common(*a, o, cmd)) return exit_usage;
  auto batch = option(*a, "--batch", &parse_batch, std::uint64_t{o.batch}, cmd);
  if (!batch) return exit_usage;
  o.batch = static_cast<std::size_t>(*batch);
  o.durable = a->get("--durable");
  if (!o.durable.empty() && o.stream.empty()) return fail(cmd, "--durable needs --stream", exit_usage);
  return finish(cmd, bridge::run_in(o));
}

}  // namespace ringport::cli
