# Thin wrapper over CMake. The two commands of the quick start:
#   make bench   build and run ringport-bench (the main job)
#   make test    build and run the whole suite: release, ASan+UBSan, TSan
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
DEB_PACKAGES := g++ cmake make pkg-config libboost-dev liburing-dev doctest-dev libhwloc-dev
# For the tests: strace counts system calls per message; python3 checks the bench JSON.
TEST_PACKAGES := strace python3
CMAKE_FLAGS ?=
BENCH_ARGS ?=

.PHONY: all deps test-deps build bench test test-release test-asan test-tsan install clean

all: build

deps:
	@sh cmake/deps.sh $(DEB_PACKAGES)

test-deps:
	@sh cmake/deps.sh $(DEB_PACKAGES) $(TEST_PACKAGES)

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

bench: build
	sh perf/with-hugepages.sh ./build/perf/ringport-bench $(BENCH_ARGS)

test: test-release test-asan test-tsan

test-release: test-deps build
	ctest --test-dir build --output-on-failure -j 1

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
test-asan: test-deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGPORT_SANITIZE=address $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j 1 -LE no-asan

# ThreadSanitizer over the thread-mode tests (label "tsan"). ASLR is turned
# off for the run: TSan's shadow mapping rejects high-entropy layouts.
test-tsan: test-deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGPORT_SANITIZE=thread $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS)
	setarch $$(uname -m) -R ctest --test-dir build-tsan --output-on-failure -j 1 -L tsan

install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan
