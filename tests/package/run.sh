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
set -eu
src=$1 build=$2 work=$3 cxx=$4 step=$5
prefix=$work/prefix
here=$src/tests/package

die() { echo "FAIL: $*" >&2; exit 1; }
run_consumers() {
  for exe in "$1/consumer" "$1/consumer_whole"; do
    "$exe" || die "$exe exited with $?"
  done
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
    if find "$prefix" -name "$(basename "$f")" | grep -q .; then die "runtime/$(basename "$f") was installed"; fi
  done

  pc=$(find "$prefix" -name ringport.pc)
  [ -n "$pc" ] || die "no ringport.pc installed"
  lib=$(find "$prefix" -name libringport.a)
  [ -n "$lib" ] || die "no libringport.a installed"
  config=$(find "$prefix" -name ringportConfig.cmake)
  [ -n "$config" ] || die "no ringportConfig.cmake installed"

  # If the archive calls into hwloc, both package files must bring hwloc along.
  if nm -u "$lib" 2>/dev/null | grep -q ' hwloc_'; then
    grep -q '^Requires.private:.*hwloc' "$pc" || die "libringport.a needs hwloc but $pc has no Requires.private: hwloc"
    PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --static --libs ringport | grep -q -- '-lhwloc' ||
      die "pkg-config --static --libs ringport lacks -lhwloc"
    grep -q 'PkgConfig::' "$(dirname "$config")/ringportTargets.cmake" ||
      die "the exported ringport target does not link hwloc"
    echo "hwloc: carried by ringport.pc (Requires.private) and ringportConfig.cmake"
  fi
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
