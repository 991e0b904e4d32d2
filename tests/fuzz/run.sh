#!/bin/sh
# make fuzz / make fuzz-long: builds the libFuzzer targets with clang++-14
# in BUILD_DIR (default build-fuzz) and runs each for FUZZ_SECONDS (default
# 15) through CTest (label fuzz). Missing toolchain: installed as root,
# otherwise exit 77 (skip) with the reason.
# Usage: run.sh [BUILD_DIR]   (from the repository root)
set -u
build=${1:-build-fuzz}
cxx=${FUZZ_CXX:-clang++-14}
have_toolchain() {
  command -v "$cxx" >/dev/null 2>&1 || return 1
  # Links a trivial target with libFuzzer and both sanitizers.
  tmp=$(mktemp -d) || return 1
  printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
    'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }' >"$tmp/t.cpp"
  "$cxx" -fsanitize=fuzzer,address,undefined "$tmp/t.cpp" -o "$tmp/t" >/dev/null 2>&1
  ok=$?
  rm -rf "$tmp"
  return $ok
}
if ! have_toolchain; then
  pkgs="clang-14 libfuzzer-14-dev libclang-rt-14-dev"
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz: SKIPPED: $cxx cannot link -fsanitize=fuzzer,address,undefined; as root: apt-get install -y $pkgs"
    exit 77
  fi
  sh cmake/deps.sh $pkgs || exit 1
  have_toolchain || { echo "fuzz: $cxx still cannot link libFuzzer after installing $pkgs"; exit 1; }
fi
nice_run=""
[ -n "${FUZZ_NICE:-}" ] && nice_run="nice -n $FUZZ_NICE"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DRINGPORT_FUZZ=ON \
  -DRINGPORT_BUILD_TESTS=OFF -DRINGPORT_BUILD_PROGRAMS=OFF -DRINGPORT_BUILD_EXAMPLES=OFF >/dev/null || exit 1
if ! cmake --build "$build" -j "${JOBS:-2}" >"$build/fuzz-build.log" 2>&1; then
  tail -n 60 "$build/fuzz-build.log"
  exit 1
fi
secs=${FUZZ_SECONDS:-15}
log="$build/fuzz-ctest.log"
FUZZ_SECONDS=$secs $nice_run ctest --test-dir "$build" -V -L fuzz -j 1 --timeout $((secs + 300)) >"$log" 2>&1
rc=$?
# The figures of each target, then CTest's summary (the whole log: $log).
sed -n 's/^[0-9]*: \(fuzz_[a-z_]*: .*\)$/\1/p' "$log"
[ "$rc" -ne 0 ] && grep -v '# Uses:' "$log" | tail -n 80
sed -n '/tests passed/,$p' "$log"
exit $rc
