#!/bin/bash
# The bridge benchmark (issue #17, perf/README.md "Bridge"): a sender on
# domain A -> mailbox -> `ringport bridge out` -> nats-server -> `ringport
# bridge in` -> mailbox -> a receiver on domain B, beside the NATS C
# client's own publish -> subscribe loop on the same server in the same run.
#   bridge_bench.sh RINGPORT BRIDGE_BENCH [--quick] [--json FILE]
# RINGPORT: the ringport tool; BRIDGE_BENCH: build/perf/ringport-bridge-bench.
# Rows: JetStream and core NATS, 64 B and 4 KiB; throughput (a flood of
# COUNT messages) and one-way latency (LAT_COUNT messages, one every
# PACE_US us). ROUNDS rounds, each running the bridge row then the loop row
# (interleaved, as ringport-bench pairs rows); figures are medians over the
# rounds, ratios the median (min-max) of the per-round ratios.
# Environment: BRIDGE_BENCH_COUNT (default 100000; 4 KiB rows a quarter),
# BRIDGE_BENCH_LAT_COUNT (2000), BRIDGE_BENCH_PACE_US (500),
# BRIDGE_BENCH_ROUNDS (3), BRIDGE_BENCH_OUT_ARGS (extra `bridge out`
# options, e.g. "--window 1024 --linger 0"), BRIDGE_BENCH_IN_ARGS,
# BRIDGE_BENCH_MODES ("jetstream core"), BRIDGE_BENCH_SIZES ("64 4096").
# Starts its own nats-server on a free loopback port with a temporary
# JetStream directory and stops it. exit: 0, 1 error, 77 no nats-server.
set -u
cli=$1 bench=$2
shift 2
json="" quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --json) json=$2; shift ;;
    *) echo "usage: bridge_bench.sh RINGPORT BRIDGE_BENCH [--quick] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
count=${BRIDGE_BENCH_COUNT:-100000} lat_count=${BRIDGE_BENCH_LAT_COUNT:-2000}
pace=${BRIDGE_BENCH_PACE_US:-500} rounds=${BRIDGE_BENCH_ROUNDS:-3}
[ $quick = 1 ] && count=${BRIDGE_BENCH_COUNT:-20000} lat_count=${BRIDGE_BENCH_LAT_COUNT:-300} rounds=1
window=256  # bridge out's default --window, bridge in's default --batch: the loop uses the same
command -v nats-server >/dev/null 2>&1 || { echo "SKIP: nats-server missing (apt-get install -y nats-server)"; exit 77; }
[ -x "$bench" ] || { echo "bridge_bench.sh: $bench missing (build target ringport-bridge-bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/ringport-bridge-bench.XXXXXX)
export RINGPORT_SHM_DIR=$work/shm RINGPORT_BRIDGE_DIR=$work/state
mkdir -p "$RINGPORT_SHM_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/server.log" 2>&1 &
pids+=($!)
url=nats://127.0.0.1:$port
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done

load() { cut -d' ' -f1 /proc/loadavg; }
cpus=$(nproc)
load_start=$(load)
echo "# bridge    sender (domain A) -> bridge out -> nats-server -> bridge in -> receiver (domain B)"
echo "# machine   $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cpus CPU(s), $(uname -sr)"
echo "# server    $(nats-server --version 2>&1 | head -1) on $url, JetStream file storage in a temporary dir"
echo "# peer      the NATS C client's own loop: core: Publish -> subscription; JetStream: js_PublishAsync"
echo "#           ($window in flight) -> pull consumer (fetch $window, ack each), as the bridges do"
echo "# method    $rounds round(s): the bridge row, then the loop row; throughput: $count messages"
echo "#           (4 KiB: $((count / 4))) as fast as the sender can; latency: $lat_count messages, one"
echo "#           every $pace us, one-way (send stamp to receive, CLOCK_MONOTONIC); median over rounds"
[ $quick = 1 ] && echo "# NOTE      --quick: one round, small counts: for smoke tests, not figures"

# bridge_row ID MODE BYTES N PACE: one run through the bridges (fresh
# mailboxes, subject and stream named after ID); prints the receiver's line.
bridge_row() {
  local id=$1 mode=$2 bytes=$3 n=$4 pace_us=$5
  local src=s$id dst=d$id subj=bb.$id stream=() out_pid in_pid rx_pid
  [ "$mode" = jetstream ] && stream=(--stream BB$id)
  "$cli" mailbox create $src --domain bbA --max-size 4096 >/dev/null 2>>"$work/cli.log" || return 1
  "$cli" mailbox create $dst --domain bbB --max-size 4096 >/dev/null 2>>"$work/cli.log" || return 1
  # shellcheck disable=SC2086
  "$cli" bridge out $src --domain bbA --url "$url" --subject $subj "${stream[@]}" \
    ${BRIDGE_BENCH_OUT_ARGS:-} 2>>"$work/out.log" &
  out_pid=$!
  [ "$mode" = jetstream ] && sleep 0.3  # it creates the stream, which bridge in checks
  # shellcheck disable=SC2086
  "$cli" bridge in $dst --domain bbB --url "$url" --subject $subj "${stream[@]}" \
    ${BRIDGE_BENCH_IN_ARGS:-} 2>>"$work/in.log" &
  in_pid=$!
  pids+=($out_pid $in_pid)
  "$bench" recv $dst bbB "$n" >"$work/rx" 2>>"$work/cli.log" &
  rx_pid=$!
  sleep 0.5  # core NATS: bridge in must be subscribed before anything is published
  "$bench" send $src bbA "$bytes" "$n" "$pace_us" 2>>"$work/cli.log" || echo "bridge_bench.sh: sender failed" >&2
  wait $rx_pid
  "$cli" mailbox close $src --domain bbA
  kill -TERM $in_pid 2>/dev/null
  wait $out_pid $in_pid 2>/dev/null
  cat "$work/rx"
}
# loop_row ID MODE BYTES N PACE: the NATS client's own loop.
loop_row() {
  local stream=-
  [ "$2" = jetstream ] && stream=BL$1
  "$bench" loop "$url" bl.$1 $stream "$3" "$4" $window "$5"
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

rows_json=() results=() id=0
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio_cell() {  # values...: "median (min-max)"
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.2f (%.2f-%.2f)", m, a[1], a[NR] }'
}

printf '\n%-10s %-9s %-6s %5s %8s %12s %10s %10s | %-18s\n' scenario mode impl bytes got msgs/s p50_us p99_us "vs nats-loop"
for mode in ${BRIDGE_BENCH_MODES:-jetstream core}; do
  for bytes in ${BRIDGE_BENCH_SIZES:-64 4096}; do
    n=$count
    [ "$bytes" = 4096 ] && n=$((count / 4))
    for what in throughput latency; do
      b_mps=() b_p50=() b_p99=() l_mps=() l_p50=() l_p99=() ratios=() b_got=() l_got=()
      for _ in $(seq "$rounds"); do
        id=$((id + 1))
        if [ $what = throughput ]; then
          b=$(bridge_row $id $mode "$bytes" "$n" 0) l=$(loop_row $id $mode "$bytes" "$n" 0)
        else
          b=$(bridge_row $id $mode "$bytes" "$lat_count" "$pace") l=$(loop_row $id $mode "$bytes" "$lat_count" "$pace")
        fi
        [ -n "$(field mps "$b")" ] && [ -n "$(field mps "$l")" ] || { echo "bridge_bench.sh: a run failed: '$b' '$l'" >&2; continue; }
        b_mps+=("$(field mps "$b")") b_p50+=("$(field p50_ns "$b")") b_p99+=("$(field p99_ns "$b")") b_got+=("$(field got "$b")")
        l_mps+=("$(field mps "$l")") l_p50+=("$(field p50_ns "$l")") l_p99+=("$(field p99_ns "$l")") l_got+=("$(field got "$l")")
        if [ $what = throughput ]; then
          ratios+=("$(awk -v a="${b_mps[-1]}" -v b="${l_mps[-1]}" 'BEGIN { print (b > 0) ? a / b : 0 }')")
        else
          ratios+=("$(awk -v a="${b_p50[-1]}" -v b="${l_p50[-1]}" 'BEGIN { print (b > 0) ? a / b : 0 }')")
        fi
      done
      [ ${#ratios[@]} -gt 0 ] || continue
      cell=$(ratio_cell "${ratios[@]}")
      for impl in bridge nats-loop; do
        if [ $impl = bridge ]; then mps=$(median "${b_mps[@]}") p50=$(median "${b_p50[@]}") p99=$(median "${b_p99[@]}") got=$(median "${b_got[@]}") vs=$cell
        else mps=$(median "${l_mps[@]}") p50=$(median "${l_p50[@]}") p99=$(median "${l_p99[@]}") got=$(median "${l_got[@]}") vs=-; fi
        expect=$n
        [ $what = latency ] && expect=$lat_count
        printf '%-10s %-9s %-9s %5s %8s %12.0f %10.1f %10.1f | %-18s\n' $what $mode $impl "$bytes" "$got" "$mps" \
          "$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$p99" 'BEGIN { print v / 1000 }')" "$vs"
        rows_json+=("{\"scenario\": \"$what\", \"mode\": \"$mode\", \"impl\": \"$impl\", \"msg_bytes\": $bytes, \"sent\": $expect, \"received\": $got, \"msgs_per_s\": $mps, \"p50_ns\": $p50, \"p99_ns\": $p99, \"rounds\": ${#ratios[@]}$([ $impl = bridge ] && echo ", \"ratio_to_loop\": [$(IFS=,; echo "${ratios[*]}")]")}")
      done
      [ $what = throughput ] && [ $mode = jetstream ] && results+=("$bytes $(median "${ratios[@]}")")
    done
  done
done

load_end=$(load)
echo
echo "# units     msgs/s: received messages per second (first send to last receive); p50/p99: one way, us"
echo "#           vs nats-loop: throughput rows msgs/s ratio (higher is better), latency rows p50 ratio"
echo "#           (lower is better): median (min-max) over the rounds"
echo "# core NATS is at most once: 'got' below the count sent are messages the server or a slow"
echo "#           subscriber dropped (the loop's subscription has no pending limit; bridge in's default)"
echo "# load      average $load_start at the start, $load_end at the end, $cpus CPU(s)"
warn=$(awk -v s="$load_start" -v e="$load_end" -v c="$cpus" 'BEGIN {
  if (s > 0.25 * c) printf "load average %.2f at the start on %d CPU(s): something else was running\n", s, c
  if (e > c + 0.5) printf "load average %.2f at the end on %d CPU(s): more than the bench itself\n", e, c }')
[ -n "$warn" ] && sed 's/^/# WARNING   machine busy? /' <<<"$warn"
verdicts=()
for r in "${results[@]}"; do
  set -- $r
  v=$(awk -v x="$2" 'BEGIN { print (x >= 0.8) ? "met" : "missed" }')
  echo "target    bridge >= 0.8x the NATS loop's throughput, JetStream, $1 B: $(printf '%.2f' "$2")x: $v"
  verdicts+=("{\"target\": \"bridge >= 0.8x nats-loop throughput, jetstream\", \"msg_bytes\": $1, \"ratio\": $2, \"verdict\": \"$v\"}")
done
if [ -n "$json" ]; then
  {
    echo "{\"bench\": \"bridge\", \"machine\": {\"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"cpus\": $cpus, \"kernel\": \"$(uname -sr)\"},"
    echo " \"server\": \"$(nats-server --version 2>&1 | head -1)\", \"quick\": $([ $quick = 1 ] && echo true || echo false), \"rounds\": $rounds,"
    echo " \"load\": {\"load_start\": $load_start, \"load_end\": $load_end, \"warnings\": [$(sed 's/.*/"&"/' <<<"$warn" | paste -sd, -)]},"
    echo " \"results\": [$(IFS=,; echo "${rows_json[*]}")],"
    echo " \"targets\": [$(IFS=,; echo "${verdicts[*]}")]}"
  } >"$json"
  echo "# json      $json"
fi
exit 0
