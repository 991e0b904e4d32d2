#!/bin/sh
# Instructions per try_push + try_pop pair: one thread, 8-byte items, a queue
# of 1024 slots, g++ -O2 (the bench's flags), counted by
# `valgrind --tool=callgrind` as the difference between a 1.1 M-pair and a
# 0.1 M-pair run divided by 1 M, so start-up, set-up and tear-down cancel
# out. Instruction counts do not depend on the machine's load: this can run
# on a busy machine and gives the same table.
#
# usage: perf/callgrind_pairs.sh [BUILD_DIR] [--json FILE]
#   BUILD_DIR  a configured CMake build of ringport (default: build); the
#              script builds its ringport-pairs target there
#   --json F   also write the table as JSON (perf/targets.py --callgrind F)
# Prints the table and issue 11's two targets: ringport spsc <= 1.2x
# ref-spsc; ringport mpmc <= 0.7x boost::lockfree::queue.
set -eu
build=build
json=
while [ $# -gt 0 ]; do
  case $1 in
    --json) json=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
if ! command -v valgrind >/dev/null 2>&1; then
  echo "callgrind_pairs: valgrind not found: apt-get install -y valgrind" >&2
  exit 77
fi
cmake --build "$build" --target ringport-pairs >/dev/null
prog=$build/perf/ringport-pairs
tmp=$(mktemp -d /tmp/callgrind-pairs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Instructions of one run (callgrind's "summary:" line of the whole program).
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$prog" "$1" "$2" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; return 1; }
  sed -n 's/^summary: *//p' "$tmp/out"
}

impls="ringport-spsc ref-spsc ref-spsc-turns boost-spsc moodycamel-rwq ringport-mpmc boost-mpmc moodycamel-cq"
printf '| impl | instructions per pair |\n| --- | ---: |\n'
: >"$tmp/table"
for impl in $impls; do
  if ! "$prog" "$impl" 1 >/dev/null 2>&1; then
    printf '| %s | not built (package missing) |\n' "$impl"
    continue
  fi
  small=$(count "$impl" 100000)
  large=$(count "$impl" 1100000)
  per=$(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.1f", (a - b) / 1000000 }')
  printf '| %s | %s |\n' "$impl" "$per"
  echo "$impl $per" >>"$tmp/table"
done

# ratio A B LIMIT LABEL: prints A/B against the limit.
ratio() {
  a=$(awk -v k="$1" '$1 == k { print $2 }' "$tmp/table")
  b=$(awk -v k="$2" '$1 == k { print $2 }' "$tmp/table")
  if [ -z "$a" ] || [ -z "$b" ]; then
    printf '%s: no figure (%s or %s missing)\n' "$4" "$1" "$2"
    return
  fi
  awk -v a="$a" -v b="$b" -v lim="$3" -v label="$4" 'BEGIN {
    r = a / b; printf "%s: %.1f / %.1f = %.2fx (target <= %.1fx): %s\n", label, a, b, r, lim, (r <= lim ? "met" : "missed") }'
}
echo
ratio ringport-spsc ref-spsc 1.2 "ringport spsc vs ref-spsc"
ratio ringport-mpmc boost-mpmc 0.7 "ringport mpmc vs boost::lockfree::queue"

if [ -n "$json" ]; then
  awk 'BEGIN { printf "{\"method\": \"callgrind Ir, (1.1M - 0.1M pairs) / 1M, 8 B items, capacity 1024\", \"per_pair\": {" }
       { printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), $1, $2 }
       END { print "}}" }' "$tmp/table" >"$json"
fi
