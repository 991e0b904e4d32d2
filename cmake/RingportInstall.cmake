# install(): library, public headers only, CMake package, pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ringport EXPORT ringportTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Public headers; detail/ holds what templates must see, nothing from runtime/.
install(DIRECTORY include/ringport DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
install(EXPORT ringportTargets NAMESPACE ringport:: FILE ringportTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)
configure_package_config_file(cmake/ringportConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ringportConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringportConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ringportConfig.cmake ${PROJECT_BINARY_DIR}/ringportConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ringport)
configure_file(cmake/ringport.pc.in ${PROJECT_BINARY_DIR}/ringport.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ringport.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
