# Tests of the installed library and the Python binding (not CUnit programs, so not in
# tests/CMakeLists.txt's glob). Exit status 77 means "skipped" (numpy or torch missing).
# Not in sanitizer builds: a plain program or python3 cannot load an ASan-instrumented library
# (tests/test_lib.c covers the same API there).
if(TQ_SANITIZE OR TQ_FUZZ)
  return()
endif()
# Debian's python3 first: python3-numpy and python3-torch install there (as for tools/bench.sh).
find_program(TQ_TEST_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(TQ_TEST_PYTHON3 python3)
add_test(NAME install_roundtrip
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/install/check_install.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
set_tests_properties(install_roundtrip PROPERTIES TIMEOUT 300 ENVIRONMENT "TQ_TEST=1")
if(TQ_TEST_PYTHON3)
  foreach(t binding ddp_hook)
    add_test(NAME python_${t} COMMAND ${TQ_TEST_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/python/test_${t}.py)
    set_tests_properties(python_${t} PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT
      "TQ_TEST=1;PYTHONPATH=${CMAKE_SOURCE_DIR}/python:${CMAKE_SOURCE_DIR}/examples;TAILQUANT_LIBRARY=$<TARGET_FILE:libtailquant>")
  endforeach()
endif()
