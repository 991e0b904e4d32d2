#!/bin/sh
# Runs one libFuzzer target for FUZZ_SECONDS (default 20) from a fresh corpus
# of the seeds the target writes itself (RINGPORT_FUZZ_SEEDS), and prints the
# figures: executions, coverage (cov: edges, ft: features), corpus, crashes.
# A crash, sanitizer report, check failure, hang (> 10 s) or memory blow-up
# fails the run; the reproducer is kept under WORKDIR/artifacts.
# Usage: fuzz_one.sh TARGET_BINARY WORKDIR [LIBFUZZER_FLAG...]
set -u
bin=$1
work=$2
shift 2
secs=${FUZZ_SECONDS:-15}
name=$(basename "$bin")
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
# Segment files go to a private directory on tmpfs, removed afterwards.
shm=$(mktemp -d /dev/shm/ringport-fuzz-run.XXXXXX) || exit 1
trap 'rm -rf "$shm"' EXIT INT TERM
export RINGPORT_FUZZ_TMP="$shm"
if ! RINGPORT_FUZZ_SEEDS="$work/corpus" "$bin" >"$work/seeds.log" 2>&1; then
  cat "$work/seeds.log"
  echo "$name: could not write its seeds"
  exit 1
fi
seeds=$(ls "$work/corpus" | wc -l)
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" >"$work/log" 2>&1
rc=$?
last=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
crashes=$(ls "$work/artifacts" | wc -l)
echo "$name: ${secs}s, seeds $seeds, executions ${execs:-?} (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, crashes $crashes, exit $rc"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -v '# Uses:' "$work/log" | tail -n 60
  for a in "$work"/artifacts/*; do
    [ -e "$a" ] && echo "$name: reproducer $a (replay: $bin $a)"
  done
  exit 1
fi
exit 0
