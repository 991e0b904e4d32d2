# Cross build for ARM64 Linux with Debian's g++-aarch64-linux-gnu and the
# arm64 packages of Debian multiarch (dpkg --add-architecture arm64):
# headers in /usr/include, arm64 libraries and .pc files in
# /usr/lib/aarch64-linux-gnu. ctest runs every test binary through
# qemu-aarch64 (qemu-user). Used by `make test-arm64`:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Programs (cmake, python3, sh) are the build machine's; libraries and
# headers are searched in the multiarch directories as well as the
# cross compiler's own.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must see only the arm64 .pc files (and arch-independent ones).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# qemu-aarch64 finds the arm64 loader and libraries where Debian multiarch
# puts them (/lib/ld-linux-aarch64.so.1, /lib/aarch64-linux-gnu: libc6,
# libstdc++6, libhwloc15 :arm64). Not -L /usr/aarch64-linux-gnu: with the
# cross packages' older glibc there, forked children of the tests spun
# forever inside qemu 7.2.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
