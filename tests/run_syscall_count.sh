#!/bin/sh
# Runs syscalls_per_message under `strace -f -c` and checks that the system
# calls of the whole run (threads included) stay under 1% of the messages.
# usage: run_syscall_count.sh <syscalls_per_message binary> [messages [options]]
# Exit 77 (ctest: skipped) with the reason when strace is missing or may not trace.
set -u
prog=$1
messages=${2:-10000000}
[ $# -ge 2 ] && shift 2 || shift $#

if ! command -v strace >/dev/null 2>&1; then
  echo "SKIPPED: strace is not installed (apt-get install strace)"
  exit 77
fi
summary=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$summary" "$errors"' EXIT

# LeakSanitizer cannot run under ptrace: switch it off in ASan builds (the
# doctest suites check leaks); harmless elsewhere.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
# -f: follow the producer thread; -c: count calls instead of printing them.
if ! strace -f -c -o "$summary" "$prog" "$messages" "$@" 2>"$errors"; then
  cat "$errors"
  if grep -q 'ptrace.*Operation not permitted' "$errors"; then
    echo "SKIPPED: strace may not trace here (ptrace not permitted)"
    exit 77
  fi
  echo "FAILED: $prog exited with an error under strace"
  exit 1
fi
cat "$summary"

# The summary ends with "100.00 <seconds> <usecs/call> <calls> [<errors>] total".
calls=$(awk '$NF == "total" { print $4 }' "$summary")
case "$calls" in
  '' | *[!0-9]*) echo "FAILED: no total line in the strace summary"; exit 1 ;;
esac
awk -v c="$calls" -v m="$messages" \
  'BEGIN { printf "system calls: %d for %d messages = %.6f per message (limit 0.01)\n", c, m, c / m }'
if [ $((calls * 100)) -ge "$messages" ]; then
  echo "FAILED: at least one system call per 100 messages"
  exit 1
fi
