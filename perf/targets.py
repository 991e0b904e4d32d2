#!/usr/bin/env python3
"""Reads a ringport-bench --json file and prints, as a Markdown table, the
issue targets with the ratios measured in that one run (every ratio divides
two rows of the same file). A target whose rows are missing or failed says
so; nothing is estimated. Exit status 0 whatever the verdicts (1 when the
file cannot be read).

usage: targets.py RESULTS.json
"""
import json
import sys


def index(results):
    rows = {}
    for r in results:
        k = (r["scenario"], r["impl"], r["mode"], r["msg_bytes"],
             "%dx%d" % (r["producers"], r["consumers"]), r["wait"])
        rows[k] = r
    return rows


def fmt(v):
    return "-" if v is None else "%.2f" % v


def main(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("cannot read %s: %s" % (path, e))
        return 1
    rows = index(doc.get("results", []))
    out = []

    def row(scenario, impl, mode, size, pc="1x1", wait="spin-yield"):
        r = rows.get((scenario, impl, mode, size, pc, wait))
        return r if r and r.get("status") == "ok" else None

    def ratio(target, r, field, ok, label):
        if r is None or r.get(field) is None:
            out.append((target, label, "-", "no figure (row missing or failed)"))
            return
        v = r[field]
        out.append((target, label, fmt(v), "met" if ok(v) else "missed"))

    for mode in ("thread", "process"):
        ratio("spsc 8 B throughput >= 3x boost spsc_queue",
              row("throughput", "ringport-spsc", mode, 8), "vs_boost", lambda v: v >= 3,
              "throughput ringport-spsc %s 8 B vs boost-spsc" % mode)
    for mode in ("thread", "process"):
        r = row("pingpong", "ringport-spsc", mode, 8)
        ratio("spsc round trip <= 1.15x spin-line floor", r, "vs_floor", lambda v: v <= 1.15,
              "pingpong ringport-spsc %s p50 vs spin-line" % mode)
        ratio("spsc round trip below boost spsc_queue's", r, "vs_boost", lambda v: v < 1,
              "pingpong ringport-spsc %s p50 vs boost-spsc" % mode)
    for size in (8, 64, 512, 4096):
        ratio("mpmc 1x1 >= 5x boost::lockfree::queue",
              row("throughput", "ringport-mpmc", "thread", size), "vs_boost", lambda v: v >= 5,
              "throughput ringport-mpmc thread %d B vs boost-mpmc" % size)
    for impl in ("ringport-spsc", "ringport-spsc-batch32", "ringport-mpmc", "ringport-mpmc-batch32", "mailbox"):
        wait = "adaptive" if impl == "mailbox" else "spin-yield"
        for size in (8, 64, 512, 4096):
            t = row("throughput", impl, "thread", size, wait=wait)
            p = row("throughput", impl, "process", size, wait=wait)
            label = "throughput %s %d B: process / thread Mmsg/s" % (impl, size)
            if t is None or p is None:
                out.append(("process mode within 10% of thread mode", label, "-", "no figure"))
                continue
            v = p["mops"] / t["mops"]
            out.append(("process mode within 10% of thread mode", label, fmt(v),
                        "met" if v >= 0.9 else "missed"))
    for impl in ("ringport-spsc", "ringport-mpmc", "mailbox"):
        wait = "adaptive" if impl == "mailbox" else "spin-yield"
        t = row("pingpong", impl, "thread", 8, wait=wait)
        p = row("pingpong", impl, "process", 8, wait=wait)
        label = "pingpong %s 8 B: process / thread p50" % impl
        if t is None or p is None:
            out.append(("process mode within 10% of thread mode", label, "-", "no figure"))
        else:
            v = p["rtt_ns"]["p50"] / t["rtt_ns"]["p50"]
            out.append(("process mode within 10% of thread mode", label, fmt(v),
                        "met" if v <= 1.1 else "missed"))
    for impl in ("ringport-spsc", "ringport-spsc-batch32"):
        for mode in ("thread", "process"):
            ratio("4096 B messages at >= 50% of memcpy bandwidth",
                  row("throughput", impl, mode, 4096), "vs_floor", lambda v: v >= 0.5,
                  "throughput %s %s 4096 B vs memcpy GB/s" % (impl, mode))
    for mode in ("thread", "process"):
        ratio("block-policy round trip <= 1.2x raw futex ping-pong",
              row("pingpong", "ringport-spsc", mode, 8, wait="block"), "vs_floor", lambda v: v <= 1.2,
              "pingpong ringport-spsc block %s p50 vs futex" % mode)

    print("| target | row | ratio | verdict |")
    print("| --- | --- | ---: | --- |")
    for t, label, v, verdict in out:
        print("| %s | %s | %s | %s |" % (t, label, v, verdict))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip())
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
