#!/bin/sh
# The man pages (runtime/man/) render without a warning, and say what the
# programs do: every command of `ringport --help` appears in ringport(1),
# every option of `ringport-bench --help` in ringport-bench(1).
#   man_pages.sh MAN_DIR RINGPORT RINGPORT_BENCH
# exit: 0 ok, 1 a page warns or misses something, 77 no groff/man (and not root).
set -u
dir=$1 cli=$2 bench=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

if ! command -v groff >/dev/null 2>&1 || ! command -v man >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y groff-base man-db >/dev/null 2>&1 || { echo "SKIP: could not install groff-base man-db"; exit 77; }
  else
    echo "SKIP: groff or man missing: apt-get install -y groff-base man-db"
    exit 77
  fi
fi

for page in "$dir"/ringport.1 "$dir"/ringport-bench.1 "$dir"/ringport.7; do
  [ -f "$page" ] || { fail "$page missing"; continue; }
  out=$(groff -ww -z -man "$page" 2>&1)
  [ -z "$out" ] || fail "groff -ww warns on $page: $out"
  out=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  [ -z "$out" ] || fail "man --warnings warns on $page: $out"
done

text() { LC_ALL=C MANWIDTH=200 man -l "$1" 2>/dev/null | col -b; }

# Commands: the leading lower-case words of each line of the usage's
# "commands:" block ("mailbox create NAME ..." -> "mailbox create"); each must
# be the tag of an entry in ringport(1) (7 columns in, as man renders .TP).
page=$(text "$dir/ringport.1")
cmds=$("$cli" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ {
  sub(/^  /, ""); split($0, f, /  +/); n = split(f[1], w, " "); c = ""
  for (i = 1; i <= n && w[i] ~ /^[a-z]+$/; i++) c = c (c == "" ? "" : " ") w[i]
  print c }')
n=0
for cmd in $(printf '%s\n' "$cmds" | tr ' ' '_'); do
  cmd=$(printf '%s' "$cmd" | tr '_' ' ')
  n=$((n + 1))
  printf '%s\n' "$page" | grep -q "^       $cmd\b" || fail "ringport(1) does not describe '$cmd': add a .TP entry for it under COMMANDS in runtime/man/ringport.1"
done
[ $n -ge 5 ] || fail "found only $n commands in 'ringport --help'"

page=$(text "$dir/ringport-bench.1")
for opt in $("$bench" --help 2>&1 | grep -o '^  --[a-z-]*'); do
  printf "%s\n" "$page" | grep -q -- "^       $opt\b" || fail "ringport-bench(1) does not describe $opt: add a .TP entry for it under OPTIONS in runtime/man/ringport-bench.1"
done

[ $fails -eq 0 ] && echo "man pages: ok"
[ $fails -eq 0 ]
