#!/bin/sh
# `ringport mailbox create --capacity auto --max-bytes N` (issue 15): the
# mailbox grows when sends find it full; stat, stat --json and ls show its
# size now; rm takes its generations with it. Private domain, removed on exit.
# usage: test_cli_auto.sh PATH-TO-ringport
R=$1
export RINGPORT_DOMAIN="cliauto-$$"
T=/tmp/ringport-cliauto-$$
fails=0
cleanup() {
  rm -rf "/dev/shm/ringport.$RINGPORT_DOMAIN"
  rm -f "$T".*
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
has() {  # has FILE PATTERN WHAT
  grep -q -- "$2" "$1" || { fail "$3: no '$2' in:"; cat "$1"; }
}

"$R" mailbox create box --capacity auto 2>/dev/null; [ $? = 2 ] || fail "auto without --max-bytes: exit 2"
"$R" mailbox create box --capacity auto --max-bytes 10 2>"$T.err"; [ $? = 1 ] || fail "max-bytes below one slot: exit 1"
"$R" mailbox create box --capacity 16 --max-bytes 4096 2>/dev/null; [ $? = 2 ] || fail "--max-bytes without auto: exit 2"
# 64-byte messages: 80-byte slots; 16, 32, 64 slots (64 * 80 = 5120 bytes).
"$R" mailbox create box --capacity auto --max-size 64 --max-bytes 5120 || fail "create auto"
"$R" stat box >"$T.out" || fail "stat"
has "$T.out" "capacity:      automatic: now 16 messages, 1280 bytes of slots (generation 0), limit 5120" "stat small"
i=0
while [ $i -lt 100 ]; do echo "m$i"; i=$((i + 1)); done | "$R" send box --nonblock || fail "100 sends grow it"
"$R" stat box >"$T.out" || fail "stat grown"
has "$T.out" "now 64 messages, 5120 bytes of slots (generation 2)" "stat grown"
has "$T.out" "100 queued in all generations" "stat queued"
"$R" stat box --json >"$T.out" || fail "stat --json"
has "$T.out" '"automatic":{"generation":2,"capacity":64,"buffer_bytes":5120,"max_bytes":5120,"queued":100}' "stat --json"
"$R" ls >"$T.out" || fail "ls"
has "$T.out" "auto:64" "ls shows the size now"
"$R" recv box -n 100 >"$T.out" || fail "recv 100"
[ "$(head -1 "$T.out")" = m0 ] && [ "$(tail -1 "$T.out")" = m99 ] || fail "recv order: $(head -1 "$T.out") .. $(tail -1 "$T.out")"
seq 0 99 | sed 's/^/m/' | cmp -s - "$T.out" || fail "recv: not m0..m99 in order"
"$R" rm box || fail "rm"
"$R" ls >"$T.out"
grep -q "box" "$T.out" && fail "rm left generations: $(cat "$T.out")"
[ $fails = 0 ] && echo "test_cli_auto: ok"
exit $fails
