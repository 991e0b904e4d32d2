#!/bin/sh
# Runs a command with huge pages on offer, then puts the machine back.
# As root, when no writable hugetlbfs mount exists: reserves PAGES more huge
# pages (default 128) and mounts a private hugetlbfs in a temporary folder,
# exported as RINGPORT_HUGETLBFS; both are undone when the command ends.
# Otherwise (not root, or the reservation fails) it says why and runs the
# command as it is: ringport then falls back to base pages and says so.
# Usage: with-hugepages.sh COMMAND [ARGS...]
pages=${RINGPORT_BENCH_HUGEPAGES:-128}
nr=/proc/sys/vm/nr_hugepages
if [ -n "${RINGPORT_HUGETLBFS:-}" ] || grep -q " hugetlbfs " /proc/mounts 2>/dev/null; then
  exec "$@"
fi
if [ "$(id -u)" -ne 0 ] || [ ! -w "$nr" ]; then
  echo "with-hugepages: not root: running on base pages (reserve huge pages and mount hugetlbfs to use them)" >&2
  exec "$@"
fi
before=$(cat "$nr")
echo $((before + pages)) > "$nr" 2>/dev/null
got=$(cat "$nr")
dir=$(mktemp -d /tmp/ringport-bench-hugetlbfs.XXXXXX)
if [ "$got" -le "$before" ] || ! mount -t hugetlbfs -o mode=0700 none "$dir" 2>/dev/null; then
  echo "$before" > "$nr"; rmdir "$dir"
  echo "with-hugepages: could not reserve huge pages or mount hugetlbfs: running on base pages" >&2
  exec "$@"
fi
echo "with-hugepages: $((got - before)) huge pages reserved, hugetlbfs at $dir (undone afterwards)" >&2
RINGPORT_HUGETLBFS=$dir "$@"
rc=$?
umount "$dir" && rmdir "$dir"
echo "$before" > "$nr"
exit $rc
