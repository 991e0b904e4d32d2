# Thin wrapper over CMake. The two commands of the quick start:
#   make bench   build and run ringport-bench (the main job)
#   make test    build and run the whole suite: release, ASan+UBSan, TSan, fuzz
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
DEB_PACKAGES := g++ cmake make pkg-config libboost-dev liburing-dev doctest-dev libhwloc-dev
# For the tests: strace counts system calls per message; python3 checks the
# bench JSON; the bench's optional peers, so that its smoke test runs them too.
TEST_PACKAGES := strace python3 libreaderwriterqueue-dev libconcurrentqueue-dev libtbb-dev
# The NATS bridge (issue #17): its tests run real nats-server processes.
TEST_PACKAGES += nats-server libnats-dev
# For make bench: the optional peers (rows are skipped when missing) and
# python3 for the summary (perf/targets.py).
BENCH_PACKAGES := libreaderwriterqueue-dev libconcurrentqueue-dev libtbb-dev python3
CMAKE_FLAGS ?=
BENCH_ARGS ?=
BENCH_JSON ?= build/bench.json
CONFIGURE = cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
# Seconds per fuzz target: `make fuzz` (also part of `make test`) and `make fuzz-long`.
FUZZ_SECONDS ?= 15
FUZZ_LONG_SECONDS ?= 600

.PHONY: all deps test-deps bench-deps build configure bench test test-release test-asan test-tsan fuzz fuzz-long install package clean

all: build

deps:
	@sh cmake/deps.sh $(DEB_PACKAGES)

test-deps:
	@sh cmake/deps.sh $(DEB_PACKAGES) $(TEST_PACKAGES)

bench-deps: deps
	@sh cmake/deps.sh $(BENCH_PACKAGES) || echo "ringport: going on without them (their rows and the summary are skipped)"

configure: deps
	$(CONFIGURE)

build: configure
	cmake --build build -j $(JOBS)

# Builds ringport-bench alone (not the tests), runs it, then prints the
# targets summary (perf/targets.py) from the JSON it wrote.
bench: bench-deps
	$(CONFIGURE)
	cmake --build build -j $(JOBS) --target ringport-bench
	@sh perf/with-hugepages.sh ./build/perf/ringport-bench $(BENCH_ARGS) --json $(BENCH_JSON); rc=$$?; \
	  if command -v python3 >/dev/null 2>&1; then echo; python3 perf/targets.py $(BENCH_JSON); \
	  else echo "ringport: python3 missing: no targets summary (apt-get install -y python3)"; fi; exit $$rc

test: test-release test-asan test-tsan fuzz

test-release: test-deps build
	ctest --test-dir build --output-on-failure -j 1

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
test-asan: test-deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGPORT_SANITIZE=address $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j 1 -LE no-asan

# ThreadSanitizer over the thread-mode tests (label "tsan"). ASLR is turned
# off for the run: TSan's shadow mapping rejects high-entropy layouts.
# The programs are left out: no tsan-labelled test uses them, and peers such
# as moodycamel's ConcurrentQueue use fences that g++ refuses under TSan.
test-tsan: test-deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGPORT_SANITIZE=thread -DRINGPORT_BUILD_PROGRAMS=OFF $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS)
	setarch $$(uname -m) -R ctest --test-dir build-tsan --output-on-failure -j 1 -L tsan

# libFuzzer targets (tests/fuzz), built with clang++-14 in build-fuzz; exit 77
# from run.sh (no toolchain and not root) is a skip.
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh build-fuzz; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]

fuzz-long:
	@FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) FUZZ_NICE=10 sh tests/fuzz/run.sh build-fuzz; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]

install: build
	cmake --install build --prefix $(PREFIX)

# A Debian package (CPack, cmake/RingportPackage.cmake) of the release build:
# build/ringport_<version>_<arch>.deb. CTest package_deb installs it with
# dpkg, builds outside consumers against it and removes it again.
package: build
	cd build && cpack -G DEB

clean:
	rm -rf build build-asan build-tsan build-fuzz
