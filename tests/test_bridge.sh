#!/bin/bash
# ringport bridge out|in against real nats-server processes (issue #17).
#   test_bridge.sh RINGPORT BRIDGE_PEER CASE
# CASE: bad_input | exactly_once | journal | core | cluster | crash_points
# Each case starts its own servers on free loopback ports with temporary
# JetStream directories and stops them. Two domains stand for two hosts:
# senders on domain A -> bridge out -> JetStream -> bridge in -> domain B.
# Sizes: BRIDGE_COUNT messages (default 20000; the long mode of the README
# uses 1000000) and BRIDGE_KILLS SIGKILLs of each bridge (default 3).
# exit: 0 ok, 1 failure, 77 nats-server missing and not installable.
set -u
cli=$1 peer=$2 case=$3
count=${BRIDGE_COUNT:-20000}
kills=${BRIDGE_KILLS:-3}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y nats-server >/dev/null 2>&1 || { echo "SKIP: could not install nats-server"; exit 77; }
  else
    echo "SKIP: nats-server missing: apt-get install -y nats-server"
    exit 77
  fi
fi

work=$(mktemp -d /tmp/ringport-bridge-test.XXXXXX)
export RINGPORT_SHM_DIR=$work/shm RINGPORT_BRIDGE_DIR=$work/state
mkdir -p "$RINGPORT_SHM_DIR"
A=brA B=brB
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for f in "$work"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # PORT: until something listens (10 s)
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# start_server NAME PORT [nats-server options...]: pid in srv_NAME
start_server() {
  local name=$1 port=$2
  shift 2
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$work/js-$name" "$@" >"$work/srv-$name.log" 2>&1 &
  pids+=($!)
  eval "srv_$name=$!"
  wait_port "$port" || { fail "nats-server $name did not start: $(tail -3 "$work/srv-$name.log")"; exit 1; }
}
# senders N_SENDERS N_EACH: sender i sends "s<i> 1" .. "s<i> N_EACH" to src on A.
senders() {
  local i
  for i in $(seq "$1"); do
    "$peer" send src $A "$i" "$2" &
    send_pids+=($!)
  done
}
# check FILE N_SENDERS N_EACH: every sender's messages exactly once, in order.
check() {
  awk -v ns="$2" -v n="$3" '
    { if ($2 != last[$1] + 1) { bad++; if (bad < 5) print "  out of order/dup/lost: " $0 " after " last[$1] + 0 }
      last[$1] = $2 }
    END { for (i = 1; i <= ns; i++) if (last["s" i] != n) { bad++; print "  s" i " ends at " last["s" i] + 0 }
          exit bad > 0 }' "$1"
}
# Messages left in mailbox src of A (drains it).
left_in_src() { "$cli" recv src --domain $A -n 1000000 --timeout 300 2>/dev/null | wc -l; }

# run_loop NAME CMD...: reruns CMD while it dies of SIGKILL; its pid in $work/NAME.pid.
run_loop() {
  local name=$1
  shift
  (
    while :; do
      "$@" 2>>"$work/$name.log" &
      echo $! >"$work/$name.pid"
      wait $!
      rc=$?
      [ $rc -eq 137 ] || { echo "$rc" >"$work/$name.rc"; exit 0; }
    done
  ) &
  pids+=($!)
}
kill_loop() {  # NAME: SIGKILL its current process at a random moment
  local p
  sleep "0.$((RANDOM % 9 + 1))"
  p=$(cat "$work/$1.pid" 2>/dev/null) && kill -9 "$p" 2>/dev/null && echo "  killed $1 ($p)"
}

# make_stream URL SUBJECT STREAM [bridge out options]: bridge out on an
# empty, closed mailbox creates the stream and exits 0 (retried while a
# cluster elects its JetStream leader).
make_stream() {
  local url=$1 subj=$2 stream=$3
  shift 3
  "$cli" mailbox create warm --domain $A 2>/dev/null
  "$cli" mailbox close warm --domain $A
  for _ in $(seq 100); do
    "$cli" bridge out warm --domain $A --url "$url" --subject "$subj" --stream "$stream" "$@" 2>>"$work/warm.log" &&
      return 0
    sleep 0.3
  done
  fail "could not create stream $stream: $(tail -2 "$work/warm.log")"
  return 1
}

case_bad_input() {
  local port
  port=$(free_port)
  start_server one "$port"
  local url=nats://127.0.0.1:$port
  "$cli" mailbox create src --domain $A || fail "mailbox create"
  "$cli" send src "keep me" --domain $A
  "$cli" bridge out src --domain $A --url "not-a-url" --subject t.x --stream S 2>"$work/err"
  [ $? -eq 10 ] || fail "bad URL: want exit 10"
  grep -q "bad --url" "$work/err" || fail "bad URL: no clear message: $(cat "$work/err")"
  "$cli" bridge out src --domain $A --url "nats://127.0.0.1:$(free_port)" --subject t.x --stream S 2>"$work/err"
  [ $? -eq 11 ] || fail "refused: want exit 11"
  grep -q "cannot connect" "$work/err" || fail "refused: no clear message: $(cat "$work/err")"
  "$cli" bridge in dst --domain $B --url "$url" --subject t.x --stream NOPE 2>"$work/err"
  [ $? -eq 12 ] || fail "unknown stream: want exit 12"
  grep -q "does not exist" "$work/err" || fail "unknown stream: no clear message: $(cat "$work/err")"
  "$cli" bridge out src --domain $A --url "$url" 2>/dev/null
  [ $? -eq 2 ] || fail "no --subject: want exit 2"
  "$cli" bridge out src --domain $A --url "$url" --subject t.x --window 0 2>/dev/null
  [ $? -eq 2 ] || fail "--window 0: want exit 2"
  # max_payload 1024 < the mailbox's 4080-byte messages.
  local small
  small=$(free_port)
  printf 'max_payload: 1024\n' >"$work/small.conf"
  start_server small "$small" -c "$work/small.conf"
  "$cli" bridge out src --domain $A --url "nats://127.0.0.1:$small" --subject t.x --stream S 2>"$work/err"
  [ $? -eq 13 ] || fail "oversize: want exit 13 ($(cat "$work/err"))"
  grep -q "max_payload" "$work/err" || fail "oversize: no clear message: $(cat "$work/err")"
  [ "$(left_in_src)" = 1 ] || fail "the message did not stay in the mailbox"
  # bridge in: a message longer than the destination mailbox's maximum stays in JetStream.
  "$cli" mailbox create tiny --max-size 8 --domain $B
  "$cli" mailbox create big --domain $A
  "$cli" send big "0123456789abcdef" --domain $A
  "$cli" mailbox close big --domain $A
  "$cli" bridge out big --domain $A --url "$url" --subject t.big --stream BIG || fail "bridge out big"
  "$cli" bridge in tiny --domain $B --url "$url" --subject t.big --stream BIG 2>"$work/err"
  [ $? -eq 13 ] || fail "oversize into the mailbox: want exit 13 ($(cat "$work/err"))"
  "$cli" mailbox create roomy --domain $B
  timeout 20 "$cli" bridge in roomy --domain $B --url "$url" --subject t.big --stream BIG --durable ringport-tiny &
  local in=$!
  [ "$("$cli" recv roomy --domain $B --timeout 15000)" = "0123456789abcdef" ] ||
    fail "the oversize message was lost from JetStream"
  kill $in
}

# JetStream: COUNT messages from 2 senders through both bridges, each
# bridge SIGKILLed KILLS times at random moments and restarted.
case_exactly_once() {
  local port each=$((count / 2))
  port=$(free_port)
  start_server one "$port"
  local url=nats://127.0.0.1:$port
  "$cli" mailbox create src --domain $A || fail "mailbox create"
  "$cli" mailbox create dst --domain $B || fail "mailbox create"
  make_stream "$url" t.x S || return
  run_loop out "$cli" bridge out src --domain $A --url "$url" --subject t.x --stream S --window 128 --linger 50
  run_loop in "$cli" bridge in dst --domain $B --url "$url" --subject t.x --stream S
  send_pids=()
  senders 2 "$each"
  "$peer" recv dst $B "$count" >"$work/got" &
  local rx=$!
  for _ in $(seq "$kills"); do kill_loop out; kill_loop in; done
  wait "${send_pids[@]}"
  "$cli" mailbox close src --domain $A
  wait $rx || fail "the receiver did not get $count messages (got $(wc -l <"$work/got"))"
  check "$work/got" 2 "$each" || fail "not exactly once / in order"
  for _ in $(seq 50); do [ -f "$work/out.rc" ] && break; sleep 0.1; done
  [ "$(cat "$work/out.rc" 2>/dev/null)" = 0 ] || fail "bridge out did not end with 0 after close: $(tail -3 "$work/out.log")"
  sleep 1
  [ "$("$cli" recv dst --domain $B --nonblock 2>/dev/null | wc -l)" = 0 ] || fail "extra messages in dst"
  echo "exactly once: $count messages, $kills SIGKILLs of each bridge: $(wc -l <"$work/got") received"
}

# The in-flight journal, deterministically: the server dies under a
# running bridge out, which moves messages into its journal that JetStream
# never acknowledges; bridge out is SIGKILLed, the server restarted (same
# store): the restarted bridge must republish them.
case_journal() {
  local port n=500
  port=$(free_port)
  start_server one "$port"
  local url=nats://127.0.0.1:$port
  "$cli" mailbox create src --domain $A
  "$cli" mailbox create dst --domain $B
  make_stream "$url" t.j J || return
  "$cli" bridge out src --domain $A --url "$url" --subject t.j --stream J --window 64 2>>"$work/out.log" &
  local out=$!
  pids+=($out)
  sleep 0.5
  kill -9 "$srv_one"
  wait "$srv_one" 2>/dev/null
  send_pids=()
  senders 1 $n
  sleep 2  # bridge out fills its journal (64), its publishes time out
  kill -9 $out
  wait "${send_pids[@]}" || fail "sender"
  start_server one "$port"
  "$cli" mailbox close src --domain $A
  "$cli" bridge out src --domain $A --url "$url" --subject t.j --stream J --window 64 2>>"$work/out.log" ||
    fail "restarted bridge out: $(tail -2 "$work/out.log")"
  "$cli" bridge in dst --domain $B --url "$url" --subject t.j --stream J 2>>"$work/in.log" &
  pids+=($!)
  timeout 60 "$peer" recv dst $B $n >"$work/got" || fail "got $(wc -l <"$work/got") of $n (60 s)"
  check "$work/got" 1 $n || fail "not exactly once / in order"
  echo "journal: $n messages, 64 of them only in the journal when bridge out was killed: $(wc -l <"$work/got") received"
}

# Core NATS: at most once. What is published while bridge in is down is lost.
case_core() {
  local port
  port=$(free_port)
  start_server one "$port"
  local url=nats://127.0.0.1:$port
  "$cli" mailbox create src --domain $A
  "$cli" mailbox create dst --domain $B
  "$cli" bridge out src --domain $A --url "$url" --subject t.core 2>>"$work/out.log" &
  pids+=($!)
  "$cli" bridge in dst --domain $B --url "$url" --subject t.core 2>>"$work/in.log" &
  local in=$!
  sleep 1
  awk 'BEGIN { for (k = 1; k <= 100; k++) print "s1 " k }' | "$cli" send src --domain $A
  "$cli" recv dst --domain $B -n 100 --timeout 10000 >"$work/got" || fail "phase 1: not all 100 delivered"
  kill -9 $in
  awk 'BEGIN { for (k = 101; k <= 200; k++) print "s1 " k }' | "$cli" send src --domain $A
  sleep 1  # bridge out publishes them to a subject nobody subscribes to
  "$cli" bridge in dst --domain $B --url "$url" --subject t.core 2>>"$work/in.log" &
  pids+=($!)
  sleep 1
  awk 'BEGIN { for (k = 201; k <= 300; k++) print "s1 " k }' | "$cli" send src --domain $A
  "$cli" recv dst --domain $B -n 100 --timeout 10000 >>"$work/got" || fail "phase 3: not all 100 delivered"
  local lost
  lost=$(awk '$2 > 100 && $2 <= 200' "$work/got" | wc -l)
  [ "$lost" = 0 ] || fail "core NATS delivered messages published while no bridge in ran"
  [ "$(sort -u "$work/got" | wc -l)" = 200 ] || fail "duplicates in core mode"
  [ "$("$cli" recv dst --domain $B --nonblock 2>/dev/null | wc -l)" = 0 ] || fail "extra messages"
  echo "core NATS: 300 sent, 200 received, messages 101..200 lost while bridge in was down (at-most-once)"
}

# A 3-node JetStream cluster (R3 stream): one server SIGKILLed mid-stream
# and restarted; no loss, no duplicate.
case_cluster() {
  local p1 p2 p3 c1 c2 c3 each=$((count / 2))
  p1=$(free_port) p2=$(free_port) p3=$(free_port) c1=$(free_port) c2=$(free_port) c3=$(free_port)
  local routes=nats://127.0.0.1:$c1,nats://127.0.0.1:$c2,nats://127.0.0.1:$c3
  start_server n1 "$p1" --server_name n1 --cluster_name rp --cluster "nats://127.0.0.1:$c1" --routes "$routes"
  start_server n2 "$p2" --server_name n2 --cluster_name rp --cluster "nats://127.0.0.1:$c2" --routes "$routes"
  start_server n3 "$p3" --server_name n3 --cluster_name rp --cluster "nats://127.0.0.1:$c3" --routes "$routes"
  local url=nats://127.0.0.1:$p1,nats://127.0.0.1:$p2,nats://127.0.0.1:$p3
  "$cli" mailbox create src --domain $A
  "$cli" mailbox create dst --domain $B
  make_stream "$url" t.c C --replicas 3 || return
  run_loop out "$cli" bridge out src --domain $A --url "$url" --subject t.c --stream C --replicas 3
  run_loop in "$cli" bridge in dst --domain $B --url "$url" --subject t.c --stream C
  send_pids=()
  senders 2 "$each"
  "$peer" recv dst $B "$count" >"$work/got" &
  local rx=$!
  sleep 1
  kill -9 "$srv_n2" && echo "  killed server n2"
  sleep 2
  start_server n2 "$p2" --server_name n2 --cluster_name rp --cluster "nats://127.0.0.1:$c2" --routes "$routes"
  wait "${send_pids[@]}"
  "$cli" mailbox close src --domain $A
  wait $rx || fail "the receiver did not get $count messages (got $(wc -l <"$work/got"))"
  check "$work/got" 2 "$each" || fail "not exactly once / in order"
  echo "cluster: $count messages, one of 3 servers killed and restarted: $(wc -l <"$work/got") received"
}

# The crash windows, deterministically (RINGPORT_BRIDGE_CRASH=POINT:N makes
# a bridge SIGKILL itself the Nth time it passes POINT, runtime/bridge/
# common.hpp). 200 messages each, the bridge killed at message 50, then
# restarted. Closed by the keeping receiver and the journal's origins:
# out-taken (the restarted bridge inherits message 50 from the mailbox) and
# out-journaled (inherits it, finds its origin already journaled, releases
# it); by the keeping sender and the seen file's sending record: in-claimed
# (the restarted bridge voids message 50's claim: JetStream redelivers it)
# and in-queued (finds it published: records it); by the seen file:
# in-recorded. Exactly once at every point.
crash_at() {  # POINT N BRIDGE-ARGS...: runs one bridge that must die of SIGKILL
  local point=$1 n=$2
  shift 2
  RINGPORT_BRIDGE_CRASH=$point:$n "$cli" bridge "$@" 2>>"$work/crash.log"
  local rc=$?
  [ $rc -eq 137 ] || fail "$point:$n: want the bridge SIGKILLed (137), got $rc"
}
fill() {  # MAILBOX: s1 1 .. s1 200 into it, then close it
  "$cli" mailbox create "$1" --domain $A
  awk 'BEGIN { for (k = 1; k <= 200; k++) print "s1 " k }' | "$cli" send "$1" --domain $A
  "$cli" mailbox close "$1" --domain $A
}
# expect_got FILE WANT: FILE's messages, counted, as "<count>x <message>"
# lines for the messages not received exactly once, must equal WANT.
expect_got() {
  local got
  got=$(awk '{ n[$0]++ } END { for (k = 1; k <= 200; k++) if (n["s1 " k] != 1) print n["s1 " k] + 0 "x s1 " k }' "$1")
  [ "$got" = "$2" ] || fail "$3: want '${2:-every message once}', got '$got'"
  [ "$(awk '$2 < prev { bad = 1 } { prev = $2 } END { print bad + 0 }' "$1")" = 0 ] || fail "$3: out of order"
}
case_crash_points() {
  local port
  port=$(free_port)
  start_server one "$port"
  local url=nats://127.0.0.1:$port in
  "$cli" mailbox create dst --domain $B
  # bridge out: killed after taking message 50 / after journaling it:
  # exactly once either way.
  local point want
  for point in out-taken out-journaled; do
    "$cli" mailbox create d-$point --domain $B
    fill s-$point
    crash_at $point 50 out s-$point --domain $A --url "$url" --subject t.$point --stream S$point
    "$cli" bridge out s-$point --domain $A --url "$url" --subject t.$point --stream S$point \
      2>>"$work/crash.log" || fail "$point: restarted bridge out"
    timeout 30 "$cli" bridge in d-$point --domain $B --url "$url" --subject t.$point --stream S$point \
      2>>"$work/crash.log" &
    in=$!
    pids+=($in)
    "$cli" recv d-$point --domain $B -n 200 --timeout 20000 >"$work/got-$point"
    sleep 1
    "$cli" recv d-$point --domain $B --nonblock >>"$work/got-$point" 2>/dev/null
    kill $in
    expect_got "$work/got-$point" "" "$point (keeping receiver and journal: exactly once)"
  done
  # bridge in: killed after claiming message 50's slot and recording the
  # sending / after queueing it / after recording its sequence.
  for point in in-claimed in-queued in-recorded; do
    "$cli" mailbox create d-$point --domain $B
    fill s-$point
    "$cli" bridge out s-$point --domain $A --url "$url" --subject t.$point --stream S$point \
      2>>"$work/crash.log" || fail "$point: bridge out"
    crash_at $point 50 in d-$point --domain $B --url "$url" --subject t.$point --stream S$point
    timeout 40 "$cli" bridge in d-$point --domain $B --url "$url" --subject t.$point --stream S$point \
      2>>"$work/crash.log" &
    in=$!
    pids+=($in)
    # JetStream redelivers what the dead bridge held after the ack wait (5 s).
    "$cli" recv d-$point --domain $B -n 200 --timeout 30000 >"$work/got-$point"
    sleep 1
    "$cli" recv d-$point --domain $B --nonblock >>"$work/got-$point" 2>/dev/null
    kill $in
    expect_got "$work/got-$point" "" "$point (keeping sender and seen file: exactly once)"
  done
  echo "crash points: out-taken, out-journaled, in-claimed, in-queued, in-recorded: exactly once"
}

"case_$case"
[ $fails -eq 0 ] || {
  echo "--- bridge logs"
  tail -5 "$work"/*.log 2>/dev/null
  exit 1
}
echo "PASS: $case"
