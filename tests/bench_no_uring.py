#!/usr/bin/env python3
"""ringport-bench with io_uring refused (tests/no_uring_exec: a seccomp
filter makes io_uring_setup fail with EPERM): the io_uring rows (journal,
pump, readable-fd) must say `skipped` with a reason naming io_uring, the
helper-thread fallback row must still run, and the bench must exit 0.
usage: bench_no_uring.py NO_URING_EXEC RINGPORT_BENCH WORKDIR
Exit 0 when all is well, 77 when no filter can be installed, 1 otherwise."""
import json
import os
import subprocess
import sys


def main(wrapper, bench, work):
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "no_uring.json")
    rows = "journal/ringport-record,journal/ringport-replay/,pump/ringport-pump/,wakefd/readable-fd"
    p = subprocess.run([wrapper, bench, "--quick", "--filter", rows, "--json", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if p.returncode == 77:
        print(p.stdout.strip())
        return 77
    bad = []
    if p.returncode != 0:
        bad.append("ringport-bench exited %d (skipped rows must not fail the run)" % p.returncode)
    with open(out, encoding="utf-8") as f:
        results = json.load(f)["results"]
    seen = set()
    for r in results:
        seen.add(r["impl"])
        fallback = r["impl"] == "readable-fd-thread"
        want = "ok" if fallback else "skipped"
        if r["status"] != want:
            bad.append("%s: status %s, want %s (%s)" % (r["key"], r["status"], want, r.get("error")))
        elif not fallback and "io_uring" not in (r.get("error") or ""):
            bad.append("%s: skipped, but the reason does not name io_uring: %r" % (r["key"], r.get("error")))
    for impl in ("ringport-record", "ringport-record-fsync10ms", "ringport-replay", "ringport-pump",
                 "readable-fd", "readable-fd-thread"):
        if impl not in seen:
            bad.append("no %s row in the results" % impl)
    if "skipped: " not in p.stdout:
        bad.append("the table does not say `skipped: REASON`")
    for b in bad:
        print("FAIL", b)
    print("%d row(s) checked, %d problem(s)" % (len(results), len(bad)))
    if bad:
        print(p.stdout)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
