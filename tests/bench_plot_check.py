#!/usr/bin/env python3
"""ringport-bench --plot: a tiny quick run, then every SVG is checked.

usage: bench_plot_check.py BENCH WORK_DIR
Runs BENCH --quick --reps 1 on a few rows (ringport and ref-spsc throughput
at every size, their 8-byte ping-pong, ringport mpmc scaling) with --plot
WORK_DIR, then requires of throughput.svg, latency.svg and scaling.svg: a
well-formed SVG document, one series per implementation run (by label), each
with as many points as rows (or percentiles) it had, every point inside the
plot area. exit: 0 ok, 1 failed.
"""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
FILTER = ",".join([
    "throughput/ringport-spsc/thread/*/1x1/spin-yield/1024",
    "throughput/ref-spsc/thread/*/1x1/spin-yield/1024",
    "pingpong/ringport-spsc/thread/8/1x1/spin-yield/1024",
    "pingpong/ref-spsc/thread/8/1x1/spin-yield/1024",
    "scaling/ringport-mpmc/thread/64/*/block/1024",
])


def series(path):
    """{label: [(x, y), ...]} of the chart's polylines."""
    root = ET.parse(path).getroot()
    if root.tag != NS + "svg":
        raise ValueError(f"{path}: the root element is {root.tag}, not svg")
    out = {}
    for g in root.iter(NS + "g"):
        if g.get("class") != "series":
            continue
        line = g.find(NS + "polyline")
        pts = [tuple(float(v) for v in p.split(",")) for p in line.get("points").split()]
        out[g.get("data-label")] = pts
    return out


def main():
    bench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    listed = subprocess.run([bench, "--list", "--filter", FILTER], capture_output=True, text=True, check=True)
    keys = listed.stdout.split()
    want = {"throughput.svg": {}, "latency.svg": {}, "scaling.svg": {}}
    for k in keys:
        name, impl = k.split("/")[:2]
        chart = {"throughput": "throughput.svg", "pingpong": "latency.svg", "scaling": "scaling.svg"}[name]
        want[chart][impl] = want[chart].get(impl, 0) + (5 if name == "pingpong" else 1)
    ran = subprocess.run([bench, "--quick", "--reps", "1", "--filter", FILTER, "--plot", work],
                         capture_output=True, text=True)
    if ran.returncode != 0:
        print(f"FAIL: {bench} exited with {ran.returncode}\n{ran.stdout}{ran.stderr}")
        return 1
    fails = 0
    for chart, impls in want.items():
        path = os.path.join(work, chart)
        try:
            got = series(path)
        except (OSError, ET.ParseError, ValueError, AttributeError) as e:
            print(f"FAIL: {path}: {e}")
            fails += 1
            continue
        if set(got) != set(impls):
            print(f"FAIL: {chart}: series {sorted(got)}, wanted {sorted(impls)}")
            fails += 1
        for label, pts in got.items():
            if len(pts) != impls.get(label, -1):
                print(f"FAIL: {chart}: {label} has {len(pts)} points, wanted {impls.get(label)}")
                fails += 1
            outside = [p for p in pts if not (80 <= p[0] <= 640 and 60 <= p[1] <= 440)]
            if outside:
                print(f"FAIL: {chart}: {label} has points outside the plot area: {outside}")
                fails += 1
        print(f"{'ok  ' if not fails else 'seen'} {chart}: {', '.join(f'{k} ({len(v)})' for k, v in sorted(got.items()))}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
