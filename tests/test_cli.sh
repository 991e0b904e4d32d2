#!/bin/sh
# Drives the built `ringport` tool: create, send from one process and receive
# in another, ls/stat/rm, gc of stale segments, number bounds, and the
# documented exit codes. Everything lives in a private domain that the exit
# trap removes (with any helper still running), so nothing is left in /dev/shm.
# usage: test_cli.sh PATH-TO-ringport PATH-TO-cli_holder
R=$1
H=$2
export RINGPORT_DOMAIN="clitest-$$"
T=/tmp/ringport-cli-$$
fails=0
holders=""
cleanup() {
  for p in $holders; do kill -9 "$p" 2>/dev/null; done
  rm -rf "/dev/shm/ringport.$RINGPORT_DOMAIN" "/dev/shm/ringport.clitest-notadir-$$"
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
refute_out() {  # refute_out DESCRIPTION UNWANTED-TEXT
  if grep -q -- "$2" "$T.out"; then
    echo "FAIL: $1: output has '$2':"; cat "$T.out"; fails=$((fails + 1))
  fi
}
expect_err() {  # expect_err DESCRIPTION WANTED-TEXT
  if ! grep -q -- "$2" "$T.err"; then
    echo "FAIL: $1: stderr lacks '$2':"; cat "$T.err"; fails=$((fails + 1))
  fi
}
# hold VAR ARGS...: starts cli_holder ARGS (see tests/cli_holder.cpp), waits
# until it holds its roles or node, and stores its pid in VAR.
hold() {
  var=$1; shift
  "$H" "$@" >"$T.hold" 2>&1 &
  pid=$!
  holders="$holders $pid"
  eval "$var=$pid"
  i=0
  until grep -q ready "$T.hold"; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
      echo "FAIL: holder $* did not start:"; cat "$T.hold"; fails=$((fails + 1)); return
    fi
    sleep 0.05
  done
}
# kill_holder PID: SIGKILL and reap it (so /proc no longer shows it).
kill_holder() { kill -9 "$1"; wait "$1" 2>/dev/null; }

# Numbers: decimal digits only, explicit ranges, exit 2 (usage) when refused.
for v in ' 8' '+8' '-8' '8 ' '0x8' '' '8ms' 18446744073709551615 9223372036855 2592000001; do
  check 2 "--timeout '$v' is refused" -- "$R" recv box --timeout "$v"
  expect_err "--timeout '$v' says why" "--timeout"
done
check 2 "--count 0 is refused" -- "$R" recv box -n 0
check 2 "--count beyond 2^32-1" -- "$R" recv box -n 4294967296
check 2 "--capacity beyond 2^32" -- "$R" mailbox create other --capacity 8589934592
check 2 "--max-size beyond 16 MiB - 16" -- "$R" mailbox create other --max-size 16777201
check 2 "--pages typo" -- "$R" mailbox create other --pages Huge

# A missing, misspelt or unusable domain is an error, not an empty table.
check 1 "ls of a missing domain" -- "$R" ls --domain "clitest-missing-$$"
expect_err "ls of a missing domain" "no domain 'clitest-missing-$$'"
check 1 "ls of an invalid domain name" -- "$R" ls --domain "bad/name"
: >"/dev/shm/ringport.clitest-notadir-$$"
check 1 "ls of a domain that is not a directory" -- "$R" ls --domain "clitest-notadir-$$"
check 1 "gc of a missing domain" -- "$R" gc --domain "clitest-missing-$$"

check 0 "create" -- "$R" mailbox create box --capacity 4 --max-size 32 --pages normal
check 1 "create twice" -- "$R" mailbox create box --pages normal
check 1 "capacity not a power of two" -- "$R" mailbox create other --capacity 3 --pages normal
check 2 "bad number" -- "$R" mailbox create other --capacity x
check 2 "unknown option" -- "$R" recv box --bogus
check 2 "unknown command" -- "$R" frobnicate
check 0 "help" -- "$R" recv --help
expect_out "help" "usage: ringport recv"

# A receiver waiting in one process gets what another process sends.
"$R" recv box -n 2 --timeout 20000 >$T.recv &
receiver=$!
check 0 "send one" -- "$R" send box "first message"
printf 'from stdin\n' | "$R" send box
wait $receiver; rc=$?
[ $rc = 0 ] || { echo "FAIL: background recv exit $rc"; fails=$((fails + 1)); }
printf 'first message\nfrom stdin\n' | cmp -s - $T.recv ||
  { echo "FAIL: received:"; cat $T.recv; fails=$((fails + 1)); }

check 0 "ls" -- "$R" ls
expect_out "ls" "^box  *mailbox  *4  *0  *32"
check 0 "fill up" -- "$R" send box one
check 0 "stat" -- "$R" stat box
expect_out "stat" "fill:  *1"
expect_out "stat" "max message:  *32 bytes"
expect_out "stat shows crash losses" "^lost in crashes: 0 abandoned by dead senders, 0 held by dead receivers; 0 takeovers"
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
if grep -q "^box " $T.out; then echo "FAIL: box still listed"; fails=$((fails + 1)); fi
check 1 "rm missing" -- "$R" rm box
check 1 "recv missing" -- "$R" recv box --nonblock

# ---- Stale segments and `ringport gc` (the domain holds no segment now).
D="/dev/shm/ringport.$RINGPORT_DOMAIN"
# wait_ls PATTERN: until `ringport ls` shows PATTERN (a helper attaching).
wait_ls() {
  i=0
  until "$R" ls 2>/dev/null | grep -q -- "$1"; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "FAIL: ls never showed '$1'"; fails=$((fails + 1)); return; }
    sleep 0.05
  done
}

# A mailbox with a live receiver is in use; once that receiver is killed,
# every recorded user (receiver, creator) is dead: stale, and gc removes it.
check 0 "create inbox" -- "$R" mailbox create inbox --capacity 4 --max-size 32 --pages normal
"$R" recv inbox --timeout 60000 >/dev/null 2>&1 &
rxpid=$!
holders="$holders $rxpid"
wait_ls "^inbox .* 1/1 in-use "
check 0 "gc with a live receiver" -- "$R" gc
refute_out "gc spares a mailbox with a live receiver" "removed inbox"
kill_holder $rxpid
check 0 "ls after the receiver was killed" -- "$R" ls
expect_out "killed receiver: stale" "^inbox  *mailbox  *4  *0  *32  *4K  *0/2 stale "
check 0 "stat of a mailbox" -- "$R" stat inbox
expect_out "mailbox roles are senders and receivers" "^receivers:  *0 alive, 1 dead"
check 0 "gc of the stale mailbox" -- "$R" gc
expect_out "gc removes the stale mailbox" "^removed inbox (mailbox, stale)"

# Nodes: P sends one message to Q and is killed. Its node segment is stale;
# the link P -> Q keeps its unread message, and stays in use while a live
# process holds node Q.
hold h_q node Q
hold h_p node P Q
kill_holder $h_p
check 0 "ls with a dead node" -- "$R" ls
expect_out "a dead node is stale" "^node.P  *node .* 0/1 stale "
expect_out "a live node is in use" "^node.Q  *node .* 1/0 in-use "
expect_out "a link to a live node is in use" "^link.P.Q  *mailbox  *4  *1  *32  *4K  *0/1 in-use "
check 0 "gc with one node gone" -- "$R" gc
expect_out "gc removes the dead node's segment" "^removed node.P (node, stale)"
refute_out "gc keeps the link to a live node" "link.P.Q"
kill_holder $h_q
check 0 "gc once both nodes are gone" -- "$R" gc
expect_out "then the other node's segment" "^removed node.Q (node, stale)"
expect_out "the link keeps its unread message" "^kept link.P.Q (stale, but 1 unread message; --force drops them)"
check 0 "gc --force with both nodes gone" -- "$R" gc --force
expect_out "the link of gone nodes goes with --force" "^removed link.P.Q (mailbox, stale, 1 unread message dropped)"

# Rings: "dead" loses every holder to SIGKILL; "live" loses its creator but
# keeps a live consumer; "full" loses its only holder with 3 items queued.
hold h_dead ring create dead pc 0
hold h_live_creator ring create live p 0
hold h_live ring open live c 0
kill_holder $h_live_creator
hold h_full ring create full p 3
# Internal files: another engineer's temporary file, and the doorbell table.
: >"$D/.tmp-internal"
: >"$D/.doorbells~"
# The temporary file of a creator killed while creating (.NAME~PID-OWNER):
# a pid that has exited, with an owner word naming it.
sh -c 'exit 0' & ghost=$!; wait $ghost
ghost_file="$D/.ghost~$ghost-$(printf %x $(( (1 << 24) | ghost )))"
: >"$ghost_file"
check 0 "ls while held" -- "$R" ls
expect_out "a held ring is in use" "^dead  *mpmc  *8  *0  *8  *4K  *2/0 in-use "
kill_holder $h_dead
kill_holder $h_full
check 0 "ls after the kills" -- "$R" ls
expect_out "every holder killed: stale" "^dead  *mpmc  *8  *0  *8  *4K  *0/2 stale "
expect_out "killed with items queued: stale, 3 unread" "^full  *mpmc  *8  *3  *8  *4K  *0/1 stale "
expect_out "a live consumer keeps it in use" "^live  *mpmc  *8  *0  *8  *4K  *1/1 in-use "
refute_out "internal files are not listed" "^\."
check 0 "stat of a ring" -- "$R" stat live
expect_out "ring roles are producers" "^producers:  *0 alive, 1 dead"
expect_out "ring roles are consumers" "^consumers:  *1 alive, 0 dead"
refute_out "a ring has no senders" "senders"

check 0 "gc --dry-run" -- "$R" gc --dry-run
expect_out "dry run: would remove the dead ring" "^would remove dead (mpmc, stale)"
expect_out "dry run: keeps unread messages" "^kept full (stale, but 3 unread messages"
check 0 "gc --dry-run --force" -- "$R" gc --dry-run --force
expect_out "dry run --force: would drop them" "^would remove full (mpmc, stale, 3 unread messages dropped)"
refute_out "dry run spares the live ring" "remove live"
expect_out "dry run: would remove a dead creator's temporary" "^would remove $ghost_file (temporary file of a creator that died"
[ -e "$ghost_file" ] || { echo "FAIL: the dry run removed $ghost_file"; fails=$((fails + 1)); }
check 0 "ls after the dry runs" -- "$R" ls
expect_out "dry run removed nothing (dead)" "^dead "
expect_out "dry run removed nothing (full)" "^full "

# A file at a segment name that this build cannot open (not a segment).
printf 'not a ringport segment, but long enough to hold a header: %0600d' 0 >"$D/junk"
chmod 600 "$D/junk"
check 0 "ls with an unreadable file" -- "$R" ls
expect_out "ls shows an unreadable file as invalid" "^junk  *?  .* invalid .*not a ringport segment"
check 0 "gc" -- "$R" gc
expect_out "gc keeps an unreadable file without --force" "^kept junk (cannot be opened: "
[ -e "$D/junk" ] || { echo "FAIL: gc removed $D/junk without --force"; fails=$((fails + 1)); }
expect_out "gc removes the dead ring" "^removed dead (mpmc, stale)"
expect_out "gc removes a dead creator's temporary" "^removed $ghost_file (temporary file"
[ ! -e "$ghost_file" ] || { echo "FAIL: gc left $ghost_file"; fails=$((fails + 1)); }
expect_out "gc keeps unread messages" "^kept full (stale, but 3 unread messages; --force drops them)"
refute_out "gc spares the live ring" "removed live"
refute_out "doorbells stay while a segment is in use" "doorbells"
check 0 "ls after gc" -- "$R" ls
refute_out "the dead ring is gone" "^dead "
expect_out "the ring with unread messages stays" "^full "
check 0 "gc --force" -- "$R" gc --force
expect_out "gc --force removes an unreadable file" "^removed $D/junk (cannot be opened; --force)"
expect_out "--force drops them and says how many" "^removed full (mpmc, stale, 3 unread messages dropped)"
expect_out "the summary counts them" "dropped 3 unread messages"
refute_out "--force spares the live ring" "removed live"

kill_holder $h_live
: > "$D/.huge-fallback~"  # as the first create that fell back from huge pages leaves it
check 0 "gc once nothing lives" -- "$R" gc
expect_out "the last ring goes" "^removed live (mpmc, stale)"
expect_out "then the doorbell table" "^removed $D/.doorbells~ (doorbell table"
expect_out "and the huge-page notice marker" "^removed $D/.huge-fallback~ (huge-page notice said"
refute_out "not the directory while an internal file is there" "empty domain directory"
[ -e "$D/.tmp-internal" ] || { echo "FAIL: gc removed an internal file"; fails=$((fails + 1)); }
rm -f "$D/.tmp-internal"
check 0 "gc --dry-run of an empty domain" -- "$R" gc --dry-run
expect_out "would remove the empty directory" "^would remove $D (empty domain directory)"
[ -d "$D" ] || { echo "FAIL: gc --dry-run removed the directory"; fails=$((fails + 1)); }
check 0 "gc of an empty domain" -- "$R" gc
expect_out "removes the empty directory" "^removed $D (empty domain directory)"
[ -d "$D" ] && { echo "FAIL: $D still exists"; fails=$((fails + 1)); }
check 1 "ls once gc removed the domain" -- "$R" ls

# ---- ls/stat --json, top, ring create/close, tap (issue 12 item 9).
# json_check DESCRIPTION PYTHON: runs PYTHON with `docs` = the JSON lines of
# $T.out (parsed) and fails the check when it raises or prints anything.
json_check() {
  if ! python3 - "$T.out" >"$T.py" 2>&1 <<EOF
import json, sys
docs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def obj(doc, name):
    found = [o for o in doc["objects" if "objects" in doc else "segments"] if o["name"] == name]
    assert len(found) == 1, "no single object named " + name
    return found[0]
$2
EOF
  then echo "FAIL: $1:"; cat "$T.py"; cat "$T.out"; fails=$((fails + 1))
  elif [ -s "$T.py" ]; then echo "FAIL: $1: $(cat "$T.py")"; fails=$((fails + 1)); fi
}
check 2 "ring create without --size" -- "$R" ring create feed --kind spsc
check 2 "ring create with a bad kind" -- "$R" ring create feed --kind mailbox --size 8
check 2 "ring create with a size beyond 16 MiB" -- "$R" ring create feed --kind spsc --size 16777217
check 1 "ring capacity not a power of two" -- "$R" ring create feed --kind spsc --size 8 --capacity 3
check 0 "ring create" -- "$R" ring create feed --kind spsc --size 8 --capacity 8 --pages normal
check 1 "ring create twice" -- "$R" ring create feed --kind spsc --size 8 --pages normal
# The ring the tool made is the one a program opens as spsc<uint64_t>: it
# pushes 5 items (0..4) and pops 2, then holds both roles.
hold h_feed ring open feed pc 5 spsc 2
check 0 "top --json" -- "$R" top --json --count 2 --interval 50
json_check "top --json against a known workload" "
assert len(docs) == 2, 'one object per refresh'
assert [d['refresh'] for d in docs] == [1, 2]
for d in docs:
    assert d['interval_ms'] == 50 and d['domain'].startswith('clitest-')
    q = obj(d, 'feed')['queue']
    assert (q['capacity'], q['max_message'], q['fill'], q['pushed'], q['popped']) == (8, 8, 3, 5, 2), q
    assert q['closed'] is False and q['waiters'] == {'consumers': 0, 'producers': 0}, q
    assert q['producers']['alive'] == 1 and q['producers']['dead'] == 0, q
    c = q['consumers']['holders']
    assert len(c) == 1 and c[0]['pid'] == $h_feed and c[0]['alive'] and c[0]['position'] == 2 and c[0]['lag'] == 3, c
    assert obj(d, 'feed')['state'] == 'in-use'
assert obj(docs[0], 'feed')['rates'] == {'in_per_s': None, 'out_per_s': None}, 'no rate from one sample'
assert obj(docs[1], 'feed')['rates'] == {'in_per_s': 0.0, 'out_per_s': 0.0}, 'nothing moved'
"
check 0 "top" -- "$R" top --count 1 --interval 1
expect_out "top shows the ring" "^feed  *spsc  *3/8  *-  *-  *0/0  *1/0  *1/0 in-use"
expect_out "top shows the consumer" "consumer pid $h_feed alive, position 2, lag 3"
check 2 "top --interval 0" -- "$R" top --interval 0
check 0 "stat --json" -- "$R" stat feed --json
json_check "stat --json is one segment object" "
assert len(docs) == 1
d = docs[0]
assert d['name'] == 'feed' and d['kind'] == 'spsc' and d['state'] == 'in-use' and d['reason'] == ''
assert d['users'] == {'alive': 2, 'dead': 1}, d['users']  # the holder's two roles; the tool that created it is gone
assert d['creator']['alive'] is False and d['node'] is None and d['link'] is None
assert d['queue']['fill'] == 3
"
check 1 "stat --json of a missing name" -- "$R" stat nothing --json

# tap: the queued items, without taking them.
check 0 "tap" -- "$R" tap feed
expect_out "tap names the ring" "^feed: spsc, 3 queued (positions 2 to 5)"
expect_out "tap shows the oldest item" "^position 2: 8 bytes"
expect_out "tap shows it in hex" "^  00000000  02 00 00 00 00 00 00 00  *|........|"
expect_out "tap shows the newest item" "^position 4: 8 bytes"
[ "$(grep -c '^position' "$T.out")" = 3 ] || { echo "FAIL: tap shows 3 items"; cat "$T.out"; fails=$((fails + 1)); }
check 0 "tap -n 1 --raw" -- "$R" tap feed -n 1 --raw
printf '\002\000\000\000\000\000\000\000' | cmp -s - "$T.out" || { echo "FAIL: tap --raw"; od -c "$T.out"; fails=$((fails + 1)); }
check 0 "stat after tap" -- "$R" stat feed --json
json_check "tap takes nothing" "assert docs[0]['queue']['fill'] == 3 and docs[0]['queue']['popped'] == 2"
hold h_multi ring create multi p 3 mpmc
check 0 "tap of an mpmc ring" -- "$R" tap multi
expect_out "tap of an mpmc ring" "^multi: mpmc, 3 queued (positions 0 to 3)"
[ "$(grep -c '^position' "$T.out")" = 3 ] || { echo "FAIL: tap mpmc shows 3 items"; cat "$T.out"; fails=$((fails + 1)); }
check 0 "create a mailbox to tap" -- "$R" mailbox create tapbox --capacity 4 --max-size 32 --pages normal
check 4 "a withdrawn sync message" -- "$R" send tapbox withdrawn --sync --timeout 50
check 0 "send one to tap" -- "$R" send tapbox "hello tap"
check 0 "tap a mailbox" -- "$R" tap tapbox
expect_out "tap shows a mailbox message" "^position 1: 9 bytes"
expect_out "tap shows it as text" "|hello tap|"
refute_out "tap leaves out a withdrawn sync message" "withdrawn"
expect_err "tap says what it left out" "1 queued position not shown"
check 0 "the tapped message is still there" -- "$R" recv tapbox --nonblock
expect_out "recv after tap" "^hello tap$"
check 0 "ls --json" -- "$R" ls --json
json_check "ls --json lists every segment" "
d = docs[0]
assert len(docs) == 1 and d['invalid'] == []
assert sorted(s['name'] for s in d['segments']) == ['feed', 'multi', 'tapbox'], d['segments']
assert obj(d, 'multi')['queue']['producers']['holders'][0]['position'] == 3
assert obj(d, 'tapbox')['queue']['fill'] == 0
"

# ring close: pushes fail from then on, the queue drains.
check 0 "ring close" -- "$R" ring close feed
check 0 "stat of a closed ring" -- "$R" stat feed --json
json_check "closed" "assert docs[0]['queue']['closed'] is True"
check 1 "ring close of a missing ring" -- "$R" ring close nothing
kill_holder $h_feed
kill_holder $h_multi
check 0 "stat once the holder died" -- "$R" stat feed --json
json_check "a dead holder is dead" "
q = docs[0]['queue']
assert docs[0]['state'] == 'stale' and (q['producers']['alive'], q['producers']['dead']) == (0, 1)
assert q['producers']['holders'][0]['alive'] is False
"

# Restarts (issue 12 item 4): --if-exists open / replace.
check 1 "create of an existing ring fails by default" -- "$R" ring create feed --kind spsc --size 8 --pages normal
expect_err "and says so" "already exists"
check 0 "--if-exists open" -- "$R" ring create feed --kind spsc --size 8 --pages normal --if-exists open
check 1 "--if-exists open checks the kind" -- "$R" ring create feed --kind mpmc --size 8 --if-exists open
check 0 "--if-exists replace of a closed ring nobody uses" -- "$R" ring create feed --kind spsc --size 8 --capacity 16 --pages normal --if-exists replace
check 0 "stat of the replaced ring" -- "$R" stat feed --json
json_check "a replaced ring is new: open, empty" "
q = docs[0]['queue']
assert (q['closed'], q['fill'], q['pushed'], q['capacity']) == (False, 0, 0, 16), q
"
hold h_feed2 ring open feed p 1 spsc
check 1 "--if-exists replace refuses a ring with a live user" -- "$R" ring create feed --kind spsc --size 8 --pages normal --if-exists replace
expect_err "and says why" "is in use"
check 0 "the live ring is untouched" -- "$R" stat feed --json
json_check "untouched" "assert docs[0]['queue']['pushed'] == 1"
kill_holder $h_feed2
check 0 "mailbox --if-exists replace" -- "$R" mailbox create tapbox --capacity 8 --max-size 16 --pages normal --if-exists replace
check 0 "mailbox --if-exists open" -- "$R" mailbox create tapbox --capacity 2 --if-exists open
check 0 "stat of the replaced mailbox" -- "$R" stat tapbox --json
json_check "the replaced mailbox has the new sizes" "assert (docs[0]['queue']['capacity'], docs[0]['queue']['max_message']) == (8, 16)"
check 2 "--if-exists typo" -- "$R" mailbox create tapbox --if-exists Replace
# --- buffering (issue 15): a rendezvous mailbox (--capacity 0).
check 0 "create a rendezvous" -- "$R" mailbox create meet --capacity 0 --max-size 64 --pages normal
check 0 "stat of a rendezvous" -- "$R" stat meet
expect_out "stat says rendezvous" "^capacity:  *0 (rendezvous"
check 3 "send --nonblock with no receiver waiting" -- "$R" send meet --nonblock "nobody"
check 4 "a timed send with no receiver" -- "$R" send meet --timeout 100 "nobody"
"$R" recv meet -n 1 --timeout 20000 >$T.meet &
receiver=$!
check 0 "a send meets a waiting receiver" -- "$R" send meet --timeout 20000 "met"
wait $receiver; rc=$?
[ $rc = 0 ] || { echo "FAIL: rendezvous recv exit $rc"; fails=$((fails + 1)); }
printf 'met\n' | cmp -s - $T.meet || { echo "FAIL: rendezvous received:"; cat $T.meet; fails=$((fails + 1)); }
check 4 "nothing stayed buffered" -- "$R" recv meet --timeout 50

# --- buffering (issue 15): a file of any size as one stream message.
check 0 "create a small mailbox for a file" -- "$R" mailbox create files --capacity 4 --max-size 100 --pages normal
head -c 300000 /dev/urandom >"$T.file"
"$R" recv files --raw -n 1 --timeout 20000 >"$T.back" &
receiver=$!
check 0 "send --file larger than the mailbox" -- "$R" send files --file "$T.file" --timeout 20000 --sync
wait $receiver; rc=$?
[ $rc = 0 ] || { echo "FAIL: recv of a file exit $rc"; fails=$((fails + 1)); }
cmp -s "$T.file" "$T.back" || { echo "FAIL: the file came back different"; fails=$((fails + 1)); }
check 4 "send --file with nobody reading times out" -- "$R" send files --file "$T.file" --timeout 100
check 1 "recv of the message given up midway" -- "$R" recv files --raw --timeout 5000
expect_err "recv says it was dropped" "given up midway"
check 0 "stat counts the dropped stream" -- "$R" stat files
expect_out "stat shows streams dropped" "^streams dropped: 1 "
check 1 "send --file of a missing file" -- "$R" send files --file "$T.missing"
check 2 "send --file and a MESSAGE" -- "$R" send files --file "$T.file" extra

# --- ring reopen / reset in place (issue 12 item 4).
check 0 "create a ring to reopen" -- "$R" ring create again --kind spsc --size 8 --capacity 8 --pages normal
hold h_again ring open again p 2 spsc
check 0 "ring reopen of an open ring" -- "$R" ring reopen again
expect_out "reopen says it was open" "^open already: generation 0$"
check 0 "close the ring to reopen" -- "$R" ring close again
check 0 "ring reopen" -- "$R" ring reopen again
expect_out "reopen names the next generation" "^reopened: generation 1$"
check 0 "stat after reopen" -- "$R" stat again --json
json_check "open again, items kept" "
q = docs[0]['queue']
assert (q['closed'], q['fill'], q['generation']) == (False, 2, 1), q
"
check 1 "ring reset with a live producer" -- "$R" ring reset again
expect_err "reset says who uses it" "live producer"
kill_holder $h_again
check 0 "ring reset once the holder died" -- "$R" ring reset again
expect_out "reset names the next generation" "^reset: generation 2$"
check 0 "stat after reset" -- "$R" stat again --json
json_check "reset: empty and open" "
q = docs[0]['queue']
assert (q['closed'], q['fill'], q['generation']) == (False, 0, 2), q
"
check 1 "ring reopen of a missing ring" -- "$R" ring reopen nothing
check 2 "ring reopen without a NAME" -- "$R" ring reopen
check 0 "ring reopen --help" -- "$R" ring reopen --help
check 0 "a mailbox to reopen" -- "$R" mailbox create againbox --capacity 4 --max-size 16 --pages normal
check 0 "close the mailbox" -- "$R" ring close againbox
check 0 "ring reopen of a mailbox" -- "$R" ring reopen againbox
expect_out "a mailbox reopens" "^reopened: generation 1$"
check 1 "ring reset of a mailbox" -- "$R" ring reset againbox
expect_err "mailboxes have no reset" "mailboxes have no reset"

[ $fails = 0 ] && echo "test_cli: all checks passed"
exit $((fails != 0))
