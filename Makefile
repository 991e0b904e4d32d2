# Thin wrapper over CMake. The two commands of the quick start:
#   make bench   build and run ringport-bench (the main job)
#   make test    build and run the whole suite: release, ASan+UBSan, TSan, fuzz,
#                clang, arm64 under qemu
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
# The bridge benchmark (perf/bridge_bench.sh, issue #17) needs a NATS server and client.
BENCH_PACKAGES += nats-server libnats-dev
CMAKE_FLAGS ?=
BENCH_ARGS ?=
BENCH_JSON ?= build/bench.json
CONFIGURE = cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
# Seconds per fuzz target: `make fuzz` (also part of `make test`) and `make fuzz-long`.
FUZZ_SECONDS ?= 15
FUZZ_LONG_SECONDS ?= 600

.PHONY: all deps test-deps bench-deps build configure bench test test-release test-asan test-tsan fuzz fuzz-long install package clean
.PHONY: arm64-deps test-arm64 test-clang

# ARM64 and clang (issue #16): see "Architectures and compilers" in README.md.
ARM64_PACKAGES := g++-aarch64-linux-gnu qemu-user cmake make pkg-config libboost-dev doctest-dev \
  libstdc++6:arm64 liburing-dev:arm64 libhwloc-dev:arm64
# The suites run under qemu-aarch64 (the others are built, not run: see README).
ARM64_TESTS ?= ^(test_segment|test_result|test_topology|test_ring_basic|test_ring_stress_thread|test_ring_stress_process|test_ring_crash|test_wait_threads|test_wait_processes|test_mailbox|test_mailbox_stress|test_node|test_wait_threads_doorbell|test_mailbox_doorbell|test_node_doorbell|test_cli_parse|test_restart|test_portability|test_portability_denied|example_.*)$$
ARM64_STRESS_ITEMS ?= 300000
CLANG_CXX ?= clang++-14
# The clang suite leaves out what another compiler adds nothing to or that
# only soaks: packaging, the bench runs, strace counts, the models, the
# README programs (g++ compiles them in test-release), chaos.
CLANG_TESTS_EXCLUDE ?= ^(package_.*|ringport_bench_.*|syscalls_per_message.*|model_.*|readme_blocks|test_chaos)$$
# The stress suites with a tenth of their items (test-release runs them whole).
CLANG_STRESS_ITEMS ?= 1000000

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
	@$(MAKE) --no-print-directory bench-bridge

test: test-release test-asan test-tsan fuzz test-clang test-arm64

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

# clang++-14 over everything (library, tests, tools, examples) with
# -Wall -Wextra -Wpedantic -Werror, then the release suite built with it.
test-clang: test-deps
	@sh cmake/deps.sh clang-14
	cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(CLANG_CXX) \
	  "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror" $(CMAKE_FLAGS)
	cmake --build build-clang -j $(JOBS)
	RINGPORT_STRESS_ITEMS=$(CLANG_STRESS_ITEMS) ctest --test-dir build-clang --output-on-failure -j 1 -E '$(CLANG_TESTS_EXCLUDE)'

# arm64 packages come through Debian multiarch: the architecture is added
# once (as root), then cmake/deps.sh installs what is missing.
arm64-deps:
	@dpkg --print-foreign-architectures | grep -qx arm64 || \
	  if [ "$$(id -u)" -eq 0 ]; then dpkg --add-architecture arm64; \
	  else echo "ringport: run as root: dpkg --add-architecture arm64" >&2; exit 1; fi
	@sh cmake/deps.sh $(ARM64_PACKAGES)

# Cross-builds everything for aarch64 (cmake/aarch64-linux-gnu.cmake) and runs
# the suites of ARM64_TESTS under qemu-aarch64 (CTest's emulator), with
# RINGPORT_STRESS_ITEMS=$(ARM64_STRESS_ITEMS) for the stress suites.
test-arm64: arm64-deps
	cmake -S . -B build-arm64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake $(CMAKE_FLAGS)
	cmake --build build-arm64 -j $(JOBS)
	RINGPORT_STRESS_ITEMS=$(ARM64_STRESS_ITEMS) ctest --test-dir build-arm64 --output-on-failure -j 1 -R '$(ARM64_TESTS)'

install: build
	cmake --install build --prefix $(PREFIX)

# A Debian package (CPack, cmake/RingportPackage.cmake) of the release build:
# build/ringport_<version>_<arch>.deb. CTest package_deb installs it with
# dpkg, builds outside consumers against it and removes it again.
package: build
	cd build && cpack -G DEB

clean:
	rm -rf build build-asan build-tsan build-fuzz build-clang build-arm64

# The NATS bridge's benchmark (issue #17, perf/README.md "Bridge"), which
# `make bench` runs last: the bridges beside the NATS C client's own loop on
# a nats-server of its own. Skipped without nats-server or libnats.
BRIDGE_BENCH_JSON ?= build/bench-bridge.json
.PHONY: bench-bridge
bench-bridge:
	@if command -v nats-server >/dev/null 2>&1 && \
	  cmake --build build -j $(JOBS) --target ringport-cli ringport-bridge-bench >/dev/null; then \
	  echo; bash perf/bridge_bench.sh build/runtime/cli/ringport build/perf/ringport-bridge-bench \
	    $(if $(findstring --quick,$(BENCH_ARGS)),--quick) --json $(BRIDGE_BENCH_JSON); \
	else echo "ringport: no nats-server, or no libnats (no bridge built): bridge benchmark skipped" \
	  "(apt-get install -y nats-server libnats-dev)"; fi
