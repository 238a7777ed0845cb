# Fuzz targets. Each target is one file defining LLVMFuzzerTestOneInput.
#
# With CLOAK_FUZZ=ON (clang only; scripts/test builds a separate build-fuzz tree) the
# target links libFuzzer with ASan and UBSan. Otherwise it links a small driver
# (tests/fuzz/replay_main.cc) that feeds it every file of its seed corpus, so the
# regular build keeps every fuzz target compiling and its corpus passing.
option(CLOAK_FUZZ "Build fuzz targets with libFuzzer (clang)" OFF)
if(CLOAK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CLOAK_FUZZ needs clang (cmake -DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# cloak_fuzz_target(NAME SOURCE CORPUS_DIR LIBS ...): CORPUS_DIR holds the seed inputs
# (committed); in the regular build the CTest test `NAME` (label unit) replays them; like
# every unit test its name is its target's name (scripts/test builds the unit tier by name).
function(cloak_fuzz_target name source corpus)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  add_executable(${name} ${source})
  cloak_target_warnings(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  get_filename_component(corpus_abs ${corpus} ABSOLUTE)
  set_property(GLOBAL APPEND PROPERTY CLOAK_FUZZ_TARGETS "${name}=${corpus_abs}")
  if(CLOAK_FUZZ)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.cc)
    add_test(NAME ${name} COMMAND ${name} ${corpus_abs})
    set_tests_properties(${name} PROPERTIES LABELS unit
                         ENVIRONMENT "CLOAK_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endif()
endfunction()
