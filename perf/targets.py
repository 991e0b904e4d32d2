#!/usr/bin/env python3
"""Judges a ringport-bench --json file against the issue targets and prints
a Markdown table: target, row, figure, ratio (median pair ratio with its
min-max), verdict (met / missed / measurement error / no figure), and what
limits it. Every ratio pairs two repetitions of the same interleaved round
of one run, exactly as the bench does (perf/README.md, "Ratios"); nothing
is estimated. The machine-load warnings the bench recorded come first.

usage: targets.py RESULTS.json [--detail] [--callgrind FILE]
  --detail         one line per row judged (default: one line per target,
                   its worst row, and how many rows met it)
  --callgrind FILE the JSON of perf/callgrind_pairs.sh --json FILE, for the
                   instructions-per-pair targets
Exit status 0 whatever the verdicts (1 when a file cannot be read).
"""
import json
import statistics
import sys

BELOW_FLOOR = 0.95  # a latency ratio to the floor under this is a measurement error


class Run:
    def __init__(self, doc):
        self.drift = doc.get("config", {}).get("drift", 0.25)
        self.rows = {}
        for r in doc.get("results", []):
            k = (r["scenario"], r["impl"], r["mode"], r["msg_bytes"],
                 "%dx%d" % (r["producers"], r["consumers"]), r["wait"], r.get("capacity"))
            self.rows[k] = r

    def row(self, scenario, impl, mode, size, pc="1x1", wait="spin-yield", cap=1024):
        if scenario == "pingpong" and impl in ("spin-line", "futex"):
            cap = None
        r = self.rows.get((scenario, impl, mode, size, pc, wait, cap))
        return r if r and r.get("status") == "ok" else None

    def skipped(self, scenario, impl, mode, size, pc="1x1", wait="spin-yield", cap=1024):
        """Why the row was skipped (the machine lacks what it needs), or None."""
        r = self.rows.get((scenario, impl, mode, size, pc, wait, cap))
        return r.get("error", "?") if r and r.get("status") == "skipped" else None


def figure(r, i):
    run = r["runs"][i]
    return run["p50_ns"] if run.get("p50_ns") is not None else run["mops"]


def pairs(run, a, b):
    """Ratios of a's and b's repetitions of the same round: (ratios, flagged)."""
    rb = {x["round"]: x for x in b["runs"]}
    out, flagged = [], 0
    for i, x in enumerate(a["runs"]):
        y = rb.get(x["round"])
        if y is None:
            continue
        fb = figure(b, b["runs"].index(y))
        if fb <= 0:
            continue
        out.append(figure(a, i) / fb)
        lo, hi = sorted((x["floor_ns"], y["floor_ns"]))
        if lo <= 0 or hi / lo - 1 > run.drift:
            flagged += 1
    return out, flagged


def spread(r):
    v = [figure(r, i) for i in range(len(r["runs"]))]
    return max(v) / min(v) if v and min(v) > 0 else None


def fmt_fig(r):
    if r.get("rtt_ns"):
        return "%d ns" % r["rtt_ns"]["p50"]
    return "%.3g Mmsg/s" % r["mops"]


class Judge:
    def __init__(self, run):
        self.run = run
        self.out = []  # (target, row label, figure, ratio text, verdict, limit, distance)

    def add(self, target, label, fig, text, verdict, limit, distance):
        self.out.append((target, label, fig, text, verdict, limit, distance))

    def ratio(self, target, label, a, b, ok, floor=False):
        """a/b over the pairs; ok(median) says met; floor: b is a's floor."""
        if a is None or b is None:
            self.add(target, label, "-", "-", "no figure", "row missing or failed", 0)
            return
        if "/" not in label:
            label = "%s: %s / %s" % (label, a["impl"], b["impl"])
        v, flagged = pairs(self.run, a, b)
        if not v:
            self.add(target, label, fmt_fig(a), "-", "no figure", "no pairs", 0)
            return
        med = statistics.median(v)
        text = "%.2f (%.2f-%.2f)" % (med, min(v), max(v))
        limits = self.limits(a, v, flagged)
        if (floor and med < BELOW_FLOOR) or a.get("below_floor"):
            verdict = "measurement error"
            limits.insert(0, "below its floor")
        else:
            verdict = "met" if ok(med) else "missed"
        if verdict == "missed":
            limits += self.context(a)
        self.add(target, label, fmt_fig(a), text, verdict, "; ".join(limits) or "-", abs(med - 1))

    def limits(self, a, v, flagged):
        out = []
        if flagged * 2 > len(v):
            out.append("floor moved in %d/%d pairs" % (flagged, len(v)))
        if min(v) > 0 and max(v) / min(v) > 1.5:
            out.append("pairs spread %.2f-%.2f" % (min(v), max(v)))
        if "oversubscribed" in (a.get("note") or ""):
            out.append("oversubscribed")
        return out

    def context(self, a):
        """What the row is next to its floors: the software ring, the hardware."""
        out = []
        if a.get("vs_floor") is not None and a.get("rtt_ns"):
            out.append("%.2fx the %s floor" % (a["vs_floor"], a["vs_floor_ref"]))
        ref = self.run.row(a["scenario"], "ref-spsc", a["mode"], a["msg_bytes"], cap=a.get("capacity"))
        if ref is not None and ref is not a and a["scenario"] != "pingpong":
            v, _ = pairs(self.run, a, ref)
            if v:
                out.append("%.2fx ref-spsc" % statistics.median(v))
        return out

    def spread(self, target, label, r, limit):
        if r is None:
            self.add(target, label, "-", "-", "no figure", "row missing or failed", 0)
            return
        s = spread(r)
        n = len(r["runs"])
        verdict = "met" if s is not None and s <= limit else "missed"
        why = "only %d repetition(s)" % n if n < 5 else "-"
        self.add(target, label, fmt_fig(r), "%.2f max/min of %d" % (s or 0, n), verdict, why, s or 0)

    def note(self, target, why):
        self.add(target, "-", "-", "-", "not measured here", why, 0)


def judge_all(run, callgrind):
    j = Judge(run)
    R = run.row
    # --- issue 11 ---
    for mode in ("thread", "process"):
        j.ratio("spsc 8 B, one message per call, try loop, cap 1024: >= 4x boost spsc_queue",
                "%s" % mode, R("throughput", "ringport-spsc", mode, 8), R("throughput", "boost-spsc", mode, 8),
                lambda v: v >= 4)
    j.ratio("spsc 8 B, one message per call, try loop, cap 1024: >= 1.0x moodycamel-rwq", "thread",
            R("throughput", "ringport-spsc", "thread", 8), R("throughput", "moodycamel-rwq", "thread", 8),
            lambda v: v >= 1)
    for mode in ("thread", "process"):
        j.ratio("spsc 8 B, try loop, cap 65536: >= 1.0x ref-spsc", mode,
                R("throughput", "ringport-spsc", mode, 8, cap=65536),
                R("throughput", "ref-spsc", mode, 8, cap=65536), lambda v: v >= 1)
    for mode in ("thread", "process"):
        j.spread("spsc 8 B try loop, cap 1024: max/min over the repetitions <= 1.5", mode,
                 R("throughput", "ringport-spsc", mode, 8), 1.5)
    j.ratio("mpmc 8 B 1x1: >= 10x boost queue", "thread", R("throughput", "ringport-mpmc", "thread", 8),
            R("throughput", "boost-mpmc", "thread", 8), lambda v: v >= 10)
    j.ratio("mpmc 8 B 1x1: >= 1.0x tbb-bounded", "thread", R("throughput", "ringport-mpmc", "thread", 8),
            R("throughput", "tbb-bounded", "thread", 8), lambda v: v >= 1)
    for n in (2, 4):
        j.ratio("mpmc 64 B, block policy: 2x2 and 4x4 >= 0.5x its own 1x1", "%dx%d" % (n, n),
                R("scaling", "ringport-mpmc", "thread", 64, "%dx%d" % (n, n), "block"),
                R("scaling", "ringport-mpmc", "thread", 64, "1x1", "block"), lambda v: v >= 0.5)
    for mode in ("thread", "process"):
        a = R("pingpong", "ringport-spsc", mode, 8)
        j.ratio("spsc 8 B round trip p50 <= 1.1x the spin-line floor", mode, a,
                R("pingpong", "spin-line", mode, 8, wait="spin"), lambda v: v <= 1.1, floor=True)
        j.ratio("spsc 8 B round trip p50 below boost spsc_queue's", mode, a, R("pingpong", "boost-spsc", mode, 8),
                lambda v: v < 1)
        j.ratio("spsc 8 B round trip p50, block policy: <= 1.2x the raw futex ping-pong", mode,
                R("pingpong", "ringport-spsc", mode, 8, wait="block"),
                R("pingpong", "futex", mode, 8, wait="futex"), lambda v: v <= 1.2, floor=True)
    j.note("about 0 system calls per message in steady state", "tests/run_syscall_count.sh (strace -f -c)")
    process_vs_thread(j, run)
    instructions(j, callgrind)
    topic_targets(j, run)
    io_uring(j, run)
    # --- kept from the earlier issue, on pair ratios ---
    for mode in ("thread", "process"):
        j.ratio("(earlier) spsc 8 B throughput >= 3x boost spsc_queue", mode,
                R("throughput", "ringport-spsc", mode, 8), R("throughput", "boost-spsc", mode, 8),
                lambda v: v >= 3)
        j.ratio("(earlier) spsc 8 B round trip p50 <= 1.15x the spin-line floor", mode,
                R("pingpong", "ringport-spsc", mode, 8), R("pingpong", "spin-line", mode, 8, wait="spin"),
                lambda v: v <= 1.15, floor=True)
    for size in (8, 64, 512, 4096):
        j.ratio("(earlier) mpmc 1x1 >= 5x boost::lockfree::queue", "thread %d B" % size,
                R("throughput", "ringport-mpmc", "thread", size), R("throughput", "boost-mpmc", "thread", size),
                lambda v: v >= 5)
    for impl in ("ringport-spsc", "ringport-spsc-batch32"):
        for mode in ("thread", "process"):
            j.ratio("(earlier) 4096 B messages at >= 50% of memcpy's GB/s", "%s %s" % (impl, mode),
                    R("throughput", impl, mode, 4096), R("throughput", "memcpy", "thread", 4096, "1x0", "none", None),
                    lambda v: v >= 0.5)
    return j.out


def process_vs_thread(j, run):
    target = "process mode within 10% of thread mode"
    for impl in ("ringport-spsc", "ringport-spsc-batch32", "ringport-mpmc", "ringport-mpmc-batch32", "mailbox"):
        wait = "adaptive" if impl == "mailbox" else "spin-yield"
        for size in (8, 64, 512, 4096):
            j.ratio(target, "throughput %s %d B: process / thread" % (impl, size),
                    run.row("throughput", impl, "process", size, wait=wait),
                    run.row("throughput", impl, "thread", size, wait=wait), lambda v: v >= 0.9)
    for impl in ("ringport-spsc", "ringport-mpmc", "mailbox"):
        wait = "adaptive" if impl == "mailbox" else "spin-yield"
        j.ratio(target, "pingpong %s 8 B p50: process / thread" % impl,
                run.row("pingpong", impl, "process", 8, wait=wait),
                run.row("pingpong", impl, "thread", 8, wait=wait), lambda v: v <= 1.1)


TOPIC_KINDS = ("ringport-topic-lossy", "ringport-topic-backpressure")


def topic_targets(j, run):
    """Issue 13: fan-out per subscriber, topic vs N spsc rings, node call vs mailbox."""
    T = lambda impl, mode, size, subs: run.row("topic", impl, mode, size, "1x%d" % subs, "adaptive")
    for impl in TOPIC_KINDS:
        for mode in ("thread", "process"):
            for size in (8, 64):
                j.ratio("topic, 4 subscribers: each gets >= 0.5x the spsc 1x1 rate",
                        "%s %s %d B 1x4 / spsc-rings-copy 1x1" % (impl, mode, size),
                        T(impl, mode, size, 4), T("spsc-rings-copy", mode, size, 1), lambda v: v >= 0.5)
    for impl in TOPIC_KINDS:
        for mode in ("thread", "process"):
            for size in (8, 64):
                for subs in (1, 2, 4, 8):
                    j.ratio("topic beats N spsc rings with a copy each (per-subscriber rate > 1.0x)",
                            "%s %s %d B 1x%d / spsc-rings-copy" % (impl, mode, size, subs),
                            T(impl, mode, size, subs), T("spsc-rings-copy", mode, size, subs), lambda v: v > 1)
    for mode in ("thread", "process"):
        for size in (8, 64):
            j.ratio("request-response round trip p50 <= 1.3x a mailbox ping-pong",
                    "%s %d B: node-call / mailbox" % (mode, size),
                    run.row("pingpong", "node-call", mode, size, wait="adaptive"),
                    run.row("pingpong", "mailbox", mode, size, wait="adaptive"), lambda v: v <= 1.3)


def io_uring(j, run):
    """Issue 14: journal record, pumps, readable_fd wake-ups (skipped rows say why)."""
    def pair(target, label, a, b, ok, floor=False):
        why = run.skipped(*a) or run.skipped(*b)
        if why:
            j.add(target, label, "-", "-", "no figure", "skipped: " + why, 0)
        else:
            j.ratio(target, label, run.row(*a), run.row(*b), ok, floor)
    for impl, peer in (("ringport-record", "write-loop"), ("ringport-record-fsync10ms", "write-loop-fsync10ms")):
        pair("journal record 64 B: >= 1.5x a write(2) loop of the same batches", impl,
             ("journal", impl, "thread", 64, "1x1", "adaptive", 1024),
             ("journal", peer, "thread", 64, "1x1", "adaptive", 1024), lambda v: v >= 1.5)
    for size in (64, 4096):
        pair("pump mailbox -> TCP -> mailbox: >= 1.0x a plain blocking send/recv loop", "%d B" % size,
             ("pump", "ringport-pump", "thread", size, "1x1", "adaptive", 1024),
             ("pump", "send-recv", "thread", size, "1x1", "kernel", None), lambda v: v >= 1.0)
    for impl, target in (("readable-fd", "readable_fd + epoll round trip p50 <= 1.5x the eventfd ping-pong"),
                         ("readable-fd-thread", "(informative) readable_fd fallback (helper thread) round trip "
                                                "p50 <= 1.5x the eventfd ping-pong")):
        for mode in ("thread", "process"):
            pair(target, mode, ("wakefd", impl, mode, 8, "1x1", "epoll", 1024),
                 ("wakefd", "eventfd", mode, 8, "1x1", "kernel", None), lambda v: v <= 1.5)


def instructions(j, path):
    targets = (("instructions per push+pop pair: spsc <= 1.2x ref-spsc", "ringport-spsc", "ref-spsc", 1.2),
               ("instructions per push+pop pair: mpmc <= 0.7x boost queue", "ringport-mpmc", "boost-mpmc", 0.7))
    per = {}
    if path:
        with open(path, encoding="utf-8") as f:
            per = json.load(f).get("per_pair", {})
    for target, a, b, lim in targets:
        if not path:
            j.note(target, "perf/callgrind_pairs.sh (then --callgrind FILE)")
        elif a not in per or b not in per:
            j.add(target, "%s / %s" % (a, b), "-", "-", "no figure", "missing in %s" % path, 0)
        else:
            v = per[a] / per[b]
            j.add(target, "%s / %s" % (a, b), "%.1f instr" % per[a], "%.2f" % v,
                  "met" if v <= lim else "missed", "%s: %.1f instr" % (b, per[b]), v)


ORDER = {"measurement error": 0, "missed": 1, "no figure": 2, "not measured here": 3, "met": 4}


def summarize(entries):
    """One line per target: its worst row, and k/n met."""
    by, order = {}, []
    for e in entries:
        if e[0] not in by:
            by[e[0]] = []
            order.append(e[0])
        by[e[0]].append(e)
    out = []
    for t in order:
        es = by[t]
        worst = min(es, key=lambda e: (ORDER[e[4]], -e[6]))
        met = sum(1 for e in es if e[4] == "met")
        verdict = worst[4] if len(es) == 1 else "%s (%d/%d met)" % (worst[4], met, len(es))
        out.append((t, worst[1], worst[2], worst[3], verdict, worst[5]))
    return out


def main(argv):
    detail = "--detail" in argv
    args = [a for a in argv if a != "--detail"]
    callgrind = None
    if "--callgrind" in args:
        i = args.index("--callgrind")
        if i + 1 >= len(args):
            print(__doc__.strip())
            return 2
        callgrind = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__.strip())
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            doc = json.load(f)
        entries = judge_all(Run(doc), callgrind)
    except (OSError, ValueError, KeyError) as e:
        print("cannot read %s: %s" % (args[0], e))
        return 1
    load = doc.get("load", {})
    reps = doc.get("config", {}).get("reps", 0)
    print("## Targets (%s, %d interleaved rounds)\n" % (doc.get("machine", {}).get("started", "?"), reps))
    for w in load.get("warnings", []):
        print("**machine busy?** %s  " % w)
    if reps < 5:
        print("**fewer than 5 rounds:** a smoke run, not figures to quote  ")
    print("\n| target | row | figure | ratio (min-max) | verdict | limited by |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    rows = [e[:6] for e in entries] if detail else summarize(entries)
    for r in rows:
        print("| %s |" % " | ".join(r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
