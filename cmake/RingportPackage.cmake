# `make package` (cpack -G DEB): one Debian package with what `make install`
# installs: both archives, the public headers, the CMake package and the
# pkg-config files, the programs and the man pages, under /usr.
# tests/package/deb.sh builds it, installs it with dpkg, builds outside
# consumers against the installed files and removes it again.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ringport)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION} (C++20 library, tools, man pages)")
set(CPACK_PACKAGE_CONTACT "ringport developers <dev@ringport.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The programs' shared libraries (libhwloc, libstdc++, TBB when the bench has
# it) from dpkg-shlibdeps; what users of the static archives and package
# files need besides.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libhwloc-dev, pkg-config")
set(CPACK_STRIP_FILES OFF)
include(CPack)
