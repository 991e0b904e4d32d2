#!/usr/bin/env python3
"""Checks a ringport-bench --json file: every scenario ran and produced
numbers (no speed is asserted). Exit 0 when all is well, 1 otherwise."""
import json
import sys

FIELDS = ("scenario", "impl", "mode", "msg_bytes", "producers", "consumers", "wait",
          "messages", "seconds", "mops", "gbps", "rtt_ns")
RTT = ("p50", "p90", "p99", "p999", "max")


def problems(r):
    key = "%s/%s/%s/%s" % (r.get("scenario"), r.get("impl"), r.get("mode"), r.get("msg_bytes"))
    missing = [f for f in FIELDS if f not in r]
    if missing:
        return ["%s: missing %s" % (key, ", ".join(missing))]
    if r.get("status") != "ok":
        return ["%s: %s" % (key, r.get("error", "not ok"))]
    out = []
    for f in ("messages", "seconds", "mops"):
        if not isinstance(r[f], (int, float)) or r[f] <= 0:
            out.append("%s: %s is %r" % (key, f, r[f]))
    if r["scenario"] == "pingpong":
        rtt = r["rtt_ns"]
        if not isinstance(rtt, dict) or any(not isinstance(rtt.get(q), int) for q in RTT):
            out.append("%s: rtt_ns incomplete: %r" % (key, rtt))
        elif not 0 < rtt["p50"] <= rtt["p90"] <= rtt["p99"] <= rtt["p999"] <= rtt["max"]:
            out.append("%s: rtt percentiles out of order: %r" % (key, rtt))
    elif not isinstance(r["gbps"], (int, float)) or r["gbps"] <= 0:
        out.append("%s: gbps is %r" % (key, r["gbps"]))
    return out


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    results = doc.get("results", [])
    if not results:
        print("no results in", path)
        return 1
    if not doc.get("machine", {}).get("cpu_model"):
        print("machine header missing")
        return 1
    bad = [p for r in results for p in problems(r)]
    for p in bad:
        print("FAIL", p)
    print("%d scenario(s) checked, %d problem(s)" % (len(results), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
