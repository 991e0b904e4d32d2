# install(): the libraries (core libringport.a; libringport-topology.a, the
# only one that needs hwloc; libringport_io.a, the only one that needs
# liburing, when it is built), public headers only, CMake package, pkg-config
# files (ringport.pc, ringport-topology.pc, ringport-io.pc).
#
# The archives are static, so whatever they link PRIVATE still has to reach the
# final link of every consumer. Dependencies found with
#   pkg_check_modules(<PREFIX> IMPORTED_TARGET <module>)
# and linked as PkgConfig::<PREFIX> (plain or inside $<BUILD_INTERFACE:...>)
# are picked up from ringport's link libraries at the end of configuration:
#   - the exported target links PkgConfig::<PREFIX> in its install interface,
#     and ringportConfig.cmake recreates that imported target with
#     pkg_check_modules, so nothing build-tree-only is ever exported;
#   - ringport.pc (ringport-topology.pc) lists <module> in Requires.private, which
#     `pkg-config --static --libs ringport` expands into the link flags.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ringport ringport_topology EXPORT ringportTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Public headers; detail/ holds what templates must see, nothing from runtime/.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ringport DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
# The io layer (libringport_io.a, ringport::io; liburing), when it was built.
if(TARGET ringport_io)
  install(TARGETS ringport_io EXPORT ringportTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(EXPORT ringportTargets NAMESPACE ringport:: FILE ringportTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringportConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)

# The pkg-config modules that target `tgt` links (see the top of this file):
# appends "<PREFIX>=<module>" to the variable named by `pairs_var` and the
# modules to `modules_var`, and names them in the install interface.
function(ringport_collect_pkg_dependencies tgt pairs_var modules_var)
  get_target_property(libs ${tgt} LINK_LIBRARIES)
  set(pairs ${${pairs_var}})
  set(modules "")
  foreach(lib IN LISTS libs)
    if(NOT lib MATCHES "PkgConfig::([A-Za-z0-9_]+)")
      continue()
    endif()
    set(prefix ${CMAKE_MATCH_1})
    set(module ${${prefix}_MODULE_NAME})
    if(NOT module)
      message(FATAL_ERROR "${tgt} links PkgConfig::${prefix} but ${prefix}_MODULE_NAME is unset: "
                          "find it with pkg_check_modules(${prefix} IMPORTED_TARGET <one module>)")
    endif()
    if(NOT lib STREQUAL "PkgConfig::${prefix}")
      # Only in the build interface so far: name it for the install interface.
      target_link_libraries(${tgt} INTERFACE "$<INSTALL_INTERFACE:$<LINK_ONLY:PkgConfig::${prefix}>>")
    endif()
    list(APPEND modules ${module})
    list(APPEND pairs "${prefix}=${module}")
  endforeach()
  list(REMOVE_DUPLICATES modules)
  list(JOIN modules ", " modules)
  set(${pairs_var} "${pairs}" PARENT_SCOPE)
  set(${modules_var} "${modules}" PARENT_SCOPE)
endfunction()

function(ringport_write_package_files)
  # Core first: ringportConfig.cmake makes the core's dependencies required
  # and the topology library's (hwloc) needed only for ringport::topology.
  set(core_pairs "")
  ringport_collect_pkg_dependencies(ringport core_pairs RINGPORT_PC_REQUIRES_PRIVATE)
  set(topology_pairs "")
  ringport_collect_pkg_dependencies(ringport_topology topology_pairs RINGPORT_TOPOLOGY_PC_REQUIRES_PRIVATE)
  # The io layer's (liburing): needed only for ringport::io and the `io` component.
  set(io_pairs "")
  set(RINGPORT_IO_PC_REQUIRES "")
  set(RINGPORT_IO_BUILT FALSE)
  if(TARGET ringport_io)
    set(RINGPORT_IO_BUILT TRUE)
    ringport_collect_pkg_dependencies(ringport_io io_pairs RINGPORT_IO_PC_REQUIRES)
  endif()
  set(RINGPORT_IO_PKG_DEPENDENCIES "${io_pairs}")
  set(RINGPORT_PKG_DEPENDENCIES "${core_pairs}")
  set(RINGPORT_TOPOLOGY_PKG_DEPENDENCIES "${topology_pairs}")

  # A sanitized archive needs the sanitizer runtime in whatever links it.
  set(RINGPORT_PC_SANITIZE "")
  if(RINGPORT_SANITIZE STREQUAL "address")
    set(RINGPORT_PC_SANITIZE " -fsanitize=address,undefined")
  elseif(RINGPORT_SANITIZE STREQUAL "thread")
    set(RINGPORT_PC_SANITIZE " -fsanitize=thread")
  endif()

  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ringportConfig.cmake.in
    ${PROJECT_BINARY_DIR}/ringportConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)
  install(FILES ${PROJECT_BINARY_DIR}/ringportConfig.cmake ${PROJECT_BINARY_DIR}/ringportConfigVersion.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)

  # The .pc file finds its prefix from its own location, so the package works
  # wherever it is installed (cmake --install --prefix, DESTDIR, a copy).
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(RINGPORT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  else()
    string(REGEX REPLACE "[^/]+" ".." up "${CMAKE_INSTALL_LIBDIR}")
    set(RINGPORT_PC_PREFIX "\${pcfiledir}/../${up}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/ringport.pc.in ${PROJECT_BINARY_DIR}/ringport.pc @ONLY)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/ringport-topology.pc.in ${PROJECT_BINARY_DIR}/ringport-topology.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/ringport.pc ${PROJECT_BINARY_DIR}/ringport-topology.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  if(TARGET ringport_io)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/ringport-io.pc.in ${PROJECT_BINARY_DIR}/ringport-io.pc @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/ringport-io.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  endif()
endfunction()

# Deferred to the end of this directory, so links added after this file was
# included are seen too.
cmake_language(DEFER CALL ringport_write_package_files)

# Man pages (runtime/man): the library's concepts, guarantees and environment
# always; the programs' pages with the programs.
install(FILES ${PROJECT_SOURCE_DIR}/runtime/man/ringport.7 DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)
if(RINGPORT_BUILD_PROGRAMS)
  install(FILES ${PROJECT_SOURCE_DIR}/runtime/man/ringport.1 ${PROJECT_SOURCE_DIR}/runtime/man/ringport-bench.1
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
