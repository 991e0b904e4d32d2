// ringport top: a live view of the rings and mailboxes of a domain.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <thread>

#include "cli.hpp"
#include "describe.hpp"
#include "inspect.hpp"

namespace ringport::cli {
namespace {

using clock = std::chrono::steady_clock;

const char* help_top = R"(usage: ringport top [--domain D] [--interval MS] [--count N] [--json]
A live view of every ring and mailbox of the domain (every segment with a
queue), refreshed every MS milliseconds (1 to 3600000; default 1000), N
times (1 to 4294967295; default: until interrupted), then exits. Per object:
fill and capacity, messages per second in (pushed) and out (popped) since
the previous refresh, waiters (registrations parked on the not-empty /
not-full event counts since their last wake-up: consumers/producers), and
every attached producer and consumer: pid, alive or dead, position, and for
consumers the lag (pushed - position). Rates need two samples of the same
object: the first refresh, and an object's first, show '-' (null in JSON).
Positions are read while others move them: a snapshot, not a stop.
--json: one JSON object per refresh, one per line:
  {"refresh" (1..N), "time_ns" (CLOCK_REALTIME), "interval_ms", "domain",
   "objects": [SEGMENT with "rates": {"in_per_s", "out_per_s"}]}
where SEGMENT is the object of `ringport stat NAME --json` (ringport ls
--help lists its fields).
exit: 0 ok, 1 error (no such domain, or it vanished), 2 usage.
)";

// One object's positions at one refresh, to compute the next one's rates.
struct sample {
  std::uint64_t created_ns = 0;  // a re-created name is another object
  std::uint64_t pushed = 0, popped = 0;
  clock::time_point at;
};

struct rates {
  double in = NAN, out = NAN;  // NaN: unknown (no earlier sample)
};

using history = std::map<std::string, sample>;  // by path

rates rates_of(const detail::segment_usage& u, clock::time_point now, const history& before) {
  rates r;
  const auto it = before.find(u.info.path);
  if (it == before.end() || it->second.created_ns != u.info.created_ns) return r;
  const double secs = std::chrono::duration<double>(now - it->second.at).count();
  // Positions only grow; a smaller one is a damaged or hostile segment.
  if (secs <= 0 || u.tail < it->second.pushed || u.head < it->second.popped) return r;
  r.in = static_cast<double>(u.tail - it->second.pushed) / secs;
  r.out = static_cast<double>(u.head - it->second.popped) / secs;
  return r;
}

std::string rate_text(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string alive_dead(const detail::user_count& c) {
  return std::to_string(c.alive) + "/" + std::to_string(c.dead);
}

void print_holders(const char* what, const std::vector<detail::role_holder>& list,
                   const std::uint64_t* tail) {
  for (const detail::role_holder& h : list) {
    std::printf("    %s pid %u %s, position %llu", what, h.pid, h.alive ? "alive" : "dead",
                static_cast<unsigned long long>(h.position));
    if (tail) std::printf(", lag %llu", static_cast<unsigned long long>(lag_of(h.position, *tail)));
    std::printf("\n");
  }
}

void print_text(const detail::domain_contents& dom, const std::vector<detail::segment_usage>& objs,
                const std::vector<rates>& r, std::uint64_t refresh, std::uint64_t count) {
  if (::isatty(STDOUT_FILENO)) std::fputs("\033[H\033[2J", stdout);
  const std::time_t now = std::time(nullptr);
  char when[32] = "?";
  if (std::tm tm{}; ::localtime_r(&now, &tm)) std::strftime(when, sizeof when, "%H:%M:%S", &tm);
  std::printf("ringport top: domain %s, %s, refresh %llu%s%s\n", dom.domain.c_str(), when,
              static_cast<unsigned long long>(refresh), count ? " of " : "",
              count ? std::to_string(count).c_str() : "");
  std::printf("%-32s %-8s %21s %10s %10s %7s %9s %9s %s\n", "NAME", "KIND", "FILL/CAPACITY", "IN/s", "OUT/s",
              "WAIT", "PRODUCERS", "CONSUMERS", "STATE");
  for (std::size_t i = 0; i < objs.size(); ++i) {
    const detail::segment_usage& u = objs[i];
    const std::string fill = std::to_string(u.unread) + "/" + std::to_string(u.info.capacity);
    const std::string wait = std::to_string(u.waiting_consumers) + "/" + std::to_string(u.waiting_producers);
    std::printf("%-32s %-8s %21s %10s %10s %7s %9s %9s %s%s\n", u.info.name.c_str(), to_string(u.info.kind),
                fill.c_str(), rate_text(r[i].in).c_str(), rate_text(r[i].out).c_str(), wait.c_str(),
                alive_dead(u.producers).c_str(), alive_dead(u.consumers).c_str(), detail::to_string(u.state),
                u.closed ? ", closed" : "");
    print_holders("producer", u.producer_list, nullptr);
    print_holders("consumer", u.consumer_list, &u.tail);
  }
  if (objs.empty()) std::printf("(no rings or mailboxes)\n");
  std::printf("\n");
}

void print_json(const detail::domain_contents& dom, const std::vector<detail::segment_usage>& objs,
                const std::vector<rates>& r, std::uint64_t refresh, std::chrono::milliseconds interval) {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  json out;
  out.begin_object()
      .field("refresh", refresh)
      .field("time_ns", static_cast<std::uint64_t>(std::chrono::nanoseconds(wall).count()))
      .field("interval_ms", static_cast<std::uint64_t>(interval.count()))
      .field("domain", dom.domain)
      .key("objects")
      .begin_array();
  for (std::size_t i = 0; i < objs.size(); ++i)
    describe(out, objs[i], [&](json& o) {
      o.key("rates").begin_object().field("in_per_s", r[i].in).field("out_per_s", r[i].out).end_object();
    });
  out.end_array().end_object();
  std::printf("%s\n", out.text().c_str());
}

}  // namespace

int cmd_top(int argc, char** argv, int first) {
  constexpr std::string_view cmd = "top";
  auto a = parse(argc, argv, first, cmd,
                 {{"--interval", "", true}, {"--count", "-n", true}, {"--json", "", false}});
  if (!a) return exit_usage;
  if (a->has("--help")) return std::fputs(help_top, stdout), exit_ok;
  if (!a->positional.empty()) return fail(cmd, "takes no arguments (see --help)", exit_usage);
  auto interval = option(*a, "--interval", &parse_interval, std::chrono::milliseconds(1000), cmd);
  auto count = option(*a, "--count", &parse_count, std::uint64_t{0}, cmd);
  if (!interval || !count) return exit_usage;
  const bool as_json = a->has("--json");
  history before;
  const clock::time_point start = clock::now();
  for (std::uint64_t refresh = 1;; ++refresh) {
    auto dom = detail::read_domain(a->get("--domain"));
    if (!dom) return fail(cmd, dom.error());
    const clock::time_point now = clock::now();
    std::vector<detail::segment_usage> objs;
    std::vector<rates> r;
    history after;
    for (const segment_info& info : dom->segments) {
      detail::segment_usage u = detail::inspect(info);
      if (!u.has_roles) continue;
      r.push_back(rates_of(u, now, before));
      after[u.info.path] = sample{u.info.created_ns, u.tail, u.head, now};
      objs.push_back(std::move(u));
    }
    before = std::move(after);
    if (as_json)
      print_json(*dom, objs, r, refresh, *interval);
    else
      print_text(*dom, objs, r, refresh, *count);
    std::fflush(stdout);
    if (*count != 0 && refresh >= *count) return exit_ok;
    // Paced from the start, so that refreshes do not drift by their own cost.
    const clock::time_point next = start + static_cast<std::int64_t>(refresh) * *interval;
    std::this_thread::sleep_until(next);
  }
}

}  // namespace ringport::cli
