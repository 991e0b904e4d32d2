#!/usr/bin/env python3
"""Checks a ringport-bench --json file: every scenario ran and produced
numbers (no speed is asserted) or was skipped with a reason (a row whose
kernel feature is missing, e.g. io_uring refused), and every ratio is what the method says: the
median of pair ratios, each pair two repetitions of the same round, of rows
of the same group, with the floor probes beside them and the flag they
imply. With a second argument, a file of the keys `ringport-bench --list`
printed, every one of them must be in the results.
Exit 0 when all is well, 1 otherwise."""
import json
import statistics
import sys

FIELDS = ("key", "scenario", "impl", "mode", "msg_bytes", "producers", "consumers", "wait",
          "capacity", "role", "group", "messages", "seconds", "mops", "gbps", "rtt_ns", "oneway_ns",
          "vs_boost", "vs_boost_ref", "vs_best_peer", "vs_best_peer_ref", "vs_floor", "vs_floor_ref",
          "below_floor", "spread", "ratios", "runs", "runs_mops")
COLUMNS = ("vs_boost", "vs_best_peer", "vs_floor")
PAIR_FIELDS = ("round", "subject", "reference", "ratio", "floor_a_ns", "floor_b_ns", "flagged")
# (row, column, reference row): the column must be there whenever both rows ran.
T8 = ("throughput", "ringport-spsc", "thread", 8, "1x1", "spin-yield", 1024)
P8 = ("pingpong", "ringport-spsc", "thread", 8, "1x1", "spin-yield", 1024)
M8 = ("throughput", "ringport-mpmc", "thread", 8, "1x1", "spin-yield", 1024)
EXPECTED = ((T8, "vs_boost", ("throughput", "boost-spsc", "thread", 8, "1x1", "spin-yield", 1024)),
            (T8, "vs_floor", ("throughput", "memcpy", "thread", 8, "1x0", "none", None)),
            (P8, "vs_boost", ("pingpong", "boost-spsc", "thread", 8, "1x1", "spin-yield", 1024)),
            (P8, "vs_floor", ("pingpong", "spin-line", "thread", 8, "1x1", "spin", None)),
            (M8, "vs_best_peer", ("throughput", "boost-mpmc", "thread", 8, "1x1", "spin-yield", 1024)))
LATENCY = {"pingpong": "rtt_ns", "oneway": "oneway_ns", "wakefd": "rtt_ns"}
RTT = ("p50", "p90", "p99", "p999", "max")


def problems(r):
    key = r.get("key") or "%s/%s/%s/%s" % (r.get("scenario"), r.get("impl"), r.get("mode"), r.get("msg_bytes"))
    if r.get("status") == "skipped":
        if not r.get("error"):
            return ["%s: skipped without a reason" % key]
        print("SKIP %s: %s" % (key, r["error"]))
        return []
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
    for f in COLUMNS:
        if r[f] is not None and (not isinstance(r[f], (int, float)) or r[f] <= 0 or not r[f + "_ref"]):
            out.append("%s: %s is %r (ref %r)" % (key, f, r[f], r[f + "_ref"]))
    return out


def figure(r, run):
    return run["p50_ns"] if r["scenario"] in LATENCY else run["mops"]


def ident(r):
    return (r["scenario"], r["impl"], r["mode"], r["msg_bytes"], "%dx%d" % (r["producers"], r["consumers"]),
            r["wait"], r["capacity"])


def pair_problems(r, by_group, reps, drift):
    """The runs, and every ratio column against its pairs and reference."""
    key, out = r["key"], []
    runs = r["runs"]
    if len(runs) != reps or [x["round"] for x in runs] != list(range(reps)):
        return ["%s: runs %r, want rounds 0..%d" % (key, [x.get("round") for x in runs], reps - 1)]
    if [x["mops"] for x in runs] != r["runs_mops"]:
        out.append("%s: runs_mops disagrees with runs" % key)
    for x in runs:
        if not isinstance(x.get("floor_ns"), (int, float)) or x["floor_ns"] < 0:
            out.append("%s: round %d floor_ns %r" % (key, x["round"], x.get("floor_ns")))
        if r["scenario"] in LATENCY and not (isinstance(x.get("p50_ns"), (int, float)) and x["p50_ns"] > 0):
            out.append("%s: round %d p50_ns %r" % (key, x["round"], x.get("p50_ns")))
    for col in COLUMNS:
        q = r["ratios"][col]
        if q is None:
            if r[col] is not None:
                out.append("%s: %s without its pairs" % (key, col))
            continue
        refs = [g for g in by_group[r["group"]] if g["impl"] == q["ref"] and g is not r and g["status"] == "ok"]
        if not refs:
            out.append("%s: %s reference %r is not in group %s" % (key, col, q["ref"], r["group"]))
            continue
        pairs = q["pairs"]
        if len(pairs) != reps or any(set(p) != set(PAIR_FIELDS) for p in pairs):
            out.append("%s: %s has %d pairs (want %d) or bad fields" % (key, col, len(pairs), reps))
            continue
        ref_ok = False
        for ref in refs:  # the reference is one row of that impl in the group
            rr = {x["round"]: x for x in ref["runs"]}
            if all(p["round"] in rr and close(p["reference"], figure(ref, rr[p["round"]])) and
                   close(p["floor_b_ns"], rr[p["round"]]["floor_ns"]) for p in pairs):
                ref_ok = True
        if not ref_ok:
            out.append("%s: %s pairs do not match any %s row's runs round by round" % (key, col, q["ref"]))
        flagged = 0
        for p, x in zip(pairs, runs):
            if p["round"] != x["round"] or not close(p["subject"], figure(r, x)) or \
                    not close(p["floor_a_ns"], x["floor_ns"]):
                out.append("%s: %s pair of round %d is not this row's repetition" % (key, col, p["round"]))
            if p["reference"] <= 0 or not close(p["ratio"], p["subject"] / p["reference"]):
                out.append("%s: %s pair ratio %r != %r / %r" % (key, col, p["ratio"], p["subject"],
                                                                p["reference"]))
            lo, hi = sorted((p["floor_a_ns"], p["floor_b_ns"]))
            want = lo <= 0 or hi / lo - 1 > drift
            if p["flagged"] != want:
                out.append("%s: %s pair of round %d flagged %r, floors %r/%r" % (key, col, p["round"], p["flagged"],
                                                                              p["floor_a_ns"], p["floor_b_ns"]))
            flagged += p["flagged"]
        v = [p["ratio"] for p in pairs]
        if not (close(q["median"], statistics.median(v)) and close(q["min"], min(v)) and close(q["max"], max(v))
                and close(r[col], q["median"]) and q["flagged"] == flagged and r[col + "_ref"] == q["ref"]):
            out.append("%s: %s summary %r does not follow from its pairs" % (key, col, {k: q[k] for k in q
                                                                                      if k != "pairs"}))
    return out


def close(a, b):
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-4 * max(1, abs(b))


def method_problems(doc, results):
    cfg = doc.get("config", {})
    reps, drift = cfg.get("reps"), cfg.get("drift")
    if not isinstance(reps, int) or reps < 1 or not isinstance(drift, (int, float)):
        return ["config: reps %r, drift %r" % (reps, drift)]
    load = doc.get("load")
    if not isinstance(load, dict) or not isinstance(load.get("warnings"), list) or \
            not isinstance(load.get("samples"), int) or load["samples"] < len(results):
        return ["load: %r" % load]
    by_group = {}
    for r in results:
        by_group.setdefault(r["group"], []).append(r)
    out = []
    for r in results:
        if r["status"] == "ok":
            out += pair_problems(r, by_group, reps, drift)
    present = {ident(r): r for r in results}
    for k, col, ref in EXPECTED:
        r, b = present.get(k), present.get(ref)
        if r is None or b is None or r["status"] != "ok" or b["status"] != "ok":
            continue
        if r[col] is None:
            out.append("%s: no %s (%s ran)" % (r["key"], col, b["key"]))
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
    if not bad:
        bad = method_problems(doc, results)
    for p in bad:
        print("FAIL", p)
    print("%d scenario(s) checked, %d problem(s)" % (len(results), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
