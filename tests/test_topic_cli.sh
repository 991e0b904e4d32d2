#!/bin/sh
# Drives the `ringport` tool's topic commands: create, publish from one
# process and subscribe in others (next, oldest, -n, --timeout), overrun on
# stderr, latest, stat/ls (publisher position, each subscriber's lag), close,
# and the documented exit codes. A private domain, removed on exit.
# usage: test_topic_cli.sh PATH-TO-ringport
R=$1
export RINGPORT_DOMAIN="topiccli-$$"
T=/tmp/ringport-topic-cli-$$
fails=0
bg=""
cleanup() {
  for p in $bg; do kill -9 "$p" 2>/dev/null; done
  rm -rf "/dev/shm/ringport.$RINGPORT_DOMAIN"
  rm -f "$T".*
}
trap cleanup EXIT
trap 'exit 1' INT TERM
check() {  # check WANTED-RC DESCRIPTION -- command...
  want=$1; what=$2; shift 3
  "$@" >"$T.out" 2>"$T.err"
  got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, wanted $want"; cat "$T.err"; fails=$((fails + 1))
  fi
}
expect_out() {  # expect_out DESCRIPTION WANTED-TEXT (a grep pattern)
  if ! grep -q -- "$2" "$T.out"; then
    echo "FAIL: $1: output lacks '$2':"; cat "$T.out"; fails=$((fails + 1))
  fi
}
expect_err() {
  if ! grep -q -- "$2" "$T.err"; then
    echo "FAIL: $1: stderr lacks '$2':"; cat "$T.err"; fails=$((fails + 1))
  fi
}

check 0 "create" -- "$R" topic create news --capacity 8 --max-size 64 --pages normal
check 1 "create twice" -- "$R" topic create news
check 2 "bad mode" -- "$R" topic create other --mode sometimes
check 1 "lag limit needs backpressure" -- "$R" topic create other --lag-limit 4
check 3 "latest before any publish" -- "$R" latest news

# A subscriber in another process, started before the messages.
"$R" subscribe news -n 3 --timeout 10000 >"$T.sub" 2>&1 &
sub=$!
bg="$bg $sub"
i=0
until "$R" stat news 2>/dev/null | grep -q "subscribers:   1"; do
  i=$((i + 1)); [ $i -gt 200 ] && { echo "FAIL: subscriber did not join"; fails=$((fails + 1)); break; }
  sleep 0.05
done
check 0 "publish one" -- "$R" publish news hello
printf 'two\nthree\n' >"$T.in"
check 0 "publish stdin lines" -- sh -c "\"$R\" publish news <\"$T.in\""
wait $sub
rc=$?
[ $rc = 0 ] || { echo "FAIL: subscriber exit $rc"; cat "$T.sub"; fails=$((fails + 1)); }
printf 'hello\ntwo\nthree\n' | cmp -s - "$T.sub" || { echo "FAIL: subscriber printed:"; cat "$T.sub"; fails=$((fails + 1)); }

check 0 "latest" -- "$R" latest news
expect_out "latest" "^three$"
check 0 "history: --from oldest" -- "$R" subscribe news --from oldest -n 3
printf 'hello\ntwo\nthree\n' | cmp -s - "$T.out" || { echo "FAIL: oldest printed:"; cat "$T.out"; fails=$((fails + 1)); }
check 4 "next: nothing new times out" -- "$R" subscribe news -n 1 --timeout 100
check 1 "too large" -- "$R" publish news "$(printf '%070d' 0)"
expect_err "too large" "exceeds the topic's maximum of 64 bytes"

# 16 messages into 8 slots: history is the last 8.
seq 1 16 | sed 's/^/m/' >"$T.in"
check 0 "publish 16" -- sh -c "\"$R\" publish news <\"$T.in\""
check 0 "oldest after wrap" -- "$R" subscribe news --from oldest -n 8
seq 9 16 | sed 's/^/m/' | cmp -s - "$T.out" || { echo "FAIL: wrapped history:"; cat "$T.out"; fails=$((fails + 1)); }

# A lagging subscriber's stat line, then an overrun on stderr.
"$R" subscribe news -n 1 --timeout 10000 >"$T.lag" 2>&1 &
lag=$!
bg="$bg $lag"
sleep 0.3
check 0 "stat" -- "$R" stat news
expect_out "stat kind" "kind: *topic"
expect_out "stat mode" "mode: *lossy"
expect_out "stat publisher position" "published: *19 (publisher position)"
expect_out "stat subscriber" "pid $lag alive position 19 lag 0"
check 0 "ls" -- "$R" ls
expect_out "ls row" "^news  *topic  *8 "
check 0 "publish wakes it" -- "$R" publish news late
wait $lag

# wait_joined NAME COUNT: until stat shows COUNT subscribers.
wait_joined() {
  i=0
  until "$R" stat "$1" 2>/dev/null | grep -q "subscribers:   $2"; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "FAIL: no $2 subscriber(s) on $1"; fails=$((fails + 1)); return; }
    sleep 0.05
  done
}

# A back-pressured topic: a stopped subscriber (alive, reading nothing)
# holds the publisher back.
check 0 "create backpressure" -- "$R" topic create held --mode backpressure --capacity 2 --pages normal
"$R" subscribe held -n 2 --timeout 10000 >"$T.held" 2>&1 &
h=$!
bg="$bg $h"
wait_joined held 1
kill -STOP $h
check 0 "fill" -- sh -c "\"$R\" publish held a && \"$R\" publish held b"
check 3 "full: --nonblock" -- "$R" publish held c --nonblock
check 4 "full: --timeout" -- "$R" publish held c --timeout 100
check 0 "stat backpressure" -- "$R" stat held
expect_out "lag of the held subscriber" "pid $h alive position 0 lag 2"
expect_out "gate" "gate: *0"
kill -CONT $h
wait $h
printf 'a\nb\n' | cmp -s - "$T.held" || { echo "FAIL: held subscriber printed:"; cat "$T.held"; fails=$((fails + 1)); }

# Overrun: a subscriber stopped while 40 messages go into 8 slots learns on
# stderr that it lost 33 (the oldest retained is 40 - 8 + 1), then reads 7.
check 0 "create lossy" -- "$R" topic create lap --capacity 8 --pages normal
"$R" subscribe lap -n 7 --timeout 10000 >"$T.lap" 2>"$T.laperr" &
l=$!
bg="$bg $l"
wait_joined lap 1
kill -STOP $l
seq 1 40 | sed 's/^/x/' >"$T.in"
check 0 "publish 40 (lossy never waits)" -- sh -c "\"$R\" publish lap <\"$T.in\""
kill -CONT $l
wait $l
rc=$?
[ $rc = 0 ] || { echo "FAIL: lapped subscriber exit $rc"; cat "$T.laperr"; fails=$((fails + 1)); }
grep -qx "overrun 33" "$T.laperr" || { echo "FAIL: no 'overrun 33' on stderr:"; cat "$T.laperr"; fails=$((fails + 1)); }
seq 34 40 | sed 's/^/x/' | cmp -s - "$T.lap" || { echo "FAIL: after the overrun:"; cat "$T.lap"; fails=$((fails + 1)); }

check 0 "close" -- "$R" topic close news
check 5 "publish after close" -- "$R" publish news z
check 0 "subscribe drains a closed topic" -- "$R" subscribe news
check 0 "rm" -- "$R" rm news held lap

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "topic cli: all checks passed"
