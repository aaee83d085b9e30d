# Flags for tally's own targets only: warnings as errors and the chosen sanitizers.
# Third-party code is compiled and linked as Debian ships it.

set(TALLY_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Werror)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports impossible memcpy overlaps inside std::string concatenation at -O3
  # (GCC bug 105329): a false positive in the standard library, not in our code.
  list(APPEND TALLY_WARNINGS -Wno-restrict)
endif()

function(tally_target_options target)
  target_compile_options(${target} PRIVATE ${TALLY_WARNINGS})
  if(TALLY_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${TALLY_SANITIZE}
                                             -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${TALLY_SANITIZE})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # Sanitizer instrumentation defeats GCC's flow analysis: it then reports
      # maybe-uninitialized inside Boost.Beast and libstdc++ where the Release build, which
      # keeps the warning as an error, proves the values initialized.
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
endfunction()

# tally_library(NAME dir SOURCES ... DEPS ...): a library `tally_<dir>` with alias `tally::<dir>`,
# public headers in <dir>/include, private code in <dir>/src.
function(tally_library dir)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(tally_${dir} STATIC ${ARG_SOURCES})
  add_library(tally::${dir} ALIAS tally_${dir})
  target_include_directories(tally_${dir} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                          PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(tally_${dir} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  tally_target_options(tally_${dir})
endfunction()

# tally_executable(name SOURCES ... DEPS ...): a binary in build/bin.
function(tally_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tally_target_options(${name})
endfunction()

# tally_test(name LABEL label SOURCES ... DEPS ...): a GoogleTest binary registered with ctest,
# with the shared helpers of tests/testutil.
function(tally_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} tally::testutil GTest::gtest GTest::gtest_main)
  tally_target_options(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABEL}" TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "TALLY_BIN_DIR=${CMAKE_BINARY_DIR}/bin;TALLY_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
