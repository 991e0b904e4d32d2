# Finds ringport's dependencies; a missing one stops configuration with the
# Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install -y pkg-config")
endif()

macro(ringport_require_pc target module package)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install -y ${package}")
  endif()
endmacro()

# hwloc: the topology library (ringport::topology, runtime/topology.cpp)
# needs it; the core library does not.
ringport_require_pc(RINGPORT_HWLOC hwloc libhwloc-dev)

if(RINGPORT_BUILD_PROGRAMS OR RINGPORT_BUILD_TESTS)
  ringport_require_pc(RINGPORT_URING liburing liburing-dev)
  find_path(RINGPORT_BOOST_LOCKFREE boost/lockfree/spsc_queue.hpp)
  if(NOT RINGPORT_BOOST_LOCKFREE)
    message(FATAL_ERROR "Boost.Lockfree headers not found: apt-get install -y libboost-dev")
  endif()
endif()

# liburing without the programs and tests too (a library-only build, or
# ringport inside another project): the io layer (ringport::io) is built
# and installed when it is found, left out otherwise.
if(NOT TARGET PkgConfig::RINGPORT_URING)  # (RINGPORT_URING_FOUND stays cached; the target does not)
  pkg_check_modules(RINGPORT_URING QUIET IMPORTED_TARGET liburing)
  if(NOT RINGPORT_URING_FOUND)
    message(STATUS "ringport: liburing not found (apt-get install liburing-dev): no ringport::io")
  endif()
endif()

if(RINGPORT_BUILD_TESTS)
  find_path(RINGPORT_DOCTEST_DIR doctest/doctest.h)
  if(NOT RINGPORT_DOCTEST_DIR)
    message(FATAL_ERROR "doctest not found: apt-get install -y doctest-dev")
  endif()
endif()

# Sanitizer flags for one target (and what links it).
function(ringport_apply_sanitizer tgt)
  if(RINGPORT_SANITIZE STREQUAL "address")
    target_compile_options(${tgt} PUBLIC -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${tgt} PUBLIC -fsanitize=address,undefined)
  elseif(RINGPORT_SANITIZE STREQUAL "thread")
    target_compile_options(${tgt} PUBLIC -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${tgt} PUBLIC -fsanitize=thread)
  elseif(NOT RINGPORT_SANITIZE STREQUAL "")
    message(FATAL_ERROR "RINGPORT_SANITIZE must be empty, address or thread")
  endif()
endfunction()

# ringport-bench's optional peers (make bench installs them as root): a peer
# whose package is missing has no rows, and the configuration says so.
if(RINGPORT_BUILD_PROGRAMS)
  find_path(RINGPORT_RWQ_DIR readerwriterqueue/readerwriterqueue.h)
  find_path(RINGPORT_CQ_DIR concurrentqueue/concurrentqueue.h)
  find_package(TBB CONFIG QUIET)
  foreach(_peer "RWQ;moodycamel-rwq;libreaderwriterqueue-dev" "CQ;moodycamel-cq;libconcurrentqueue-dev"
                "TBB;tbb-bounded;libtbb-dev")
    list(GET _peer 0 _var)
    list(GET _peer 1 _impl)
    list(GET _peer 2 _pkg)
    if((_var STREQUAL "TBB" AND NOT TBB_FOUND) OR (NOT _var STREQUAL "TBB" AND NOT RINGPORT_${_var}_DIR))
      message(STATUS "ringport-bench: no ${_impl} rows (apt-get install -y ${_pkg})")
    endif()
  endforeach()
endif()
