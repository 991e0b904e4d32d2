#!/bin/sh
# Runs the full default ringport-bench suite (5 interleaved rounds), then the
# MPMC scaling rows again with 9 rounds, on whatever machine this is (meant for a machine with
# more cores than the 2-vCPU development VM, where 4x4 is not oversubscribed).
#
# usage: perf/device_run.sh PATH/TO/ringport-bench [extra ringport-bench options]
# Output goes to $OUT when set, else ./bench-out: uptime.txt, full.txt,
# full.json, targets.md (perf/targets.py --detail on full.json), scaling.txt,
# scaling.json. Exit status: that of the full run (1 when a row FAILED).
set -u
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/ringport-bench [options]" >&2
  exit 2
fi
bench=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-./bench-out}
mkdir -p "$out"

{ uptime; nproc; } | tee "$out/uptime.txt"
{ "$bench" --json "$out/full.json" "$@"; echo $? >"$out/full.rc"; } | tee "$out/full.txt"
rc=$(cat "$out/full.rc")
if command -v python3 >/dev/null 2>&1; then
  python3 "$here/targets.py" "$out/full.json" --detail | tee "$out/targets.md"
fi
# The scaling rows alone: 9 rounds.
"$bench" --filter 'scaling/' --reps 9 --json "$out/scaling.json" "$@" | tee "$out/scaling.txt"
exit $rc
