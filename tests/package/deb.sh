#!/bin/sh
# The Debian package (make package), end to end:
#   deb.sh SOURCE_DIR BUILD_DIR WORK_DIR CXX
# builds the .deb from BUILD_DIR (cpack, reusing the build), checks what it
# holds, installs it with dpkg -i, builds and runs the outside consumers of
# tests/package against the installed files (CMake find_package and
# pkg-config), reads the man pages with man, and removes the package with
# dpkg -r (always, also after a failure). Serialised by a lock file, since
# it changes the machine. exit: 0 ok, 1 failed, 77 not root or no dpkg, or a
# ringport package installed already (it is left alone).
set -eu
src=$1 build=$2 work=$3 cxx=$4
here=$src/tests/package
die() { echo "FAIL: $*" >&2; exit 1; }

command -v dpkg >/dev/null 2>&1 && command -v cpack >/dev/null 2>&1 ||
  { echo "SKIP: dpkg or cpack missing (Debian: dpkg, cmake)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: installing a package needs root"; exit 77; }

rm -rf "$work" && mkdir -p "$work"
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" > "$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; die "cpack"; }
deb=$(find "$work" -maxdepth 1 -name 'ringport_*.deb' | head -n 1)
[ -n "$deb" ] || { cat "$work/cpack.log"; die "cpack made no ringport_*.deb"; }
dpkg-deb -c "$deb" | awk '{print $NF}' > "$work/contents"
for want in /usr/lib/libringport.a /usr/lib/libringport-topology.a /usr/include/ringport/ring.hpp \
  /usr/lib/cmake/ringport/ringportConfig.cmake /usr/lib/pkgconfig/ringport.pc \
  /usr/lib/pkgconfig/ringport-topology.pc /usr/lib/libringport_io.a /usr/lib/pkgconfig/ringport-io.pc \
  /usr/include/ringport/journal.hpp /usr/include/ringport/pump.hpp /usr/include/ringport/readable_fd.hpp \
  /usr/include/ringport/crc32c.hpp /usr/bin/ringport /usr/bin/ringport-bench \
  /usr/share/man/man1/ringport.1 /usr/share/man/man1/ringport-bench.1 /usr/share/man/man7/ringport.7; do
  grep -qx ".$want" "$work/contents" || die "$deb lacks $want"
done
if grep -q '/runtime/\|/detail/.*\.cpp$' "$work/contents"; then die "$deb holds private files"; fi

# One test run at a time changes the machine's package database.
exec 9> /tmp/ringport-package-deb.lock
flock 9
if dpkg -s ringport >/dev/null 2>&1; then
  echo "SKIP: a ringport package is installed already; not replacing it"
  exit 77
fi
trap 'dpkg -r ringport > "$work/remove.log" 2>&1 || cat "$work/remove.log" >&2' EXIT
dpkg -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; die "dpkg -i $deb"; }

# Outside consumers, from the system's default search paths only.
cmake -S "$here/find_package" -B "$work/find_package" -DCMAKE_CXX_COMPILER="$cxx" -DEXPECTED_PREFIX=/usr \
  > "$work/find_package.log" 2>&1 || { cat "$work/find_package.log"; die "configure against /usr"; }
# (package_find_package and package_pkg_config link the whole archive too.)
cmake --build "$work/find_package" -j 2 --target consumer topology_consumer io_consumer >> "$work/find_package.log" 2>&1 ||
  { cat "$work/find_package.log"; die "build against /usr"; }
mkdir -p "$work/pkg_config"
make -s -f "$here/pkg_config/Makefile" CXX="$cxx" OUT="$work/pkg_config" "$work/pkg_config/consumer" \
  "$work/pkg_config/topology_consumer" "$work/pkg_config/io_consumer" || die "make with pkg-config from /usr"
for exe in "$work"/find_package/consumer "$work"/find_package/topology_consumer "$work"/pkg_config/consumer \
  "$work"/pkg_config/topology_consumer; do
  "$exe" || die "$exe exited with $?"
done
# The io layer (journals through io_uring): 77 where io_uring is disabled.
for exe in "$work"/find_package/io_consumer "$work"/pkg_config/io_consumer; do
  rc=0
  "$exe" || rc=$?
  [ $rc = 0 ] || [ $rc = 77 ] || die "$exe exited with $rc"
done
/usr/bin/ringport --help > /dev/null || die "/usr/bin/ringport --help"
for page in ringport.1 ringport-bench.1 ringport.7; do
  name=${page%.*} section=${page##*.}
  [ "$(man -w "$section" "$name")" = "/usr/share/man/man$section/$page" ] || die "man -w $section $name"
done

dpkg -r ringport > "$work/remove.log" 2>&1 || { cat "$work/remove.log"; die "dpkg -r ringport"; }
trap - EXIT
if dpkg -s ringport >/dev/null 2>&1; then die "ringport still installed after dpkg -r"; fi
[ ! -e /usr/include/ringport ] || die "/usr/include/ringport left after dpkg -r"
[ ! -e /usr/bin/ringport ] || die "/usr/bin/ringport left after dpkg -r"
echo "package: $(basename "$deb") installed, used by 6 outside consumers, removed"
