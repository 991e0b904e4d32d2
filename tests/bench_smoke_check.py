#!/usr/bin/env python3
"""Checks a ringport-bench --json file: every scenario ran and produced
numbers (no speed is asserted). With a second argument, a file of the keys
`ringport-bench --list` printed, every one of them must be in the results.
Exit 0 when all is well, 1 otherwise."""
import json
import sys

FIELDS = ("key", "scenario", "impl", "mode", "msg_bytes", "producers", "consumers", "wait",
          "messages", "seconds", "mops", "gbps", "rtt_ns", "oneway_ns",
          "vs_boost", "vs_boost_ref", "vs_floor", "vs_floor_ref")
LATENCY = {"pingpong": "rtt_ns", "oneway": "oneway_ns"}
RTT = ("p50", "p90", "p99", "p999", "max")


def problems(r):
    key = r.get("key") or "%s/%s/%s/%s" % (r.get("scenario"), r.get("impl"), r.get("mode"), r.get("msg_bytes"))
    missing = [f for f in FIELDS if f not in r]
    if missing:
        return ["%s: missing %s" % (key, ", ".join(missing))]
    if r.get("status") != "ok":
        return ["%s: %s" % (key, r.get("error", "not ok"))]
    out = []
    for f in ("messages", "seconds", "mops"):
        if not isinstance(r[f], (int, float)) or r[f] <= 0:
            out.append("%s: %s is %r" % (key, f, r[f]))
    field = LATENCY.get(r["scenario"])
    if field:
        lat = r[field]
        if not isinstance(lat, dict) or any(not isinstance(lat.get(q), int) for q in RTT):
            out.append("%s: %s incomplete: %r" % (key, field, lat))
        elif not 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]:
            out.append("%s: %s percentiles out of order: %r" % (key, field, lat))
    elif not isinstance(r["gbps"], (int, float)) or r["gbps"] <= 0:
        out.append("%s: gbps is %r" % (key, r["gbps"]))
    for f in ("vs_boost", "vs_floor"):
        if r[f] is not None and (not isinstance(r[f], (int, float)) or r[f] <= 0 or not r[f + "_ref"]):
            out.append("%s: %s is %r (ref %r)" % (key, f, r[f], r[f + "_ref"]))
    return out


def main(path, keys_path=None):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    results = doc.get("results", [])
    if not results:
        print("no results in", path)
        return 1
    if keys_path:
        with open(keys_path, encoding="utf-8") as f:
            listed = [k for k in f.read().split() if k]
        seen = {r.get("key") for r in results}
        absent = [k for k in listed if k not in seen]
        for k in absent:
            print("FAIL %s: listed but not in the results" % k)
        if absent or len(listed) != len(results):
            print("%d listed, %d results" % (len(listed), len(results)))
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
    sys.exit(main(*sys.argv[1:3]))
