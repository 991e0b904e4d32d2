#!/bin/sh
# Drives `ringport record / replay / journal cat / journal verify` (issue
# #14): a round trip through the tool, SIGTERM closes a journal cleanly,
# SIGKILL leaves a prefix that verify accepts, a flipped byte makes verify
# fail with the offset, bad options are usage errors; `ringport pump` over
# loopback TCP and a Unix socket. Private domain and scratch files, removed
# by the exit trap.
# usage: test_journal_cli.sh PATH-TO-ringport
R=$1
export RINGPORT_DOMAIN="jclitest-$$"
T=/tmp/ringport-jcli-$$
fails=0
pids=""
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  rm -rf "/dev/shm/ringport.$RINGPORT_DOMAIN" "$T".*
}
trap cleanup EXIT
trap 'exit 1' INT TERM
check() {  # check WANTED-RC DESCRIPTION -- command...
  want=$1; what=$2; shift 3
  "$@" >"$T.out" 2>"$T.err"
  got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, wanted $want"; cat "$T.err" "$T.out"; fails=$((fails + 1))
  fi
}
expect_out() {  # expect_out DESCRIPTION GREP-PATTERN
  if ! grep -q -- "$2" "$T.out"; then echo "FAIL: $1: output lacks '$2':"; cat "$T.out"; fails=$((fails + 1)); fi
}
expect_err() {
  if ! grep -q -- "$2" "$T.err"; then echo "FAIL: $1: stderr lacks '$2':"; cat "$T.err"; fails=$((fails + 1)); fi
}

check 0 "create" -- "$R" mailbox create src --capacity 64 --max-size 256
check 0 "create dst" -- "$R" mailbox create dst --capacity 256 --max-size 256
seq 1 200 | sed 's/^/line /' >"$T.sent"

# Round trip: send 200 lines, record -n 200, replay into dst, receive them.
"$R" record src "$T.j" -n 200 --fsync 0 2>"$T.rec.err" &
rec=$!; pids="$pids $rec"
"$R" send src <"$T.sent" || { echo "FAIL: send"; fails=$((fails + 1)); }
wait $rec || { echo "FAIL: record exit $?"; cat "$T.rec.err"; fails=$((fails + 1)); }
check 0 "verify" -- "$R" journal verify "$T.j"
expect_out "verify" "200 records (sequences 0..199)"
expect_out "verify" "closed cleanly"
check 0 "cat --raw" -- "$R" journal cat "$T.j" --raw
[ "$(tr -d '\n' <"$T.sent")" = "$(cat "$T.out")" ] || { echo "FAIL: cat --raw differs"; fails=$((fails + 1)); }
check 0 "cat" -- "$R" journal cat "$T.j"
expect_out "cat" "^199 20[0-9-]*T[0-9:.]*Z [0-9]* 8 line 200$"
check 0 "replay" -- "$R" replay "$T.j" dst --pace 1000
check 0 "recv" -- "$R" recv dst -n 200 --timeout 5000
cmp -s "$T.out" "$T.sent" || { echo "FAIL: replayed lines differ"; fails=$((fails + 1)); }
check 0 "replay --from" -- "$R" replay "$T.j" dst --from 150
check 0 "recv from 150" -- "$R" recv dst -n 1 --nonblock
expect_out "replay --from" "^line 151$"
check 0 "recv rest" -- "$R" recv dst -n 49 --nonblock

# SIGTERM: the journal is closed cleanly (rotation across parts too).
"$R" record src "$T.t" --rotate 65536 2>"$T.rec.err" &
rec=$!; pids="$pids $rec"
seq 1 3000 | sed 's/^/message number /' | "$R" send src
sleep 0.3
kill -TERM $rec; wait $rec || { echo "FAIL: record after SIGTERM exit $?"; fails=$((fails + 1)); }
check 0 "verify after SIGTERM" -- "$R" journal verify "$T.t"
expect_out "verify after SIGTERM" "closed cleanly"
expect_out "verify after SIGTERM" "3000 records"
[ -f "$T.t.1" ] || { echo "FAIL: --rotate 65536 made no part 1"; fails=$((fails + 1)); }

# SIGKILL mid-stream: verify accepts the whole records (an exact prefix).
"$R" record src "$T.k" 2>/dev/null &
rec=$!; pids="$pids $rec"
(seq 1 100000 | sed 's/^/k /' | "$R" send src --timeout 2000 >/dev/null 2>&1) &
snd=$!; pids="$pids $snd"
i=0  # until records are on disk (slow builds start late), 5 s at most
while [ "$(stat -c %s "$T.k" 2>/dev/null || echo 0)" -le 4096 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.1
kill -KILL $rec; wait $rec 2>/dev/null; kill -KILL $snd 2>/dev/null; wait $snd 2>/dev/null
check 0 "verify after SIGKILL" -- "$R" journal verify "$T.k"
expect_out "verify after SIGKILL" "not closed\|torn tail"
"$R" journal cat "$T.k" --raw >/dev/null 2>&1 || { echo "FAIL: cat after SIGKILL"; fails=$((fails + 1)); }
n=$("$R" journal cat "$T.k" 2>/dev/null | wc -l)
seq 1 "$n" | sed 's/^/k /' >"$T.want"
"$R" journal cat "$T.k" 2>/dev/null | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* //' >"$T.got"
cmp -s "$T.want" "$T.got" || { echo "FAIL: the killed journal is not a prefix"; fails=$((fails + 1)); }

# A flipped byte in the middle: verify fails and names the offset.
cp "$T.j" "$T.f"
printf 'X' | dd of="$T.f" bs=1 seek=6000 conv=notrunc 2>/dev/null
check 1 "verify flipped" -- "$R" journal verify "$T.f"
expect_out "verify flipped" "CORRUPT at part 0 .* offset [0-9]*: "

check 2 "bad pace" -- "$R" replay "$T.j" dst --pace -1
check 2 "zero pace" -- "$R" replay "$T.j" dst --pace 0
check 2 "small rotate" -- "$R" record src "$T.x" --rotate 100
check 1 "exists" -- "$R" record src "$T.j" -n 1
expect_err "exists" "exists"
check 1 "missing" -- "$R" journal verify "$T.none"

# ringport pump: mailbox p1 -> ADDR -> mailbox p2, over loopback TCP and a Unix socket.
for addr in "tcp://127.0.0.1:$((20000 + $$ % 20000))" "unix:$T.sock"; do
  "$R" rm p1 >/dev/null 2>&1; "$R" rm p2 >/dev/null 2>&1
  check 0 "create p1" -- "$R" mailbox create p1 --capacity 16 --max-size 256
  check 0 "create p2" -- "$R" mailbox create p2 --capacity 16 --max-size 256
  "$R" pump p2 --from "$addr" 2>"$T.pin" &
  pin=$!; pids="$pids $pin"
  sleep 0.3
  "$R" pump p1 --to "$addr" 2>"$T.pout" &
  pout=$!; pids="$pids $pout"
  "$R" send p1 <"$T.sent" || { echo "FAIL: send p1 ($addr)"; fails=$((fails + 1)); }
  check 0 "recv p2 ($addr)" -- "$R" recv p2 -n 200 --timeout 10000
  cmp -s "$T.out" "$T.sent" || { echo "FAIL: pumped lines differ ($addr)"; fails=$((fails + 1)); }
  check 0 "close p1" -- "$R" mailbox close p1
  wait $pout || { echo "FAIL: pump --to exit $? ($addr)"; cat "$T.pout"; fails=$((fails + 1)); }
  kill -TERM $pin; wait $pin || { echo "FAIL: pump --from exit $? ($addr)"; cat "$T.pin"; fails=$((fails + 1)); }
  grep -q "200 messages received" "$T.pin" || { echo "FAIL: pump --from count ($addr)"; cat "$T.pin"; fails=$((fails + 1)); }
done
check 2 "pump bad addr" -- "$R" pump p1 --to http://x
check 2 "pump both" -- "$R" pump p1 --to unix:/x --from unix:/y

[ "$fails" = 0 ] && echo "test_journal_cli: ok"
exit $((fails != 0))
