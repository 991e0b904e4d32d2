#!/bin/sh
# Drives the built `ringport` tool: create, send from one process and receive
# in another, ls/stat/rm, and the documented exit codes.
# usage: test_cli.sh PATH-TO-ringport
R=$1
export RINGPORT_DOMAIN="clitest-$$"
fails=0
cleanup() { rm -rf "/dev/shm/ringport.$RINGPORT_DOMAIN"; }
trap cleanup EXIT
check() {  # check WANTED-RC DESCRIPTION -- command...
  want=$1; what=$2; shift 3
  "$@" >/tmp/ringport-cli-$$.out 2>/tmp/ringport-cli-$$.err
  got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, wanted $want"; cat /tmp/ringport-cli-$$.err; fails=$((fails + 1))
  fi
}
expect_out() {  # expect_out DESCRIPTION WANTED-TEXT
  if ! grep -q -- "$2" /tmp/ringport-cli-$$.out; then
    echo "FAIL: $1: output lacks '$2':"; cat /tmp/ringport-cli-$$.out; fails=$((fails + 1))
  fi
}

check 0 "create" -- "$R" mailbox create box --capacity 4 --max-size 32 --pages normal
check 1 "create twice" -- "$R" mailbox create box --pages normal
check 1 "capacity not a power of two" -- "$R" mailbox create other --capacity 3 --pages normal
check 2 "bad number" -- "$R" mailbox create other --capacity x
check 2 "unknown option" -- "$R" recv box --bogus
check 2 "unknown command" -- "$R" frobnicate
check 0 "help" -- "$R" recv --help
expect_out "help" "usage: ringport recv"

# A receiver waiting in one process gets what another process sends.
"$R" recv box -n 2 --timeout 20000 >/tmp/ringport-cli-$$.recv &
receiver=$!
check 0 "send one" -- "$R" send box "first message"
printf 'from stdin\n' | "$R" send box
wait $receiver; rc=$?
[ $rc = 0 ] || { echo "FAIL: background recv exit $rc"; fails=$((fails + 1)); }
printf 'first message\nfrom stdin\n' | cmp -s - /tmp/ringport-cli-$$.recv ||
  { echo "FAIL: received:"; cat /tmp/ringport-cli-$$.recv; fails=$((fails + 1)); }

check 0 "ls" -- "$R" ls
expect_out "ls" "^box  *mailbox  *4  *0  *32"
check 0 "fill up" -- "$R" send box one
check 0 "stat" -- "$R" stat box
expect_out "stat" "fill:  *1"
expect_out "stat" "max message:  *32 bytes"
check 3 "recv --nonblock on empty after draining" -- sh -c "'$R' recv box >/dev/null && '$R' recv box --nonblock"
check 4 "recv --timeout on empty" -- "$R" recv box --timeout 50
check 1 "too large" -- "$R" send box "this message is longer than thirty-two bytes"
for m in 1 2 3 4; do check 0 "fill $m" -- "$R" send box "m$m"; done
check 3 "send --nonblock when full" -- "$R" send box more --nonblock
check 4 "send --timeout when full" -- "$R" send box more --timeout 50
check 0 "drain" -- "$R" recv box -n 4 --raw
expect_out "raw output" "m1m2m3m4"

# A sync send stays until a receiver took it; a timed-out one is withdrawn.
check 4 "sync send times out" -- "$R" send box withdrawn --sync --timeout 50
check 3 "the withdrawn message is never delivered" -- "$R" recv box --nonblock
"$R" send box rendezvous --sync --timeout 20000 &
sender=$!
sleep 0.3
if ! kill -0 $sender 2>/dev/null; then echo "FAIL: sync send returned before any receive"; fails=$((fails + 1)); fi
check 0 "take the sync message" -- "$R" recv box --timeout 20000
expect_out "sync message" "rendezvous"
wait $sender; rc=$?
[ $rc = 0 ] || { echo "FAIL: sync sender exit $rc"; fails=$((fails + 1)); }
check 2 "--sync with --nonblock" -- "$R" send box x --sync --nonblock

check 0 "send before close" -- "$R" send box last
check 0 "close" -- "$R" mailbox close box
check 5 "send after close" -- "$R" send box x
check 0 "drain after close" -- "$R" recv box
check 5 "recv after close" -- "$R" recv box

check 0 "rm" -- "$R" rm box
check 0 "ls after rm" -- "$R" ls
if grep -q "^box " /tmp/ringport-cli-$$.out; then echo "FAIL: box still listed"; fails=$((fails + 1)); fi
check 1 "rm missing" -- "$R" rm box
check 1 "recv missing" -- "$R" recv box --nonblock

rm -f /tmp/ringport-cli-$$.out /tmp/ringport-cli-$$.err /tmp/ringport-cli-$$.recv
[ $fails = 0 ] && echo "test_cli: all checks passed"
exit $((fails != 0))
