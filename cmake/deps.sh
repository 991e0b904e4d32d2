#!/bin/sh
# Installs the Debian packages ringport needs, when run as root; otherwise
# prints the exact command to run and fails. Usage: deps.sh PACKAGE...
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "ringport: installing missing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q $missing && exit 0
  echo "ringport: apt-get failed; install by hand: apt-get install -y$missing" >&2
  exit 1
fi
echo "ringport: missing Debian packages:$missing" >&2
echo "ringport: run as root:  apt-get update && apt-get install -y$missing" >&2
exit 1
