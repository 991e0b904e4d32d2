#!/bin/sh
# Packaging tests, run by CTest from the build tree:
#   run.sh SOURCE_DIR BUILD_DIR WORK_DIR CXX STEP
# STEP is one of
#   install           cmake --install into WORK_DIR/prefix (once per run; the
#                     find_package and pkg_config steps reuse it), then check
#                     what was installed
#   add_subdirectory  an outside CMake project that add_subdirectory()s ringport
#   find_package      an outside CMake project using find_package(ringport CONFIG)
#   pkg_config        an outside Makefile project using pkg-config
# Each consumer builds tests/package/consumer.cpp twice (normal link and whole
# archive) and runs both.
# Each consumer also builds tests/package/topology_consumer.cpp against the
# topology library, and checks that only that program loads libhwloc, and
# tests/package/io_consumer.cpp against the io layer (ringport::io,
# ringport-io.pc: a journal written and read back), the only one that loads
# liburing (its exit 77, io_uring disabled on this machine, is a skip).
set -eu
src=$1 build=$2 work=$3 cxx=$4 step=$5
prefix=$work/prefix
here=$src/tests/package

die() { echo "FAIL: $*" >&2; exit 1; }
run_consumers() {
  for exe in "$1/consumer" "$1/consumer_whole" "$1/topology_consumer"; do
    "$exe" || die "$exe exited with $?"
  done
  # The core alone pulls in no hwloc (it is linked into topology_consumer only).
  for exe in "$1/consumer" "$1/consumer_whole"; do
    if ldd "$exe" | grep -q libhwloc; then die "$exe (core only) loads libhwloc"; fi
  done
  ldd "$1/topology_consumer" | grep -q libhwloc || die "$1/topology_consumer does not load libhwloc"
  run_io_consumer "$1/io_consumer"
  for exe in "$1/consumer" "$1/topology_consumer"; do
    if ldd "$exe" | grep -q liburing; then die "$exe (no io layer) loads liburing"; fi
  done
}
run_io_consumer() {
  rc=0
  "$1" || rc=$?
  case $rc in
  0) ldd "$1" | grep -q liburing || die "$1 does not load liburing" ;;
  77) echo "SKIP: $1: io_uring unavailable here (the io layer was built and linked, not run)" ;;
  *) die "$1 exited with $rc" ;;
  esac
}

case $step in
install)
  rm -rf "$prefix"
  mkdir -p "$work"
  cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; die "cmake --install"; }

  # Only the public headers: exactly the .hpp files under include/ringport.
  (cd "$src/include" && find ringport -name '*.hpp' -type f | sort) > "$work/headers.want"
  (cd "$prefix/include" && find . ! -type d | sed 's|^\./||' | sort) > "$work/headers.got"
  diff -u "$work/headers.want" "$work/headers.got" || die "installed headers differ from include/ringport"
  for f in "$src"/runtime/*; do
    [ -f "$f" ] || continue  # runtime/man's pages are meant to be installed; runtime/cli builds a program
    if find "$prefix" -name "$(basename "$f")" | grep -q .; then die "runtime/$(basename "$f") was installed"; fi
  done

  pc=$(find "$prefix" -name ringport.pc)
  [ -n "$pc" ] || die "no ringport.pc installed"
  lib=$(find "$prefix" -name libringport.a)
  [ -n "$lib" ] || die "no libringport.a installed"
  config=$(find "$prefix" -name ringportConfig.cmake)
  [ -n "$config" ] || die "no ringportConfig.cmake installed"

  tpc=$(find "$prefix" -name ringport-topology.pc)
  [ -n "$tpc" ] || die "no ringport-topology.pc installed"
  tlib=$(find "$prefix" -name libringport-topology.a)
  [ -n "$tlib" ] || die "no libringport-topology.a installed"
  targets=$(dirname "$config")/ringportTargets.cmake
  [ -f "$prefix/share/man/man7/ringport.7" ] || die "no man page ringport(7) installed"
  if [ -x "$prefix/bin/ringport" ]; then
    for m in ringport.1 ringport-bench.1; do
      [ -f "$prefix/share/man/man1/$m" ] || die "no man page $m installed"
    done
    MANPATH="$prefix/share/man" man -w ringport-bench >/dev/null 2>&1 || die "man -w ringport-bench finds no page under $prefix"
  fi

  # hwloc only where it is needed: the core archive calls none of it and its
  # package files do not bring it; the topology library's do.
  if nm -u "$lib" 2>/dev/null | grep -q ' hwloc_'; then die "libringport.a (the core) calls hwloc"; fi
  if grep -q hwloc "$pc"; then die "$pc names hwloc"; fi
  nm -u "$tlib" 2>/dev/null | grep -q ' hwloc_' || die "libringport-topology.a calls no hwloc: is topology.cpp in it?"
  grep -q '^Requires.private:.*hwloc' "$tpc" || die "$tpc has no Requires.private: hwloc"
  PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --static --libs ringport-topology | grep -q -- '-lhwloc' ||
    die "pkg-config --static --libs ringport-topology lacks -lhwloc"
  if PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --static --libs ringport | grep -q -- '-lhwloc'; then
    die "pkg-config --static --libs ringport (the core) brings -lhwloc"
  fi
  grep -q 'PkgConfig::' "$targets" || die "the exported ringport::topology target does not link hwloc"
  echo "hwloc: only in libringport-topology.a, carried by ringport-topology.pc and ringport::topology"

  # The io layer: its archive, ringport-io.pc (Requires: liburing) and the
  # exported ringport::io; liburing only there.
  iolib=$(find "$prefix" -name libringport_io.a)
  [ -n "$iolib" ] || die "no libringport_io.a installed"
  iopc=$(find "$prefix" -name ringport-io.pc)
  [ -n "$iopc" ] || die "no ringport-io.pc installed"
  nm -u "$iolib" 2>/dev/null | grep -q ' io_uring_' || die "libringport_io.a calls no liburing: is runtime/io in it?"
  if nm -u "$lib" 2>/dev/null | grep -q ' io_uring_'; then die "libringport.a (the core) calls liburing"; fi
  grep -q '^Requires:.*liburing' "$iopc" || die "$iopc has no Requires: liburing"
  PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --libs ringport-io | grep -q -- '-luring' ||
    die "pkg-config --libs ringport-io lacks -luring"
  grep -q 'ringport::io' "$targets" || die "ringportTargets.cmake exports no ringport::io"
  echo "liburing: only in libringport_io.a, carried by ringport-io.pc and ringport::io"
  echo "installed into $prefix"
  ;;
add_subdirectory)
  rm -rf "$work/subdir"
  cmake -S "$here/subdir" -B "$work/subdir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
    -DRINGPORT_SOURCE_DIR="$src" > "$work/subdir.log" 2>&1 || { cat "$work/subdir.log"; die "configure"; }
  cmake --build "$work/subdir" -j 2 >> "$work/subdir.log" 2>&1 || { cat "$work/subdir.log"; die "build"; }
  run_consumers "$work/subdir"
  ;;
find_package)
  [ -d "$prefix" ] || die "no install in $prefix (run the install step first)"
  rm -rf "$work/find_package"
  cmake -S "$here/find_package" -B "$work/find_package" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$prefix" -DEXPECTED_PREFIX="$prefix" > "$work/find_package.log" 2>&1 ||
    { cat "$work/find_package.log"; die "configure"; }
  cmake --build "$work/find_package" -j 2 >> "$work/find_package.log" 2>&1 || { cat "$work/find_package.log"; die "build"; }
  run_consumers "$work/find_package"
  ;;
pkg_config)
  [ -d "$prefix" ] || die "no install in $prefix (run the install step first)"
  pc=$(find "$prefix" -name ringport.pc)
  rm -rf "$work/pkg_config"
  mkdir -p "$work/pkg_config"
  PKG_CONFIG_PATH=$(dirname "$pc") make -s -f "$here/pkg_config/Makefile" CXX="$cxx" OUT="$work/pkg_config" ||
    die "make with pkg-config"
  run_consumers "$work/pkg_config"
  ;;
*)
  die "unknown step '$step'"
  ;;
esac
