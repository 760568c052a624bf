# `cmake --install BUILD --prefix P`: the program, its man page and bash completion, the codec
# library (libtailquant, include/tailquant.h, tailquant.pc), the Python binding, the docs, and the
# shipped model and experiment files.
include(GNUInstallDirs)
install(TARGETS tailquant RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS libtailquant
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# tailquant.pc finds the prefix from its own place (${pcfiledir}), so it stays right whatever
# --prefix the install is given.
file(RELATIVE_PATH TQ_PC_UP /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${CMAKE_SOURCE_DIR}/cmake/tailquant.pc.in ${CMAKE_BINARY_DIR}/tailquant.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/tailquant.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${CMAKE_SOURCE_DIR}/man/tailquant.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/completions/tailquant.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME tailquant)
# The binding finds the library at ../../../libtailquant.so from its own folder
# (P/lib/python3/dist-packages/tailquant): PYTHONPATH=P/lib/python3/dist-packages.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/python/tailquant
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/python3/dist-packages
        PATTERN "__pycache__" EXCLUDE)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        PATTERN "__pycache__" EXCLUDE)
# config/ names its model files relative to itself (../models/...): the two stay side by side.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/models ${CMAKE_SOURCE_DIR}/config
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tailquant)
