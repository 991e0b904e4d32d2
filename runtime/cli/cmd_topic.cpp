// ringport topic create / close, publish, subscribe, latest, and the topic
// part of stat.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "ringport/topic.hpp"

namespace ringport::cli {
namespace {

using clock = std::chrono::steady_clock;

const char* help_create = R"(usage: ringport topic create NAME [--capacity N] [--max-size BYTES]
                             [--mode lossy|backpressure] [--lag-limit N]
                             [--pages any|huge|normal] [--group] [--domain D]
Creates a publish-subscribe topic retaining N messages (a power of two from
2 to 4294967296; default 1024) of up to BYTES each (1 to 16777200; default
4080). --mode lossy (default): the publisher never waits and a lapped
subscriber is told how many messages it lost; backpressure: the publisher
waits for the slowest live subscriber. --lag-limit N (backpressure only, 1
to the capacity): a subscriber N messages behind is evicted.
exit: 0 ok, 1 error (exists, not a power of two...), 2 usage.
)";
const char* help_close = R"(usage: ringport topic close NAME [--domain D]
Closes a topic: publishes fail (exit 5), subscribers drain, then exit 5.
)";
const char* help_publish = R"(usage: ringport publish NAME [MESSAGE] [--timeout MS] [--nonblock] [--domain D]
Publishes MESSAGE, or else each line of stdin (without its newline), taking
the topic's publisher role for the duration (one publisher at a time).
--timeout MS bounds each publish (back-pressured topics wait for their
slowest subscriber); --nonblock fails at once instead (exit 3).
exit: 0 ok, 1 error (role taken, too large...), 2 usage, 3 would block,
4 timed out, 5 closed.
)";
const char* help_subscribe =
    R"(usage: ringport subscribe NAME [-n COUNT] [--timeout MS] [--from oldest|next] [--raw] [--domain D]
Subscribes and prints each message on its own line (--raw: bytes as they
are) until COUNT messages (default: until the topic closes). --from oldest
first prints what the topic retains; next (default) starts with the next
message published. A lapped subscriber prints "overrun N" (N messages lost)
on stderr and goes on. --timeout MS bounds the whole command.
exit: 0 ok (COUNT received, or closed with no COUNT), 1 error (evicted...),
2 usage, 4 timed out, 5 closed before COUNT messages.
)";
const char* help_latest = R"(usage: ringport latest NAME [--raw] [--domain D]
Prints the topic's most recent message without subscribing.
exit: 0 ok, 1 error, 2 usage, 3 nothing published yet.
)";

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::optional<clock::time_point> deadline_of(const args& a, std::string_view cmd) {
  auto ms = option(a, "--timeout", &parse_timeout, std::chrono::milliseconds(0), cmd);
  if (!ms) return std::nullopt;
  return a.has("--timeout") ? deadline_after(clock::now(), *ms) : clock::time_point::max();
}

void print_message(std::span<const std::byte> m, bool raw) {
  std::fwrite(m.data(), 1, m.size(), stdout);
  if (!raw) std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

int cmd_topic_create(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "topic create";
  auto a = parse(argc, argv, first, cmd,
                 {{"--capacity", "", true},
                  {"--max-size", "", true},
                  {"--mode", "", true},
                  {"--lag-limit", "", true},
                  {"--pages", "", true},
                  {"--group", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_create, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  topic_options o;
  o.domain = a->get("--domain");
  o.group_access = a->has("--group");
  const std::string mode = a->get("--mode", "lossy");
  if (mode != "lossy" && mode != "backpressure")
    return fail(cmd, "--mode is lossy or backpressure, not '" + mode + "'", exit_usage);
  o.mode = mode == "lossy" ? topic_mode::lossy : topic_mode::backpressure;
  auto cap = option(*a, "--capacity", &parse_capacity, std::uint64_t{o.capacity}, cmd);
  auto max = option(*a, "--max-size", &parse_max_size, std::uint64_t{o.max_message_size}, cmd);
  auto lag = option(*a, "--lag-limit", &parse_capacity, std::uint64_t{0}, cmd);
  auto backing = option(*a, "--pages", &parse_pages, pages::any, cmd);
  if (!cap || !max || !lag || !backing) return exit_usage;
  o.capacity = static_cast<std::size_t>(*cap);
  o.max_message_size = static_cast<std::size_t>(*max);
  o.lag_limit = static_cast<std::size_t>(*lag);
  o.backing = *backing;
  auto t = byte_topic::create(a->positional[0], o);
  if (!t) return fail(cmd, t.error());
  return exit_ok;
}

int cmd_topic_close(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "topic close";
  auto a = parse(argc, argv, first, cmd, {});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_close, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto t = byte_topic::open(a->positional[0], a->get("--domain"));
  if (!t) return fail(cmd, t.error());
  t->close();
  return exit_ok;
}

int cmd_publish(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "publish";
  auto a = parse(argc, argv, first, cmd, {{"--timeout", "", true}, {"--nonblock", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_publish, stdout), exit_ok;
  if (a->positional.empty() || a->positional.size() > 2)
    return fail(cmd, "wants NAME and at most one MESSAGE (see --help)", exit_usage);
  auto ms = option(*a, "--timeout", &parse_timeout, std::chrono::milliseconds(0), cmd);
  if (!ms) return exit_usage;
  auto t = byte_topic::open(a->positional[0], a->get("--domain"));
  if (!t) return fail(cmd, t.error());
  auto p = t->publisher();
  if (!p) return fail(cmd, p.error());
  auto publish_one = [&](const std::string& msg) -> int {
    if (msg.size() > p->max_message_size())
      return fail(cmd, "a message of " + std::to_string(msg.size()) +
                           " bytes exceeds the topic's maximum of " + std::to_string(p->max_message_size()) +
                           " bytes; nothing was published");
    const auto deadline = a->has("--timeout") ? deadline_after(clock::now(), *ms) : clock::time_point::max();
    const status s =
        a->has("--nonblock") ? p->try_publish(as_bytes(msg)) : p->publish_until(as_bytes(msg), deadline);
    if (s == status::closed) return fail(cmd, "the topic is closed", exit_closed);
    return s == status::ok ? exit_ok : fail_status(cmd, s, "");
  };
  if (a->positional.size() == 2) return publish_one(a->positional[1]);
  std::string line;
  while (std::getline(std::cin, line))
    if (int rc = publish_one(line); rc != exit_ok) return rc;
  return exit_ok;
}

int cmd_subscribe(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "subscribe";
  auto a =
      parse(argc, argv, first, cmd,
            {{"--count", "-n", true}, {"--timeout", "", true}, {"--from", "", true}, {"--raw", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_subscribe, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto count = option(*a, "--count", &parse_count, std::uint64_t{0}, cmd);
  const auto deadline = deadline_of(*a, cmd);
  const std::string from = a->get("--from", "next");
  if (from != "next" && from != "oldest")
    return fail(cmd, "--from is oldest or next, not '" + from + "'", exit_usage);
  if (!count || !deadline) return exit_usage;
  auto t = byte_topic::open(a->positional[0], a->get("--domain"));
  if (!t) return fail(cmd, t.error());
  auto s = t->subscriber(from == "oldest" ? start_at::oldest : start_at::next);
  if (!s) return fail(cmd, s.error());
  std::vector<std::byte> buf(s->max_message_size());
  const bool raw = a->has("--raw");
  for (std::uint64_t got = 0; *count == 0 || got < *count;) {
    std::size_t len = 0;
    const status st = s->receive_until(buf, len, *deadline);
    if (st == status::overrun) {
      std::fprintf(stderr, "overrun %llu\n", static_cast<unsigned long long>(s->missed()));
      continue;
    }
    if (st == status::closed && *count == 0) return exit_ok;
    if (st == status::closed) return fail(cmd, "the topic is closed", exit_closed);
    if (st != status::ok) return fail_status(cmd, st, "");
    print_message({buf.data(), len}, raw);
    ++got;
  }
  return exit_ok;
}

int cmd_latest(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "latest";
  auto a = parse(argc, argv, first, cmd, {{"--raw", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_latest, stdout), exit_ok;
  if (a->positional.size() != 1) return fail(cmd, "wants exactly one NAME (see --help)", exit_usage);
  auto t = byte_topic::open(a->positional[0], a->get("--domain"));
  if (!t) return fail(cmd, t.error());
  std::vector<std::byte> buf(t->max_message_size());
  std::size_t len = 0;
  const status st = t->latest(buf, len);
  if (st == status::would_block) return fail(cmd, "nothing published yet", exit_would_block);
  if (st != status::ok) return fail_status(cmd, st, "");
  print_message({buf.data(), len}, a->has("--raw"));
  return exit_ok;
}

void print_topic_stat(const segment_info& info) {
  auto t = byte_topic::open(info.name, info.domain);
  if (!t) {
    std::printf("topic:         unreadable: %s\n", t.error().message.c_str());
    return;
  }
  const topic_stats st = t->stats();
  std::printf("mode:          %s", to_string(t->mode()));
  if (t->lag_limit() != 0) std::printf(" (lag limit %zu)", t->lag_limit());
  std::printf("\ncapacity:      %zu\n", t->capacity());
  std::printf("max message:   %zu bytes%s\n", t->max_message_size(),
              t->element_size() != 0 ? " (fixed-size items)" : "");
  std::printf("published:     %llu (publisher position)\n", static_cast<unsigned long long>(st.published));
  if (t->mode() == topic_mode::backpressure)
    std::printf("gate:          %llu\n", static_cast<unsigned long long>(st.gate));
  if (st.publisher_pid != 0)
    std::printf("publisher:     pid %u (%s)\n", st.publisher_pid, st.publisher_alive ? "alive" : "dead");
  else
    std::printf("publisher:     none\n");
  std::printf("subscribers:   %zu\n", st.subscribers.size());
  for (const auto& s : st.subscribers)
    std::printf("  [%zu] pid %u %s%s position %llu lag %llu\n", s.index, s.pid, s.alive ? "alive" : "dead",
                s.evicted ? " evicted" : "", static_cast<unsigned long long>(s.cursor),
                static_cast<unsigned long long>(s.lag));
  std::printf("closed:        %s\n", t->closed() ? "yes" : "no");
  std::printf("crashes:       %llu publisher takeovers, %llu dead subscribers reaped, %llu evicted\n",
              static_cast<unsigned long long>(st.takeovers), static_cast<unsigned long long>(st.reaped),
              static_cast<unsigned long long>(st.evictions));
}

}  // namespace ringport::cli
